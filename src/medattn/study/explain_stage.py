"""The study's explanation stage: every variant's maps and quality scores, one job per seed, then across seeds.

Runs of one seed share their data split, so one ``medattn explain`` job per seed compares all
variants on the same test images (selected as in seed 000: predicted correctly by every variant),
and its per-image scores pair across variants by seed, so the study's statistics apply to them as
to accuracy. Output: ``DIR/explain/seed-<s>/`` (maps, grids, ``scores.csv``). A finished seed is
skipped on re-run; a seed whose job cannot run (e.g. no image every variant gets right) or fails is
recorded in ``DIR/explain/status.json`` with its one-line reason, retried on re-run, and the study
goes on.

Repeatability (SSIM and Spearman between maps of runs that differ only in the seed) cannot come from a
per-seed job. With ``repeatability`` among the scores, one more job explains every finished run of
every variant on the same images (the first seed's test images, selected as above by all these runs;
for the other seeds' runs they may be training images where the split depends on the seed) and
scores each run against the other seeds' runs of its own variant. Output: ``DIR/explain/repeatability/``
(maps, grids, ``scores.csv`` with one model per variant and seed, ``status.json``). Each run's SSIM
and Spearman rows are also written, under its variant's name, into ``seed-<s>/scores.csv`` of its seed,
where the report reads the other explanation scores (their ``image`` column numbers the images of
``repeatability/explanations.json``).
"""

import json
from pathlib import Path

import pandas as pd

from medattn.errors import ConfigError
from medattn.io import write_atomic, write_json_atomic
from medattn.study.config import StudyConfig
from medattn.study.grid import Cell

EXPLAIN = "explain"
REPEATABILITY = "repeatability"  # the score family, and the folder of the job across seeds
DEFAULTS = {"methods": ["gradcam"], "n": 4, "select": "per-class", "target": "label", "scores": []}


def variant_name(cell: Cell) -> str:
    """The variant's factor values, e.g. ``se`` or ``cbam, perez2018``."""
    return ", ".join(str(value) for value in cell.variant.values()) or "model"


def explain_settings(study: StudyConfig) -> dict:
    """The study's ``explain`` mapping over the defaults; unknown keys are refused."""
    unknown = sorted(set(study.explain) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"explain: unknown key '{unknown[0]}'; valid keys: {', '.join(DEFAULTS)}")
    return DEFAULTS | study.explain


def explain_study(study: StudyConfig, out: Path, cells: list[Cell], finished: set[str], progress=None) -> dict:
    """Explain every seed whose runs all finished; returns ``{seed: 'done' | 'skipped: reason'}``.

    With ``repeatability`` among the scores, the job across seeds follows (:func:`explain_across_seeds`) and
    the result has its state under ``'repeatability'`` (``status.json`` keeps the seeds only).

    ``progress(done, total, description)`` is called as maps are made.
    """
    from medattn.explain.job import ExplainJob, run_explain
    from medattn.study.runner import RUNS

    settings = explain_settings(study)
    per_seed_scores = [family for family in settings["scores"] if family != REPEATABILITY]
    folder = out / EXPLAIN
    status = json.loads((folder / "status.json").read_text()) if (folder / "status.json").is_file() else {}
    for seed in study.seeds:
        seed_cells = [c for c in cells if c.factors["seed"] == seed]
        job_out = folder / f"seed-{seed}"
        if status.get(str(seed)) == "done" and (job_out / "explanations.json").is_file():
            continue
        if not all(c.key in finished for c in seed_cells):
            status[str(seed)] = "skipped: not every run of this seed finished"
            continue
        job = ExplainJob(
            runs=[out / RUNS / c.key for c in seed_cells], names=[variant_name(c) for c in seed_cells],
            methods=list(settings["methods"]), out=job_out, select=settings["select"], n=settings["n"],
            target=settings["target"], seed=seed, scores=per_seed_scores,
        )  # fmt: skip
        described = progress and (lambda done, total, s=seed: progress(done, total, f"explaining seed {s}"))
        status[str(seed)] = _run_job(run_explain, job, described)
        write_json_atomic(folder / "status.json", status)
    if REPEATABILITY in settings["scores"]:
        return status | {REPEATABILITY: explain_across_seeds(study, out, cells, finished, progress)}
    return status


def seed_run_name(cell: Cell) -> str:
    """A run's name in the job across seeds: its variant and seed, e.g. ``se (seed 1)``."""
    return f"{variant_name(cell)} (seed {cell.factors['seed']})"


def explain_across_seeds(study: StudyConfig, out: Path, cells: list[Cell], finished: set[str], progress=None) -> str:
    """Repeatability of every variant across its seeds (see the module docstring); returns the job's state.

    The job reruns when the set of finished runs changed; its rows are copied into the seed folders on every call.
    """
    from medattn.explain.job import ExplainJob, run_explain
    from medattn.study.runner import RUNS

    settings, folder = explain_settings(study), out / EXPLAIN / REPEATABILITY
    done = [c for c in cells if c.key in finished]
    repeated = [c for c in done if sum(variant_name(o) == variant_name(c) for o in done) > 1]
    keys = [c.key for c in repeated]
    previous = json.loads((folder / "status.json").read_text()) if (folder / "status.json").is_file() else {}
    state = previous.get("state", "")
    if not repeated:
        state = "skipped: no variant has two finished seeds"
    elif not (state == "done" and previous.get("runs") == keys and (folder / "scores.csv").is_file()):
        job = ExplainJob(
            runs=[out / RUNS / c.key for c in repeated], names=[seed_run_name(c) for c in repeated],
            methods=list(settings["methods"]), out=folder, select=settings["select"], n=settings["n"],
            target=settings["target"], seed=study.seeds[0], scores=[REPEATABILITY],
        )  # fmt: skip
        state = _run_job(run_explain, job, progress and (lambda d, t: progress(d, t, "explaining across seeds")))
    write_json_atomic(folder / "status.json", {"state": state, "runs": keys})
    if state == "done":
        copy_to_seed_folders(out / EXPLAIN, pd.read_csv(folder / "scores.csv", dtype={"model": str}), repeated)
    return state


def _run_job(run_explain, job, progress) -> str:
    """``done``, or ``skipped: reason`` (a ConfigError) or ``failed: Error: first line`` (anything else)."""
    try:
        run_explain(job, progress)
        return "done"
    except ConfigError as error:
        return f"skipped: {error}"
    except Exception as error:  # noqa: BLE001  (the trained runs stay; the report shows the reason)
        return f"failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def copy_to_seed_folders(folder: Path, scores: pd.DataFrame, cells: list[Cell]) -> None:
    """Each run's repeatability rows, under its variant's name, into ``seed-<s>/scores.csv`` (replacing old ones)."""
    from medattn.explain.scores import SCORES

    names = {seed_run_name(c): (variant_name(c), c.factors["seed"]) for c in cells}
    repeatability = {name for name, info in SCORES.items() if info.family == REPEATABILITY}
    scores = scores[scores["model"].isin(list(names)) & scores["score"].isin(list(repeatability))]
    for seed in sorted({seed for _, seed in names.values()}):
        rows = scores[scores["model"].map(lambda n, s=seed: names[n][1] == s)]
        rows = rows.assign(model=rows["model"].map(lambda n: names[n][0]))
        path = folder / f"seed-{seed}" / "scores.csv"
        kept = pd.read_csv(path, dtype={"model": str}) if path.is_file() else rows.iloc[:0]
        table = pd.concat([kept[~kept["score"].isin(list(repeatability))], rows], ignore_index=True)
        write_atomic(path, lambda tmp, t=table: t.to_csv(tmp, index=False))
