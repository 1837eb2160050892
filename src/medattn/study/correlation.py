"""``rho`` of the Bayesian correlated t-test: how correlated the paired differences of a study's seeds are.

Nadeau & Bengio (2003), "Inference for the generalization error", Mach. Learn. 52:239-281: differences measured on
repeated random train/test splits are correlated because the training sets overlap; their variance is corrected by
``n_test / n_train``. In the correlated t-test's parameterisation (Corani & Benavoli 2015;
:func:`medattn.study.stats.correlated_t_test`) that ratio is ``rho / (1 - rho)``, so
``rho = n_test / (n_test + n_train)``. Validation images are in neither set: with ``val_fraction = test_fraction
= 0.15`` and ``regime: 0.1``, ``n_train`` is 7 % of the data and rho = 0.15 / 0.22 = 0.68, not the test fraction
0.15.

Per pair of variant and baseline, ``n_test`` and ``n_train`` are the means over both arms' runs (all seeds): a pair's
runs share their regime and split fractions, so their sizes differ by a few images at most (group-aware splitting);
the mean keeps one rho per pair. When every seed is tested on the same images (one fixed split) the runs differ by
seed only and rho = 0.
"""

import numpy as np

from medattn.config import DataSpec
from medattn.study.results import Predictions, StudyData, StudyRun

SAME_IMAGES = "every seed is tested on the same images, so runs differ by their seed only"


def split_correlation(
    data: StudyData, predictions: dict[str, Predictions | None]
) -> tuple[dict[tuple[str, str], float], str]:
    """``rho`` of every compared (variant, baseline) pair for the Bayesian correlated t-test, and why (see the
    module docstring)."""
    pairs = [*data.baselines.items(), *data.controls.items()]
    test_sets: dict[int, frozenset] = {}
    for run in data.runs:
        if predictions.get(run.key) is not None:
            test_sets.setdefault(run.seed, frozenset(predictions[run.key].paths))
    if len(test_sets) >= 2 and len(set(test_sets.values())) == 1:
        return dict.fromkeys(pairs, 0.0), f"{SAME_IMAGES}: rho = 0"
    sizes = {run.key: run_split_sizes(run) for run in data.runs}
    rho = {}
    for variant, baseline in pairs:
        found = [sizes[run.key] for run in data.runs if run.variant in (variant, baseline)]
        n_train, n_test = (float(np.mean([size[i] for size in found])) for i in (0, 1)) if found else (1.0, 0.0)
        rho[(variant, baseline)] = n_test / (n_test + n_train)
    how = "each seed draws its own split" if len(test_sets) >= 2 else "fewer than 2 seeds with test predictions"
    reason = (
        f"{how}: rho = n_test / (n_test + n_train) of each pair's runs (means over both arms), so that "
        "rho / (1 - rho) is Nadeau and Bengio's (2003) n_test / n_train; validation images count in neither"
    )
    estimated = sum(not size[2] for size in sizes.values())
    if estimated:
        reason += (
            f"; {estimated} run(s) did not record their split sizes: estimated from their test size, data fractions "
            "and regime"
        )
    return rho, reason


def run_split_sizes(run: StudyRun) -> tuple[float, float, bool]:
    """(n_train, n_test, recorded) of a run: the ``split_sizes`` its test metrics recorded, else an estimate.

    The estimate (runs written before split sizes were recorded): ``n_test`` from the test metrics' ``n`` and
    ``n_train = n_test * regime * (1 - val_fraction - test_fraction) / test_fraction`` from the run's data section.
    """
    test = run.metrics.get("test") or {}
    recorded = test.get("split_sizes") or {}
    if all(isinstance(recorded.get(split), int) and recorded[split] > 0 for split in ("train", "test")):
        return float(recorded["train"]), float(recorded["test"]), True
    section = {"val_fraction": DataSpec.val_fraction, "test_fraction": DataSpec.test_fraction, "regime": 1.0}
    section |= {k: v for k, v in (run.config.get("data") or {}).items() if k in section and v is not None}
    test_fraction = float(section["test_fraction"]) or 1.0
    n_test = float(test["n"]) if isinstance(test.get("n"), int) else test_fraction
    train_share = max(0.0, 1.0 - float(section["val_fraction"]) - float(section["test_fraction"]))
    return n_test * float(section["regime"]) * train_share / test_fraction, n_test, False
