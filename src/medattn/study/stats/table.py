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


def _with_marks(comparisons: Sequence[Comparison], p_values: np.ndarray, label: str, size: int) -> list[Comparison]:
    return [
        dataclasses.replace(
            comparison,
            p_adjusted=None if np.isnan(p) else float(p),
            p_adjustment=label,
            mark=significance_mark(None if np.isnan(p) else float(p)),
            family_size=size,
        )
        for comparison, p in zip(comparisons, p_values, strict=True)
    ]


def apply_holm(comparisons: list[Comparison], which: str = "wilcoxon_p") -> list[Comparison]:
    """Holm-correct one p-value across a family of comparisons and add marks.

    The family is exactly what is passed in, and the family-wise error rate (Holm 1979) is controlled over it and
    nothing else. The study report passes one family per metric and test split (or explanation score and method):
    every variant's comparison with its baseline on that metric (:func:`medattn.study.analysis.compare_variants`).
    Comparisons whose test was not possible (p None) are left out of the family and get no mark;
    ``family_size`` records how many comparisons had the p-value.

    Args:
        comparisons: results of :func:`compare_paired`.
        which: "wilcoxon_p" (paired, the default) or "welch_p".

    Returns:
        New comparisons with ``p_adjusted``, ``p_adjustment`` ("holm(<which>)") and ``mark`` set.
    """
    p_values = _p_values(comparisons, which)
    return _with_marks(comparisons, holm(p_values), f"holm({which})", int(np.count_nonzero(~np.isnan(p_values))))


def apply_marks(comparisons: list[Comparison], which: str = "welch_p") -> list[Comparison]:
    """Marks from an uncorrected p-value, to reproduce seed 004's Table 2 (Welch, p < 0.05 in bold).

    Piater et al. (2024) test each model against its base model with Welch's t-test at p < 0.05 without a
    multiple-comparison correction; ``Comparison.significant`` then equals their bold. Prefer :func:`apply_holm`.
    """
    return _with_marks(comparisons, _p_values(comparisons, which), f"none({which})", 1)


TEXT_COLUMNS = ("metric", "adjustment", "mark", "verdict", "notes")
COLUMNS = (
    "metric", "higher is better", "pairs", "mean A", "std A", "mean B", "std B", "mean diff (A-B)", "diff CI low",
    "diff CI high", "P(A>B)", "P(A>B) CI low", "P(A>B) CI high", "P(A better)", "P(equivalent)", "P(B better)",
    "rope", "rho", "Wilcoxon p", "Welch p", "adjusted p", "adjustment", "family size", "mark", "Hedges g (paired)",
    "verdict", "notes",
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
        "rho": c.rho,
        "Wilcoxon p": c.wilcoxon_p,
        "Welch p": c.welch_p,
        "adjusted p": c.p_adjusted,
        "adjustment": c.p_adjustment,
        "family size": c.family_size,
        "mark": c.mark,
        "Hedges g (paired)": c.hedges_g,
        "verdict": c.verdict,
        "notes": "; ".join(c.notes),
    }


def summary_table(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """One row per comparison with readable column names, numbers unrounded (format them in the report).

    Values that could not be computed are NaN in the numeric columns; the "notes" column says why. Columns:
    metric, higher is better, pairs, mean/std of A and B, mean diff (A-B) with its CI, P(A>B) with its CI, the three
    Bayesian probabilities with the rope and rho they used, Wilcoxon p, Welch p, adjusted p with its adjustment,
    family size (how many comparisons it was adjusted with; NaN before any adjustment) and mark,
    Hedges g (paired), verdict, notes.
    """
    frame = pd.DataFrame([_row(c) for c in comparisons], columns=list(COLUMNS))
    floats = [col for col in COLUMNS if col not in TEXT_COLUMNS and col not in ("higher is better", "pairs")]
    return frame.astype({col: float for col in floats} | {"higher is better": bool, "pairs": int})
