"""``medattn explain --score``: every quality score per model, method and image.

Scores are per image (and per run, i.e. per training seed), so the study statistics apply to them
as to accuracy. Families and what they cost beyond the maps already computed:
- localisation: needs lesion masks (images without a lesion get NaN); free. A constant map is scored as
  well, under the model name ``UNIFORM_MAP`` (method ``uniform``): each score's chance level on these
  very images, e.g. the lesion's share of the image for relevance mass accuracy, which is high where
  lesions are large.
- faithfulness: deletion/insertion (32 steps) and ROAD in both orders (9 levels): forward passes only.
- complexity: sparseness (Gini index); free.
- robustness: max-sensitivity, 10 more explanations per image.
- repeatability: SSIM and Spearman between runs whose whole configuration (data, model, training) differs
  only in the seed (in a study: each variant's runs of all seeds, see ``medattn.study.explain_stage``).
- sanity: cascading parameter randomisation, one explanation per parameter group (pass/fail).
"""

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from medattn.explain.api import explain
from medattn.explain.baselines import Normalisation
from medattn.explain.chunking import chunk_size
from medattn.explain.scores import (
    SCORES,
    UNIFORM_MAP,
    complexity,
    faithfulness,
    localisation,
    repeatability,
    robustness,
    sanity,
)
from medattn.io import write_atomic

IMAGE_NORMALISATION = Normalisation()  # how `medattn explain` normalises the images it scores (see job.py)
QUALITY_FAMILIES = ("localisation", "faithfulness", "complexity", "robustness", "repeatability", "sanity")
DEFAULT_FAMILIES = QUALITY_FAMILIES


def _localisation(maps: torch.Tensor, masks: torch.Tensor | None) -> dict[str, np.ndarray]:
    if masks is None:
        return {}
    tolerance = localisation.POINTING_TOLERANCE_PX * maps.shape[-1] / 224  # 15 px at 224 px, scaled
    return {
        "relevance_mass_accuracy": localisation.relevance_mass_accuracy(maps, masks),
        "relevance_rank_accuracy": localisation.relevance_rank_accuracy(maps, masks),
        "energy_pointing_game": localisation.energy_pointing_game(maps, masks),
        "pointing_game": localisation.pointing_game(maps, masks, tolerance=tolerance),
    }


def _faithfulness(model, images, maps, targets, batch_size: int, seed: int) -> dict[str, np.ndarray]:
    generator = torch.Generator().manual_seed(seed)
    common = {"generator": generator, "batch_size": batch_size}
    road = {"pixel_std": IMAGE_NORMALISATION.std, **common}  # ROAD_NOISE is in pixel units; images are normalised
    return {
        "deletion_auc": faithfulness.deletion_auc(model.predict, images, maps, targets, **common),
        "insertion_auc": faithfulness.insertion_auc(model.predict, images, maps, targets, **common),
        "road_morf": faithfulness.road(model.predict, images, maps, targets, order="morf", **road).mean,
        "road_lerf": faithfulness.road(model.predict, images, maps, targets, order="lerf", **road).mean,
    }


def _explainers(method: str, seed: int, memory_limit: int | None):
    def with_model(model, images, targets):
        return explain(model, images, targets, method, seed=seed, memory_limit=memory_limit).maps

    return with_model


def _scores_of(job, run, method, images, masks, maps, targets, families, sanity_verdicts) -> dict[str, np.ndarray]:
    model = run.model
    explainer = _explainers(method, job.seed, job.memory_limit)
    batch_size = chunk_size(model, images, job.memory_limit, backward=False)
    values: dict[str, np.ndarray] = {}
    if "localisation" in families:
        values |= _localisation(maps, masks)
    if "faithfulness" in families:
        values |= _faithfulness(model, images, maps, targets, batch_size, job.seed)
    if "complexity" in families:
        values["sparseness"] = complexity.sparseness(maps)
    if "robustness" in families:
        generator = torch.Generator().manual_seed(job.seed)
        values["max_sensitivity"] = robustness.max_sensitivity(
            lambda x, t: explainer(model, x, t), images, targets, generator=generator, batch_size=batch_size
        )
    if "sanity" in families:
        result = sanity.randomisation_check(model, explainer, images, targets, seed=job.seed)
        values["randomisation"] = result.similarity[-1]
        sanity_verdicts[f"{run.name}|{method}"] = {
            "passed": result.passed, "statistic": result.statistic, "threshold": result.threshold,
            "measure": result.measure, "mode": result.mode, "steps": list(result.steps),
        }  # fmt: skip
    return values


def _repeatability(runs, maps: dict, methods: list[str]) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """SSIM and Spearman of each run's maps with those of the runs that differ only in the seed."""
    groups = defaultdict(list)
    for run in runs:
        groups[seedless_key(run.config)].append(run.name)
    values = {}
    for names in groups.values():
        for name in names if len(names) > 1 else []:
            others = [n for n in names if n != name]
            for method in (m for m in methods if (name, m) in maps):
                mine = torch.as_tensor(maps[(name, method)][:, None])
                pairs = {m: [repeatability.similarity(mine, maps[(o, method)][:, None], m) for o in others
                             if (o, method) in maps]
                         for m in ("ssim", "spearman")}  # fmt: skip
                values[(name, method)] = {m: np.mean(v, axis=0) for m, v in pairs.items() if v}
    return values


def seedless_key(config) -> str:
    """The whole resolved run configuration (data, model, train ...) as canonical JSON, without the seed.

    Two runs are repeats of each other exactly when their keys are equal: they differ in nothing but the
    training seed (``train.seed``, from which the split, the synthetic images and the weights derive).
    """
    sections = config.to_dict()
    sections["train"] = {k: v for k, v in sections["train"].items() if k != "seed"}
    return json.dumps(sections, sort_keys=True, default=list)


def score_explanations(job, runs, images, labels, masks, maps: dict, progress=None) -> dict:
    """All requested scores; writes ``scores.csv`` (one row per model, method, image, score)."""
    families = list(job.scores)
    rows, verdicts = [], {}
    seeds = _repeatability(runs, maps, job.methods) if "repeatability" in families else {}
    steps = [(run, method) for run in runs for method in job.methods if (run.name, method) in maps]
    for step, (run, method) in enumerate(steps, start=1):
        m = torch.as_tensor(maps[(run.name, method)][:, None])
        targets = _targets(job, run, images, labels)
        values = _scores_of(job, run, method, images, masks, m, targets, families, verdicts)
        values |= seeds.get((run.name, method), {})
        rows += [
            {"model": run.name, "method": method, "image": i, "score": name, "value": float(v)}
            for name, per_image in values.items()
            for i, v in enumerate(per_image)
        ]
        if progress:
            progress(step, len(steps))
    if "localisation" in families and masks is not None:
        uniform = _localisation(torch.ones(len(masks), 1, *masks.shape[-2:]), masks)
        rows += [
            {"model": UNIFORM_MAP, "method": "uniform", "image": i, "score": name, "value": float(v)}
            for name, per_image in uniform.items()
            for i, v in enumerate(per_image)
        ]
    table = pd.DataFrame(rows, columns=["model", "method", "image", "score", "value"])
    write_atomic(job.out / "scores.csv", lambda tmp: table.to_csv(tmp, index=False))
    return {"summary": _summary(table), "sanity": verdicts, "file": str(Path(job.out) / "scores.csv")}


def _targets(job, run, images, labels) -> torch.Tensor:
    """The targets the maps explained (the labels, or each model's predictions)."""
    if job.target == "label":
        return labels
    return run.model.predict(images.to(next(run.model.parameters()).device)).argmax(1).cpu()


def _summary(table: pd.DataFrame) -> list[dict]:
    grouped = table.groupby(["model", "method", "score"], sort=False)["value"]
    stats = grouped.agg(mean="mean", std="std", n="count").reset_index()
    return [
        row
        | {"std": 0.0 if pd.isna(row["std"]) else row["std"], "higher_is_better": SCORES[row["score"]].higher_is_better}
        for row in stats.to_dict("records")
    ]
