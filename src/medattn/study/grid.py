"""The study's grid: every combination of factor values x seed, as a fully resolved run config.

A cell is keyed by the hash of its resolved RunConfig, so re-running a study finds its finished
runs, and a changed setting (another learning rate, a new preset default) makes a new key instead of
mixing with old results.
"""

import hashlib
import itertools
import json
from dataclasses import dataclass

from medattn.config import RunConfig
from medattn.errors import ConfigError
from medattn.models.backbones import get_backbone
from medattn.models.factory import plan_attention, resolve_spec
from medattn.study.config import StudyConfig, factor_section
from medattn.train.protocols import build_run_config


@dataclass(frozen=True)
class Cell:
    """One run of the grid: its factor values (seed included), resolved config and key."""

    factors: dict
    config: RunConfig
    key: str

    @property
    def variant(self) -> dict:
        """The factor values without the seed: runs of one variant differ only in the seed."""
        return {k: v for k, v in self.factors.items() if k != "seed"}


def config_key(config: RunConfig) -> str:
    """sha256 of the canonical JSON of a resolved config (first 16 hex digits)."""
    text = json.dumps(config.to_dict(), sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cell_config(study: StudyConfig, factors: dict) -> RunConfig:
    """The resolved RunConfig of one combination: base sections, factor values on top, preset applied."""
    sections = {name: dict(getattr(study, name)) for name in ("data", "model", "train")}
    for name, value in factors.items():
        section = "train" if name == "seed" else factor_section(name)
        sections[section][name] = value
    try:
        config = build_run_config(sections)
        spec, _ = resolve_spec(config.model)
        plan_attention(spec, get_backbone(spec.backbone))  # unknown mechanisms fail here, not in every run
        return config
    except ConfigError as error:
        described = ", ".join(f"{k}={v}" for k, v in factors.items())
        raise ConfigError(f"cell ({described}): {error}") from None


def expand_grid(study: StudyConfig) -> list[Cell]:
    """All cells, variants in factor order, seeds innermost; duplicate configs are refused."""
    names = list(study.factors)
    cells, seen = [], {}
    for values in itertools.product(*(study.factors[n] for n in names)):
        for seed in study.seeds:
            factors = {**dict(zip(names, values, strict=True)), "seed": seed}
            config = cell_config(study, factors)
            key = config_key(config)
            if key in seen:
                raise ConfigError(f"cells {seen[key]} and {factors} resolve to the same run; remove one factor value")
            seen[key] = factors
            cells.append(Cell(factors, config, key))
    return cells


def baseline_of(cell: Cell, cells: list[Cell], baseline: dict) -> Cell | None:
    """The cell with the baseline's factor values and everything else (seed included) equal."""
    if all(cell.factors.get(k) == v for k, v in baseline.items()):
        return None
    wanted = {**cell.factors, **baseline}
    return next((other for other in cells if other.factors == wanted), None)
