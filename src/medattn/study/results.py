"""A study folder's results as plain data: finished runs, their values per variant and seed, and their files.

A study folder (``medattn study``) holds ``study.yaml``, ``study.sqlite`` (the run store), one directory per run
under ``runs/`` and, optionally, the explanation stage under ``explain/``. :func:`load_study_dir` reads what the
report needs from it; :func:`value_frame` turns every number the report compares into one long table with the
columns ``variant, seed, source, metric, value`` (``source`` is a test split, e.g. ``test`` or an OOD set's name,
or ``explanations (<method>)`` for explanation-quality scores).

Only runs of the study's grid are reported: the search stage's runs (extra factors) and runs of factor values the
study no longer lists are left out. When a cell has several finished runs (its config changed and the folder was
re-used with ``--force``), the most recently updated one is kept.
"""

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from medattn.errors import ConfigError
from medattn.models.attention.base import CONTROL_PREFIX
from medattn.study.config import StudyConfig, read_study
from medattn.study.explain_stage import EXPLAIN, variant_name
from medattn.study.grid import Cell, baseline_of
from medattn.study.measures import LOWER_IS_BETTER, METRICS, higher_is_better  # noqa: F401 (re-exported)
from medattn.study.runner import RUNS, STORE, has_run_directory
from medattn.study.store import RunRow, StudyStore
from medattn.train.rundir import HISTORY

FEATURES_JSON = "features.json"  # written by ``medattn features`` into the study folder; read by the report

VALUE_COLUMNS = ("variant", "seed", "source", "metric", "value")


@dataclass(frozen=True)
class StudyRun:
    """One finished run: its variant (label and factor values without the seed), seed, results, config, folder,
    and the seconds it took as the store measured them (None when not recorded)."""

    key: str
    variant: str
    factors: dict
    seed: int
    metrics: dict
    cost: dict
    config: dict
    folder: Path
    seconds: float | None = None


@dataclass(frozen=True)
class StudyData:
    """What the report needs from a study folder.

    Attributes:
        folder: the study folder.
        study: its study definition (``study.yaml``).
        runs: finished runs of the grid, in grid order.
        failed: failed runs of the grid whose cell has no finished run.
        missing: runs recorded done whose run directory is gone (not reported; ``medattn study`` trains them again).
        counts: runs of the grid per status (done, failed, pending, running).
        variants: variant label -> factor values (without the seed), in grid order.
        baselines: variant label -> the label of the baseline it is compared with (baseline variants are absent).
        controls: attention variant label -> its parameter-matched control's (``se`` -> ``matched-se``), where
            the study has both with every other factor equal.
    """

    folder: Path
    study: StudyConfig
    runs: list[StudyRun]
    failed: list[RunRow]
    counts: dict[str, int]
    variants: dict[str, dict]
    baselines: dict[str, str] = field(default_factory=dict)
    controls: dict[str, str] = field(default_factory=dict)
    missing: list[RunRow] = field(default_factory=list)

    @property
    def test_splits(self) -> list[str]:
        """``test`` and the study's OOD test sets, in the study's order."""
        return ["test", *(entry["name"] for entry in self.study.ood)]


def variant_label(factors: dict) -> str:
    """A variant's name in tables and figures, the same as the explanation stage's (``se`` or ``cbam, 0.1``)."""
    return variant_name(Cell(_without_seed(factors), None, ""))


def load_study_dir(folder: str | Path) -> StudyData:
    """Read a study folder; a missing folder, file or finished run is a one-line ConfigError naming the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such study folder")
    for name in ("study.yaml", STORE):
        if not (folder / name).is_file():
            raise ConfigError(f"{folder}: not a study folder (no {name}); run `medattn study` first")
    study = read_study(folder / "study.yaml")
    with StudyStore(folder / STORE) as store:
        rows = [row for row in store.runs() if _in_grid(row.cell, study)]
    gone = {row.key for row in rows if row.status == "done" and not has_run_directory(folder, row.key)}
    kept = [row for row in rows if row.key not in gone]
    done = _latest_per_cell([row for row in kept if row.status == "done"])
    finished_cells = {_cell_id(row.cell) for row in done}
    missing = [row for row in rows if row.key in gone and _cell_id(row.cell) not in finished_cells]
    counts = {status: sum(row.status == status for row in kept) for status in ("done", "failed", "pending", "running")}
    if missing:
        counts["missing"] = len(missing)
    if not done:
        described = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no runs"
        raise ConfigError(f"{folder}: no finished runs to report ({described})")
    return StudyData(
        folder=folder,
        study=study,
        runs=[_study_run(folder, row) for row in done],
        failed=[row for row in rows if row.status == "failed" and _cell_id(row.cell) not in finished_cells],
        counts=counts,
        variants={variant_label(row.cell): _without_seed(row.cell) for row in rows},
        baselines=_baselines(rows, study.baseline),
        controls=_controls(rows),
        missing=missing,
    )


def _in_grid(cell: dict, study: StudyConfig) -> bool:
    if set(cell) != {*study.factors, "seed"} or cell["seed"] not in study.seeds:
        return False
    return all(cell[name] in values for name, values in study.factors.items())


def _cell_id(cell: dict) -> tuple:
    return tuple(sorted((name, repr(value)) for name, value in cell.items()))


def _latest_per_cell(rows: list[RunRow]) -> list[RunRow]:
    latest: dict[tuple, RunRow] = {}
    for row in rows:
        kept = latest.get(_cell_id(row.cell))
        if kept is None or row.updated > kept.updated:
            latest[_cell_id(row.cell)] = row
    return [row for row in rows if latest[_cell_id(row.cell)] is row]


def _without_seed(cell: dict) -> dict:
    return {name: value for name, value in cell.items() if name != "seed"}


def _study_run(folder: Path, row: RunRow) -> StudyRun:
    return StudyRun(
        key=row.key,
        variant=variant_label(row.cell),
        factors=_without_seed(row.cell),
        seed=int(row.cell["seed"]),
        metrics=row.metrics or {},
        cost=row.cost or {},
        config=row.config or {},
        folder=folder / RUNS / row.key,
        seconds=row.seconds,
    )


def _baselines(rows: list[RunRow], baseline: dict) -> dict[str, str]:
    """Variant -> its baseline variant, by :func:`medattn.study.grid.baseline_of` (pairing reads only factors)."""
    cells = [Cell(row.cell, None, row.key) for row in rows]
    pairs = {}
    for cell in cells:
        other = baseline_of(cell, cells, baseline)
        if other is not None:
            pairs[variant_label(cell.factors)] = variant_label(other.factors)
    return pairs


def _controls(rows: list[RunRow]) -> dict[str, str]:
    """Variant -> its parameter-matched control variant (attention ``matched-<name>``, other factors equal)."""
    cells = {_cell_id(row.cell): row.cell for row in rows}
    pairs = {}
    for cell in cells.values():
        attention = str(cell.get("attention", ""))
        mechanism = {**cell, "attention": attention.removeprefix(CONTROL_PREFIX)}
        if attention.startswith(CONTROL_PREFIX) and _cell_id(mechanism) in cells:
            pairs[variant_label(mechanism)] = variant_label(cell)
    return pairs


def metric_value(metrics: dict, split: str, metric: str) -> float | None:
    """``metrics[split][metric]["value"]`` as a float; None when absent, undefined or not finite."""
    entry = (metrics.get(split) or {}).get(metric)
    value = entry.get("value") if isinstance(entry, dict) else entry
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def value_frame(data: StudyData) -> pd.DataFrame:
    """Every compared number, one row each: the test metrics of every split, then the explanation scores."""
    records = [
        {"variant": run.variant, "seed": run.seed, "source": split, "metric": metric, "value": value}
        for run in data.runs
        for split in data.test_splits
        for metric in METRICS
        if (value := metric_value(run.metrics, split, metric)) is not None
    ]
    metrics = pd.DataFrame.from_records(records, columns=list(VALUE_COLUMNS))
    explained = explanation_frame(data)
    return metrics if explained.empty else pd.concat([metrics, explained], ignore_index=True)


def explanation_folders(data: StudyData) -> dict[int, Path]:
    """Seed -> ``explain/seed-<s>`` folder of the explanation stage, for seeds of finished runs, in seed order."""
    seeds = {run.seed for run in data.runs}
    folders = {}
    for folder in (data.folder / EXPLAIN).glob("seed-*"):
        suffix = folder.name.removeprefix("seed-")
        if folder.is_dir() and suffix.lstrip("-").isdigit() and int(suffix) in seeds:
            folders[int(suffix)] = folder
    return dict(sorted(folders.items()))


def explanation_frame(data: StudyData) -> pd.DataFrame:
    """Explanation scores averaged over each run's images (NaN images left out), as :func:`value_frame` rows.

    ``explain/seed-<s>/scores.csv`` has one row per model (variant label), method, image and score.
    """
    frames = []
    for seed, folder in explanation_folders(data).items():
        if not (folder / "scores.csv").is_file():
            continue
        scores = pd.read_csv(folder / "scores.csv", dtype={"model": str, "method": str, "score": str})
        scores = scores[scores["model"].isin(list(data.variants))]
        means = scores.groupby(["model", "method", "score"], sort=False)["value"].mean().dropna().reset_index()
        frames.append(
            pd.DataFrame({
                "variant": means["model"], "seed": seed, "source": "explanations (" + means["method"] + ")",
                "metric": means["score"], "value": means["value"],
            })
        )  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(VALUE_COLUMNS))


def uniform_map_scores(data: StudyData) -> dict[str, float]:
    """Each localisation score of a constant map, averaged over every explained image of every seed: its chance
    level on the study's own images (``UNIFORM_MAP`` rows of ``explain/seed-<s>/scores.csv``)."""
    from medattn.explain.scores import UNIFORM_MAP

    frames = []
    for folder in explanation_folders(data).values():
        if (folder / "scores.csv").is_file():
            scores = pd.read_csv(folder / "scores.csv", dtype={"model": str, "method": str, "score": str})
            frames.append(scores[scores["model"] == UNIFORM_MAP])
    if not frames:
        return {}
    return pd.concat(frames).groupby("score")["value"].mean().dropna().to_dict()


@dataclass(frozen=True)
class Predictions:
    """A run's ``predictions-<split>.csv``: image paths, class names, label indices and probabilities [N, K]."""

    paths: list[str]
    classes: list[str]
    labels: np.ndarray
    probabilities: np.ndarray


def read_predictions(run: StudyRun, split: str = "test") -> Predictions | None:
    """The run's predictions on ``split``; None when the file is missing."""
    path = run.folder / f"predictions-{split}.csv"
    return read_predictions_file(path) if path.is_file() else None


def read_predictions_file(path: Path) -> Predictions:
    """A ``predictions-<split>.csv`` file; a malformed one is a one-line ConfigError naming it."""
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows = list(reader)
    classes = [name.removeprefix("prob_") for name in header[2:]]
    index = {name: k for k, name in enumerate(classes)}
    try:
        labels = np.array([index[row[1]] for row in rows], dtype=int)
        probabilities = np.array([[float(p) for p in row[2:]] for row in rows], dtype=float).reshape(len(rows), -1)
    except (KeyError, ValueError, IndexError) as error:
        raise ConfigError(f"{path}: malformed predictions file ({type(error).__name__}: {error})") from None
    return Predictions([row[0] for row in rows], classes, labels, probabilities)


def read_history(run: StudyRun) -> pd.DataFrame | None:
    """The run's ``history.csv`` (one row per epoch); None when missing or empty."""
    path = run.folder / HISTORY
    if not path.is_file():
        return None
    try:
        history = pd.read_csv(path)
    except (ValueError, OSError) as error:  # binary, truncated or empty (pandas' parser errors are ValueErrors)
        raise ConfigError(f"{path}: damaged history file ({' '.join(str(error).split())[:120]})") from None
    return None if history.empty else history


def decision_mark(row: dict) -> str:
    """``✓ [✗]`` for a row of ``features.json``: the raw majority decision and, in brackets, the Holm-adjusted one;
    ``-`` when not tested."""
    if row["uses"] is None:
        return "-"
    return f"{'✓' if row['uses'] else '✗'} [{'✓' if row['uses_holm'] else '✗'}]"
