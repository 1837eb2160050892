"""The study's results database: one SQLite file (``DIR/study.sqlite``) that every worker process writes to.

A run is keyed by the hash of its resolved configuration (``medattn.study.grid.config_key``), so a changed config is
a new row (and run directory), never a silent overwrite. A row moves ``pending -> running -> done | failed``;
``reset_stale`` puts the ``running`` rows of a killed study back to ``pending`` (the runner keeps those whose run
directory a live process still holds, and holds the study folder's lock so that no other driver is running).

Concurrency: the database uses WAL journaling and a busy timeout, and every write is one ``BEGIN IMMEDIATE``
transaction, so several processes on one machine can write at once and a crash (even ``kill -9``) leaves either the
whole write or none of it. Each process opens its own :class:`StudyStore`; do not share one across ``fork``. WAL
needs a local file system (not NFS): on a cluster, let the driver process own the store.
"""

import json
import os
import socket
import sqlite3
import time
import traceback as traceback_module
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.util import find_spec
from pathlib import Path

from medattn.errors import ConfigError, choose
from medattn.io import write_atomic
from medattn.study.store_checks import database_errors, decode_column

SCHEMA_VERSION = 1
STATUSES = ("pending", "running", "done", "failed")
EXPORT_FORMATS = ("csv", "parquet")
#: Columns of :meth:`StudyStore.to_frame` that are not grid factors, metrics or costs (factors may not use them).
RUN_COLUMNS = ("key", "status", "seconds", "attempts", "worker", "error", "updated")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    cell TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    metrics TEXT,
    cost TEXT,
    error TEXT,
    traceback TEXT,
    seconds REAL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _json_default(value):
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store a {type(value).__name__} in the study database")


def _json(data) -> str:
    return json.dumps(data, ensure_ascii=False, default=_json_default)


def canonical_json(data) -> str:
    """JSON with sorted keys and no whitespace: equal mappings give equal text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


@dataclass(frozen=True)
class RunRow:
    """One run as stored. ``cell``, ``config``, ``metrics`` and ``cost`` are decoded JSON (None until set).

    ``error`` is one line (``Type: message``); ``traceback`` the full text. ``updated`` is ISO 8601 UTC.
    """

    key: str
    cell: dict
    config: dict
    status: str
    metrics: dict | None = None
    cost: dict | None = None
    error: str | None = None
    seconds: float | None = None
    updated: str = ""
    worker: str | None = None
    attempts: int = 0
    traceback: str | None = field(default=None, repr=False)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _error_fields(error: str | BaseException, traceback_text: str | None) -> tuple[str, str | None]:
    """(one line, full text) from an exception, a one-line message or a traceback's text."""
    if isinstance(error, BaseException):
        full = traceback_text or "".join(traceback_module.format_exception(error))
        line = f"{type(error).__name__}: {error}"
    else:
        lines = [text for text in str(error).splitlines() if text.strip()]
        # a traceback's last line is its "Type: message" summary
        line = lines[-1] if len(lines) > 1 and lines[0].startswith("Traceback") else (lines[0] if lines else "")
        full = traceback_text or (str(error) if len(lines) > 1 else None)
    return " ".join(line.split()), full


class StudyStore:
    """The study's SQLite database: run queue, results, and the study config's hash.

    Use as a context manager (``with StudyStore(out / "study.sqlite") as store: ...``); the file and schema are
    created on first open.

    Args:
        path: the database file (its folder is created).
        timeout: seconds a write waits for another process's write before failing with "database is locked".
    """

    def __init__(self, path: str | Path, *, timeout: float = 60.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; ours are explicit BEGIN IMMEDIATE (see transaction()).
        with database_errors(self.path):
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self._depth = 0
        try:
            with database_errors(self.path):
                self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
                self._enable_wal(timeout)
            with self.transaction():
                self._create_schema()
        except BaseException:
            self._conn.close()
            raise

    def _enable_wal(self, timeout: float) -> None:
        # Switching a new file to WAL can fail at once with "database is locked" while another process creates
        # the same file (SQLite skips the busy handler where waiting could deadlock), so retry until the timeout.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _create_schema(self) -> None:
        for statement in filter(str.strip, _SCHEMA.split(";")):
            self._conn.execute(statement)
        found = self._meta("schema_version")
        if found is None:
            self._set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(found) > SCHEMA_VERSION:
            raise ConfigError(f"{self.path}: made by a newer medattn (schema {found}); upgrade medattn to open it")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "StudyStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all of them are kept, or (on any exception, or a crash) none.

        Every method below runs in its own transaction; nested ones become savepoints of the outer one.
        """
        if self._depth:
            n = self._depth
            begin, commit, rollback = f"SAVEPOINT s{n}", f"RELEASE s{n}", f"ROLLBACK TO s{n}"
        else:
            # IMMEDIATE takes the write lock up front, so the busy timeout applies (a deferred read-then-write
            # transaction fails at once with "database is locked" when another process wrote in between).
            begin, commit, rollback = "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"
        with database_errors(self.path):  # damaged, full or read-only: one line naming the file
            self._conn.execute(begin)
            self._depth += 1
            try:
                yield
                self._conn.execute(commit)
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute(rollback)
                    if self._depth > 1:  # a rolled-back savepoint stays open until released
                        self._conn.execute(commit)
                raise
            finally:
                self._depth -= 1

    def _meta(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, name: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def config_conflicts(self, study_config_hash: str) -> str | None:
        """Record the study config's hash on first use; afterwards return the stored hash if it differs.

        Returns:
            None when the folder is new (the hash is recorded) or holds this config; else the other config's
            hash (nothing is changed). :meth:`check_study` turns this into the CLI's error.
        """
        with self.transaction():
            stored = self._meta("study_config")
            if stored is None:
                self._set_meta("study_config", study_config_hash)
            return None if stored in (None, study_config_hash) else stored

    def check_study(self, study_config_hash: str, *, force: bool = False) -> None:
        """Make this study config the folder's; raise a ConfigError if the folder holds another's results.

        Args:
            study_config_hash: the study config's digest.
            force: take the folder anyway: the new hash is recorded; old runs stay (keyed by their own configs).
        """
        with self.transaction():
            stored = self.config_conflicts(study_config_hash)
            if stored is None:
                return
            if not force:
                raise ConfigError(
                    f"{self.path.parent} holds results of another study config ({stored[:12]}, this one is "
                    f"{study_config_hash[:12]}); use a new --out, or --force to add to it"
                )
            self._set_meta("study_config", study_config_hash)

    def register(self, key: str, cell: dict, config: dict) -> bool:
        """Add a run as ``pending`` unless ``key`` is already there (its status and results are kept).

        Args:
            key: the hash of ``config`` (``medattn.study.grid.config_key``).
            cell: the grid cell's factor values, e.g. ``{"backbone": "resnet18", "attention": "cbam", "seed": 1}``.
            config: the resolved run config as a JSON-able dict.

        Returns:
            True if the run was added.
        """
        clash = sorted(set(cell) & set(RUN_COLUMNS)) + sorted(name for name in cell if name.startswith("cost."))
        if clash:
            raise ConfigError(f"grid factor '{clash[0]}' clashes with a study column; rename it")
        now = _now()
        with self.transaction():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO runs (key, cell, config, status, created, updated) "
                "VALUES (?, ?, ?, 'pending', ?, ?)",
                (key, _json(cell), canonical_json(config), now, now),
            )
        return cursor.rowcount == 1

    def _update(self, key: str, assignments: str, values: tuple) -> None:
        with self.transaction():
            cursor = self._conn.execute(
                f"UPDATE runs SET {assignments}, updated = ? WHERE key = ?", (*values, _now(), key)
            )
        if cursor.rowcount == 0:
            raise KeyError(f"no run '{key}' in {self.path}")

    def mark_running(self, key: str, worker: str) -> None:
        """Mark a run as started by ``worker`` (e.g. ``host:pid``) and count the attempt."""
        self._update(key, "status = 'running', worker = ?, attempts = attempts + 1", (worker,))

    def mark_done(self, key: str, metrics: dict, cost: dict, seconds: float) -> None:
        """Store a finished run's metrics (nested dicts), cost (params, MACs, ...) and wall time; clears errors."""
        self._update(
            key,
            "status = 'done', metrics = ?, cost = ?, seconds = ?, error = NULL, traceback = NULL",
            (_json(metrics), _json(cost), float(seconds)),
        )

    def mark_failed(
        self, key: str, error: str | BaseException, traceback: str | None = None, seconds: float | None = None
    ) -> None:
        """Mark a run failed, keeping one error line and the traceback text in separate columns.

        Args:
            error: the exception, a one-line message, or a traceback's text (its last line becomes the error line).
            traceback: the full traceback text, when ``error`` is only the message.
            seconds: time spent before failing.
        """
        line, full = _error_fields(error, traceback)
        self._update(key, "status = 'failed', error = ?, traceback = ?, seconds = ?", (line, full, seconds))

    def reset_stale(self, alive_workers: set[str] | None = None, *, keep: set[str] = frozenset()) -> list[str]:
        """Put ``running`` runs whose worker is gone back to ``pending``; returns their keys.

        Args:
            alive_workers: workers still running; None resets every running run (a new invocation's start,
                when no worker of the old one can be alive).
            keep: keys of runs to leave ``running`` whatever their worker (their run directory is held by a live
                process, ``medattn.locks``).
        """
        alive = sorted(alive_workers or ())
        where = f" AND worker NOT IN ({', '.join('?' * len(alive))})" if alive else ""
        with self.transaction():
            found = self._conn.execute(f"SELECT key FROM runs WHERE status = 'running'{where}", alive)
            keys = [r[0] for r in found if r[0] not in keep]
            self._conn.executemany(
                "UPDATE runs SET status = 'pending', worker = NULL, updated = ? WHERE key = ?",
                [(_now(), key) for key in keys],
            )
        return keys

    def run(self, key: str) -> RunRow:
        """The run stored under ``key`` (KeyError if none)."""
        rows = self._select("WHERE key = ?", (key,))
        if not rows:
            raise KeyError(f"no run '{key}' in {self.path}")
        return rows[0]

    def runs(self, status: str | None = None) -> list[RunRow]:
        """All runs in registration order, or those with ``status``."""
        if status is None:
            return self._select("", ())
        return self._select("WHERE status = ?", (choose("run status", status, STATUSES),))

    def _select(self, where: str, values: tuple) -> list[RunRow]:
        columns = "key, cell, config, status, metrics, cost, error, seconds, updated, worker, attempts, traceback"
        with database_errors(self.path):
            rows = self._conn.execute(f"SELECT {columns} FROM runs {where} ORDER BY rowid", values).fetchall()
        decode = lambda k, **texts: [decode_column(self.path, k, name, text) for name, text in texts.items()]  # noqa: E731
        return [RunRow(k, *decode(k, cell=cell, config=config), status, *decode(k, metrics=metrics, cost=cost), *rest)
                for k, cell, config, status, metrics, cost, *rest in rows]  # fmt: skip

    def counts(self) -> dict[str, int]:
        """Number of runs per status (every status present, zeros included)."""
        with database_errors(self.path):
            found = dict(self._conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())
        return {status: found.get(status, 0) for status in STATUSES}

    def to_frame(self):
        """One row per run as a ``pandas.DataFrame``: the rows :meth:`export` writes.

        Columns, in order: :data:`RUN_COLUMNS`; the grid factors (their own names); the metrics flattened with
        dots (``{"test": {"auc_roc": {"value": .9, "ci_low": .8}}}`` gives ``test.auc_roc`` and
        ``test.auc_roc.ci_low``: a ``value`` entry takes its parent's name); the costs flattened under ``cost.``.
        Lists (confusion matrices) become JSON text. A metric named like an earlier column gets a ``metrics.``
        prefix. Runs without results have empty (NaN / None) metric and cost cells.
        """
        import pandas as pd

        records = [_flat_record(row) for row in self.runs()]
        columns = list(RUN_COLUMNS)
        for record in records:
            columns.extend(name for name in record if name not in columns)
        return pd.DataFrame.from_records(records, columns=columns)

    def export(self, path: str | Path, format: str | None = None) -> Path:
        """Write :meth:`to_frame` to ``path`` atomically as CSV or Parquet (from the suffix when ``format`` is None).

        Parquet needs pyarrow; without it a ConfigError says to install it.
        """
        path = Path(path)
        if format is None:
            format = path.suffix.lstrip(".").lower()
        format = choose("export format", format, EXPORT_FORMATS)
        if format == "parquet" and find_spec("pyarrow") is None:
            raise ConfigError("Parquet export needs pyarrow: pip install pyarrow (or export to .csv)")
        frame = self.to_frame()
        if format == "csv":
            return write_atomic(path, lambda tmp: frame.to_csv(tmp, index=False))
        return write_atomic(path, lambda tmp: _parquet_ready(frame).to_parquet(tmp, index=False, engine="pyarrow"))


def flatten(data: dict, prefix: str = "") -> dict:
    """Nested dicts to one level with dotted names; a ``value`` entry takes its parent's name; lists become JSON."""
    flat = {}
    for name, value in data.items():
        column = prefix if name == "value" and prefix else f"{prefix}.{name}" if prefix else str(name)
        if isinstance(value, dict):
            flat.update(flatten(value, column))
        elif isinstance(value, list | tuple):
            flat[column] = canonical_json(value)
        else:
            flat[column] = value
    return flat


def _flat_record(row: RunRow) -> dict:
    record = {name: getattr(row, name) for name in RUN_COLUMNS}
    record.update(row.cell)
    for name, value in flatten(row.metrics or {}).items():
        record[f"metrics.{name}" if name in record else name] = value
    record.update(flatten(row.cost or {}, "cost"))
    return record


def _parquet_ready(frame):
    """Columns mixing text and numbers (a factor with values 1 and 'all') become text: Parquet columns are typed."""
    from pandas.api.types import infer_dtype

    frame = frame.copy()
    for column in frame.columns:
        if infer_dtype(frame[column], skipna=True).startswith("mixed"):
            frame[column] = [v if v is None or v != v else str(v) for v in frame[column]]
    return frame


def worker_name() -> str:
    """``host:pid`` of this process: a ``worker`` name for :meth:`StudyStore.mark_running`."""
    return f"{socket.gethostname()}:{os.getpid()}"
