import json

from medattn.study.demo import run_demo


def test_demo_trains_and_tests_each_model_and_writes_results(tmp_path):
    results = run_demo(tmp_path, image_size=32, n_train=64, n_test=32, epochs=1, quiet=True)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert [r["attention"] for r in saved] == ["none", "cbam"] == [r["attention"] for r in results]
    for r in saved:
        assert r["n"] == 32 and 0 <= r["accuracy"] <= 1 and len(r["train_loss"]) == 1
    assert saved[1]["params"] > saved[0]["params"]
