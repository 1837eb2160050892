"""Family-level steps on many comparisons: Holm correction, significance marks and the report table."""

import dataclasses
from collections.abc import Sequence

import numpy as np
import pandas as pd

from medattn.errors import choose
from medattn.study.stats.compare import Comparison
from medattn.study.stats.multiple import holm, significance_mark

P_VALUES = ("wilcoxon_p", "welch_p")


def _p_values(comparisons: Sequence[Comparison], which: str) -> np.ndarray:
    choose("p-value", which, P_VALUES)
    return np.array([np.nan if getattr(c, which) is None else getattr(c, which) for c in comparisons], dtype=float)


def _with_marks(comparisons: Sequence[Comparison], p_values: np.ndarray, label: str) -> list[Comparison]:
    return [
        dataclasses.replace(
            comparison,
            p_adjusted=None if np.isnan(p) else float(p),
            p_adjustment=label,
            mark=significance_mark(None if np.isnan(p) else float(p)),
        )
        for comparison, p in zip(comparisons, p_values, strict=True)
    ]


def apply_holm(comparisons: list[Comparison], which: str = "wilcoxon_p") -> list[Comparison]:
    """Holm-correct one p-value across a family of comparisons and add marks.

    The family is whatever is passed in: typically all metrics and explanation scores of one study, so that the
    family-wise error rate is controlled over everything the report marks (Holm 1979). Comparisons whose test was
    not possible (p None) are left out of the family and get no mark.

    Args:
        comparisons: results of :func:`compare_paired`.
        which: "wilcoxon_p" (paired, the default) or "welch_p".

    Returns:
        New comparisons with ``p_adjusted``, ``p_adjustment`` ("holm(<which>)") and ``mark`` set.
    """
    return _with_marks(comparisons, holm(_p_values(comparisons, which)), f"holm({which})")


def apply_marks(comparisons: list[Comparison], which: str = "welch_p") -> list[Comparison]:
    """Marks from an uncorrected p-value, to reproduce seed 004's Table 2 (Welch, p < 0.05 in bold).

    Piater et al. (2024) test each model against its base model with Welch's t-test at p < 0.05 without a
    multiple-comparison correction; ``Comparison.significant`` then equals their bold. Prefer :func:`apply_holm`.
    """
    return _with_marks(comparisons, _p_values(comparisons, which), f"none({which})")


TEXT_COLUMNS = ("metric", "adjustment", "mark", "verdict", "notes")
COLUMNS = (
    "metric", "higher is better", "pairs", "mean A", "std A", "mean B", "std B", "mean diff (A-B)", "diff CI low",
    "diff CI high", "P(A>B)", "P(A>B) CI low", "P(A>B) CI high", "P(A better)", "P(equivalent)", "P(B better)",
    "rope", "Wilcoxon p", "Welch p", "adjusted p", "adjustment", "mark", "Hedges g (paired)", "verdict", "notes",
)  # fmt: skip


def _row(c: Comparison) -> dict:
    return {
        "metric": c.metric,
        "higher is better": c.higher_is_better,
        "pairs": c.n,
        "mean A": c.mean_a,
        "std A": c.std_a,
        "mean B": c.mean_b,
        "std B": c.std_b,
        "mean diff (A-B)": c.mean_difference,
        "diff CI low": c.ci_low,
        "diff CI high": c.ci_high,
        "P(A>B)": c.p_better,
        "P(A>B) CI low": c.p_better_ci[0],
        "P(A>B) CI high": c.p_better_ci[1],
        "P(A better)": c.bayes.a_better,
        "P(equivalent)": c.bayes.equivalent,
        "P(B better)": c.bayes.b_better,
        "rope": c.rope,
        "Wilcoxon p": c.wilcoxon_p,
        "Welch p": c.welch_p,
        "adjusted p": c.p_adjusted,
        "adjustment": c.p_adjustment,
        "mark": c.mark,
        "Hedges g (paired)": c.hedges_g,
        "verdict": c.verdict,
        "notes": "; ".join(c.notes),
    }


def summary_table(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """One row per comparison with readable column names, numbers unrounded (format them in the report).

    Values that could not be computed are NaN in the numeric columns; the "notes" column says why. Columns:
    metric, higher is better, pairs, mean/std of A and B, mean diff (A-B) with its CI, P(A>B) with its CI, the three
    Bayesian probabilities and the rope, Wilcoxon p, Welch p, adjusted p with its adjustment and mark,
    Hedges g (paired), verdict, notes.
    """
    frame = pd.DataFrame([_row(c) for c in comparisons], columns=list(COLUMNS))
    floats = [col for col in COLUMNS if col not in TEXT_COLUMNS and col not in ("higher is better", "pairs")]
    return frame.astype({col: float for col in floats} | {"higher is better": bool, "pairs": int})
