"""``medattn report``: a study folder's self-contained HTML report, and the same report in Markdown.

``write_report(study_dir)`` writes ``study_dir/report/report.html`` (one file: images embedded, no scripts, opens
offline), ``report.md`` and the figures as PNG files next to it. Sections: the summary (what the study found,
the verdict grid, the forest plot, every comparison in words), results tables per test split (mean ± std with
significance marks), the statistics table with the other forest plots, what it would take to decide (the seeds
``medattn plan`` finds for the primary metric), DeLong per seed,
ROC and training curves, cost, OOD drop, data-regime curves, explanation scores and figures, the dataset audit,
failed runs, and how to read it all. The numbers come from :mod:`medattn.study.analysis`.
"""

from pathlib import Path

from medattn.io import write_text_atomic
from medattn.study.analysis import analyse_study
from medattn.study.report.document import render_html, render_markdown
from medattn.study.report.figures import FigureFolder
from medattn.study.report.sections import report_blocks

REPORT = "report"


def write_report(study_dir: Path, out: Path | None = None) -> dict:
    """Analyse a study folder and write its report.

    Args:
        study_dir: the folder ``medattn study`` wrote.
        out: the report folder (default ``study_dir/report``).

    Returns:
        A JSON-able summary: study name, paths written (``html``, ``markdown``, ``figures``), run counts, the
        ``rho`` used and why, every comparison with its verdict and p-values, and those not possible.

    Raises:
        ConfigError: a missing or empty study folder, or paired runs tested on different images (one line).
    """
    study_dir = Path(study_dir)
    analysis = analyse_study(study_dir)
    out = Path(out) if out is not None else study_dir / REPORT
    out.mkdir(parents=True, exist_ok=True)
    figures = FigureFolder(out)
    blocks = report_blocks(analysis, figures)
    title = f"Study report: {analysis.data.study.name}"
    html_path = write_text_atomic(out / "report.html", render_html(title, blocks))
    markdown_path = write_text_atomic(out / "report.md", render_markdown(title, blocks))
    return {
        "study": analysis.data.study.name,
        "folder": str(study_dir),
        "html": str(html_path),
        "markdown": str(markdown_path),
        "figures": [str(path) for path in figures.written],
        "runs": analysis.data.counts,
        "rho": {f"{variant} vs {baseline}": rho for (variant, baseline), rho in analysis.rho.items()},
        "rho_reason": analysis.rho_reason,
        "comparisons": [item.to_dict() for item in analysis.comparisons],
        "not_compared": analysis.skipped,
    }
