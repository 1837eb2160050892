"""The report's "How to read this report" section, and the one description of its Holm families.

Every sentence here states what :mod:`medattn.study.analysis` computes; a test renders a report and checks the
sentences against the comparisons (family sizes, ROPEs, rho).
"""

from medattn.study.analysis import StudyAnalysis
from medattn.study.report.document import Block, Bullets, Heading
from medattn.study.report.figures import FigureFolder

HOLM_FAMILIES = (
    "one family per metric and test split, or per explanation score and method, holding every variant's "
    "comparison with its baseline on it; the comparisons with parameter-matched controls form families of their "
    "own, by the same rule"
)


def family_count(analysis: StudyAnalysis) -> int:
    """Number of Holm families: (source, metric) per :func:`compare_variants` call (baselines, controls)."""
    controls = set(analysis.data.controls.items())
    return len({(c.source, c.comparison.metric, (c.variant, c.baseline) in controls) for c in analysis.comparisons})


def reading_section(analysis: StudyAnalysis, figures: FigureFolder) -> list[Block]:
    items = (
        "Pairs: a variant's run and its baseline's run with the same seed share the data split and the "
        "initialisation seed, so every statistic works on the paired differences (A = variant, B = baseline).",
        "ROPE (region of practical equivalence): differences within ±ROPE count as no practical difference. Each "
        "metric and explanation score has its own ROPE on its own scale (one hundredth of its range: ±0.01 for "
        "measures on [0, 1], ±0.02 on [-1, 1]; ECE ±0.005; max-sensitivity ±0.01 of the map's norm; "
        "medattn.study.measures), overridden by the study's 'rope:'; the ROPE used is printed beside each verdict"
        f"{_rope_overrides(analysis)}.",
        "Verdict: 'better' / 'worse' when the Bayesian correlated t-test gives P > 0.95 for that side and "
        "P(A>B) says the same (its 95 % CI excludes 0.5 and P(A>B) > 0.75, or < 0.25); 'equivalent' when "
        "P(equivalent) > 0.95; otherwise 'undecided' (more seeds needed). Verdicts are not corrected for "
        "multiplicity; the Holm p-values are.",
        "P(A>B): the share of seeds in which the variant beats its baseline (ties, equal to 12 decimals, count "
        "1/2), with a bootstrap CI.",
        "P(better) / P(equivalent) / P(worse): posterior probabilities of the Bayesian correlated t-test "
        "(Benavoli et al. 2017) with the rho of the statistics table (Nadeau & Bengio's correction for overlapping "
        "training sets: rho = n_test / (n_test + n_train)).",
        "Wilcoxon p: two-sided signed-rank test of the paired differences, zero differences (to 12 decimals) "
        "dropped, tied ones given average ranks; exact for up to 50 non-zero differences, normal approximation "
        "above.",
        f"Holm: the Wilcoxon signed-rank p-values are adjusted (Holm 1979) within {family_count(analysis)} "
        f"families: {HOLM_FAMILIES}. This controls the chance of any false positive within each family (its size "
        "is the 'Holm family' column), not over the whole report; * p < 0.05, ** p < 0.01.",
        "Hedges' g: the mean paired difference in units of its standard deviation, small-sample corrected.",
        "DeLong: the two AUCs of one seed on their shared test set; it says whether that split's difference "
        "exceeds its sampling noise, not whether the variant is better over seeds.",
    )
    return [Heading("How to read this report"), Bullets(items)]


def _rope_overrides(analysis: StudyAnalysis) -> str:
    overrides = analysis.data.study.rope
    return f" (this study sets {', '.join(f'{k} ±{v:g}' for k, v in overrides.items())})" if overrides else ""
