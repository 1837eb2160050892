import json
import math

import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.metrics import roc_auc_score

from medattn.evaluate.metrics import binary_metrics, evaluate_predictions, youden_threshold
from medattn.evaluate.tasks import METRICS, THRESHOLD_METRICS


def test_binary_metrics_hand_computed():
    labels = [1, 1, 1, 0, 0]
    scores = [0.9, 0.6, 0.2, 0.7, 0.1]
    m = binary_metrics(labels, scores)
    assert m["accuracy"] == 3 / 5
    assert m["sensitivity"] == 2 / 3 and m["specificity"] == 1 / 2
    assert m["auc_roc"] == roc_auc_score(labels, scores) == 4 / 6


def test_auc_is_nan_with_one_class_only():
    assert math.isnan(binary_metrics([1, 1], [0.2, 0.8])["auc_roc"])


def values(result: dict, names=METRICS) -> dict:
    return {name: result[name]["value"] for name in names}


def random_binary(n: int, seed: int, decimals: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Labels and informative probabilities, rounded so that scores tie (tie handling is tested too)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    return labels, np.round(np.clip(0.35 * labels + 0.65 * rng.random(n), 0, 1), decimals)


def random_multiclass(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), labels] += 1.0
    return labels, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_binary_hand_computed():
    # At 0.5: predictions [1, 1, 0, 1, 0] -> tp 2, fn 1, fp 1, tn 1.
    r = evaluate_predictions([1, 1, 1, 0, 0], [0.9, 0.6, 0.2, 0.7, 0.1], n_bootstrap=0)
    expected = {
        "accuracy": 3 / 5,
        "balanced_accuracy": (2 / 3 + 1 / 2) / 2,
        "precision": 2 / 3,
        "recall": 2 / 3,
        "specificity": 1 / 2,
        "f1": 4 / 6,
        "mcc": (2 * 1 - 1 * 1) / math.sqrt(3 * 3 * 2 * 2),
        "auc_roc": 4 / 6,
        "auc_pr": (1 + 2 / 3 + 3 / 4) / 3,  # precision at each positive, ranked 0.9, (0.7), 0.6, 0.2
        "brier": (0.1**2 + 0.4**2 + 0.8**2 + 0.7**2 + 0.1**2) / 5,
    }
    assert values(r, tuple(expected)) == pytest.approx(expected, abs=1e-12)
    assert r["confusion_matrix"] == [[1, 1], [1, 2]]
    assert r["task"] == "binary" and r["n"] == 5
    assert r["accuracy"] == {"value": pytest.approx(0.6), "ci_low": None, "ci_high": None}


def test_binary_matches_sklearn_on_random_data_with_ties():
    labels, p = random_binary(300, seed=1)
    for threshold in (0.5, 0.37):
        r = evaluate_predictions(labels, p, threshold=threshold, n_bootstrap=0)
        pred = (p >= threshold).astype(int)
        expected = {
            "accuracy": sk.accuracy_score(labels, pred),
            "balanced_accuracy": sk.balanced_accuracy_score(labels, pred),
            "precision": sk.precision_score(labels, pred),
            "recall": sk.recall_score(labels, pred),
            "specificity": sk.recall_score(labels, pred, pos_label=0),
            "f1": sk.f1_score(labels, pred),
            "mcc": sk.matthews_corrcoef(labels, pred),
            "auc_roc": sk.roc_auc_score(labels, p),
            "auc_pr": sk.average_precision_score(labels, p),
            "brier": sk.brier_score_loss(labels, p),
        }
        assert values(r, tuple(expected)) == pytest.approx(expected, abs=1e-12)
        assert r["confusion_matrix"] == sk.confusion_matrix(labels, pred).tolist()


def test_two_column_probabilities_are_binary_positive_column():
    labels, p = random_binary(50, seed=2)
    r = evaluate_predictions(labels, np.stack([1 - p, p], axis=1), n_bootstrap=20)
    assert r["task"] == "binary"
    assert r == evaluate_predictions(labels, p, n_bootstrap=20)


def test_multiclass_hand_computed():
    labels = [0, 0, 1, 1, 2, 2]  # argmax predictions 0, 1, 1, 1, 2, 0
    p = [[0.6, 0.3, 0.1], [0.3, 0.5, 0.2], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.2, 0.7], [0.5, 0.1, 0.4]]
    r = evaluate_predictions(labels, p, n_bootstrap=0)
    expected = {
        "accuracy": 4 / 6,
        "balanced_accuracy": (1 / 2 + 1 + 1 / 2) / 3,
        "precision": (1 / 2 + 2 / 3 + 1) / 3,
        "recall": (1 / 2 + 1 + 1 / 2) / 3,
        "specificity": (3 / 4 + 3 / 4 + 1) / 3,
        "f1": (1 / 2 + 4 / 5 + 2 / 3) / 3,
        "mcc": (4 * 6 - (2 * 2 + 3 * 2 + 1 * 2)) / math.sqrt((36 - 14) * (36 - 12)),
        "auc_roc": (7 / 8 + 1 + 1) / 3,
        "brier": (0.26 + 0.78 + 0.14 + 0.06 + 0.14 + 0.62) / 6,
    }
    assert r["task"] == "multiclass"
    assert values(r, tuple(expected)) == pytest.approx(expected, abs=1e-12)
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert r["per_class"]["0"]["auc_roc"]["value"] == pytest.approx(7 / 8)
    assert r["per_class"]["2"]["precision"]["value"] == 1.0 and r["per_class"]["2"]["support"] == 2
    assert r["threshold"]["value"] is None and r["at_youden"] is None


def test_multiclass_matches_sklearn_on_random_data():
    labels, p = random_multiclass(400, 4, seed=3)
    pred = p.argmax(axis=1)
    r = evaluate_predictions(labels, p, n_bootstrap=0, class_names=["a", "b", "c", "d"])
    recall_per_class = sk.recall_score(labels, pred, average=None)
    specificity = [sk.recall_score(labels == k, pred == k, pos_label=False) for k in range(4)]
    expected = {
        "accuracy": sk.accuracy_score(labels, pred),
        "balanced_accuracy": sk.balanced_accuracy_score(labels, pred),
        "precision": sk.precision_score(labels, pred, average="macro"),
        "recall": recall_per_class.mean(),
        "specificity": np.mean(specificity),
        "f1": sk.f1_score(labels, pred, average="macro"),
        "mcc": sk.matthews_corrcoef(labels, pred),
        "auc_roc": sk.roc_auc_score(labels, p, multi_class="ovr", average="macro"),
        "auc_pr": np.mean([sk.average_precision_score(labels == k, p[:, k]) for k in range(4)]),
        "brier": sk.brier_score_loss(labels, p),  # multi-class: sum over classes, mean over samples
    }
    assert values(r, tuple(expected)) == pytest.approx(expected, abs=1e-12)
    assert r["confusion_matrix"] == sk.confusion_matrix(labels, pred).tolist()
    per_class_f1 = sk.f1_score(labels, pred, average=None)
    assert [r["per_class"][c]["f1"]["value"] for c in "abcd"] == pytest.approx(per_class_f1, abs=1e-12)
    assert [r["per_class"][c]["recall"]["value"] for c in "abcd"] == pytest.approx(recall_per_class, abs=1e-12)


def reference_ece(confidence, correct, n_bins=15) -> float:
    """Guo et al. (2017), written as a loop over (lo, hi] bins."""
    confidence, correct = np.asarray(confidence), np.asarray(correct, float)
    total = 0.0
    for lo, hi in zip(np.linspace(0, 1, n_bins + 1)[:-1], np.linspace(0, 1, n_bins + 1)[1:], strict=True):
        members = (confidence > lo) & (confidence <= hi)
        if members.any():
            total += members.mean() * abs(confidence[members].mean() - correct[members].mean())
    return total


def test_ece_hand_computed():
    # Binary, top-label: confidences 0.95, 0.95 (one right, one wrong) and 0.7, 0.7 (both right).
    r = evaluate_predictions([1, 0, 1, 0], [0.95, 0.95, 0.7, 0.3], n_bootstrap=0)
    assert r["ece"]["value"] == pytest.approx((abs(0.95 - 0.5) * 2 + abs(0.7 - 1.0) * 2) / 4)
    # Multi-class: confidences 0.5, 0.5 (one right) and 0.85 (right).
    p = [[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.05, 0.1, 0.85]]
    assert evaluate_predictions([0, 1, 2], p, n_bootstrap=0)["ece"]["value"] == pytest.approx(0.15 / 3)


def test_ece_matches_reference_loop_on_random_data():
    labels, p = random_binary(500, seed=4, decimals=6)
    expected = reference_ece(np.maximum(p, 1 - p), (p >= 0.5) == labels)
    assert evaluate_predictions(labels, p, n_bootstrap=0)["ece"]["value"] == pytest.approx(expected, abs=1e-12)
    labels, p = random_multiclass(500, 5, seed=4)
    expected = reference_ece(p.max(axis=1), p.argmax(axis=1) == labels)
    assert evaluate_predictions(labels, p, n_bootstrap=0)["ece"]["value"] == pytest.approx(expected, abs=1e-12)


def test_youden_threshold_hand_computed():
    labels = [0, 0, 0, 0, 1, 1, 1]
    scores = [0.1, 0.2, 0.5, 0.6, 0.4, 0.7, 0.8]
    # J at 0.8: 1/3; 0.7: 2/3; 0.6: 2/3 - 1/4; 0.5: 2/3 - 1/2; 0.4: 1 - 1/2; 0.2: 1 - 3/4; 0.1: 0.
    assert youden_threshold(labels, scores) == 0.7
    fpr, tpr, thresholds = sk.roc_curve(labels, scores)
    assert thresholds[np.argmax(tpr - fpr)] == 0.7
    logits = np.log(np.array(scores) / (1 - np.array(scores)))
    assert youden_threshold(labels, logits) == pytest.approx(np.log(0.7 / 0.3))
    # Equally good thresholds 0.7 and 0.4: the highest wins.
    assert youden_threshold([0, 0, 0, 1, 1, 1], [0.1, 0.3, 0.6, 0.4, 0.7, 0.9]) == 0.7
    with pytest.raises(ValueError, match="both classes"):
        youden_threshold([1, 1], [0.2, 0.3])


def test_youden_threshold_is_chosen_on_validation_and_applied_to_test():
    labels, p = random_binary(200, seed=5)
    val_labels, val_p = random_binary(150, seed=6)
    r = evaluate_predictions(labels, p, val_labels=val_labels, val_probabilities=val_p, n_bootstrap=50)
    t = youden_threshold(val_labels, val_p)
    assert r["threshold"] == {"value": 0.5, "youden": t, "youden_source": "val"}
    at_t = evaluate_predictions(labels, p, threshold=t, n_bootstrap=50)
    assert r["at_youden"] == {**{m: at_t[m] for m in THRESHOLD_METRICS}, "confusion_matrix": at_t["confusion_matrix"]}
    assert values(r) == values(evaluate_predictions(labels, p, n_bootstrap=0))


def test_no_validation_means_no_youden_threshold():
    labels, p = random_binary(100, seed=7)
    r = evaluate_predictions(labels, p, n_bootstrap=10)
    assert r["at_youden"] is None
    assert r["threshold"]["youden"] is None and r["threshold"]["youden_source"] is None
    assert "validation" in r["threshold"]["note"]
    one_class = evaluate_predictions(labels, p, val_labels=[1, 1, 1], val_probabilities=[0.2, 0.5, 0.9])
    assert one_class["at_youden"] is None and "one class" in one_class["threshold"]["note"]


def test_bootstrap_weights_reproduce_resampled_sklearn_metrics():
    from medattn.evaluate.bootstrap import resample_weights
    from medattn.evaluate.tasks import BinaryStatistics, MulticlassStatistics

    labels, p = random_binary(120, seed=8)
    weights = next(resample_weights(labels, 120, 3, np.random.default_rng(0)))
    assert weights.sum(axis=1).tolist() == [120] * 3
    assert (weights @ labels).tolist() == [labels.sum()] * 3  # stratified: class counts kept
    stats = BinaryStatistics(labels, p, {"fixed": 0.5})(weights)
    for row, w in enumerate(weights):
        drawn = np.repeat(np.arange(120), w.astype(int))
        y, s = labels[drawn], p[drawn]
        assert stats["fixed/auc_roc"][row] == pytest.approx(sk.roc_auc_score(y, s), abs=1e-12)
        assert stats["fixed/auc_pr"][row] == pytest.approx(sk.average_precision_score(y, s), abs=1e-12)
        assert stats["fixed/mcc"][row] == pytest.approx(sk.matthews_corrcoef(y, s >= 0.5), abs=1e-12)
        assert stats["fixed/brier"][row] == pytest.approx(sk.brier_score_loss(y, s), abs=1e-12)
        assert stats["fixed/ece"][row] == pytest.approx(reference_ece(np.maximum(s, 1 - s), (s >= 0.5) == y))
    labels, p = random_multiclass(90, 3, seed=8)
    weights = next(resample_weights(labels, 90, 2, np.random.default_rng(1)))
    stats = MulticlassStatistics(labels, p)(weights)
    for row, w in enumerate(weights):
        drawn = np.repeat(np.arange(90), w.astype(int))
        y, s = labels[drawn], p[drawn]
        auc = sk.roc_auc_score(y, s, multi_class="ovr")
        assert stats["fixed/auc_roc"][row] == pytest.approx(auc, abs=1e-12)
        assert stats["fixed/mcc"][row] == pytest.approx(sk.matthews_corrcoef(y, s.argmax(axis=1)), abs=1e-12)


def test_confidence_interval_contains_estimate_and_narrows_with_more_data():
    widths = {}
    for n in (100, 2000):
        labels, p = random_binary(n, seed=9, decimals=6)
        r = evaluate_predictions(labels, p, n_bootstrap=300)
        for name in METRICS:
            assert r[name]["ci_low"] <= r[name]["value"] <= r[name]["ci_high"], (n, name)
        widths[n] = {name: r[name]["ci_high"] - r[name]["ci_low"] for name in METRICS}
    for name in METRICS:
        assert widths[2000][name] < widths[100][name], name


def test_bootstrap_is_deterministic_per_seed():
    labels, p = random_binary(150, seed=10)
    first = evaluate_predictions(labels, p, n_bootstrap=100, seed=3)
    assert evaluate_predictions(labels, p, n_bootstrap=100, seed=3) == first
    other = evaluate_predictions(labels, p, n_bootstrap=100, seed=4)
    assert other["auc_roc"]["value"] == first["auc_roc"]["value"]
    assert other["auc_roc"]["ci_low"] != first["auc_roc"]["ci_low"]
    assert first["bootstrap"] == {
        "method": "percentile",
        "n_resamples": 100,
        "confidence": 0.95,
        "seed": 3,
        "stratified": True,
    }


def test_one_class_gives_none_not_nan_and_valid_json():
    r = evaluate_predictions([1, 1, 1, 1], [0.2, 0.6, 0.7, 0.9], n_bootstrap=50)
    for name in ("auc_roc", "specificity", "balanced_accuracy", "mcc"):
        assert r[name] == {"value": None, "ci_low": None, "ci_high": None}, name
    assert r["recall"]["value"] == 0.75 and r["auc_pr"]["value"] == 1.0
    json.dumps(r, allow_nan=False)
    # No positive call at all: precision undefined, F1 still 0.
    r = evaluate_predictions([0, 1, 0], [0.1, 0.2, 0.3], n_bootstrap=20)
    assert r["precision"]["value"] is None and r["f1"]["value"] == 0.0
    json.dumps(r, allow_nan=False)


def test_results_round_trip_through_strict_json():
    rng = np.random.default_rng(11)
    labels, p = random_binary(80, seed=11)
    multiclass = random_multiclass(80, 3, seed=11)
    multilabel = (rng.integers(0, 2, (80, 3)), rng.random((80, 3)))
    results = [
        evaluate_predictions(labels, p, val_labels=labels, val_probabilities=p, n_bootstrap=30),
        evaluate_predictions(*multiclass, n_bootstrap=30),
        evaluate_predictions(*multilabel, val_labels=multilabel[0], val_probabilities=multilabel[1], n_bootstrap=30),
    ]
    for r in results:
        assert json.loads(json.dumps(r, allow_nan=False)) == r


def test_multilabel_per_label_equals_binary_per_column():
    rng = np.random.default_rng(12)
    labels = rng.integers(0, 2, (150, 3))
    p = np.round(np.clip(0.3 * labels + 0.7 * rng.random((150, 3)), 0, 1), 3)
    val_labels, val_p = labels[:60], np.clip(p[:60] + 0.05 * rng.random((60, 3)), 0, 1)
    names = ["effusion", "nodule", "edema"]
    r = evaluate_predictions(labels, p, val_labels=val_labels, val_probabilities=val_p, class_names=names)
    assert r["task"] == "multilabel" and list(r["per_label"]) == names
    for j, name in enumerate(names):
        column = evaluate_predictions(labels[:, j], p[:, j], val_labels=val_labels[:, j], val_probabilities=val_p[:, j])
        entry = r["per_label"][name]
        assert values(entry) == pytest.approx(values(column), abs=1e-12)
        assert entry["confusion_matrix"] == column["confusion_matrix"]
        assert entry["threshold"] == column["threshold"]
        assert values(entry["at_youden"], THRESHOLD_METRICS) == values(column["at_youden"], THRESHOLD_METRICS)
        assert entry["support"] == labels[:, j].sum()
    for name in METRICS:
        assert r[name]["value"] == pytest.approx(np.mean([r["per_label"][k][name]["value"] for k in names]))
        assert r[name]["ci_low"] <= r[name]["value"] <= r[name]["ci_high"]
    assert r["threshold"]["youden"] == [r["per_label"][k]["threshold"]["youden"] for k in names]
    assert r["confusion_matrix"] == [r["per_label"][k]["confusion_matrix"] for k in names]


def test_multilabel_label_without_positives_is_left_out_of_macro_auc():
    labels = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    p = np.array([[0.9, 0.1], [0.2, 0.3], [0.7, 0.2], [0.4, 0.1]])
    r = evaluate_predictions(labels, p, n_bootstrap=20)
    assert r["per_label"]["1"]["auc_roc"]["value"] is None
    assert r["auc_roc"]["value"] == r["per_label"]["0"]["auc_roc"]["value"] == 1.0
    json.dumps(r, allow_nan=False)


def test_multiclass_absent_class_is_none_and_json_safe():
    labels, p = random_multiclass(60, 3, seed=13)
    keep = labels != 2
    r = evaluate_predictions(labels[keep], p[keep], n_bootstrap=30)
    assert r["per_class"]["2"]["auc_roc"]["value"] is None and r["per_class"]["2"]["support"] == 0
    assert r["auc_roc"]["value"] == pytest.approx(np.mean([r["per_class"][k]["auc_roc"]["value"] for k in "01"]))
    json.dumps(r, allow_nan=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": [0, 1], "probabilities": [0.2, 0.8], "task": "regression"}, "choose one of: auto, binary"),
        ({"labels": [0, 1], "probabilities": [-2.0, 3.0]}, r"\[0, 1\]"),
        ({"labels": [0, 2], "probabilities": [0.2, 0.8]}, "integers in 0..1"),
        ({"labels": [0, 1, 1], "probabilities": [0.2, 0.8]}, "same, non-zero number"),
        ({"labels": [0, 1], "probabilities": [[0.2, 0.7, 0.3], [0.3, 0.3, 0.3]]}, "sum to 1"),
        ({"labels": [0, 1], "probabilities": [[0.2, 0.5, 0.3]] * 2, "threshold": 0.3}, "argmax"),
        ({"labels": [0, 1], "probabilities": [[0.2, 0.5, 0.3]] * 2, "class_names": ["a"]}, "3 distinct names"),
        ({"labels": [0, 1], "probabilities": [0.2, 0.8], "val_labels": [0, 1]}, "or neither"),
        ({"labels": [0, 1], "probabilities": [0.2, 0.8], "n_bootstrap": -1}, "non-negative"),
        ({"labels": [0, 1], "probabilities": [0.2, 0.8], "threshold": 1.5}, r"threshold must be in \[0, 1\]"),
    ],
)
def test_invalid_input_is_rejected_with_a_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate_predictions(**kwargs)
