"""What a study compares: the test metrics and explanation scores, their direction and their default ROPE.

One table, read by the analysis, the report and the study YAML's ``rope:`` check. A measure is a test metric
(:data:`METRICS`, from ``metrics-<split>.json``) or an explanation score (``medattn.explain.scores.SCORES``, from
the explanation stage's ``scores.csv``).

Default ROPE (region of practical equivalence, half-width in the measure's own units; Benavoli et al. 2017,
"Time for a change", JMLR 18(77), Sec. 3; Kruschke 2018, "Rejecting or accepting parameter values in Bayesian
estimation", AMPPS 1:270-280, sets it as a small fraction of the scale on which a difference matters). Rule: one
hundredth of the measure's range, so that "equivalent" means the same thing for every measure:

* measures on [0, 1] (accuracy, balanced accuracy, F1, recall, specificity, AUC-ROC; localisation scores,
  deletion/insertion AUCs, ROAD curves, sparseness): 0.01, one percentage point;
* measures on [-1, 1] (SSIM, Spearman correlation, the randomisation check's similarity): 0.02;
* ECE: 0.005. It is bounded by 1, but the ECE of trained CNNs is a few hundredths (0.01-0.15 in Guo et al.
  2017, "On calibration of modern neural networks", ICML, Table 1), so one percentage point would already be a
  third of a typical value; half a point is used;
* max-sensitivity (Yeh et al. 2019): unbounded above, a change of the map relative to its own L2 norm; 0.01 is
  a change of 1 % of the map.

``rope:`` at the top level of a study YAML overrides single entries (``rope: {auc_roc: 0.02, ece: 0.005}``).
"""

import math

from medattn.errors import ConfigError

#: Test-set metrics the report compares; lower is better for those in LOWER_IS_BETTER. Kept short on purpose:
#: every metric is its own Holm family, but each one added is one more verdict to read.
METRICS = ("auc_roc", "balanced_accuracy", "accuracy", "f1", "recall", "specificity", "ece")
LOWER_IS_BETTER = frozenset({"ece", "brier"})

UNIT_RANGE, SIGNED_RANGE = 0.01, 0.02  # one hundredth of [0, 1] and of [-1, 1]
METRIC_ROPES: dict[str, float] = {
    "auc_roc": UNIT_RANGE, "balanced_accuracy": UNIT_RANGE, "accuracy": UNIT_RANGE, "f1": UNIT_RANGE,
    "recall": UNIT_RANGE, "specificity": UNIT_RANGE, "ece": 0.005,
}  # fmt: skip
SCORE_ROPES: dict[str, float] = {
    "relevance_mass_accuracy": UNIT_RANGE, "relevance_rank_accuracy": UNIT_RANGE, "energy_pointing_game": UNIT_RANGE,
    "pointing_game": UNIT_RANGE, "deletion_auc": UNIT_RANGE, "insertion_auc": UNIT_RANGE, "road_morf": UNIT_RANGE,
    "road_lerf": UNIT_RANGE, "sparseness": UNIT_RANGE, "max_sensitivity": 0.01, "ssim": SIGNED_RANGE,
    "spearman": SIGNED_RANGE, "randomisation": SIGNED_RANGE,
}  # fmt: skip


def is_explanation_source(source: str) -> bool:
    """True for the explanation stage's sources (``explanations (<method>)``), False for test splits."""
    return source.startswith("explanations")


def _score_registry() -> dict:
    from medattn.explain.scores import SCORES  # here: keeps parsing a study YAML light

    return SCORES


def higher_is_better(source: str, metric: str) -> bool:
    """Direction of a metric or explanation score (losses, ECE, Brier, deletion AUC ... are lower-is-better).

    Raises:
        ConfigError: an explanation score missing from the score registry (its direction is unknown; guessing
            "higher" would turn a worse map into a better one).
    """
    if is_explanation_source(source):
        scores = _score_registry()
        if metric not in scores:
            raise ConfigError(
                f"explanation score '{metric}' ({source}) is not in the score registry, so its direction is "
                f"unknown; known scores: {', '.join(scores)}"
            )
        return scores[metric].higher_is_better
    return metric not in LOWER_IS_BETTER and not metric.endswith("loss")


def default_ropes() -> dict[str, float]:
    """Every measure's default ROPE: the test metrics, then the explanation scores (see the module docstring)."""
    return {**METRIC_ROPES, **SCORE_ROPES}


def check_ropes(overrides: dict, source: str = "study") -> dict[str, float]:
    """A study's ``rope:`` mapping, validated: known measure names and finite numbers >= 0.

    Raises:
        ConfigError: one line naming ``source``, the key and the valid names.
    """
    if not isinstance(overrides, dict):
        raise ConfigError(f"{source}: 'rope' must be a mapping of metric or score name to a number")
    valid = default_ropes()
    checked = {}
    for name, value in overrides.items():
        if name not in valid:
            raise ConfigError(f"{source}: rope.{name} is not a metric or explanation score; valid: {', '.join(valid)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{source}: rope.{name} must be a finite number >= 0, got {value!r}")
        checked[name] = float(value)
    return checked


def rope_of(metric: str, overrides: dict[str, float] | None = None) -> float:
    """The ROPE half-width of a measure: the study's override, else its default.

    Raises:
        ConfigError: a measure without a default ROPE (a new metric or score must be added to the table).
    """
    if overrides and metric in overrides:
        return float(overrides[metric])
    ropes = default_ropes()
    if metric not in ropes:
        raise ConfigError(f"no default ROPE for '{metric}'; add it to medattn.study.measures or set rope.{metric}")
    return ropes[metric]
