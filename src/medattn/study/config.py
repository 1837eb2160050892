"""A study: one YAML naming the data, the factors to cross, the seeds, the protocol, the tests, the
explanations. Read top to bottom, validated with one-line errors naming the key.

```yaml
name: quickstart
data: {synthetic_n: 600, synthetic_shortcut: 0.9}      # DataSpec fields (path/recipe for real data)
model: {backbone: resnet18, preset: rao2023, image_size: 64}
train: {epochs: 6}                                     # TrainSpec fields over the preset's protocol
factors:                                               # crossed; each name is a model/train/data field
  attention: [none, se, cbam, gc]
seeds: [0, 1, 2]                                       # training seed = split seed: paired arms
baseline: {attention: none}                            # every other variant is compared with it
ood:                                                   # extra test sets, evaluated after training
  - {name: ood_test, path: /data/other-hospital, recipe: brain-tumor-mri}
explain: {methods: [gradcam, saliency], n: 4, scores: [localisation, faithfulness]}
```
"""

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from medattn.config import DataSpec, ModelSpec, TrainSpec, read_yaml
from medattn.errors import ConfigError

SECTIONS = {"model": ModelSpec, "train": TrainSpec, "data": DataSpec}
KEYS = ("name", "data", "model", "train", "factors", "seeds", "baseline", "ood", "explain", "search")


def factor_section(name: str) -> str:
    """The config section a factor belongs to (``attention`` -> model, ``augmentation`` -> train ...)."""
    for section, cls in SECTIONS.items():
        if name in {f.name for f in fields(cls)}:
            return section
    valid = sorted({f.name for cls in SECTIONS.values() for f in fields(cls)})
    raise ConfigError(f"factors: unknown factor '{name}'; a factor is a model, train or data field: {', '.join(valid)}")


@dataclass(frozen=True)
class StudyConfig:
    """A parsed study file (see the module docstring)."""

    name: str
    data: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    factors: dict = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    baseline: dict = field(default_factory=lambda: {"attention": "none"})
    ood: tuple[dict, ...] = ()
    explain: dict = field(default_factory=dict)
    search: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def digest(self) -> str:
        """Hash of the whole study definition (a changed file is detected)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=list).encode()).hexdigest()


def parse_study(data: dict, source: str = "study") -> StudyConfig:
    """Validate a study mapping; every problem is one line naming ``source`` and the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of {', '.join(KEYS)}")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key '{unknown[0]}'; valid keys: {', '.join(KEYS)}")
    factors = data.get("factors") or {}
    for name, values in factors.items():
        factor_section(name)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: factors.{name} must be a non-empty list")
    seeds = data.get("seeds", [0])
    if isinstance(seeds, int):
        seeds = list(range(seeds))
    if not seeds or not all(isinstance(s, int) for s in seeds):
        raise ConfigError(f"{source}: seeds must be a list of integers or a count")
    for key in ("data", "model", "train", "baseline", "explain", "search"):
        if not isinstance(data.get(key) or {}, dict):
            raise ConfigError(f"{source}: '{key}' must be a mapping")
    from medattn.study.search import parse_search  # here: search.py imports this module

    parse_search(data.get("search") or {}, source, factors)
    for name in data.get("baseline") or {}:
        if name not in factors:
            raise ConfigError(f"{source}: baseline.{name} is not one of the factors ({', '.join(factors) or 'none'})")
    ood = tuple(data.get("ood") or ())
    for entry in ood:
        if not isinstance(entry, dict) or "name" not in entry or "path" not in entry:
            raise ConfigError(f"{source}: every ood entry needs a name and a path")
    kwargs = {k: data[k] for k in ("data", "model", "train", "baseline", "explain", "search") if data.get(k)}
    return StudyConfig(data.get("name") or Path(source).stem, factors=factors, seeds=tuple(seeds), ood=ood, **kwargs)


STUDY_PRESETS = Path(__file__).parents[1] / "presets" / "studies"


def study_presets() -> list[str]:
    """Names of the shipped studies (``quickstart`` and one per seed paper)."""
    return sorted(p.stem for p in STUDY_PRESETS.glob("*.yaml"))


def read_study(path: str | Path) -> StudyConfig:
    """Read and validate a study YAML file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: study file not found")
    return parse_study(read_yaml(path), str(path))


def load_study(name_or_path: str, data: str | None = None) -> StudyConfig:
    """A study file, or a shipped study by name; ``data`` replaces the data path (a preset on your data)."""
    path = Path(name_or_path)
    if not path.is_file() and name_or_path in study_presets():
        path = STUDY_PRESETS / f"{name_or_path}.yaml"
    elif not path.is_file():
        raise ConfigError(f"{name_or_path}: study file not found; shipped studies: {', '.join(study_presets())}")
    study = read_study(path)
    if data is None:
        return study
    section = {k: v for k, v in study.data.items() if not k.startswith("synthetic")} | {"path": data}
    return replace(study, data=section)
