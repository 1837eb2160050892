import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Each test decodes into its own cache (and writes synthetic data there)."""
    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path / "cache" / "decoded"))
