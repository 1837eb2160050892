import json

from medattn.study.demo import run_demo


def test_demo_trains_and_tests_each_model_through_the_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path / "cache" / "decoded"))
    results = run_demo(tmp_path / "demo", image_size=32, n_images=80, epochs=1, quiet=True)
    saved = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert [r["attention"] for r in saved] == ["none", "cbam"] == [r["attention"] for r in results]
    for r in saved:
        auc = r["auc_roc"]
        assert auc["ci_low"] <= auc["value"] <= auc["ci_high"]
        assert (tmp_path / "demo" / r["attention"] / "metrics-test.json").is_file()
    assert saved[1]["params"] > saved[0]["params"]
