"""The study report: Markdown rows against hand-computed values, a self-contained HTML page that renders in a real
browser, escaped data, and the ``medattn report`` command. Study folders come from test_analysis's builder."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from medattn.errors import ConfigError
from medattn.io import write_json_atomic
from medattn.study.analysis import analyse_study
from medattn.study.plan import PLAN_COLUMNS, PLAN_READING, plan_cells, plan_study
from medattn.study.report import write_report
from medattn.study.report.document import (
    VERDICT_COLOURS,
    Details,
    Heading,
    Paragraph,
    Table,
    VerdictCell,
    render_html,
    render_markdown,
)
from medattn.study.report.figures import FigureFolder
from medattn.study.report.planning import MAX_SEEDS as PLAN_MAX_SEEDS
from medattn.study.report.planning import TITLE as DECIDE
from medattn.study.report.planning import decide_section
from medattn.study.report.summary import IN_WORDS, comparison_pairs, summary_section, verdict_grid
from medattn.study.results import METRICS
from medattn.study.stats import VERDICTS

from ..browser_helpers import chromium_driver, open_page
from ..cli_helpers import run_cli
from .test_analysis import SCORE_EFFECT, SEEDS, build_study, default_value, regime_value, run_key

XSS = "<script>alert(1)</script>"
XSS_CLASS = "<img src=x onerror=alert(2)>"
AUDIT = {
    "source": "folder", "root": "/data", "num_images": 200, "num_files": 200, "classes": ["normal", "lesion"],
    "counts": {"train": {"normal": 70, "lesion": 70}, "test": {"normal": 30, "lesion": 30}},
    "unreadable": [], "exact_duplicate_groups": [{"kind": "exact"}], "near_duplicate_groups": [],
    "cross_split_duplicates": [{"kind": "exact"}], "label_conflicts": [], "group_leaks": [], "skipped": [],
    "findings": ["1 group(s) of identical files span splits (1 train/test): test contamination, e.g. a.png ~ b.png"],
}  # fmt: skip


def features_result(feature: str) -> dict:
    """What ``medattn features`` writes: the 'se seed 0' run uses ``feature`` by 2 of 3 tests, 'none seed 0' not."""
    rows = [
        {"model": "se seed 0", "run": "/r/se", "feature": feature, "n": 60, "p": {"chsic": 0.002, "rcot": 0.0001,
         "cmiknn": 0.2}, "p_holm": {"chsic": 0.004, "rcot": 0.0002, "cmiknn": 0.4}, "uses": True, "uses_holm": True},
        {"model": "none seed 0", "run": "/r/none", "feature": feature, "n": 5, "p": dict.fromkeys(("chsic", "rcot",
         "cmiknn")), "p_holm": {}, "uses": None, "uses_holm": None, "reason": "5 images with a value (fewer than 20)"},
    ]  # fmt: skip
    return {"alpha": 0.01, "tests": ["chsic", "rcot", "cmiknn"], "features": [feature], "rows": rows, "split": "test",
            "notes": ["chsic and cmiknn use 500 permutations"]}  # fmt: skip


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for this module (start-up costs about a second)."""
    with chromium_driver() as driver:
        yield driver


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = build_study(tmp_path_factory.mktemp("study"))
    write_json_atomic(folder / "audit.json", AUDIT)
    write_json_atomic(folder / "explain" / "status.json", {"9": "skipped: not every run of this seed finished"})
    write_json_atomic(folder / "features.json", features_result("marker"))
    return folder, write_report(folder)


@pytest.fixture(scope="module")
def markdown(study):
    return (study[0] / "report" / "report.md").read_text()


@pytest.fixture(scope="module")
def analysis(study):
    return analyse_study(study[0])


GRID_SOURCES = ("test", "explanations (gradcam)")
GRID_COLUMNS = (*(("test", m) for m in METRICS), *(("explanations (gradcam)", s) for s in SCORE_EFFECT))


def _grid_expectations(analysis) -> dict[tuple[str, int], tuple[str, str]]:
    """(row label, column index) -> (cell text, verdict), straight from the analysis' comparisons."""
    return {
        (f"{c.variant} vs {c.baseline}", GRID_COLUMNS.index((c.source, c.comparison.metric))):
            (f"{c.comparison.mean_difference:+.3f} {c.comparison.verdict}", c.comparison.verdict)
        for c in analysis.comparisons
        if c.source in GRID_SOURCES
    }  # fmt: skip


def _cell(attention: str, metric: str, split: str = "test") -> str:
    seeds = SEEDS[:9] if attention == "cbam" else SEEDS
    values = [default_value({"attention": attention, "seed": s}, split, metric) for s in seeds]
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def test_summary_names_the_files_runs_and_verdicts(study):
    folder, summary = study
    assert summary["html"] == str(folder / "report" / "report.html")
    assert summary["markdown"] == str(folder / "report" / "report.md")
    assert summary["runs"] == {"done": 29, "failed": 1, "pending": 0, "running": 0}
    assert len(summary["figures"]) == 11  # 3 of them forest plots: test, ood_site, explanations
    for path in summary["figures"]:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    verdicts = {(c["variant"], c["source"], c["metric"]): c["verdict"] for c in summary["comparisons"]}
    assert verdicts[("se", "test", "auc_roc")] == "better" and verdicts[("cbam", "test", "auc_roc")] == "equivalent"
    json.dumps(summary, allow_nan=False)


def test_results_tables_hold_mean_and_std_with_welch_bold(markdown):
    metrics = ("auc_roc", "balanced_accuracy", "accuracy", "f1", "recall", "specificity", "ece")
    assert f"| variant | runs | {' | '.join(f'{m} ↑' for m in metrics[:-1])} | ece ↓ |" in markdown
    assert "| none | 10 | " + " | ".join(_cell("none", m) for m in metrics) + " |" in markdown
    # se: Holm-adjusted Wilcoxon p < 0.01 (**) in its family of 2, and Welch p < 0.05 (bold, seed 004's convention)
    assert "| se | 10 | " + " | ".join(f"**{_cell('se', m)} \\*\\***" for m in metrics) + " |" in markdown
    assert "| cbam | 9 | " + " | ".join(_cell("cbam", m) for m in metrics) + " |" in markdown
    assert "| se | 10 | " + f"**{_cell('se', 'auc_roc', 'ood_site')} \\*\\***" in markdown


def test_summary_sentences_and_statistics_rows(markdown):
    assert "- se vs none on test (10 paired seeds): better in auc_roc (+0.055, ROPE ±0.01, Holm p = 0.004)," in markdown
    assert "ece (-0.055, ROPE ±0.005, Holm p = 0.004)." in markdown  # each metric's own ROPE beside its verdict
    assert (
        "- cbam vs none on test (9 paired seeds): equivalent within the ROPE in auc_roc (-0.000, ROPE ±0.01,"
        in markdown
    )
    assert "no comparison can reach p < 0.05 after correction" not in markdown  # families of 2, 10 seeds
    row = (
        "| se vs none | test | auc_roc | 10 | +0.055 | [0.053, 0.056] | 1.00 | [1.000, 1.000] | 1.000 | 0.000 | 0.000 "
        "| ±0.01 | 0.25 | 0.002 | 0.004 ** | 2 | < 0.001 ** | 16.46 | 6/10 seeds p < 0.05 | better |"
    )
    assert row in markdown
    assert "| ±0.005 | 0.25 | 0.002 | 0.004 ** | 2 | < 0.001 ** |" in markdown  # ece's row


def test_the_holm_text_and_family_column_say_what_apply_holm_did(analysis, markdown):
    from medattn.study.stats import apply_holm

    families = {}
    for item in analysis.comparisons:
        families.setdefault((item.source, item.comparison.metric), []).append(item)
    assert "any false positive in the whole report" not in markdown
    assert "any false positive within each family (its size is the 'Holm family' column), not over" in markdown
    assert f"adjusted (Holm 1979) within {len(families)} families: one family per metric and test split" in markdown
    assert (
        f"the {len(analysis.comparisons)} comparisons below are Holm-corrected in {len(families)} families" in markdown
    )
    for members in families.values():  # redoing Holm on each family gives the report's adjusted p and its size
        again = apply_holm([item.comparison for item in members])
        assert [c.p_adjusted for c in again] == [item.comparison.p_adjusted for item in members]
        assert {c.family_size for c in again} == {item.family_size for item in members} == {len(members)}
    statistics = markdown.split("\n## Statistics\n")[1].split("\n## ")[0].splitlines()
    sizes = [line.split(" | ")[15] for line in statistics if line.startswith("| se vs none | ")]
    assert len(sizes) == 16 and set(sizes) == {"2"}


def test_what_it_would_take_to_decide_is_plan_studys_table_for_auc_with_delta_its_rope(analysis, markdown):
    plan = plan_study(analysis, delta=0.01, metric="auc_roc", split="test", max_seeds=PLAN_MAX_SEEDS).to_dict()
    rows, notes = plan_cells(plan)
    assert [row[0] for row in rows] == ["se vs none", "cbam vs none"] and notes == []
    assert markdown.index("\n## Statistics\n") < markdown.index(f"\n## {DECIDE}\n") < markdown.index("\n## DeLong")
    section = markdown.split(f"\n## {DECIDE}\n")[1].split("\n## ")[0]
    assert "with delta = auc_roc's ROPE ±0.01: the smallest difference the verdict counts as practical" in section
    assert "| " + " | ".join(PLAN_COLUMNS) + " |" in section
    for row in rows:
        assert "| " + " | ".join(row) + " |" in section
    se, cbam = (row[2:5] for row in rows)
    assert se[0] == "10" and cbam[0] == "9"  # seeds now: cbam's seed 9 failed
    assert f"Table: {PLAN_READING} {plan['method']}" in section and "n searched up to 50" in section


def test_what_it_would_take_to_decide_needs_two_seeds(tmp_path):
    analysis = analyse_study(build_study(tmp_path, seeds=(0,), failed={}, explain=False))
    assert decide_section(analysis, FigureFolder(tmp_path)) == [
        Heading(DECIDE),
        Paragraph("Not planned: the study has 1 seed; planning needs the spread of the paired differences over at "
                  "least 2."),
    ]  # fmt: skip


def test_the_summary_opens_with_what_the_study_found_and_the_verdict_grid(analysis, tmp_path):
    blocks = summary_section(analysis, FigureFolder(tmp_path))
    assert blocks[0] == Heading("Summary")
    on_test = Counter(c.comparison.verdict for c in analysis.comparisons if c.source == "test")
    on_scores = Counter(c.comparison.verdict for c in analysis.comparisons if c.source == "explanations (gradcam)")
    auc = [c for c in analysis.comparisons if (c.source, c.comparison.metric) == ("test", "auc_roc")]
    better_auc = [f"{c.variant} vs {c.baseline}" for c in auc if c.comparison.verdict == "better"]
    assert on_test == {"better": 7, "equivalent": 7} and on_scores == {"better": 2, "equivalent": 2}
    assert better_auc == ["se vs none"]
    assert blocks[1] == Paragraph(
        f"Of {on_test.total()} comparisons on the test split, {on_test['better']} better, {on_test['equivalent']} "
        f"equivalent; of {on_scores.total()} comparisons on the explanation scores, {on_scores['better']} better, "
        f"{on_scores['equivalent']} equivalent. Better in auc_roc: {better_auc[0]}."
    )
    grid = blocks[2]
    assert isinstance(grid, Table)
    arrows = [f"{m} {'↓' if m in ('ece', 'deletion_auc') else '↑'}" for _, m in GRID_COLUMNS]
    assert grid.columns == ("comparison", *arrows)
    assert grid.groups == (("", 1), ("test", len(METRICS)), ("explanations (gradcam)", len(SCORE_EFFECT)))
    assert [row[0] for row in grid.rows] == ["se vs none", "cbam vs none"]
    expected = _grid_expectations(analysis)
    assert len(expected) == 2 * len(GRID_COLUMNS)
    for (label, column), (text, verdict) in expected.items():
        cell = next(row for row in grid.rows if row[0] == label)[1 + column]
        assert isinstance(cell, VerdictCell) and (cell, cell.verdict) == (text, verdict)
    figure = blocks[3]
    assert figure.path.name == "01-forest-test.png" and figure.path.read_bytes()[:4] == b"\x89PNG"
    details = blocks[-1]
    assert isinstance(details, Details) and details.title == IN_WORDS
    assert details.blocks[0].items[0].startswith("se vs none on test (10 paired seeds): better in auc_roc")


def test_markdown_keeps_the_grid_the_forest_plots_and_the_sentences(analysis, markdown):
    summary = markdown.split("\n## Summary\n", 1)[1].split("\n## Results\n")[0]
    expected = _grid_expectations(analysis)
    for label in ("se vs none", "cbam vs none"):
        cells = " | ".join(expected[label, column][0] for column in range(len(GRID_COLUMNS)))
        assert f"| {label} | {cells} |" in summary
    assert "| comparison | test: auc_roc ↑ |" in summary and "| explanations (gradcam): deletion_auc ↓ |" in summary
    assert summary.index("| se vs none |") < summary.index("![forest plot") < summary.index(f"**{IN_WORDS}**")
    assert summary.index(f"**{IN_WORDS}**") < summary.index("- se vs none on test (10 paired seeds)")
    for name, source in (("01-forest-test", "test"), ("04-forest-ood-site", "ood_site"),
                         ("05-forest-explanations", "explanations (gradcam)")):  # fmt: skip
        assert f"![forest plot of the comparisons on {source}]({name}.png)" in markdown
        assert (analysis.data.folder / "report" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_a_parameter_matched_control_gets_its_rows_next_to_its_mechanism(tmp_path):
    factors = {"attention": ["none", "cbam", "se", "matched-se"]}
    analysis = analyse_study(build_study(tmp_path, factors=factors, seeds=SEEDS[:3], failed={}, explain=False))
    rows = [("cbam", "none"), ("se", "none"), ("matched-se", "none"), ("se", "matched-se")]
    assert comparison_pairs(analysis) == rows
    assert [row[0] for row in verdict_grid(analysis).rows] == [f"{a} vs {b}" for a, b in rows]


def test_verdict_cells_groups_and_details_render_escaped_in_html_and_markdown():
    assert set(VERDICT_COLOURS) == set(VERDICTS)
    with pytest.raises(ValueError, match="not a verdict"):
        VerdictCell("+0.1", "great")
    table = Table(("comparison", "auc"), ((XSS, VerdictCell("+0.012", "better")),), groups=(("", 1), (XSS, 1)))
    blocks = [table, Details(XSS, (Paragraph(XSS),))]
    page = render_html("t", blocks)
    assert '<td class="verdict-better">+0.012<br>better</td>' in page and XSS not in page
    assert '<th colspan="1">&lt;script&gt;alert(1)&lt;/script&gt;</th>' in page
    assert "<details><summary>&lt;script&gt;" in page
    markdown = render_markdown("t", blocks)
    assert r"| comparison | \<script>alert(1)\</script>: auc |" in markdown and "| +0.012 better |" in markdown
    assert r"**\<script>alert(1)\</script>**" in markdown and XSS not in markdown


def test_sections_for_cost_ood_explanations_audit_and_failures(markdown):
    for heading in ("Summary", "Results", "Statistics", "DeLong per seed", "ROC curves", "Training curves", "Cost",
                    "Out-of-distribution drop", "Explanations", "Feature usage", "Dataset audit", "Failed runs",
                    "How to read this report"):  # fmt: skip
        assert f"\n## {heading}\n" in markdown
    assert "## Data regimes" not in markdown
    assert "| se | 11.05 M | 50.00 k | 50.00 k | 1.80 G | 5.45 | 1.00 | 100.0 |" in markdown
    assert "| ood_site | se | 0.050 ± 0.000 |" in markdown
    assert "| se | 9 | **0.414 ± 0.003 \\*\\*** | **0.164 ± 0.003 \\*\\*** |" in markdown
    assert "| images | 200 |" in markdown and "| duplicate groups spanning splits | 1 |" in markdown
    assert "| images in test | lesion: 30, normal: 30 |" in markdown and "- 1 group(s) of identical" in markdown
    assert f"| cbam | 9 | {run_key({'attention': 'cbam', 'seed': 9})} | RuntimeError: CUDA out of memory |" in markdown
    assert "- seed 9: skipped: not every run of this seed finished" in markdown
    assert "![mean ROC curve per variant](06-roc-test.png)" in markdown
    assert "| model | marker |\n|---|---|\n| se seed 0 | ✓ [✓] |\n| none seed 0 | - |" in markdown
    assert "| se seed 0 | marker | 60 | 0.002 | < 0.001 | 0.200 | 0.004 | < 0.001 | 0.400 |  |" in markdown
    assert "fewer than 20" in markdown and "Note: chsic and cmiknn use 500 permutations." in markdown


def test_explanation_tables_show_what_a_uniform_map_scores_on_the_same_images(tmp_path):
    """The explain stage writes the localisation scores of a constant map ('uniform map' rows); the report puts
    their mean over every explained image under the variants, as the chance level to read them against."""
    import pandas as pd

    from medattn.explain.scores import UNIFORM_MAP

    folder = build_study(tmp_path, seeds=(0, 1, 2), failed={}, scores={"relevance_mass_accuracy": {"none": 0.5,
                         "se": 0.6, "cbam": 0.5}})  # fmt: skip
    for seed, lesion_share in ((0, 0.30), (1, 0.40), (2, 0.50)):
        path = folder / "explain" / f"seed-{seed}" / "scores.csv"
        uniform = pd.DataFrame({"model": UNIFORM_MAP, "method": "uniform", "image": range(4),
                                "score": "relevance_mass_accuracy", "value": lesion_share})  # fmt: skip
        pd.concat([pd.read_csv(path), uniform]).to_csv(path, index=False)
    markdown = _report_markdown(folder)
    assert "| uniform map (reference) |  | 0.400 |" in markdown
    assert "uniform map (reference): what a constant map scores on the same images" in markdown
    assert "| uniform map |" not in markdown  # not compared as a variant


def _report_markdown(folder: Path) -> str:
    write_report(folder)
    return (folder / "report" / "report.md").read_text()


def test_html_is_one_self_contained_file(study):
    folder, summary = study
    page = (folder / "report" / "report.html").read_text()
    assert page.count("<img ") == page.count('<img src="data:image/png;base64,') == len(summary["figures"])
    for outside in ("http://", "https://", "<script", "<link", "url("):
        assert outside not in page
    assert "Content-Security-Policy" in page


def test_html_renders_in_chromium_with_every_image_loaded(chromium, study):
    folder, summary = study
    page = open_page(chromium, folder / "report" / "report.html")
    assert page["title"] == "Study report: fixture"
    assert page["severe"] == [] and page["images_loaded"] and page["images"] == len(summary["figures"])
    headings = chromium.execute_script("return Array.from(document.querySelectorAll('nav a')).length")
    assert headings == 14  # the level-2 sections, "What it would take to decide" included


GRID_JS = """
const grid = document.querySelector('main table');
return {
  after: grid.closest('div').previousElementSibling.previousElementSibling.textContent,
  header: Array.from(grid.querySelectorAll('thead tr:last-child th')).map(th => th.textContent),
  rows: Array.from(grid.querySelectorAll('tbody tr')).map(tr => Array.from(tr.cells).map(
    td => [td.innerText.replace(/\\s+/g, ' '), td.className])),
};
"""


def test_the_verdict_grid_and_forest_plot_in_chromium(chromium, study, analysis):
    page = open_page(chromium, study[0] / "report" / "report.html")
    assert page["severe"] == [] and page["images_loaded"]
    grid = chromium.execute_script(GRID_JS)
    assert grid["after"] == "Summary" and len(grid["header"]) == 1 + len(GRID_COLUMNS)
    assert [row[0][0] for row in grid["rows"]] == ["se vs none", "cbam vs none"]
    for (label, column), (text, verdict) in _grid_expectations(analysis).items():
        row = next(row for row in grid["rows"] if row[0][0] == label)
        assert row[1 + column] == [text, f"verdict-{verdict}"]
    width = chromium.execute_script(
        "return document.querySelector('img[alt=\"forest plot of the comparisons on test\"]').naturalWidth"
    )
    assert width > 0
    assert chromium.execute_script("return document.querySelector('details summary').textContent") == IN_WORDS


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A study whose factor value, class name and error line are HTML."""
    folder = build_study(
        tmp_path_factory.mktemp("hostile"), factors={"attention": ["none", XSS]}, seeds=(0, 1, 2),
        failed={(XSS, 2): f"ValueError: {XSS}"}, explain=False, classes=("normal", XSS_CLASS),
    )  # fmt: skip
    write_json_atomic(folder / "features.json", features_result(XSS))
    write_report(folder)
    return folder / "report"


def test_strings_from_the_data_are_escaped(hostile):
    page = (hostile / "report.html").read_text()
    for text in (XSS, XSS_CLASS):
        assert text not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert f"ValueError: {XSS}" not in page and "ValueError: &lt;script&gt;" in page
    markdown = (hostile / "report.md").read_text()
    assert XSS not in markdown and r"\<script>alert(1)\</script>" in markdown and r"\<img src=x" in markdown


def test_hostile_strings_show_as_text_in_chromium(chromium, hostile):
    page = open_page(chromium, hostile / "report.html")
    assert page["severe"] == [] and page["images_loaded"]
    assert chromium.execute_script("return document.scripts.length") == 0
    assert XSS in chromium.execute_script("return document.body.innerText")
    assert chromium.execute_script("return document.querySelectorAll('img[src=x]').length") == 0
    grid = chromium.execute_script(GRID_JS)
    assert [row[0][0] for row in grid["rows"]] == [f"{XSS} vs none"]
    assert {cell[1] for cell in grid["rows"][0][1:]} <= {f"verdict-{v}" for v in VERDICTS}


def test_regime_studies_get_their_curves(tmp_path):
    factors = {"attention": ["none", "se"], "regime": [1.0, 0.1]}
    folder = build_study(tmp_path, factors=factors, seeds=(0, 1, 2), failed={}, value=regime_value, explain=False)
    summary = write_report(folder, tmp_path / "elsewhere")
    markdown = (tmp_path / "elsewhere" / "report.md").read_text()
    assert "## Data regimes" in markdown and "| variant | metric | 0.1 | 1.0 |" in markdown
    assert "| none | auc_roc | 0.621 ± 0.001 | 0.801 ± 0.001 |" in markdown
    assert any(path.endswith("-regimes.png") for path in summary["figures"])


def test_an_empty_study_folder_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match=f"^{tmp_path}: not a study folder"):
        write_report(tmp_path)
    assert not (tmp_path / "report").exists()


def test_cli_prints_json_with_where_the_report_is(capsys, monkeypatch, hostile, tmp_path):
    code, out, _ = run_cli(capsys, monkeypatch, "report", hostile.parent, "--out", tmp_path, "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["html"] == str(tmp_path / "report.html") and (tmp_path / "report.html").is_file()
    assert {c["variant"] for c in summary["comparisons"]} == {XSS} and len(summary["comparisons"]) == 14


def test_cli_prints_a_table_and_the_paths_for_people(capsys, monkeypatch, hostile, tmp_path):
    code, out, _ = run_cli(capsys, monkeypatch, "report", hostile.parent, "--out", tmp_path)
    assert code == 0 and "fixture: 5 done, 1 failed runs" in out and "auc_roc" in out
    assert f"report: {tmp_path / 'report.html'}\n" in out


def test_cli_missing_study_folder_is_a_one_line_error_with_exit_code_2(capsys, monkeypatch, tmp_path):
    code, out, err = run_cli(capsys, monkeypatch, "report", tmp_path / "nope")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"medattn: error: {tmp_path / 'nope'}: no such study folder"]
