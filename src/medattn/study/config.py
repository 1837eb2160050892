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
rope: {auc_roc: 0.02, ece: 0.005}                      # optional: ROPE per metric/score over the defaults
```

``seeds`` is a count (``seeds: 3`` = 0, 1, 2), a list of distinct seeds, or sequential seeds: a mapping
``{min: 3, max: 20, step: 1, until: decided, metric: auc_roc, split: test}`` (``max`` required, the others default to
these values) that runs seeds 0 .. min - 1, then ``step`` more per round until every variant's comparison with its
baseline on ``metric`` and ``split`` has a verdict, or ``max`` seeds ran (:mod:`medattn.study.sequential`).

``rope`` overrides the default region of practical equivalence of single metrics or explanation scores
(:mod:`medattn.study.measures` lists the defaults and the rule behind them). It only changes the analysis, so it
is left out of the study's digest: editing it never asks for ``--force`` or retrains anything (with sequential seeds
it changes the verdicts the rounds stop on: a re-run analyses the last round again and goes on if it is undecided).
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from medattn.config import DataSpec, ModelSpec, TrainSpec, read_yaml
from medattn.errors import ConfigError
from medattn.study.measures import check_ropes
from medattn.validation import check_values

SECTIONS = {"model": ModelSpec, "train": TrainSpec, "data": DataSpec}
KEYS = ("name", "data", "model", "train", "factors", "seeds", "baseline", "ood", "explain", "search", "rope")
ANALYSIS_ONLY = ("rope",)  # keys that change the report, not the runs: not part of the digest
UNTIL = ("decided",)  # sequential seeds' stopping rules
FIRST_ROUND = 3  # sequential seeds' default min: the fewest pairs a verdict needs (stats.paired.MIN_PAIRS_FOR_CI)


def factor_section(name: str) -> str:
    """The config section a factor belongs to (``attention`` -> model, ``augmentation`` -> train ...)."""
    for section, cls in SECTIONS.items():
        if name in {f.name for f in fields(cls)}:
            return section
    valid = sorted({f.name for cls in SECTIONS.values() for f in fields(cls)})
    raise ConfigError(f"factors: unknown factor '{name}'; a factor is a model, train or data field: {', '.join(valid)}")


@dataclass(frozen=True)
class SequentialSeeds:
    """Sequential seeds (``seeds: {min, max, step, until, metric, split}``): seeds 0 .. ``min`` - 1 first, then
    ``step`` more per round until ``until`` holds for ``metric`` on ``split`` or ``max`` seeds ran."""

    min: int
    max: int
    step: int = 1
    until: str = "decided"
    metric: str = "auc_roc"
    split: str = "test"

    def rounds(self) -> tuple[int, ...]:
        """The number of seeds after each round: min, min + step, ..., max (the last round may add fewer)."""
        return (*range(self.min, self.max, self.step), self.max)


@dataclass(frozen=True)
class StudyConfig:
    """A parsed study file (see the module docstring); with sequential seeds ``seeds`` holds every seed the study
    may run (0 .. max - 1) and ``sequential`` the rule that says how many it runs."""

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
    rope: dict = field(default_factory=dict)
    sequential: SequentialSeeds | None = None

    def to_dict(self) -> dict:
        """The study as a YAML mapping :func:`parse_study` reads back (``seeds``: the list, or the sequential
        mapping)."""
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sequential"}
        seeds = list(self.seeds) if self.sequential is None else asdict(self.sequential)
        return plain | {"seeds": seeds, "ood": list(self.ood)}

    def digest(self) -> str:
        """Hash of the study definition but its analysis-only keys (a changed file is detected)."""
        runs = {key: value for key, value in self.to_dict().items() if key not in ANALYSIS_ONLY}
        return hashlib.sha256(json.dumps(runs, sort_keys=True, default=list).encode()).hexdigest()


def parse_study(data: dict, source: str = "study") -> StudyConfig:
    """Validate a study mapping; every problem is one line naming ``source`` and the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of {', '.join(KEYS)}")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key '{unknown[0]}'; valid keys: {', '.join(KEYS)}")
    for key in ("data", "model", "train", "factors", "baseline", "explain", "search"):
        if not isinstance(data.get(key) or {}, dict):
            raise ConfigError(f"{source}: '{key}' must be a mapping")
    for name, section in SECTIONS.items():  # validated, but kept as written (the digest of existing studies stays)
        section.from_dict(data.get(name) or {}, f"{source} [{name}]")
    factors = data.get("factors") or {}
    _check_factors(factors, source)
    ood = _check_ood(data.get("ood") or (), source)
    seeds, sequential = _check_seeds(data.get("seeds", [0]), ood, source)
    from medattn.study.search import parse_search  # here: search.py imports this module

    parse_search(data.get("search") or {}, source, factors)
    _check_baseline(data.get("baseline") or {}, factors, source)
    check_values("StudyExplain", data.get("explain") or {}, f"{source} [explain]")
    kwargs = {k: data[k] for k in ("data", "model", "train", "baseline", "explain", "search") if data.get(k)}
    kwargs["rope"] = check_ropes({} if data.get("rope") is None else data["rope"], source)
    return StudyConfig(data.get("name") or Path(source).stem, factors=factors, seeds=tuple(seeds), ood=ood,
                       sequential=sequential, **kwargs)  # fmt: skip


def _check_factors(factors: dict, source: str) -> None:
    for name, values in factors.items():
        section = factor_section(name)
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: factors.{name} must be a non-empty list")
        for value in values:
            check_values(SECTIONS[section], {name: value}, f"{source} [factors]")


def _check_seeds(seeds, ood: tuple[dict, ...], source: str) -> tuple[tuple[int, ...], SequentialSeeds | None]:
    """A count (``seeds: 3`` = 0, 1, 2), a list of distinct seeds, or sequential seeds (then every seed it may run,
    0 .. max - 1, and its rule)."""
    if isinstance(seeds, dict):
        sequential = _check_sequential(seeds, ood, source)
        return tuple(range(sequential.max)), sequential
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = list(range(check_values("StudySeedCount", {"seeds": seeds}, source)["seeds"]))
    seeds = check_values("StudySeeds", {"seeds": seeds}, source)["seeds"]
    if not seeds or len(set(seeds)) < len(seeds):
        raise ConfigError(f"{source}: seeds must be a list of integers or a count, no seed twice; got {list(seeds)}")
    return seeds, None


def _check_sequential(data: dict, ood: tuple[dict, ...], source: str) -> SequentialSeeds:
    checked = check_values("StudySequentialSeeds", data, f"{source} [seeds]")
    if "max" not in checked:
        raise ConfigError(f"{source}: seeds.max is required for sequential seeds: the most seeds the study may run")
    rule = SequentialSeeds(**{"min": FIRST_ROUND} | checked)
    if rule.min > rule.max:
        raise ConfigError(f"{source}: seeds.min ({rule.min}) must be at most seeds.max ({rule.max})")
    splits = ["test", *(entry["name"] for entry in ood)]
    if rule.split not in splits:
        raise ConfigError(f"{source}: seeds.split '{rule.split}' is not a test split of the study: {', '.join(splits)}")
    return rule


def _check_baseline(baseline: dict, factors: dict, source: str) -> None:
    for name, value in baseline.items():
        if name not in factors:
            raise ConfigError(f"{source}: baseline.{name} is not one of the factors ({', '.join(factors) or 'none'})")
        if value not in factors[name]:
            choices = ", ".join(map(str, factors[name]))
            raise ConfigError(f"{source}: baseline.{name} '{value}' is not a value of factors.{name} ({choices})")


def _check_ood(entries, source: str) -> tuple[dict, ...]:
    """Extra test sets: a name that becomes file names (``medattn.io.check_file_name``), a path, optionally a
    recipe and a split; names are distinct."""
    if not isinstance(entries, list | tuple):
        raise ConfigError(f"{source}: ood must be a list of {{name, path}} entries")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "name" not in entry or "path" not in entry:
            raise ConfigError(f"{source}: every ood entry needs a name and a path")
        check_values("StudyOod", entry, f"{source} [ood {i + 1}]")
    names = [entry["name"] for entry in entries]
    if len(set(names)) < len(names):
        raise ConfigError(f"{source}: ood names must be distinct, got {', '.join(names)}")
    return tuple(entries)


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
