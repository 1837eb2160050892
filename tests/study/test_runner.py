"""The study runner end to end: CLI, resume after kill -9, changed definitions, failures, workers, Ray."""

import json
import os
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml

from medattn.errors import ConfigError
from medattn.study.config import parse_study
from medattn.study.runner import RUNS, STORE, run_study
from medattn.study.store import StudyStore

from ..cli_helpers import run_cli

# Four tiny runs (2 variants x 2 seeds), each a few seconds on one CPU thread.
TINY = {
    "name": "tiny",
    "data": {"synthetic_n": 80},
    "model": {"backbone": "resnet18", "preset": "rao2023", "image_size": 32},
    "train": {"epochs": 2, "batch_size": 16},
    "factors": {"attention": ["none", "se"]},
    "seeds": [0, 1],
}


def write_study(folder: Path, **changes) -> Path:
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(TINY | changes))
    return path


def results(folder: Path) -> dict[str, dict]:
    with StudyStore(folder / STORE) as store:
        return {row.key: row for row in store.runs()}


def auc_values(folder: Path) -> dict[str, float]:
    return {key: row.metrics["test"]["auc_roc"]["value"] for key, row in results(folder).items()}


def epochs_logged(run: Path) -> list[int]:
    return [int(line.split(":")[0].split()[1]) for line in (run / "train.log").read_text().splitlines()]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny study run once through the CLI (one worker, one thread per run)."""
    folder = tmp_path_factory.mktemp("study")
    config = write_study(folder, explain={"methods": ["gradcam", "saliency"], "n": 1, "scores": ["complexity"]})
    done = subprocess.run(study_command(config, folder / "out") + ["--json"], capture_output=True, text=True)
    return folder, done.returncode, done.stdout, done.stderr


def study_command(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "medattn.cli", "study", str(config), "--out", str(out), "--threads", "1"]


def test_a_four_run_study_runs_end_to_end_through_the_cli(finished):
    folder, code, stdout, stderr = finished
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["counts"] == {"pending": 0, "running": 0, "done": 4, "failed": 0}
    rows = results(folder / "out")
    assert sorted((r.cell["attention"], r.cell["seed"]) for r in rows.values()) == [
        ("none", 0), ("none", 1), ("se", 0), ("se", 1)
    ]  # fmt: skip
    for key, row in rows.items():
        run = folder / "out" / RUNS / key
        assert (run / "metrics-test.json").is_file() and (run / "predictions-test.csv").is_file()
        assert epochs_logged(run) == [1, 2]
        assert row.cost["params"] > 0 and row.cost["macs"] > 0 and row.attempts == 1
    exported = (folder / "out" / "results.csv").read_text().splitlines()
    assert len(exported) == 5 and "attention" in exported[0] and "test.auc_roc.ci_low" in exported[0]
    se = next(r for r in rows.values() if r.cell["attention"] == "se")
    assert se.cost["attention_params"] > 0


def test_the_explanation_stage_explains_every_seed_with_the_variants_side_by_side(finished):
    folder, _, stdout, _ = finished
    status = json.loads(stdout)["explanations"]
    assert set(status) == {"0", "1"}
    for seed, outcome in status.items():
        if outcome.startswith("skipped: no image is predicted correctly"):
            continue  # tiny models may share no correct image; the reason is recorded
        assert outcome == "done"
        job = folder / "out" / "explain" / f"seed-{seed}"
        summary = json.loads((job / "explanations.json").read_text())
        assert set(summary["explanations"]) == {f"{v}|{m}" for v in ("none", "se") for m in ("gradcam", "saliency")}
        assert (job / "grid-gradcam.png").is_file()
        scores = (job / "scores.csv").read_text().splitlines()
        assert scores[0] == "model,method,image,score,value" and len(scores) > 1


def test_rerunning_a_finished_study_runs_nothing_again(finished, capsys, monkeypatch):
    folder, *_ = finished
    before = {key: (row.updated, row.attempts) for key, row in results(folder / "out").items()}
    code, stdout, stderr = run_cli(capsys, monkeypatch, "study", folder / "study.yaml", "--out", folder / "out",
                                   "--json")  # fmt: skip
    assert code == 0, stderr
    assert {key: (row.updated, row.attempts) for key, row in results(folder / "out").items()} == before


def test_a_changed_study_definition_is_refused_not_mixed(finished, capsys, monkeypatch, tmp_path):
    folder, *_ = finished
    changed = write_study(tmp_path, train={"epochs": 3, "batch_size": 16})
    code, _, stderr = run_cli(capsys, monkeypatch, "study", changed, "--out", folder / "out")
    assert code == 2
    assert stderr.count("\n") == 1 and "--force" in stderr, stderr
    assert len(results(folder / "out")) == 4


def test_two_workers_give_the_same_results_as_one(finished, tmp_path):
    folder, *_ = finished
    summary = run_study(parse_study(TINY), tmp_path / "two", workers=2, threads=1)
    assert summary["counts"]["done"] == 4
    one, two = auc_values(folder / "out"), auc_values(tmp_path / "two")
    assert one.keys() == two.keys()
    for key in one:
        assert two[key] == pytest.approx(one[key], abs=1e-6)


def test_runs_record_their_split_sizes_and_a_small_regime_raises_the_studys_rho(tmp_path):
    from medattn.study.correlation import run_split_sizes
    from medattn.study.results import load_study_dir

    study = parse_study(TINY | {"seeds": [0], "factors": {"attention": ["none"], "regime": [1.0, 0.25]},
                                "train": {"epochs": 1, "batch_size": 16}})  # fmt: skip
    assert run_study(study, tmp_path / "out", threads=1)["counts"]["done"] == 2
    sizes = {row.cell["regime"]: row.metrics["test"]["split_sizes"] for row in results(tmp_path / "out").values()}
    assert sizes[1.0]["val"] == sizes[0.25]["val"] > 0 and sizes[1.0]["test"] == sizes[0.25]["test"] > 0
    assert sizes[1.0]["train"] + sizes[1.0]["val"] + sizes[1.0]["test"] == 80  # the synthetic set's 80 images
    assert sizes[0.25]["train"] == pytest.approx(0.25 * sizes[1.0]["train"], abs=2)  # per-class ceil
    for run in load_study_dir(tmp_path / "out").runs:
        n_train, n_test, recorded = run_split_sizes(run)
        assert recorded and (n_train, n_test) == (sizes[run.factors["regime"]]["train"], sizes[1.0]["test"])
    small = sizes[0.25]["test"] / (sizes[0.25]["test"] + sizes[0.25]["train"])
    assert small > 2 * study.data.get("test_fraction", 0.15)  # the test fraction understated rho


def test_a_failed_run_is_recorded_with_its_error_and_the_study_goes_on(tmp_path, monkeypatch):
    from medattn.study import executor

    real = executor._train_and_evaluate

    def broken_for_se(task):
        if task.config["model"]["attention"] == "se":
            raise RuntimeError("simulated out of memory\nsecond line")
        return real(task)

    monkeypatch.setattr(executor, "_train_and_evaluate", broken_for_se)
    study = parse_study(TINY | {"seeds": [0]})
    summary = run_study(study, tmp_path / "out", threads=1)
    assert summary["counts"]["done"] == 1 and summary["counts"]["failed"] == 1
    assert summary["failures"][0]["error"] == "RuntimeError: simulated out of memory"
    failed = next(r for r in results(tmp_path / "out").values() if r.status == "failed")
    assert "Traceback" in failed.traceback
    monkeypatch.setattr(executor, "_train_and_evaluate", real)
    assert run_study(study, tmp_path / "out", threads=1)["counts"]["done"] == 2  # a re-run retries it


def test_kill_9_mid_study_then_rerun_loses_nothing_and_runs_nothing_twice(tmp_path):
    config = write_study(tmp_path, train={"epochs": 3, "batch_size": 16})
    out = tmp_path / "out"
    command = study_command(config, out)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for(lambda: _done_count(out) >= 1 and _epochs_in_flight(out), process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finished_before = {key: row.updated for key, row in results(out).items() if row.status == "done"}
    interrupted = {key for key in results(out) if key not in finished_before and (out / RUNS / key).exists()}
    assert finished_before and interrupted
    partial = {key: epochs_logged(out / RUNS / key) for key in interrupted}

    rerun = subprocess.run(command + ["--json"], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    rows = results(out)
    assert all(row.status == "done" for row in rows.values()) and len(rows) == 4
    for key, updated in finished_before.items():
        assert rows[key].updated == updated and rows[key].attempts == 1  # not run again
    for key in rows:
        epochs = epochs_logged(out / RUNS / key)
        assert epochs == [1, 2, 3], (key, epochs)  # every epoch trained once: resumed, not restarted
    assert all(partial[key] == epochs_logged(out / RUNS / key)[: len(partial[key])] for key in interrupted)


def _done_count(out: Path) -> int:
    if not (out / STORE).exists():
        return 0
    return sum(row.status == "done" for row in results(out).values())


def _epochs_in_flight(out: Path) -> bool:
    """A run in flight has finished at least one epoch (so the kill interrupts a resumable run)."""
    running = [key for key, row in results(out).items() if row.status != "done"]
    return any((out / RUNS / key / "train.log").exists() and epochs_logged(out / RUNS / key) for key in running)


def _wait_for(condition, process, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the study ended before it could be killed: {process.stderr.read().decode()}")
        if time.monotonic() > deadline:
            raise AssertionError("the study made no progress")
        time.sleep(0.2)


@pytest.mark.skipif(find_spec("ray") is None, reason="ray is not installed (pip install 'medattn[ray]')")
def test_ray_executor_runs_the_study_on_a_local_instance(finished, tmp_path):
    import ray

    folder, *_ = finished
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        study = parse_study(TINY | {"seeds": [0]})
        summary = run_study(study, tmp_path / "ray", executor="ray", threads=1)
    finally:
        ray.shutdown()
    assert summary["counts"]["done"] == 2
    one = auc_values(folder / "out")
    for key, value in auc_values(tmp_path / "ray").items():
        assert value == pytest.approx(one[key], abs=1e-6)  # the same runs as the local executor


def test_the_search_stage_picks_each_variants_best_setting_and_the_final_runs_use_it(tmp_path):
    from medattn.study.search import run_score

    study = parse_study(TINY | {"factors": {"attention": ["none"]}, "seeds": [3],
                                "search": {"factors": {"lr": [0.05, 0.0001]}, "seeds": [0]}})  # fmt: skip
    summary = run_study(study, tmp_path / "out", threads=1)
    assert summary["search"]["counts"]["done"] == 2 and summary["counts"]["done"] == 1
    searched = results(tmp_path / "out" / "search")
    scores = {row.cell["lr"]: run_score(tmp_path / "out/search" / RUNS / key, "val_auc_roc", "max")
              for key, row in searched.items()}  # fmt: skip
    best = max(scores, key=lambda lr: (scores[lr], lr == 0.05))  # ties go to the first value listed
    assert summary["search"]["chosen"] == [{"variant": ["none"], "lr": best}]
    (final,) = results(tmp_path / "out").values()
    assert final.config["train"]["lr"] == best and final.cell == {"attention": "none", "seed": 3}


def test_a_real_dataset_recipe_without_its_folder_is_refused_before_any_run(tmp_path):
    study = parse_study(TINY | {"data": {"recipe": "brain-tumor-mri"}})
    with pytest.raises(ConfigError, match=r"^study 'tiny': data.recipe 'brain-tumor-mri' needs .* --data PATH$"):
        run_study(study, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_study_on_a_dataset_folder_audits_it_once_and_the_report_shows_it(tmp_path):
    from medattn.data.synthetic import write_synthetic_dataset
    from medattn.study.report import write_report

    write_synthetic_dataset(tmp_path / "data", 80, 32, seed=3)
    data = {"path": str(tmp_path / "data"), "recipe": "synthetic"}
    study = parse_study(TINY | {"data": data, "seeds": [0], "train": {"epochs": 1, "batch_size": 16}})
    assert run_study(study, tmp_path / "out", threads=1)["counts"]["done"] == 2
    audit = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert audit["num_images"] == 80
    report = write_report(tmp_path / "out")
    markdown = Path(report["markdown"]).read_text()
    assert "## Dataset audit" in markdown and "| images | 80 |" in markdown


def test_an_explanation_stage_failure_is_recorded_in_one_line_and_the_study_goes_on(tmp_path, monkeypatch):
    from medattn.explain import job
    from medattn.study.explain_stage import explain_study
    from medattn.study.grid import expand_grid

    def boom(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(job, "run_explain", boom)
    study = parse_study(TINY | {"seeds": [0], "explain": {"methods": ["gradcam"]}})
    cells = expand_grid(study)
    status = explain_study(study, tmp_path, cells, {cell.key for cell in cells})
    assert status == {"0": "failed: RuntimeError: boom"}
    assert json.loads((tmp_path / "explain" / "status.json").read_text()) == status
