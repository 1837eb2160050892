"""The hyper-parameter search stage of a study (Piater et al. 2024, Sec. 3.1 and Table 5).

Seed 004 searched learning rate x weight decay for every model on 2 random data splits, kept per
model the setting with the best validation performance, then trained each model with its setting
on 10 splits. A study says the same with a ``search`` mapping:

```yaml
factors: {backbone: [resnet18, efficientnet_b0], attention: [none, ga]}
seeds: 10                                   # the final runs
search:
  factors: {lr: [0.01, 0.001], weight_decay: [0.0, 0.0001]}   # model/train/data fields, crossed
  seeds: [0, 1]                             # the search runs (default [0, 1])
  metric: val_balanced_accuracy             # a val_* column of history.csv (default val_auc_roc)
  mode: max                                 # max | min (default: min for val_loss, else max)
```

The runner runs ``search_cells``, scores each finished run with ``run_score``, picks with
``best_settings`` and runs ``final_cells``. A setting's score is the mean over its search seeds of
each run's best epoch (runs that failed or have no finite value are left out of the mean); ties go
to the setting that comes first in the YAML's order. Final cells keep the study's factors (so
variants pair with their baseline whatever lr each chose); their configs, hence their keys, carry
the chosen settings.
"""

import csv
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from medattn.errors import ConfigError
from medattn.study.config import StudyConfig, factor_section
from medattn.study.grid import Cell, cell_config, config_key, expand_grid
from medattn.train.rundir import HISTORY, HISTORY_FIELDS

SEARCH_KEYS = ("factors", "seeds", "metric", "mode")
METRICS = tuple(name for name in HISTORY_FIELDS if name.startswith("val_"))
MODES = ("max", "min")


@dataclass(frozen=True)
class Search:
    """A validated ``search`` mapping with its defaults filled in."""

    factors: dict
    seeds: tuple[int, ...] = (0, 1)
    metric: str = "val_auc_roc"
    mode: str = "max"


def parse_search(data: dict, source: str = "study", study_factors: Iterable[str] = ()) -> Search | None:
    """Validate a study's ``search`` mapping (None: the study has no search stage).

    Raises:
        ConfigError: one line naming ``source`` and the ``search.<key>`` at fault.
    """
    if not data:
        return None
    unknown = sorted(set(data) - set(SEARCH_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key 'search.{unknown[0]}'; valid keys: {', '.join(SEARCH_KEYS)}")
    factors = _search_factors(data.get("factors"), source, set(study_factors))
    seeds = _search_seeds(data.get("seeds", [0, 1]), source)
    metric = _one_of(source, "metric", data.get("metric", "val_auc_roc"), METRICS)
    mode = _one_of(source, "mode", data.get("mode", "min" if metric.endswith("loss") else "max"), MODES)
    return Search(factors, seeds, metric, mode)


def _one_of(source: str, key: str, value, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ConfigError(f"{source}: search.{key} '{value}' is not one of: {', '.join(valid)}")
    return value


def _search_factors(factors, source: str, study_factors: set[str]) -> dict:
    if not isinstance(factors, dict) or not factors:
        raise ConfigError(f"{source}: search.factors must be a non-empty mapping of field -> list of values")
    for name, values in factors.items():
        try:
            factor_section(name)
        except ConfigError as error:
            raise ConfigError(f"{source}: search.{error}") from None
        if name == "seed" or name in study_factors:
            what = "search.seeds" if name == "seed" else f"factors.{name}"
            raise ConfigError(f"{source}: search.factors.{name} is already set by {what}")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: search.factors.{name} must be a non-empty list")
    return factors


def _search_seeds(seeds, source: str) -> tuple[int, ...]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ConfigError(f"{source}: search.seeds must be a list of integers or a count")
    return tuple(seeds)


def study_search(study: StudyConfig) -> Search:
    """The study's search stage; a study without one raises a ConfigError."""
    search = parse_search(study.search, study.name, study.factors)
    if search is None:
        raise ConfigError(f"{study.name}: the study has no 'search' stage")
    return search


def variant_of(study: StudyConfig, cell: Cell) -> tuple:
    """The cell's values of the study's factors, in the study's factor order."""
    return tuple(cell.factors[name] for name in study.factors)


def search_cells(study: StudyConfig) -> list[Cell]:
    """Every variant x every search setting x every search seed, expanded as the study grid is."""
    search = study_search(study)
    return expand_grid(replace(study, factors={**study.factors, **search.factors}, seeds=search.seeds))


def run_score(run_dir: str | Path, metric: str, mode: str) -> float:
    """The best value of ``metric`` over the epochs of the run's history.csv (NaN: no finite value)."""
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        raise ConfigError(f"{path}: no training history to score")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if metric not in (reader.fieldnames or ()):
            raise ConfigError(f"{path}: no column '{metric}'; columns: {', '.join(reader.fieldnames or ())}")
        values = [float(row[metric]) for row in reader if row[metric]]
    finite = [v for v in values if math.isfinite(v)]
    return (max if _one_of(str(path), "mode", mode, MODES) == "max" else min)(finite, default=math.nan)


def best_settings(study: StudyConfig, cells: list[Cell], scores: dict[str, float]) -> dict[tuple, dict]:
    """Per variant, the search setting with the best mean score over the search seeds.

    Args:
        study: the study (its factors name the variants, its search the settings and the mode).
        cells: the search cells (``search_cells(study)``).
        scores: run key -> ``run_score`` of the runs that finished; missing keys count as failed.

    Returns:
        variant tuple (``variant_of``) -> ``{search factor: chosen value}``.

    Raises:
        ConfigError: a variant none of whose search runs has a score, naming the variant.
    """
    search = study_search(study)
    settings = list(itertools.product(*search.factors.values()))  # YAML order; values may be lists
    collected: dict[tuple, dict[int, list[float]]] = {}
    for cell in cells:
        setting = settings.index(tuple(cell.factors[name] for name in search.factors))
        runs = collected.setdefault(variant_of(study, cell), {}).setdefault(setting, [])
        if math.isfinite(scores.get(cell.key, math.nan)):
            runs.append(scores[cell.key])
    chosen = {}
    for variant, runs in collected.items():
        chosen[variant] = dict(zip(search.factors, settings[_best(study, search, variant, runs)], strict=True))
    return chosen


def _best(study: StudyConfig, search: Search, variant: tuple, runs: dict[int, list[float]]) -> int:
    """The index of one variant's best setting; on a tie the setting listed first in the YAML."""
    means = {setting: sum(scores) / len(scores) for setting, scores in sorted(runs.items()) if scores}
    if not means:
        described = ", ".join(f"{k}={v}" for k, v in zip(study.factors, variant, strict=True)) or "the study"
        raise ConfigError(f"search: every search run of ({described}) failed; no {', '.join(search.factors)} chosen")
    return (max if search.mode == "max" else min)(means, key=means.__getitem__)


def final_cells(study: StudyConfig, chosen: dict[tuple, dict]) -> list[Cell]:
    """The study grid (``study.seeds``) with each variant's chosen search setting in its config."""
    return [_with_setting(study, cell, chosen) for cell in expand_grid(study)]


def _with_setting(study: StudyConfig, cell: Cell, chosen: dict[tuple, dict]) -> Cell:
    variant = variant_of(study, cell)
    if variant not in chosen:
        raise ConfigError(f"search: no chosen setting for the variant {cell.variant}")
    config = cell_config(study, {**cell.factors, **chosen[variant]})
    return Cell(cell.factors, config, config_key(config))
