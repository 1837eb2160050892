"""The study's explanation stage: every variant's maps and quality scores, one job per seed.

Runs of one seed share their data split, so one ``medattn explain`` job per seed compares all
variants on the same test images (selected as in seed 000: predicted correctly by every variant),
and its per-image scores pair across variants by seed, so the study's statistics apply to them as
to accuracy. Output: ``DIR/explain/seed-<s>/`` (maps, grids, ``scores.csv``). A finished seed is
skipped on re-run; a seed whose job cannot run (e.g. no image every variant gets right) or fails is
recorded in ``DIR/explain/status.json`` with its one-line reason, retried on re-run, and the study
goes on.
"""

import json
from pathlib import Path

from medattn.errors import ConfigError
from medattn.io import write_json_atomic
from medattn.study.config import StudyConfig
from medattn.study.grid import Cell

EXPLAIN = "explain"
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

    ``progress(done, total, description)`` is called as maps are made.
    """
    from medattn.explain.job import ExplainJob, run_explain
    from medattn.study.runner import RUNS

    settings = explain_settings(study)
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
            target=settings["target"], seed=seed, scores=list(settings["scores"]),
        )  # fmt: skip
        try:
            run_explain(job, progress and (lambda done, total, s=seed: progress(done, total, f"explaining seed {s}")))
            status[str(seed)] = "done"
        except ConfigError as error:
            status[str(seed)] = f"skipped: {error}"
        except Exception as error:  # noqa: BLE001  (the trained runs stay; the report shows the reason)
            status[str(seed)] = f"failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        write_json_atomic(folder / "status.json", status)
    return status
