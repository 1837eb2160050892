import multiprocessing
import runpy
import sqlite3
import textwrap
from importlib.util import find_spec

import pandas as pd
import pytest

from medattn.errors import ConfigError
from medattn.study.store import StudyStore, flatten

CELL = {"backbone": "resnet18", "attention": "cbam", "seed": 1, "split": 0}
METRICS = {
    "test": {
        "n": 40,
        "auc_roc": {"value": 0.9, "ci_low": 0.8, "ci_high": 0.95},
        "confusion_matrix": [[18, 2], [3, 17]],
    }
}
COST = {"params": 11_700_000, "macs": 1.8e9}

# Run by multiprocessing's spawn start method (a fresh interpreter) through runpy, so that the worker needs no
# importable test module; DB, WORKER and MODE come in as globals.
WORKER_SCRIPT = textwrap.dedent(
    """
    import os
    from medattn.study.store import StudyStore

    if MODE == "mark-done":
        BARRIER.wait()
        with StudyStore(DB) as store:
            for i in range(20):
                key = f"{WORKER}-{i}"
                store.register(key, {"process": WORKER, "i": i}, {"i": i})
                store.mark_running(key, WORKER)
                store.mark_done(key, {"test": {"auc_roc": {"value": i / 20}}}, {"params": i}, seconds=0.1)
    elif MODE == "die-in-transaction":
        store = StudyStore(DB)
        with store.transaction():
            store.mark_done("k", {"test": {"auc_roc": {"value": 1.0}}}, {}, seconds=1.0)
            os._exit(3)  # no commit, no rollback, no cleanup: what kill -9 does
    """
)


def _spawn(tmp_path, **globals_):
    script = tmp_path / "worker_script.py"
    script.write_text(WORKER_SCRIPT)
    context = multiprocessing.get_context("spawn")
    return context.Process(target=runpy.run_path, args=(str(script),), kwargs={"init_globals": globals_})


@pytest.fixture
def store(tmp_path):
    with StudyStore(tmp_path / "study" / "study.sqlite") as opened:
        yield opened


def test_schema_is_created_with_wal_journal_and_a_busy_timeout(tmp_path):
    path = tmp_path / "out" / "study.sqlite"
    with StudyStore(path, timeout=7) as store:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 7000
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"runs", "meta"}
        assert conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone() == ("1",)
    with StudyStore(path) as store:  # reopening keeps everything
        assert store.counts() == {"pending": 0, "running": 0, "done": 0, "failed": 0}


def test_register_is_idempotent_and_keeps_status_and_results(store):
    assert store.register("k", CELL, {"a": 1}) is True
    store.mark_running("k", "w1")
    store.mark_done("k", METRICS, COST, seconds=12.5)
    assert store.register("k", {**CELL, "seed": 99}, {"a": 2}) is False
    (row,) = store.runs()
    assert (row.status, row.cell, row.config, row.metrics, row.cost) == ("done", CELL, {"a": 1}, METRICS, COST)


def test_lifecycle_pending_running_done_and_failed_with_error_text(store):
    store.register("a", CELL, {})
    store.register("b", {**CELL, "seed": 2}, {})
    assert store.runs("pending")[0].key == "a" and store.counts()["pending"] == 2
    store.mark_running("a", "host:1")
    store.mark_running("b", "host:2")
    assert [(r.key, r.worker, r.attempts) for r in store.runs("running")] == [("a", "host:1", 1), ("b", "host:2", 1)]
    store.mark_done("a", METRICS, COST, seconds=3.0)
    try:
        raise ValueError("loss is nan\nat epoch 3")
    except ValueError as exc:
        store.mark_failed("b", exc, seconds=1.5)
    assert store.counts() == {"pending": 0, "running": 0, "done": 1, "failed": 1}
    done, failed = store.run("a"), store.run("b")
    assert (done.metrics, done.cost, done.seconds, done.error) == (METRICS, COST, 3.0, None)
    assert failed.error == "ValueError: loss is nan at epoch 3"
    assert "Traceback" in failed.traceback and "raise ValueError" in failed.traceback
    assert failed.seconds == 1.5 and failed.updated >= done.updated
    with pytest.raises(KeyError, match="no run 'zzz'"):
        store.mark_done("zzz", {}, {}, 0)
    with pytest.raises(ConfigError, match="unknown run status 'finished'; choose one of: pending, running"):
        store.runs("finished")


def test_failure_given_as_traceback_text_keeps_its_last_line_as_the_error(store):
    store.register("a", CELL, {})
    text = 'Traceback (most recent call last):\n  File "x.py", line 1\nRuntimeError: CUDA out of memory\n'
    store.mark_failed("a", text)
    assert (store.run("a").error, store.run("a").traceback) == ("RuntimeError: CUDA out of memory", text)
    store.mark_failed("a", "killed by signal 9")
    assert (store.run("a").error, store.run("a").traceback) == ("killed by signal 9", None)
    store.mark_done("a", METRICS, COST, seconds=1)  # a retry that succeeds clears the error
    assert (store.run("a").error, store.run("a").traceback) == (None, None)


def test_reset_stale_requeues_running_rows_of_dead_workers(store):
    for key in "abcd":
        store.register(key, {"k": key}, {})
    store.mark_running("a", "alive")
    store.mark_running("b", "dead")
    store.mark_running("c", "dead")
    store.mark_done("c", METRICS, COST, seconds=1)
    assert store.reset_stale({"alive"}) == ["b"]
    assert [r.key for r in store.runs("running")] == ["a"]
    assert store.reset_stale() == ["a"]
    assert store.counts() == {"pending": 3, "running": 0, "done": 1, "failed": 0}
    assert store.run("a").worker is None and store.run("a").attempts == 1


def test_two_spawned_processes_writing_at_once_lose_nothing(tmp_path):
    db = tmp_path / "study.sqlite"
    barrier = multiprocessing.get_context("spawn").Barrier(2)
    workers = [_spawn(tmp_path, DB=str(db), WORKER=f"w{i}", MODE="mark-done", BARRIER=barrier) for i in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert [p.exitcode for p in workers] == [0, 0]  # a "database is locked" error would exit 1
    with StudyStore(db) as store:
        assert store.counts() == {"pending": 0, "running": 0, "done": 40, "failed": 0}
        assert {r.cell["process"] for r in store.runs("done")} == {"w0", "w1"}


def test_study_config_hash_is_recorded_then_conflicts_are_reported(tmp_path):
    path = tmp_path / "study.sqlite"
    with StudyStore(path) as store:
        assert store.config_conflicts("aaa") is None
        assert store.config_conflicts("aaa") is None
    with StudyStore(path) as store:
        assert store.config_conflicts("bbb") == "aaa"  # reported, not recorded
        assert store.config_conflicts("bbb") == "aaa"
        store.check_study("aaa")
        with pytest.raises(ConfigError, match="holds results of another study config .*use a new --out, or --force"):
            store.check_study("bbb")
        store.check_study("bbb", force=True)
        assert store.config_conflicts("bbb") is None
        assert store.config_conflicts("aaa") == "bbb"


def test_flatten_names_metrics_with_dots_and_a_value_takes_its_parents_name():
    assert flatten(METRICS) == {
        "test.n": 40,
        "test.auc_roc": 0.9,
        "test.auc_roc.ci_low": 0.8,
        "test.auc_roc.ci_high": 0.95,
        "test.confusion_matrix": "[[18,2],[3,17]]",
    }


def _fill(store):
    store.register("k1", CELL, {})
    store.register("k2", {**CELL, "attention": "none"}, {})
    store.register("k3", {**CELL, "attention": "se"}, {})
    store.mark_done("k1", METRICS, COST, seconds=2.0)
    store.mark_failed("k3", "boom")


def test_csv_export_round_trips_with_flattened_columns(store, tmp_path):
    _fill(store)
    path = store.export(tmp_path / "results.csv")
    frame = pd.read_csv(path)
    assert list(frame.columns[:7]) == ["key", "status", "seconds", "attempts", "worker", "error", "updated"]
    assert list(frame.columns[7:]) == [
        *CELL,
        "test.n",
        "test.auc_roc",
        "test.auc_roc.ci_low",
        "test.auc_roc.ci_high",
        "test.confusion_matrix",
        "cost.params",
        "cost.macs",
    ]
    assert list(frame["status"]) == ["done", "pending", "failed"]
    assert list(frame["attention"]) == ["cbam", "none", "se"]
    done = frame.iloc[0]
    assert (done["test.auc_roc"], done["test.auc_roc.ci_low"], done["cost.params"]) == (0.9, 0.8, 11_700_000)
    assert pd.isna(frame.iloc[1]["test.auc_roc"]) and frame.iloc[2]["error"] == "boom"
    expected = store.to_frame()
    assert list(expected.columns) == list(frame.columns) and len(expected) == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".results")] == []  # no temporary left


def test_export_validates_the_format(store, tmp_path):
    with pytest.raises(ConfigError, match="unknown export format 'xlsx'; choose one of: csv, parquet"):
        store.export(tmp_path / "r.xlsx")
    assert not (tmp_path / "r.xlsx").exists()


@pytest.mark.skipif(find_spec("pyarrow") is None, reason="pyarrow is not installed (Parquet export is optional)")
def test_parquet_export_round_trips(store, tmp_path):
    _fill(store)
    store.register("k4", {**CELL, "split": "official"}, {})  # a factor mixing numbers and text
    frame = pd.read_parquet(store.export(tmp_path / "results.parquet"))
    assert list(frame.columns) == list(store.to_frame().columns)
    assert frame.iloc[0]["test.auc_roc.ci_high"] == 0.95 and list(frame["split"]) == ["0", "0", "0", "official"]


def test_parquet_export_without_pyarrow_says_to_install_it(store, tmp_path, monkeypatch):
    monkeypatch.setattr("medattn.study.store.find_spec", lambda name: None if name == "pyarrow" else find_spec(name))
    with pytest.raises(ConfigError, match=r"^Parquet export needs pyarrow: pip install pyarrow"):
        store.export(tmp_path / "results.parquet")
    assert list(tmp_path.iterdir()) == [tmp_path / "study"]


def test_an_error_inside_a_transaction_leaves_the_previous_state(store):
    store.register("k", CELL, {})
    with pytest.raises(RuntimeError), store.transaction():
        store.mark_running("k", "w")
        store.register("new", CELL, {})
        raise RuntimeError("crash mid-transaction")
    assert [(r.key, r.status, r.attempts) for r in store.runs()] == [("k", "pending", 0)]
    with store.transaction():  # a nested failure undoes only its own part
        store.mark_running("k", "w")
        with pytest.raises(RuntimeError), store.transaction():
            store.register("new", CELL, {})
            raise RuntimeError("inner")
    assert [(r.key, r.status) for r in store.runs()] == [("k", "running")]


def test_a_process_killed_inside_a_transaction_leaves_the_previous_state(tmp_path):
    db = tmp_path / "study.sqlite"
    with StudyStore(db) as store:
        store.register("k", CELL, {})
    process = _spawn(tmp_path, DB=str(db), WORKER="w", MODE="die-in-transaction")
    process.start()
    process.join(120)
    assert process.exitcode == 3
    with StudyStore(db) as store:
        assert [(r.key, r.status, r.metrics) for r in store.runs()] == [("k", "pending", None)]
        store.mark_running("k", "w2")  # and the database is writable again
        assert store.counts()["running"] == 1


def test_grid_factors_may_not_shadow_study_columns(store):
    with pytest.raises(ConfigError, match="grid factor 'status' clashes"):
        store.register("k", {"status": "x"}, {})
