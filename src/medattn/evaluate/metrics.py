"""Binary classification metrics (the full clinical set with bootstrap CIs builds on these)."""

import numpy as np
from sklearn.metrics import roc_auc_score


def binary_metrics(labels, positive_scores, threshold: float = 0.5) -> dict:
    """Accuracy, AUC-ROC, sensitivity and specificity of scores for the positive class."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(positive_scores, dtype=float)
    predicted = (scores >= threshold).astype(int)
    positives, negatives = labels == 1, labels == 0
    return {
        "n": int(len(labels)),
        "accuracy": float((predicted == labels).mean()),
        "auc_roc": float(roc_auc_score(labels, scores)) if positives.any() and negatives.any() else float("nan"),
        "sensitivity": float(predicted[positives].mean()) if positives.any() else float("nan"),
        "specificity": float(1 - predicted[negatives].mean()) if negatives.any() else float("nan"),
    }
