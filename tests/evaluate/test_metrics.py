import math

from sklearn.metrics import roc_auc_score

from medattn.evaluate.metrics import binary_metrics


def test_binary_metrics_hand_computed():
    labels = [1, 1, 1, 0, 0]
    scores = [0.9, 0.6, 0.2, 0.7, 0.1]
    m = binary_metrics(labels, scores)
    assert m["accuracy"] == 3 / 5
    assert m["sensitivity"] == 2 / 3 and m["specificity"] == 1 / 2
    assert m["auc_roc"] == roc_auc_score(labels, scores) == 4 / 6


def test_auc_is_nan_with_one_class_only():
    assert math.isnan(binary_metrics([1, 1], [0.2, 0.8])["auc_roc"])
