"""Which features does a model use? Conditional-independence tests of its output and each feature, given the label.

Seed 004 (section 3.3, after Reimers et al. 2020/2021 and Penzel et al. 2022): a model *uses* a
feature F when its output Y_hat is dependent on F given the true label Y, i.e. H0: Y_hat ⟂ F | Y
is rejected. Conditioning on the label removes the dependence that any good classifier has with
every feature that differs between the classes; what is left is dependence the label does not
explain, which the model can only have by responding to F (or to something that varies with F
within a class). Three tests are run (``medattn.features.citests``: cHSIC, RCoT, CMIknn) and the
paper's decision is the majority at p < alpha (alpha = 0.01).

Many models x features x tests are many hypotheses, so beside the paper's raw majority decision
this module reports a Holm-adjusted one: for each test, the p-values of all model x feature pairs
of the analysis form one family (``medattn.study.stats.holm``), and the Holm decision is the
majority of the three tests' adjusted rejections.

The model output is the logit of the positive class for a binary task (``log p1 - log p0``) and
the log-ratios ``log p_k - log p_0`` (k >= 1) for K classes, computed from the probabilities of
the run's ``predictions-<split>.csv`` (clipped to [1e-7, 1 - 1e-7]). Rows whose feature value is
missing (for example lesion features of images without a lesion) are left out of that feature's
tests; a feature with fewer than ``MIN_ROWS`` usable rows, or constant on them, is reported as
not tested with the reason.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from medattn.errors import ConfigError
from medattn.features.citests import CI_TESTS, encode_feature
from medattn.study.results import Predictions
from medattn.study.stats import holm

ALPHA = 0.01
PERMUTATION_TESTS = ("chsic", "cmiknn")  # p-values from permutations (RCoT: from its null distribution)
MIN_ROWS = 20
CLIP = 1e-7


@dataclass(frozen=True)
class ModelOutputs:
    """One model's predictions on the analysed images.

    Attributes:
        name: how tables name the model (run folder name, or variant and seed in a study).
        run: the run folder.
        predictions: paths, classes, label indices and probabilities.
    """

    name: str
    run: str
    predictions: Predictions

    def output(self) -> np.ndarray:
        """[N, K-1] log-ratios of the class probabilities against class 0 (the logit when K = 2)."""
        log_p = np.log(np.clip(self.predictions.probabilities, CLIP, 1 - CLIP))
        return log_p[:, 1:] - log_p[:, :1]


def feature_usage(
    models: Sequence[ModelOutputs],
    features: pd.DataFrame,
    *,
    tests: Sequence[str] = tuple(CI_TESTS),
    alpha: float = ALPHA,
    max_n: int = 500,
    permutations: int = 500,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Test every model against every feature column of ``features`` (indexed by resolved image path).

    Returns a JSON-ready dict: settings, ``models``, ``features``, and ``rows`` (one per model x
    feature: n, the p-value of each test, its Holm-adjusted p-value, the raw majority decision
    ``uses`` and the Holm one ``uses_holm``; ``None`` with a ``reason`` where the feature was not tested).
    """
    unknown = [t for t in tests if t not in CI_TESTS]
    if unknown or not tests:
        raise ConfigError(f"--tests: unknown test '{(unknown or [''])[0]}'; choose from {', '.join(CI_TESTS)}")
    if not 0 < alpha < 1:
        raise ConfigError(f"--alpha: {alpha} is not in (0, 1)")
    columns = [c for c in features.columns if c != "path"]
    rows, done, total = [], 0, len(models) * len(columns)
    for model in models:
        aligned = _align(model, features)
        for column in columns:
            rows.append(_test_pair(model, aligned, column, tests, max_n, permutations, seed))
            done += 1
            if progress:
                progress(done, total)
    _decide(rows, tests, alpha)
    return {
        "alpha": alpha, "tests": list(tests), "max_n": max_n, "permutations": permutations, "seed": seed,
        "models": [{"name": m.name, "run": m.run} for m in models], "features": columns, "rows": rows,
        "notes": _permutation_floor(rows, tests, alpha, permutations),
    }  # fmt: skip


def _permutation_floor(rows: list[dict], tests: Sequence[str], alpha: float, permutations: int) -> list[str]:
    """A permutation p-value is at least 1/(B+1), so Holm over m pairs cannot reject unless m/(B+1) < alpha."""
    pairs = sum("reason" not in row for row in rows)
    capped = [t for t in tests if t in PERMUTATION_TESTS]
    if not capped or pairs / (permutations + 1) < alpha:
        return []
    needed = math.ceil(pairs / alpha)
    return [
        f"{' and '.join(capped)} use {permutations} permutations, so their p-values are at least "
        f"1/{permutations + 1}: after Holm over {pairs} pairs they cannot fall below {alpha:g}; "
        f"use --permutations {needed} or more for their Holm decisions to be able to say 'dependent'"
    ]


def _align(model: ModelOutputs, features: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The feature rows of the model's images, its outputs and labels, in the same order."""
    paths = [str(Path(p).resolve()) for p in model.predictions.paths]
    found = [p in features.index for p in paths]
    if not any(found):
        raise ConfigError(
            f"{model.run}: none of its {len(paths)} predicted images is in the features table "
            f"(e.g. {paths[0] if paths else '-'}); check --data and the features' path column"
        )
    keep = np.flatnonzero(found)
    table = features.loc[[paths[i] for i in keep]]
    return table, model.output()[keep], model.predictions.labels[keep]


def _test_pair(model, aligned, column: str, tests, max_n: int, permutations: int, seed: int) -> dict:
    table, output, labels = aligned
    values = table[column]
    usable = values.notna().to_numpy()
    row = {"model": model.name, "run": model.run, "feature": column, "n": int(usable.sum()), "p": dict.fromkeys(tests)}
    if usable.sum() < MIN_ROWS:
        return row | {"reason": f"{usable.sum()} images with a value (fewer than {MIN_ROWS})"}
    try:
        encoded = encode_feature(values[usable])  # a Series: a category dtype stays categorical
    except ValueError as error:
        return row | {"reason": str(error)}
    x, z = output[usable], labels[usable]
    for name in tests:
        options = {"max_n": max_n, "seed": seed} | ({} if name == "rcot" else {"permutations": permutations})
        row["p"][name] = float(CI_TESTS[name](x, encoded, z, **options).p_value)
    return row


def _decide(rows: list[dict], tests: Sequence[str], alpha: float) -> None:
    """Add the Holm-adjusted p-values (one family per test) and the two majority decisions."""
    for name in tests:
        raw = [math.nan if row["p"][name] is None else row["p"][name] for row in rows]
        for row, adjusted in zip(rows, holm(raw) if rows else [], strict=True):
            row.setdefault("p_holm", {})[name] = None if math.isnan(adjusted) else float(adjusted)
    for row in rows:
        row.setdefault("p_holm", {})
        tested = "reason" not in row
        row["uses"] = _majority(row["p"], alpha) if tested else None
        row["uses_holm"] = _majority(row["p_holm"], alpha) if tested else None


def _majority(p_values: dict, alpha: float) -> bool:
    """More than half of the tests reject independence at ``alpha``."""
    rejections = sum(p < alpha for p in p_values.values())
    return rejections * 2 > len(p_values)
