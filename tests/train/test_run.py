"""End to end through the CLI: train, test, kill -9 and resume, DDP on CPU."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from medattn.config import DataSpec, ModelSpec, RunConfig, TrainSpec
from medattn.errors import ConfigError
from medattn.train.checkpoint import load_weights
from medattn.train.engine import Precision, TrainingError, train_epoch
from medattn.train.run import train_run

TINY = [
    "--synthetic-n",
    "80",
    "--image-size",
    "32",
    "--batch-size",
    "16",
    "--backbone",
    "resnet18",
    "--attention",
    "se",
    "--lr",
    "0.05",
]


def medattn(*args, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "medattn", *args], capture_output=True, text=True, env=env, **kwargs)


def _history(run):
    with open(run / "history.csv") as handle:
        return list(csv.DictReader(handle))


def test_tiny_run_trains_and_tests_end_to_end_through_the_cli(tmp_path):
    run = tmp_path / "run"
    result = medattn("train", "--out", str(run), "--epochs", "2", "--quiet", "--json", *TINY, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["auc_roc"]["ci_low"] <= metrics["auc_roc"]["value"] <= metrics["auc_roc"]["ci_high"]
    expected = {"config.yaml", "env.json", "history.csv", "checkpoints", "predictions-val.csv", "predictions-test.csv",
                "metrics-val.json", "metrics-test.json"}  # fmt: skip
    assert expected <= {p.name for p in run.iterdir()}
    assert {p.name for p in (run / "checkpoints").iterdir()} == {
        "best-val.safetensors", "best-train.safetensors", "last.safetensors", "last.state.pt",
    }  # fmt: skip
    assert [row["epoch"] for row in _history(run)] == ["1", "2"]
    scored = medattn("test", str(run), "--split", "val", "--checkpoint", "last", "--json")
    assert scored.returncode == 0, scored.stderr
    keys = {"accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1", "mcc", "auc_roc", "auc_pr",
            "brier", "ece", "confusion_matrix", "threshold"}  # fmt: skip
    assert keys <= set(json.loads(scored.stdout))
    own = {name: (run / name).read_bytes() for name in ("metrics-test.json", "predictions-test.csv")}
    assert medattn("synth", str(tmp_path / "other"), "--n", "60", "--size", "32", "--seed", "7").returncode == 0
    wrong = medattn("test", str(run), "--data", str(tmp_path / "other"))  # a folder of folders: images, masks
    assert wrong.returncode == 2 and "the run was trained on classes (normal, lesion)" in wrong.stderr, wrong.stderr
    external = medattn("test", str(run), "--data", str(tmp_path / "other"), "--recipe", "synthetic", "--json")
    assert external.returncode == 0, external.stderr
    assert {name: (run / name).read_bytes() for name in own} == own  # another dataset never overwrites the run's
    rows = list(csv.DictReader((run / "predictions-external-test.csv").read_text().splitlines()))
    assert len(rows) == json.loads(external.stdout)["n"] and str(tmp_path / "other") in rows[0]["path"]
    again = medattn("train", "--out", str(run), *TINY)
    assert again.returncode == 2 and "already holds a run" in again.stderr


def test_best_val_checkpoint_is_the_epoch_of_minimum_val_loss(tmp_path):
    from medattn.models import create_model
    from medattn.train.data import build_loaders, prepare_run_data
    from medattn.train.engine import evaluate
    from medattn.train.setup import build_loss, probabilities

    train = TrainSpec(epochs=4, batch_size=16, lr=0.3, amp="off")  # re-evaluated in fp32 below
    config = RunConfig(DataSpec(synthetic_n=80), ModelSpec("resnet18", image_size=32), train)
    train_run(config, tmp_path / "run")
    val_losses = [float(row["val_loss"]) for row in _history(tmp_path / "run")]
    assert len(set(val_losses)) > 1
    model = create_model(ModelSpec("resnet18", image_size=32), load_weights=False)
    loaders = build_loaders(prepare_run_data(config.data, 32, train.seed), train, 32)
    scores = {}
    for name in ("best-val", "last"):
        load_weights(model, tmp_path / "run" / "checkpoints" / f"{name}.safetensors")
        cpu = Precision(torch.device("cpu"))
        loss, _, _ = evaluate(
            model, loaders.evaluation["val"], build_loss(train, 2, None), cpu, lambda z: probabilities(z, train)
        )
        scores[name] = loss
    assert scores["best-val"] == pytest.approx(min(val_losses), rel=1e-4)
    assert scores["last"] == pytest.approx(val_losses[-1], rel=1e-4)


def test_sigkill_mid_run_then_resume_ends_with_the_same_weights(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = ["--epochs", "5", "--deterministic", "--seed", "3", "--quiet", *TINY]
    reference = medattn("train", "--out", str(tmp_path / "ref"), *args, env=env)
    assert reference.returncode == 0, reference.stderr
    run = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "medattn", "train", "--out", str(run), *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 240
    while time.time() < deadline and not (run / "history.csv").exists() or len(_history(run)) < 2:
        time.sleep(0.05)
        assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 2 <= len(_history(run)) < 5
    resumed = medattn("train", "--resume", str(run), "--quiet", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert [int(row["epoch"]) for row in _history(run)] == [1, 2, 3, 4, 5]
    final, expected = (
        load_file(str(run / "checkpoints/last.safetensors")),
        load_file(str(tmp_path / "ref/checkpoints/last.safetensors")),
    )
    assert final.keys() == expected.keys()
    assert all(torch.equal(final[k], expected[k]) for k in final)


def test_ddp_with_gloo_on_two_cpu_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "medattn",
               "train", "--out", str(tmp_path / "ddp"), "--epochs", "1", "--quiet", *TINY]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(_history(tmp_path / "ddp")) == 1
    assert (tmp_path / "ddp" / "metrics-test.json").is_file()


def test_non_finite_loss_stops_with_epoch_and_step():
    model = torch.nn.Linear(2, 2)
    loader = [(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))] * 3
    calls = iter([1.0, 2.0, float("nan")])

    def loss_fn(logits, labels):
        return logits.sum() * 0 + next(calls)

    with pytest.raises(TrainingError, match="non-finite loss \\(nan\\) at epoch 4, step 3"):
        train_epoch(
            model, loader, loss_fn, torch.optim.SGD(model.parameters(), lr=0.1), Precision(torch.device("cpu")), epoch=3
        )


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    from medattn.models import create_model
    from medattn.train.checkpoint import save_weights

    save_weights(create_model(ModelSpec("resnet18", image_size=32), load_weights=False), tmp_path / "w.safetensors")
    with pytest.raises(ConfigError, match="checkpoint of another architecture"):
        load_weights(
            create_model(ModelSpec("resnet18", "se", image_size=32), load_weights=False), tmp_path / "w.safetensors"
        )
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="not a safetensors checkpoint"):
        load_weights(
            create_model(ModelSpec("resnet18", image_size=32), load_weights=False), tmp_path / "junk.safetensors"
        )


def test_tensorboard_and_mlflow_logs_hold_every_epoch(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    train = TrainSpec(epochs=2, batch_size=16, lr=0.05, log=("tensorboard", "mlflow"))
    train_run(RunConfig(DataSpec(synthetic_n=60), ModelSpec("resnet18", image_size=32), train), tmp_path / "run")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("val_loss")] == [1, 2]
    client = MlflowClient((tmp_path / "run" / "mlruns").resolve().as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("medattn").experiment_id])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]
    assert run.data.params["train.lr"] == "0.05"


def test_ctrl_c_exits_cleanly_and_the_run_resumes(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--out", str(run), "--epochs", "4", "--quiet", *TINY]
    process = subprocess.Popen(
        [sys.executable, "-m", "medattn", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 240
    while time.time() < deadline and not (run / "history.csv").exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived")
    assert process.returncode == 130 and "medattn train --resume" in stderr
    resumed = medattn("train", "--resume", str(run), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert [int(row["epoch"]) for row in _history(run)] == [1, 2, 3, 4]


def test_batch_larger_than_the_training_split_still_trains(tmp_path):
    train = TrainSpec(epochs=1, batch_size=500, lr=0.01)
    metrics = train_run(
        RunConfig(DataSpec(synthetic_n=40), ModelSpec("resnet18", image_size=32), train), tmp_path / "run"
    )
    assert metrics["n"] > 0 and len(_history(tmp_path / "run")) == 1
