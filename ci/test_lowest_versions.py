"""Import-and-smoke subset run against the lowest allowed dependency versions (``make lowest``, part of ``make test``).

``.venv-lowest`` holds every direct dependency at the floor pyproject.toml declares (ci/lowest_versions.py), torch
and torchvision as in the main install. These tests touch the code paths that need a recent API: building a model
(timm), one tiny training epoch (torchvision.transforms.v2, scikit-learn, pandas), explanations (captum) with
deletion/insertion scores (``np.trapezoid``), a paired comparison (``scipy.stats.bootstrap(rng=)``) and the CLI
(typer, rich). They are kept out of the main suite (testpaths = tests), which runs with the newest versions.
"""

import importlib
import importlib.util
import math
import pkgutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from packaging.version import Version

HERE = Path(__file__).parent


def _lowest_versions_module():
    spec = importlib.util.spec_from_file_location("lowest_versions", HERE / "lowest_versions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_installed_versions_are_the_declared_floors():
    lowest = _lowest_versions_module()
    project = lowest.tomllib.loads(lowest.PYPROJECT.read_text(encoding="utf-8"))["project"]
    pins = [line for line in lowest.lowest_requirements(project, []) if "==" in line]
    assert len(pins) >= 10
    wrong = []
    for pin in pins:
        name, version = pin.split(";")[0].split("==")
        installed = metadata.version(name.split("[")[0])
        if Version(installed) != Version(version):
            wrong.append(f"{name} {installed} (floor {version})")
    assert not wrong, "not the lowest versions; is this .venv-lowest? " + ", ".join(wrong)


def test_every_module_imports():
    import medattn

    names = [info.name for info in pkgutil.walk_packages(medattn.__path__, "medattn.")]
    assert len(names) > 50
    for name in names:
        if not name.endswith(".__main__"):  # runs the CLI
            importlib.import_module(name)


def _medattn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medattn", *args], capture_output=True, text=True)


def test_cli_help_and_usage_error():
    result = _medattn("train", "--help")
    assert result.returncode == 0, result.stderr
    assert "--attention" in result.stdout
    result = _medattn("train", "--no-such-option")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr  # one line (old libraries may warn above it)
    assert result.stderr.strip().splitlines()[-1].startswith("medattn: error: No such option"), result.stderr


def test_model_trains_explains_and_scores(tmp_path, monkeypatch):
    from medattn.config import DataSpec, ModelSpec, RunConfig, TrainSpec
    from medattn.explain.api import explain
    from medattn.explain.runs import evaluation_images, load_runs
    from medattn.explain.scores.faithfulness import deletion_auc, insertion_auc
    from medattn.explain.scores.localisation import relevance_mass_accuracy
    from medattn.models import create_model
    from medattn.train.run import train_run

    monkeypatch.setenv("MEDATTN_CACHE", str(tmp_path / "cache" / "decoded"))
    torch.manual_seed(0)
    spec = ModelSpec("resnet18", "cbam", image_size=32)
    assert create_model(spec)(torch.randn(2, 3, 32, 32)).shape == (2, 2)

    config = RunConfig(data=DataSpec(synthetic_n=40), model=spec, train=TrainSpec(epochs=1, batch_size=16, seed=0))
    metrics = train_run(config, tmp_path / "run")
    assert 0.0 <= metrics["balanced_accuracy"]["value"] <= 1.0

    (run,) = load_runs([tmp_path / "run"])
    split = evaluation_images(run.config, split="test")
    lesion = np.flatnonzero(split.labels == split.classes.index("lesion"))[:2]
    assert len(lesion) > 0
    images, labels, masks = split.batch(lesion)
    for method, options in {"gradcam": {}, "integrated-gradients": {"n_steps": 4}}.items():
        maps = explain(run.model, images, labels, method, **options).maps
        assert maps.shape == masks.shape == (len(lesion), 1, 32, 32)
        for score in (
            relevance_mass_accuracy(maps, masks),
            deletion_auc(run.model.predict, images, maps, labels, n_steps=4),
            insertion_auc(run.model.predict, images, maps, labels, n_steps=4),
        ):
            assert np.all(np.isfinite(score)), (method, score)


def test_paired_comparison():
    from medattn.study.stats import VERDICTS, apply_holm, compare_paired, summary_table

    comparison = compare_paired([0.91, 0.88, 0.93, 0.90, 0.89], [0.89, 0.88, 0.90, 0.91, 0.86], metric="AUC")
    assert comparison.verdict in VERDICTS
    assert comparison.ci_low <= comparison.mean_difference <= comparison.ci_high
    assert not math.isnan(comparison.bayes.a_better)
    ece = compare_paired([0.05, 0.06, 0.04, 0.05], [0.06, 0.06, 0.05, 0.07], metric="ECE", higher_is_better=False)
    table = summary_table(apply_holm([comparison, ece]))
    assert list(table["metric"]) == ["AUC", "ECE"]


def test_excel_sheets_read(tmp_path):
    import pandas as pd  # with openpyxl, which reads the PH2 and COVID-CT sheets

    path = tmp_path / "sheet.xlsx"
    pd.DataFrame({"Image Name": ["IMD002"], "Histological Diagnosis": ["melanoma"]}).to_excel(path, index=False)
    assert pd.read_excel(path, dtype=str).iloc[0, 0] == "IMD002"
