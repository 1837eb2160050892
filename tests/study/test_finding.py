"""The demo's finding (medattn.study.finding) on fake study folders, and ``medattn demo`` printing it."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from medattn.explain.scores import UNIFORM_MAP
from medattn.study.finding import demo_finding
from medattn.study.store import StudyStore

from ..cli_helpers import run_cli
from .test_analysis import build_study

SEEDS = (0, 1, 2)


def shortcut_study(root, *, val=lambda test: 0.95, gradcam=0.37, saliency=0.05, uniform=0.12, shortcut=0.9):
    """build_study's none/se/cbam x 3 seeds on the synthetic benchmark with a marker (``shortcut``), validation
    AUCs ``val(test AUC)``, and per seed a saliency map and a uniform map scored beside the Grad-CAM rows.

    build_study's Grad-CAM relevance mass is ``gradcam + 0.01 * image (+ 0.001 * seed off the baseline)`` on
    images 0-2 (image 3 has no lesion: NaN), so its mean is ``gradcam`` + about 0.01.
    """
    folder = build_study(root, seeds=SEEDS, failed={}, scores={"relevance_mass_accuracy": dict.fromkeys(
        ("none", "se", "cbam"), gradcam)})  # fmt: skip
    study = yaml.safe_load((folder / "study.yaml").read_text())
    study["data"]["synthetic_shortcut"] = shortcut
    (folder / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    with StudyStore(folder / "study.sqlite") as store:
        for row in store.runs():
            metrics = {**row.metrics, "val": {"auc_roc": {"value": val(row.metrics["test"]["auc_roc"]["value"])}}}
            store.mark_done(row.key, metrics, row.cost, row.seconds)
    for seed in SEEDS:
        path = folder / "explain" / f"seed-{seed}" / "scores.csv"
        scores = pd.read_csv(path)
        lesion = [0.0, 0.0, 0.0, np.nan]  # image 3 is a normal image
        saliency_rows = scores.assign(method="saliency", value=saliency + np.array(lesion * (len(scores) // 4)))
        uniform_rows = pd.DataFrame({"model": UNIFORM_MAP, "method": "uniform", "image": range(4),
                                     "score": "relevance_mass_accuracy",
                                     "value": uniform + np.array(lesion)})  # fmt: skip
        pd.concat([scores, saliency_rows, uniform_rows]).to_csv(path, index=False)
    return folder


def test_the_finding_gives_the_auc_lost_where_the_marker_is_broken_and_the_lesion_share_of_each_map(tmp_path):
    folder = shortcut_study(tmp_path)
    with StudyStore(folder / "study.sqlite") as store:
        test = np.mean([row.metrics["test"]["auc_roc"]["value"] for row in store.runs()])
    gradcam = np.mean([0.37 + 0.01 + 0.001 * seed * (a != "none") for a in ("none", "se", "cbam") for seed in SEEDS])
    assert 0.81 < test < 0.84 and gradcam == pytest.approx(0.3807, abs=1e-4)
    assert demo_finding(folder) == [
        f"finding: AUC 0.95 where the marker agrees with the label (90 % of the val images, as in training), "
        f"{test:.2f} where it is random (test images): {test - 0.95:+.2f}, lower in 9 of 9 runs: the models learnt "
        f"the shortcut",
        "explanations: relevance on the lesion: gradcam 38 %, saliency 5.0 %, a uniform map 12 % (the lesion's "
        "share of the image): gradcam localises the lesion, saliency no better than a uniform map",
    ]


def test_no_drop_beyond_the_rope_and_no_map_above_the_uniform_one_are_said_as_such(tmp_path):
    folder = shortcut_study(tmp_path, val=lambda test: test + 0.005, gradcam=0.10, saliency=0.12, uniform=0.12)
    shortcut, explanations = demo_finding(folder)
    assert shortcut.endswith("-0.01, lower in 9 of 9 runs: no sign that the models rely on the marker")
    assert explanations.endswith(
        "gradcam 11 %, saliency 12 %, a uniform map 12 % (the lesion's share of the image): no method puts more on "
        "the lesion than a uniform map"
    )


def test_every_method_above_the_uniform_map_is_named(tmp_path):
    folder = shortcut_study(tmp_path, gradcam=0.30, saliency=0.20, uniform=0.05)
    assert demo_finding(folder)[1].endswith(": gradcam and saliency localise the lesion")


def test_a_study_without_a_marker_or_a_uniform_map_has_no_finding(tmp_path):
    assert demo_finding(build_study(tmp_path, seeds=SEEDS, failed={})) == []


@pytest.fixture
def fake_demo(tmp_path, monkeypatch):
    """``medattn demo`` with the study replaced by a fake finished folder and the report by its paths."""
    import medattn.cli.study
    import medattn.study.report

    started = []

    def run(study, out, quiet, **options):
        started.append((study.name, options))
        shortcut_study(out)
        return {"name": study.name, "counts": {"done": 9, "failed": 0}, "failures": []}

    monkeypatch.setattr(medattn.cli.study, "_run", run)
    monkeypatch.setattr(medattn.study.report, "write_report", lambda out: {"html": str(out / "report" / "r.html")})
    return tmp_path / "demo", started


def test_medattn_demo_runs_the_demo_study_and_ends_with_the_report_and_the_finding(fake_demo, capsys, monkeypatch):
    out, started = fake_demo
    code, stdout, stderr = run_cli(capsys, monkeypatch, "demo", "--out", out, "--workers", "2")
    assert code == 0, stderr
    assert started == [("demo", {"workers": 2, "threads": 1, "force": False})]
    last = stdout.strip().splitlines()[-3:]
    assert last[0] == f"report: {out / 'report' / 'r.html'} (open it in a browser; Markdown beside it)"
    assert last[1:] == demo_finding(out)


def test_medattn_demo_force_takes_a_folder_of_another_demo_version(fake_demo, capsys, monkeypatch):
    out, started = fake_demo
    code, _, stderr = run_cli(capsys, monkeypatch, "demo", "--out", out, "--workers", "1", "--force")
    assert code == 0, stderr
    assert started == [("demo", {"workers": 1, "threads": None, "force": True})]


def test_medattn_demo_json_holds_the_finding(fake_demo, capsys, monkeypatch):
    out, _ = fake_demo
    code, stdout, stderr = run_cli(capsys, monkeypatch, "demo", "--out", out, "--json")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["finding"] == demo_finding(out) and len(summary["finding"]) == 2
