"""Per-task statistics: map a [R, N] bootstrap weight matrix to every metric of one task, one value per row.

Each class precomputes what does not depend on the weights (predictions, sort orders, bins) once, so a call only
does weighted sums. Keys are ``"<block>/<metric>"``: the block ``"fixed"`` holds the metrics at the fixed threshold,
``"at_youden"`` the threshold-dependent ones at the validation-chosen threshold, ``"per_class"`` / ``"per_label"``
arrays with one column per class or label.
"""

import numpy as np

from medattn.evaluate.kernels import (
    ECE_BINS,
    GroupedSums,
    RankedScores,
    counting_metrics,
    ece_bins,
    expected_calibration_error,
    nanmean,
    ratio,
    weighted_mean,
)

THRESHOLD_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1", "mcc")
SCORE_METRICS = ("auc_roc", "auc_pr", "brier", "ece")
METRICS = THRESHOLD_METRICS + SCORE_METRICS
PER_CLASS_METRICS = ("precision", "recall", "specificity", "f1", "auc_roc", "auc_pr")


class BinaryStatistics:
    """All binary metrics of positive-class scores, at one or more thresholds (``score >= threshold`` is positive).

    ECE uses the top-label confidence ``max(p, 1 - p)`` of the 0.5 decision, whatever the thresholds, so that it
    measures calibration of the probabilities rather than of an operating point; Brier is ``mean((p - y)^2)``.
    """

    def __init__(self, labels: np.ndarray, scores: np.ndarray, thresholds: dict[str, float | None]) -> None:
        self.positive = np.asarray(labels).astype(bool)
        self.confusions = {
            name: None if t is None else GroupedSums(2 * self.positive + (scores >= t), 4)
            for name, t in thresholds.items()
        }
        self.ranked = RankedScores(self.positive, scores)
        self.squared_error = (scores - self.positive) ** 2
        confidence = np.maximum(scores, 1.0 - scores)
        correct = (scores >= 0.5) == self.positive
        self.calibration_gaps = GroupedSums(ece_bins(confidence), ECE_BINS, confidence - correct)

    def __call__(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Metric name -> [R] values (confusion matrices: [R, 2, 2])."""
        out = {}
        for name, grouped in self.confusions.items():
            # No grouping: this label has no Youden threshold (one class in its validation column).
            confusion = np.full((len(weights), 2, 2), np.nan) if grouped is None else grouped(weights).reshape(-1, 2, 2)
            out[f"{name}/confusion"] = confusion
            out.update({f"{name}/{key}": value for key, value in counting_metrics(confusion).items()})
        out["fixed/auc_roc"], out["fixed/auc_pr"] = self.ranked.ranking_metrics(weights)
        out["fixed/brier"] = weighted_mean(weights, self.squared_error)
        out["fixed/ece"] = expected_calibration_error(self.calibration_gaps, weights)
        return out


def gorodkin_mcc(confusion: np.ndarray) -> np.ndarray:
    """Multi-class MCC (R_K) of [R, K, K] confusion matrices; NaN where undefined (scikit-learn returns 0).

    Reference: Gorodkin (2004), Comput. Biol. Chem. 28:367-374; the formula scikit-learn's ``matthews_corrcoef`` uses.
    """
    true_counts, predicted_counts = confusion.sum(axis=2), confusion.sum(axis=1)
    total = confusion.sum(axis=(1, 2))
    correct = np.trace(confusion, axis1=1, axis2=2)
    covariance = correct * total - (predicted_counts * true_counts).sum(axis=1)
    spread_pred = total**2 - (predicted_counts**2).sum(axis=1)
    spread_true = total**2 - (true_counts**2).sum(axis=1)
    return ratio(covariance, np.sqrt(spread_pred * spread_true))


class MulticlassStatistics:
    """Multi-class metrics of [N, K] probabilities with the argmax decision.

    Macro averages (precision, recall, specificity, F1, one-vs-rest AUC-ROC and AUC-PR) are the unweighted mean over
    the classes where the per-class value is defined; balanced accuracy is macro recall (as scikit-learn). Brier is the
    multi-class score of Brier (1950): sum over classes of the squared error, mean over samples (range [0, 2]). ECE
    uses the top-label confidence ``max_k p_k`` and whether the argmax is right (Guo et al. 2017).
    """

    def __init__(self, labels: np.ndarray, probabilities: np.ndarray) -> None:
        n_classes = probabilities.shape[1]
        predicted = probabilities.argmax(axis=1)
        self.n_classes = n_classes
        self.confusion = GroupedSums(labels * n_classes + predicted, n_classes * n_classes)
        self.ranked = [RankedScores(labels == k, probabilities[:, k]) for k in range(n_classes)]
        self.squared_error = ((probabilities - np.eye(n_classes)[labels]) ** 2).sum(axis=1)
        confidence = probabilities.max(axis=1)
        self.calibration_gaps = GroupedSums(ece_bins(confidence), ECE_BINS, confidence - (predicted == labels))

    def __call__(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Metric name -> [R] values; ``per_class/<metric>`` -> [R, K]; ``fixed/confusion`` -> [R, K, K]."""
        confusion = self.confusion(weights).reshape(-1, self.n_classes, self.n_classes)
        tp = np.diagonal(confusion, axis1=1, axis2=2)
        fp, fn = confusion.sum(axis=1) - tp, confusion.sum(axis=2) - tp
        tn = confusion.sum(axis=(1, 2))[:, None] - tp - fp - fn
        per_class = {
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
            "specificity": ratio(tn, tn + fp),
            "f1": ratio(2 * tp, 2 * tp + fp + fn),
        }
        ranking = [ranked.ranking_metrics(weights) for ranked in self.ranked]
        per_class["auc_roc"] = np.stack([auc for auc, _ in ranking], axis=1)
        per_class["auc_pr"] = np.stack([ap for _, ap in ranking], axis=1)
        out = {f"per_class/{key}": value for key, value in per_class.items()}
        out.update({f"fixed/{key}": nanmean(value, axis=1) for key, value in per_class.items()})
        out["fixed/confusion"] = confusion
        out["fixed/accuracy"] = ratio(tp.sum(axis=1), confusion.sum(axis=(1, 2)))
        out["fixed/balanced_accuracy"] = out["fixed/recall"]
        out["fixed/mcc"] = gorodkin_mcc(confusion)
        out["fixed/brier"] = weighted_mean(weights, self.squared_error)
        out["fixed/ece"] = expected_calibration_error(self.calibration_gaps, weights)
        return out


class MultilabelStatistics:
    """Independent binary problems, one per column, on the same resamples; top-level values are macro averages.

    Every label is a :class:`BinaryStatistics`; ``per_label/<block>/<metric>`` stacks them as [R, L] and
    ``<block>/<metric>`` is their mean over the labels where the value is defined (confusion matrices: the stack).
    """

    def __init__(
        self, labels: np.ndarray, probabilities: np.ndarray, thresholds: dict[str, list[float | None]]
    ) -> None:
        self.columns = [
            BinaryStatistics(labels[:, j], probabilities[:, j], {name: t[j] for name, t in thresholds.items()})
            for j in range(labels.shape[1])
        ]

    def __call__(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Macro averages -> [R]; ``per_label/...`` -> [R, L]; confusion matrices -> [R, L, 2, 2]."""
        columns = [statistic(weights) for statistic in self.columns]
        out = {}
        for key in columns[0]:
            stacked = np.stack([column[key] for column in columns], axis=1)
            out[f"per_label/{key}"] = stacked
            out[key] = stacked if key.endswith("/confusion") else nanmean(stacked, axis=1)
        return out
