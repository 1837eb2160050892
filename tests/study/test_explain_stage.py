"""The study's repeatability score compares each variant's runs across seeds, never two variants."""

import numpy as np
import pandas as pd
import pytest
import torch

from medattn.explain.scores.repeatability import similarity
from medattn.study.config import parse_study
from medattn.study.results import explanation_frame, load_study_dir
from medattn.study.runner import run_study

# Two variants that differ only in the data regime (the case the per-seed grouping mistook for repeats),
# two seeds, one epoch at 32 px: four tiny runs.
STUDY = {
    "name": "repeat",
    "data": {"synthetic_n": 80},
    "model": {"backbone": "resnet18", "preset": "rao2023", "image_size": 32, "attention": "none"},
    "train": {"epochs": 1, "batch_size": 16},
    "factors": {"regime": [1.0, 0.5]},
    "baseline": {"regime": 1.0},
    "seeds": [0, 1],
    "explain": {"methods": ["saliency"], "n": 2, "select": "all-correct", "scores": ["repeatability"]},
}
VARIANTS, SEEDS = ("1.0", "0.5"), (0, 1)


@pytest.fixture(scope="module")
def study_folder(tmp_path_factory):
    from medattn.explain import job

    environment = pytest.MonkeyPatch()
    # Which images does not matter here, and one-epoch models may share no correctly predicted one.
    environment.setattr(job, "select_images", lambda *args, **kwargs: np.array([0, 1]))
    out = tmp_path_factory.mktemp("study") / "out"
    summary = run_study(parse_study(STUDY), out, threads=1)
    environment.undo()
    return out, summary


def maps_of(folder, variant: str, seed: int | None = None) -> torch.Tensor:
    """A run's maps from a job's ``maps.npz`` (a per-seed job names its runs by variant only)."""
    name = variant if seed is None else f"{variant} (seed {seed})"
    with np.load(folder / "maps.npz") as maps:
        return torch.as_tensor(maps[f"{name}|saliency"][:, None])


def test_repeatability_of_a_variant_compares_its_seeds_not_the_other_variant(study_folder):
    out, summary = study_folder
    assert summary["counts"]["done"] == 4
    for seed in SEEDS:  # the per-seed job's two variants of one seed are not repeats of each other
        scores = pd.read_csv(out / "explain" / f"seed-{seed}" / "scores.csv", dtype={"model": str})
        rows = scores[(scores["model"] == "1.0") & (scores["score"] == "ssim")].sort_values("image")
        variants = similarity(
            maps_of(out / "explain" / f"seed-{seed}", "1.0"), maps_of(out / "explain" / f"seed-{seed}", "0.5"), "ssim"
        )
        assert len(rows) and not np.allclose(rows["value"], variants, rtol=1e-3)
    assert summary["explanations"] == {"0": "done", "1": "done", "repeatability": "done"}
    across = out / "explain" / "repeatability"
    for seed in SEEDS:
        scores = pd.read_csv(out / "explain" / f"seed-{seed}" / "scores.csv", dtype={"model": str})
        for variant in VARIANTS:
            other_variant = next(v for v in VARIANTS if v != variant)
            mine, other_seed = maps_of(across, variant, seed), maps_of(across, variant, 1 - seed)
            for measure in ("ssim", "spearman"):
                rows = scores[(scores["model"] == variant) & (scores["score"] == measure)].sort_values("image")
                expected = similarity(mine, other_seed, measure)
                np.testing.assert_allclose(rows["value"], expected, rtol=1e-6)
                confused = similarity(mine, maps_of(across, other_variant, seed), measure)
                assert not np.allclose(rows["value"], confused, rtol=1e-3)


def test_the_report_reads_repeatability_per_variant_and_seed(study_folder):
    out, _ = study_folder
    frame = explanation_frame(load_study_dir(out))
    ssim = frame[frame["metric"] == "ssim"]
    assert sorted(zip(ssim["variant"], ssim["seed"], strict=True)) == sorted((v, s) for v in VARIANTS for s in SEEDS)
    assert ssim["value"].between(-1, 1).all()


def test_a_rerun_keeps_one_set_of_repeatability_rows(study_folder):
    out, _ = study_folder
    before = (out / "explain" / "seed-0" / "scores.csv").read_text()
    summary = run_study(parse_study(STUDY), out, threads=1)
    assert summary["explanations"]["repeatability"] == "done"
    assert (out / "explain" / "seed-0" / "scores.csv").read_text() == before
