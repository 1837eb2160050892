import pytest

from ..browser_helpers import chromium_driver


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module (start-up costs about a second)."""
    with chromium_driver() as driver:
        yield driver
