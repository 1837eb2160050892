"""Clinical classification metrics with bootstrap confidence intervals, as ``medattn test`` reports them.

Following Metrics Reloaded (Maier-Hein et al. 2024, Nat. Methods 21:195-212), every report pairs counting metrics
with a ranking metric (AUC-ROC, AUC-PR) and calibration metrics (Brier, ECE), never accuracy alone, and gives each a
95 % percentile-bootstrap interval. A decision threshold other than the fixed one is only ever chosen on validation
predictions (Youden 1950), never on the test set.
"""

import numpy as np

from medattn.evaluate.bootstrap import interval, run_bootstrap
from medattn.evaluate.inputs import class_keys, prepare, prepare_binary_scores
from medattn.evaluate.tasks import (
    METRICS,
    PER_CLASS_METRICS,
    THRESHOLD_METRICS,
    BinaryStatistics,
    MulticlassStatistics,
    MultilabelStatistics,
)


def youden_threshold(labels, scores) -> float:
    """The threshold ``t`` (predict positive when ``score >= t``) that maximises sensitivity + specificity - 1.

    Scores may be probabilities or any monotone transform of them (logits).

    Reference: Youden (1950), Index for rating diagnostic tests, Cancer 3:32-35. Candidates are the distinct scores
    (the ROC curve's vertices); among equally good thresholds the highest is returned, as ``argmax`` over
    ``sklearn.metrics.roc_curve`` does. Choose it on validation predictions, then apply it to the test set.

    Raises:
        ValueError: when labels are not 0/1, lengths differ, or only one class is present (the index is undefined).
    """
    labels, scores = prepare_binary_scores(labels, scores, "Youden")
    positive = labels.astype(bool)
    if positive.all() or not positive.any():
        raise ValueError("the Youden threshold needs both classes in the labels")
    candidates = np.unique(scores)[::-1]
    pos_scores, neg_scores = np.sort(scores[positive]), np.sort(scores[~positive])
    sensitivity = 1.0 - np.searchsorted(pos_scores, candidates, side="left") / len(pos_scores)
    false_positive_rate = 1.0 - np.searchsorted(neg_scores, candidates, side="left") / len(neg_scores)
    return float(candidates[np.argmax(sensitivity - false_positive_rate)])


def _youden_from_validation(val_labels, val_probabilities, task: str) -> tuple[list[float | None] | None, str | None]:
    """Youden thresholds per column (one for binary) from validation predictions, and a note on availability."""
    if val_labels is None and val_probabilities is None:
        return None, "no validation predictions given; the test set is never used to choose a threshold"
    if val_labels is None or val_probabilities is None:
        raise ValueError("give both val_labels and val_probabilities, or neither")
    _, labels, probabilities = prepare(val_labels, val_probabilities, task, what="validation")
    columns = [(labels, probabilities)] if task == "binary" else list(zip(labels.T, probabilities.T, strict=True))
    thresholds = [youden_threshold(y, p) if 0 < y.sum() < len(y) else None for y, p in columns]
    if all(t is None for t in thresholds):
        return None, "validation predictions have one class only; the Youden threshold is undefined"
    missing = sum(t is None for t in thresholds)
    return thresholds, f"undefined for {missing} label(s) with one validation class" if missing else None


def _matrix(counts: np.ndarray) -> list | None:
    """Confusion counts as nested lists of ints (rows: true class, columns: predicted); ``None`` where undefined.

    A stack of matrices (one per label) becomes a list with one entry per label.
    """
    counts = np.asarray(counts)
    if counts.ndim == 3:
        return [_matrix(c) for c in counts]
    return None if np.isnan(counts).any() else np.rint(counts).astype(int).tolist()


def _intervals(point: dict, samples: dict, block: str, names: tuple[str, ...], confidence: float) -> dict:
    return {name: interval(point[f"{block}/{name}"], samples[f"{block}/{name}"], confidence) for name in names}


def _thresholded_report(point: dict, samples: dict, confidence: float, threshold: float, youden, note) -> dict:
    """Metrics at the fixed threshold, threshold info and metrics at the Youden threshold (binary or macro)."""
    report = _intervals(point, samples, "fixed", METRICS, confidence)
    report["confusion_matrix"] = _matrix(point["fixed/confusion"])
    report["threshold"] = {"value": threshold, "youden": youden, "youden_source": None if youden is None else "val"}
    if note:
        report["threshold"]["note"] = note
    report["at_youden"] = None
    if youden is not None:
        report["at_youden"] = _intervals(point, samples, "at_youden", THRESHOLD_METRICS, confidence)
        report["at_youden"]["confusion_matrix"] = _matrix(point["at_youden/confusion"])
    return report


def _column(values: dict, prefix: str, j: int, axis: int) -> dict:
    """The entries under ``prefix``, prefix stripped, taking index ``j`` along ``axis`` (the label axis)."""
    return {key[len(prefix) :]: np.take(value, j, axis=axis) for key, value in values.items() if key.startswith(prefix)}


def _thresholded(labels, probabilities, task, threshold, youden, note, options: dict) -> dict:
    """Binary and multi-label results: fixed threshold, Youden threshold from validation, bootstrap intervals."""
    confidence = options["confidence"]
    if task == "binary":
        thresholds = {"fixed": threshold} | ({} if youden is None else {"at_youden": youden[0]})
        statistic, strata = BinaryStatistics(labels, probabilities, thresholds), labels
    else:
        n_labels = labels.shape[1]
        thresholds = {"fixed": [threshold] * n_labels} | ({} if youden is None else {"at_youden": youden})
        statistic, strata = MultilabelStatistics(labels, probabilities, thresholds), None
    point, samples = run_bootstrap(
        statistic, len(labels), strata=strata, n_bootstrap=options["n_bootstrap"], seed=options["seed"]
    )
    if task == "binary":
        return _thresholded_report(point, samples, confidence, threshold, None if youden is None else youden[0], note)
    report = _thresholded_report(point, samples, confidence, threshold, youden, note)
    report["per_label"] = {}
    for j, key in enumerate(options["keys"]):
        column_point, column_samples = _column(point, "per_label/", j, 0), _column(samples, "per_label/", j, 1)
        label_youden = None if youden is None else youden[j]
        label_note = note if label_youden is None else None
        if youden is not None and label_youden is None:
            label_note = "this label has one class in the validation predictions; the Youden threshold is undefined"
        entry = _thresholded_report(column_point, column_samples, confidence, threshold, label_youden, label_note)
        report["per_label"][key] = {"support": int(labels[:, j].sum()), **entry}
    return report


def _multiclass(labels, probabilities, options: dict) -> dict:
    """Multi-class results: argmax decision, macro averages and per-class values, stratified bootstrap intervals."""
    confidence, n_classes = options["confidence"], probabilities.shape[1]
    point, samples = run_bootstrap(
        MulticlassStatistics(labels, probabilities),
        len(labels),
        strata=labels,
        n_bootstrap=options["n_bootstrap"],
        seed=options["seed"],
    )
    report = _intervals(point, samples, "fixed", METRICS, confidence)
    report["confusion_matrix"] = _matrix(point["fixed/confusion"])
    note = "multi-class decisions are the argmax; no threshold applies"
    report["threshold"] = {"value": None, "youden": None, "youden_source": None, "note": note}
    report["at_youden"] = None
    support = np.bincount(labels, minlength=n_classes)
    report["per_class"] = {}
    for k, key in enumerate(options["keys"]):
        values = {
            m: interval(point[f"per_class/{m}"][k], samples[f"per_class/{m}"][:, k], confidence)
            for m in PER_CLASS_METRICS
        }
        report["per_class"][key] = {"support": int(support[k]), **values}
    return report


def _check_options(threshold: float | None, n_bootstrap: int, confidence: float) -> None:
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1]; got {threshold}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer; got {n_bootstrap!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")


def evaluate_predictions(
    labels,
    probabilities,
    *,
    task: str = "auto",
    threshold: float | None = None,
    val_labels=None,
    val_probabilities=None,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    class_names=None,
) -> dict:
    """Clinical metrics of test predictions with percentile-bootstrap confidence intervals, as one JSON-able dict.

    Metrics (Metrics Reloaded, Maier-Hein et al. 2024): accuracy, balanced_accuracy, precision, recall (=
    sensitivity), specificity, f1, mcc (Matthews 1975; Gorodkin 2004 for multi-class), auc_roc (Hanley & McNeil
    1982), auc_pr (average precision, as scikit-learn), brier (Brier 1950) and ece (Guo et al. 2017: 15 equal-width
    bins on the top-label confidence ``max(p, 1 - p)`` / ``max_k p_k`` against the argmax being right). Each is
    ``{"value", "ci_low", "ci_high"}``; undefined values (AUC with one class, precision with no positive call, MCC
    with a constant prediction where scikit-learn says 0) are ``None``, never NaN.

    Tasks: ``binary`` (labels 0/1, probabilities [N] or [N, 2]; decision ``p >= threshold``); ``multiclass``
    ([N, K] softmax rows, argmax decision, macro averages over the classes where a value is defined, one-vs-rest
    AUCs, multi-class Brier summed over classes, plus ``per_class``); ``multilabel`` ([N, L] sigmoid probabilities
    and 0/1 labels; every column is a binary problem, reported under ``per_label``, top-level values are their macro
    averages). ``auto`` picks multilabel for 2-D labels, binary for at most two probability columns, else multiclass.

    Thresholds (binary, multi-label): top-level metrics use ``threshold`` (default 0.5). With validation predictions,
    ``at_youden`` holds the threshold-dependent metrics at the Youden threshold chosen on them (per label for
    multi-label); without, ``at_youden`` is ``None`` and ``threshold["note"]`` says why: the test set never picks it.

    Bootstrap: ``n_bootstrap`` resamples of the test samples drawn with ``numpy.random.default_rng(seed)``;
    stratified by class for binary and multi-class (each resample keeps the class counts, so both classes are always
    present), plain for multi-label (the same resamples for every label, so macro intervals keep the correlation
    between labels; resamples where a label's value is undefined are left out of that interval). The interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles (Efron & Tibshirani 1993, ch. 13).

    Args:
        labels: [N] class indices, or [N, L] 0/1 for multi-label.
        probabilities: predicted probabilities (not logits), shapes as above.
        task: ``auto``, ``binary``, ``multiclass`` or ``multilabel``.
        threshold: fixed decision threshold in [0, 1] for binary and multi-label (default 0.5).
        val_labels: validation labels, to choose the Youden threshold (ignored for multi-class).
        val_probabilities: validation probabilities, same layout as ``probabilities``.
        n_bootstrap: number of resamples (0: no intervals).
        confidence: interval coverage, e.g. 0.95.
        seed: seed of the resampling.
        class_names: names keying ``per_class`` / ``per_label`` (default ``"0"``, ``"1"``, ...); unused for binary.

    Returns:
        ``{"task", "n", <metric>: {"value", "ci_low", "ci_high"} ..., "confusion_matrix", "threshold", "at_youden",
        ["per_class" | "per_label"], "bootstrap"}``. Confusion matrices are ``[[tn, fp], [fn, tp]]`` (rows: true
        class); multi-label ones are lists with one matrix per label. Every value is a plain int, float, str or
        ``None``, so ``json.dumps(result, allow_nan=False)`` works.

    Raises:
        ValueError: on an unknown task, inconsistent shapes, labels out of range or values that are not
            probabilities; on a threshold for a multi-class task.
    """
    _check_options(threshold, n_bootstrap, confidence)
    task, labels, probabilities = prepare(labels, probabilities, task)
    options = {"n_bootstrap": int(n_bootstrap), "confidence": float(confidence), "seed": int(seed)}
    if task != "binary":
        options["keys"] = class_keys(class_names, probabilities.shape[1], "class" if task == "multiclass" else "label")
    if task == "multiclass":
        if threshold is not None:
            raise ValueError("threshold applies to binary and multilabel tasks; multi-class decisions are the argmax")
        report = _multiclass(labels, probabilities, options)
    else:
        youden, note = _youden_from_validation(val_labels, val_probabilities, task)
        threshold = 0.5 if threshold is None else float(threshold)
        report = _thresholded(labels, probabilities, task, threshold, youden, note, options)
    bootstrap = {"method": "percentile", "n_resamples": int(n_bootstrap), "confidence": float(confidence)}
    bootstrap |= {"seed": int(seed), "stratified": task != "multilabel"}
    return {"task": task, "n": int(len(labels)), **report, "bootstrap": bootstrap}


def binary_metrics(labels, positive_scores, threshold: float = 0.5) -> dict:
    """Accuracy, AUC-ROC, sensitivity and specificity of scores for the positive class (NaN where undefined).

    The quick summary of the demo; scores may be any real numbers. Use :func:`evaluate_predictions` for the full
    clinical set with confidence intervals.
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(positive_scores, dtype=float)
    values = BinaryStatistics(labels, scores, {"fixed": threshold})(np.ones((1, len(labels))))
    return {
        "n": int(len(labels)),
        "accuracy": float(values["fixed/accuracy"][0]),
        "auc_roc": float(values["fixed/auc_roc"][0]),
        "sensitivity": float(values["fixed/recall"][0]),
        "specificity": float(values["fixed/specificity"][0]),
    }
