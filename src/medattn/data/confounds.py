"""Acquisition shortcuts: stored file properties and simple image statistics that predict the label.

A model can learn how an image was stored or acquired instead of what it shows: in the COVID-CT
release every RGBA file is COVID and every JPEG non-COVID; in the brain-MRI release almost every
256 x 256 training file is a tumour. The audit looks for such confounds without a model:

- **Cross-tabulation**: every categorical property (format, mode, channels, bit depth, exact
  size) against the label per split, and every numeric one (width, height, aspect ratio, bytes
  per pixel, brightness, contrast, dark-border fraction; see ``scan.image_statistics``) as
  per-class quartiles per split.
- **One property alone**: a value of a categorical property is a finding when it holds at least
  ``MIN_FILES`` files, at least ``PURITY`` of them of one class, and that share is improbable under
  the class's overall share (one-sided binomial tail below ``ALPHA`` divided by the number of
  value x class tests, i.e. Bonferroni). A numeric property's AUC is the rank AUC of its raw value
  against each class (one-vs-rest, macro-averaged over classes, each turned to the direction above
  0.5); for two classes it is the plain two-class AUC.
- **All properties together**: a gradient-boosted tree classifier (scikit-learn's
  ``HistGradientBoostingClassifier``, fixed seed) on every property: its ``FOLDS``-fold
  stratified cross-validated AUC within the training split, and the AUC of the same classifier
  fitted on the training split and applied to the test split. A shortcut the test split shares
  inflates the test score of a model that learns it; one it does not share (brain MRI) makes
  that score collapse. The classifier's AUC at or above ``AUC_FINDING`` is a finding, naming the
  properties with the highest single-property AUC.

Calibration (tests): with the labels permuted the classifier stays near chance and no finding is
raised; the synthetic benchmark without its shortcut raises none; both the brain-MRI and the
COVID-CT release are flagged.
"""

from collections import Counter

import numpy as np
import pandas as pd
from scipy.stats import binom
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from medattn.data.records import DataSource
from medattn.data.scan import FileFacts

CATEGORICAL = ("format", "mode", "channels", "bit_depth", "size")
NUMERIC = ("width", "height", "aspect_ratio", "bytes_per_pixel", "brightness", "contrast", "dark_border")
MIN_FILES = 10
PURITY = 0.95
ALPHA = 1e-3
AUC_FINDING = 0.8  # PH2 (brightness partly reflects the lesion) reaches 0.76; both confounded releases 0.98+
FOLDS = 5
TOP_VALUES = 8  # values per categorical property listed in the cross-tabulation (the rest: "other")


def property_table(source: DataSource, facts: dict[str, FileFacts]) -> pd.DataFrame:
    """One row per readable record: split, class and every property."""
    rows = []
    for record in source.records:
        fact = facts.get(record.path)
        if fact is None or fact.problem is not None:
            continue
        rows.append({
            "split": record.split, "label": source.classes[record.label], "format": fact.format,
            "mode": fact.mode, "channels": str(fact.channels), "bit_depth": str(fact.bits or "unknown"),
            "size": f"{fact.width}x{fact.height}", "width": fact.width, "height": fact.height,
            "aspect_ratio": fact.width / fact.height, "bytes_per_pixel": fact.file_bytes / (fact.width * fact.height),
            "brightness": fact.brightness, "contrast": fact.contrast, "dark_border": fact.dark_border,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["split", "label", *CATEGORICAL, *NUMERIC])


def confound_section(source: DataSource, facts: dict[str, FileFacts]) -> dict:
    """The audit's ``confounds`` entry: cross-tabulation, single-property AUCs, the classifier and findings."""
    table = property_table(source, facts)
    if table.empty or table["label"].nunique() < 2:
        return {"crosstab": {}, "property_auc": {}, "classifier": None, "findings": []}
    property_auc = {name: _numeric_auc(table[name], table["label"]) for name in NUMERIC}
    classifier = _classifier(table)
    findings = _value_findings(table)
    if classifier and classifier["cv_auc"] >= AUC_FINDING:
        findings.append(_classifier_finding(classifier, property_auc))
    return {
        "crosstab": _crosstab(table),
        "property_auc": property_auc,
        "classifier": classifier,
        "findings": findings,
    }


def _crosstab(table: pd.DataFrame) -> dict:
    """Categorical ``{property: {split: {value: {class: count}}}}``; numeric ``{split: {class: [q1, median, q3]}}``."""
    out: dict = {}
    splits = table["split"].fillna("unsplit")
    for name in CATEGORICAL:
        top = set(Counter(table[name]).most_common(TOP_VALUES))
        keep = {value for value, _ in top}
        values = table[name].where(table[name].isin(keep), "other")
        counts = pd.crosstab([splits, values], table["label"])
        out[name] = {
            split: {value: {k: int(v) for k, v in row.items() if v} for value, row in part.droplevel(0).iterrows()}
            for split, part in counts.groupby(level=0)
        }
    for name in NUMERIC:
        quartiles = table.groupby([splits, table["label"]])[name].quantile([0.25, 0.5, 0.75]).unstack()
        out[name] = {
            split: {label: [round(float(q), 4) for q in row] for label, row in part.droplevel(0).iterrows()}
            for split, part in quartiles.groupby(level=0)
        }
    return out


def _value_findings(table: pd.DataFrame) -> list[str]:
    """A categorical value that (almost) determines the class, beyond what the class's share explains."""
    shares = table["label"].value_counts(normalize=True)
    tests = sum(table[name].nunique() for name in CATEGORICAL) * len(shares)
    lines = []
    for name in CATEGORICAL:
        for value, labels in table.groupby(name)["label"]:
            n = len(labels)
            label, k = Counter(labels).most_common(1)[0]
            if n < MIN_FILES or k / n < PURITY:
                continue
            if binom.sf(k - 1, n, shares[label]) * tests < ALPHA:
                lines.append(
                    f"{name.replace('_', ' ')} {value}: {k} of {n} files are {label} ({_by_split(table, name, value)})"
                )
    return lines


def _by_split(table: pd.DataFrame, name: str, value) -> str:
    """How the files with ``value`` spread over the splits, e.g. ``train 150, val 20, test 32``."""
    counts = table.loc[table[name] == value, "split"].fillna("unsplit").value_counts()
    return ", ".join(f"{split} {count}" for split, count in counts.items())


def _numeric_auc(values: pd.Series, labels: pd.Series) -> float | None:
    """Rank AUC of one property against the label (macro one-vs-rest for more classes), direction-free."""
    classes = sorted(labels.unique())
    if values.nunique() < 2:
        return 0.5
    aucs = []
    for positive in classes[1:] if len(classes) == 2 else classes:
        auc = roc_auc_score(labels == positive, values)
        aucs.append(max(auc, 1 - auc))
    return round(float(np.mean(aucs)), 4)


def _features(table: pd.DataFrame) -> pd.DataFrame:
    return pd.get_dummies(table[list(CATEGORICAL)], dtype=float).join(table[list(NUMERIC)])


def _auc(labels: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> float:
    if len(classes) == 2:
        return float(roc_auc_score(labels == classes[1], probabilities[:, 1]))
    return float(roc_auc_score(labels, probabilities, multi_class="ovr", labels=classes))


def _classifier(table: pd.DataFrame) -> dict | None:
    """Cross-validated AUC within the training split; AUC on the test split when fitted on the training split."""
    with threadpool_limits(1):  # small fits: OpenMP threads only spin (6x slower on a busy 2-core machine)
        return _fit_classifier(table)


def _fit_classifier(table: pd.DataFrame) -> dict | None:
    features, labels = _features(table), table["label"].to_numpy()
    train = (table["split"].isna() | (table["split"] == "train")).to_numpy()  # no official split: all is training
    classes = np.unique(labels[train])
    smallest = min(Counter(labels[train]).values()) if train.any() else 0
    if len(classes) < 2 or smallest < FOLDS:
        return None
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    predicted = cross_val_predict(model, features[train], labels[train], cv=folds, method="predict_proba")
    result = {"model": "HistGradientBoostingClassifier", "folds": FOLDS, "n_train": int(train.sum()),
              "cv_auc": round(_auc(labels[train], predicted, classes), 4), "test_auc": None, "n_test": 0}  # fmt: skip
    test = (table["split"] == "test").to_numpy()
    if test.any() and set(np.unique(labels[test])) == set(classes):
        fitted = model.fit(features[train], labels[train])
        result.update(test_auc=round(_auc(labels[test], fitted.predict_proba(features[test]), classes), 4),
                      n_test=int(test.sum()))  # fmt: skip
    return result


def _classifier_finding(classifier: dict, property_auc: dict) -> str:
    top = sorted(((auc, name) for name, auc in property_auc.items() if auc is not None), reverse=True)[:3]
    named = ", ".join(f"{name.replace('_', ' ')} (AUC {auc:.2f} alone)" for auc, name in top)
    test = (
        f"; fitted on train, AUC {classifier['test_auc']:.2f} on the test split"
        if classifier["test_auc"] is not None
        else ""
    )
    return (
        f"stored file properties and image statistics alone predict the label: AUC {classifier['cv_auc']:.2f} "
        f"within training ({classifier['folds']}-fold cross-validation){test}; a model can learn this shortcut. "
        f"Strongest single properties: {named}"
    )
