"""``medattn explain``: explain the test images of several runs with several methods, write maps,
figures and (optionally) quality scores.

Outputs in ``out``:
- ``maps.npz``: raw maps, one compressed array [N, H, W] per ``model|method`` key;
- ``images.npz``: the explained images as uint8 pixels [N, H, W, C] (and lesion masks when known);
- ``explanations.json``: the images (paths, labels, predictions), and for every model and method
  how its maps were made (options, baseline, seed, model mode, targets) and the display scale;
- ``grid-<method>.png/.pdf``: rows = images, columns = the original and one column per model;
- ``mean-<method>.png/.pdf``: the mean map of every model over the N images (seed 004, Table 4);
- with scores: ``scores.csv`` (one row per model, method, image and score) and ``scores.json``.
"""

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medattn.errors import ConfigError
from medattn.explain.api import explain
from medattn.explain.baselines import Normalisation
from medattn.explain.display import denormalise, normalise_columns
from medattn.explain.figures import explanation_grid, mean_map_figure
from medattn.explain.methods import METHODS
from medattn.explain.runs import EvaluationImages, LoadedRun, check_classes, evaluation_images, load_runs, predict
from medattn.explain.selection import select_images
from medattn.io import write_atomic, write_json_atomic


@dataclass
class ExplainJob:
    """Everything ``medattn explain`` was asked to do."""

    runs: list[Path]
    methods: list[str]
    out: Path
    data: str | None = None
    split: str = "test"
    select: str = "per-class"
    n: int = 4
    list_file: Path | None = None
    target: str = "label"
    seed: int = 0
    checkpoint: str = "best-val"
    memory_limit: int | None = None
    display: str = "shared"
    scores: list[str] = field(default_factory=list)
    names: list[str] | None = None  # model labels in figures and tables (default: the run folders' names)


def run_explain(job: ExplainJob, progress=None) -> dict:
    """Run the job; returns the JSON summary (also written to ``explanations.json``)."""
    runs = load_runs(job.runs, job.checkpoint, names=job.names)
    images = evaluation_images(runs[0].config, job.split, job.data)
    check_classes(runs, images.classes)  # another --data, or runs of other datasets: refuse, do not mislabel
    predictions = {run.name: predict(run, images) for run in runs}
    rows = select_images(
        job.select, images.labels, {k: p.argmax(1) for k, p in predictions.items()}, n=job.n, seed=job.seed,
        list_file=job.list_file, paths=images.paths,
    )  # fmt: skip
    batch, labels, masks = images.batch(rows)
    maps, metadata = _explain_all(job, runs, batch, labels, progress)
    _write_arrays(job.out / "maps.npz", {f"{model}|{method}": m for (model, method), m in maps.items()})
    pixels = denormalise(batch, Normalisation().mean, Normalisation().std)
    _write_arrays(job.out / "images.npz", {"images": (pixels * 255).round().astype(np.uint8)}
                  | ({} if masks is None else {"masks": masks[:, 0].numpy()}))  # fmt: skip
    summary = _summary(job, images, rows, predictions, metadata)
    titles = [f"{Path(images.paths[r]).name} ({images.classes[images.labels[r]]})" for r in rows]
    summary["figures"] = _figures(job, pixels, maps, titles)
    if job.scores:
        from medattn.explain.quality import score_explanations

        summary["scores"] = score_explanations(job, runs, batch, labels, masks, maps, progress)
    write_json_atomic(job.out / "explanations.json", summary)
    return summary


def _explain_all(job: ExplainJob, runs: list[LoadedRun], images, labels, progress):
    maps, metadata = {}, {}
    total = len(runs) * len(job.methods)
    for step, (run, method) in enumerate(((r, m) for r in runs for m in job.methods), start=1):
        try:
            result = explain(
                run.model, images, job.target, method, labels=labels, seed=job.seed, memory_limit=job.memory_limit,
                normalisation=Normalisation(),
            )  # fmt: skip
        except ConfigError as refusal:  # e.g. 'attention' on the baseline: the other models still get their maps
            metadata[f"{run.name}|{method}"] = {"method": method, "refused": str(refusal)}
            continue
        finally:
            if progress:
                progress(step, total)
        maps[(run.name, method)] = result.maps[:, 0].numpy()
        metadata[f"{run.name}|{method}"] = result.metadata()
    if not maps:
        reasons = {m["refused"] for m in metadata.values()}
        raise ConfigError(f"every model refused every method: {'; '.join(sorted(reasons))}")
    return maps, metadata


def _write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    def write(tmp: str) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        Path(tmp).write_bytes(buffer.getvalue())

    write_atomic(path, write)


def _summary(job: ExplainJob, images: EvaluationImages, rows, predictions, metadata) -> dict:
    return {
        "runs": [str(p) for p in job.runs],
        "split": job.split,
        "selection": {"rule": job.select, "n": job.n, "seed": job.seed},
        "classes": list(images.classes),
        "images": [
            {
                "path": images.paths[r],
                "label": int(images.labels[r]),
                "predicted": {name: int(p[r].argmax()) for name, p in predictions.items()},
                "probability": {name: float(p[r].max()) for name, p in predictions.items()},
            }
            for r in rows
        ],
        "explanations": metadata,
    }


def _figures(job: ExplainJob, pixels: np.ndarray, maps: dict, row_titles: list[str]) -> dict:
    written = {}
    for method in job.methods:
        columns = {model: m for (model, meth), m in maps.items() if meth == method}
        if not columns:
            continue
        scheme = _scheme(job.display, METHODS[method].signed)
        normalised, scale = normalise_columns(columns, scheme)
        paths = explanation_grid(pixels, normalised, job.out / f"grid-{method}", row_titles=row_titles, scale=scale)
        means = {model: m.mean(0) for model, m in columns.items()}
        mean_norm, mean_scale = normalise_columns({k: v[None] for k, v in means.items()}, scheme)
        paths += mean_map_figure({k: v[0] for k, v in mean_norm.items()}, job.out / f"mean-{method}", mean_scale,
                                 n_images=len(pixels))  # fmt: skip
        written[method] = {"files": [p.name for p in paths], "display": scale.to_dict() | {"label": scale.label()}}
    return written


def _scheme(display: str, signed: bool) -> str:
    if display == "per-map":
        return "per-map"
    return "shared-abs" if signed else "shared-positive"
