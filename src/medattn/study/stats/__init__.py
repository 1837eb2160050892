"""Statistics for comparing an attention variant (arm A) with its baseline (arm B) over paired runs.

One call per metric, then one per family::

    from medattn.study.stats import apply_holm, compare_paired, summary_table

    rows = [compare_paired(auc_attention, auc_base, metric="AUC", rho=0.2),
            compare_paired(ece_attention, ece_base, metric="ECE", higher_is_better=False)]
    table = summary_table(apply_holm(rows))

Modules: ``paired`` (BCa CI, P(A > B), Wilcoxon, Welch, Hedges' g), ``bayesian`` (correlated t-test with ROPE),
``compare`` (``Comparison`` and the verdict), ``multiple`` (Holm, marks), ``table`` (family steps, report table),
``delong`` (two correlated AUCs on one test set).
"""

from medattn.study.stats.bayesian import (
    BayesProbabilities,
    TPosterior,
    correlated_t_test,
    posterior_of_difference,
    posterior_scale,
    region_probabilities,
)
from medattn.study.stats.compare import VERDICTS, Comparison, compare_paired, decide_verdict
from medattn.study.stats.delong import DeLongResult, delong_test, structural_components
from medattn.study.stats.multiple import MARKS, holm, significance_mark
from medattn.study.stats.paired import (
    MeanDifference,
    Outperforming,
    approx_signed_rank_p,
    hedges_g_paired,
    mean_difference_ci,
    probability_of_outperforming,
    signed_rank_p_values,
    welch_p,
    wilcoxon_p,
    wins,
)
from medattn.study.stats.table import COLUMNS, apply_holm, apply_marks, summary_table

__all__ = [
    "COLUMNS",
    "MARKS",
    "VERDICTS",
    "BayesProbabilities",
    "Comparison",
    "DeLongResult",
    "MeanDifference",
    "Outperforming",
    "TPosterior",
    "apply_holm",
    "apply_marks",
    "approx_signed_rank_p",
    "compare_paired",
    "correlated_t_test",
    "decide_verdict",
    "delong_test",
    "hedges_g_paired",
    "holm",
    "mean_difference_ci",
    "posterior_of_difference",
    "posterior_scale",
    "probability_of_outperforming",
    "region_probabilities",
    "significance_mark",
    "signed_rank_p_values",
    "structural_components",
    "summary_table",
    "welch_p",
    "wilcoxon_p",
    "wins",
]
