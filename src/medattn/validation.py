"""One validation layer for every user-given setting: a rule per field (type, range or valid choices), checked
once, with a one-line ConfigError that names the file (or option) and the key.

The specs of :mod:`medattn.config` check themselves with :func:`check_spec` when made; a partial config (a
``--config`` file, a study's sections, command-line flags) is checked key by key with :func:`check_sections` /
:func:`check_values` before it is merged, so a message names where the value came from; options that are not spec
fields are checked with :func:`check_options`. Upper bounds keep a typo from exhausting memory or disk.
"""

import importlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace

from medattn.errors import ConfigError
from medattn.io import NAME_RULE, name_problem

MAX_IMAGE_SIZE = 1024  # pixels a side: larger inputs exhaust memory long before they help a classifier
MAX_SYNTHETIC_BYTES = 8 * 2**30  # decoded synthetic benchmark (images x size^2 x 3 bytes), written to disk
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_SEEDS = 1000  # seeds of one study: each is a training run per variant
FLAG_NAMES = {"path": "--data", "synthetic_shortcut": "--shortcut"}  # fields whose flag is not --<field-name>
_NAMING: ContextVar[tuple[str | None, bool]] = ContextVar("medattn_config_naming", default=(None, True))


@dataclass(frozen=True)
class Rule:
    """What one field accepts.

    Attributes:
        kind: ``int``, ``float``, ``bool``, ``str``, ``choice``, ``mapping``, ``class_weights``, or a list of
            ``ints``, ``floats``, ``strs`` (a tuple once checked).
        low, high: the range, inclusive unless ``open_low`` / ``open_high``.
        optional: None ("not set") is accepted.
        choices: the valid strings, or ``"module:NAME"`` of a registry elsewhere (imported when first needed).
        most: the longest list accepted.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    optional: bool = False
    choices: tuple[str, ...] | str = ()
    open_low: bool = False
    open_high: bool = False
    most: int = 100

    def expected(self) -> str:
        """The accepted values in words, e.g. ``an integer from 1 to 10000``."""
        if self.kind in ("int", "float"):
            low, high = _show(self.low), _show(self.high)
            if self.kind == "int":
                return f"an integer from {low} to {high}"
            return f"a number in {'(['[not self.open_low]}{low}, {high}{')]'[not self.open_high]}"
        words = {"bool": "true or false", "str": "a non-empty string without NUL bytes", "mapping": "a mapping",
                 "name": NAME_RULE,
                 "choice": f"one of: {', '.join(self.valid())}",
                 "class_weights": "'balanced' or a list of positive numbers, one per class"}  # fmt: skip
        if self.kind in words:
            return words[self.kind]
        element = replace(self, kind="choice" if self.choices else self.kind[:-1])
        return f"a list of at most {self.most} items, each {element.expected()}"

    def valid(self) -> tuple[str, ...]:
        if isinstance(self.choices, str):
            module, name = self.choices.split(":")
            return tuple(getattr(importlib.import_module(module), name))
        return self.choices


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _int(low: int, high: int, **kw) -> Rule:
    return Rule("int", low, high, **kw)


def _num(low: float, high: float, **kw) -> Rule:
    return Rule("float", low, high, **kw)


def _fraction(**kw) -> Rule:
    return Rule("float", 0, 1, **kw)


_STR, _OPTIONAL_STR, _MAPPING = Rule("str"), Rule("str", optional=True), Rule("mapping")
RULES: dict[str, dict[str, Rule]] = {
    "ModelSpec": {
        "backbone": _STR, "attention": _STR, "placement": _OPTIONAL_STR, "head": _OPTIONAL_STR,
        "num_classes": _int(1, 10_000, optional=True), "pretrained": Rule("bool", optional=True),
        "weights": _OPTIONAL_STR, "image_size": _int(32, MAX_IMAGE_SIZE, optional=True),
        "stages": Rule("ints", 0, 32, optional=True, most=32), "preset": _OPTIONAL_STR, "attention_options": _MAPPING,
    },
    "DataSpec": {
        "path": _OPTIONAL_STR, "recipe": _OPTIONAL_STR, "val_fraction": _fraction(open_high=True),
        "test_fraction": _fraction(open_high=True), "regime": _fraction(open_low=True),
        "duplicates": Rule("choice", choices=("refuse", "train", "evaluation", "keep")), "max_dropped": _fraction(),
        "synthetic_n": _int(10, 100_000), "synthetic_shortcut": _fraction(optional=True),
        "synthetic_difficulty": _fraction(),
    },
    "TrainSpec": {
        "protocol": _OPTIONAL_STR, "epochs": _int(1, 10_000), "batch_size": _int(1, 4096),
        "optimizer": Rule("choice", choices=("sgd", "adam")), "lr": _num(0, 10, open_low=True),
        "momentum": _fraction(open_high=True), "weight_decay": _fraction(),
        "schedule": Rule("choice", choices=("constant", "step", "cosine", "plateau")),
        "milestones": Rule("floats", 0, 1, open_low=True, open_high=True),
        "gamma": _fraction(open_low=True, open_high=True),
        "loss": Rule("choice", choices=("ce", "bce")),
        "class_weights": Rule("class_weights", 0, 1e6, optional=True, open_low=True, most=10_000),
        "patience": _int(1, 10_000, optional=True), "grad_clip": _num(0, 1e6, optional=True, open_low=True),
        "augmentation": Rule("choice", choices="medattn.data.transforms:AUGMENTATIONS"), "seed": _int(0, MAX_SEED),
        "deterministic": Rule("bool"), "workers": _int(0, 256),
        "amp": Rule("choice", choices="medattn.train.precision:AMP_MODES"),
        "log": Rule("strs", choices="medattn.train.loggers:LOGGERS", most=10), "scaled": _MAPPING,
    },
    "StudyExplain": {
        "methods": Rule("strs", choices="medattn.explain.methods:METHODS"), "n": _int(1, 10_000),
        "select": Rule("choice", choices=("all-correct", "per-class")),
        "target": Rule("choice", choices="medattn.explain.targets:TARGET_CHOICES"),
        "scores": Rule("strs", choices="medattn.explain.quality:QUALITY_FAMILIES"),
    },
    "StudyOod": {"name": Rule("name"), "path": _STR, "recipe": _OPTIONAL_STR, "split": _STR},
    "StudySeedCount": {"seeds": _int(1, MAX_SEEDS)},
    "StudySeeds": {"seeds": Rule("ints", 0, MAX_SEED, most=MAX_SEEDS)},
    "StudySequentialSeeds": {
        "min": _int(2, MAX_SEEDS), "max": _int(2, MAX_SEEDS), "step": _int(1, MAX_SEEDS),
        "until": Rule("choice", choices="medattn.study.config:UNTIL"),
        "metric": Rule("choice", choices="medattn.study.measures:METRICS"), "split": Rule("name"),
    },
}  # fmt: skip
_SEED = _int(0, MAX_SEED)
OPTION_RULES: dict[str, dict[str, Rule]] = {  # command-line options that are not spec fields, by command
    "synth": {"n": _int(1, 100_000), "size": _int(16, MAX_IMAGE_SIZE), "seed": _SEED,
              "shortcut": _fraction(optional=True), "difficulty": _fraction()},
    "audit": {"near_distance": _int(0, 64)},
    "study": {"workers": _int(1, 256), "threads": _int(1, 1024, optional=True)},
    "demo": {"workers": _int(1, 256, optional=True)},
    "explain": {"n": _int(1, 10_000), "seed": _SEED, "memory_limit": _int(16, 2**20, optional=True)},
    "features": {"alpha": _fraction(open_low=True, open_high=True), "max_n": _int(20, 100_000),
                 "permutations": _int(1, 100_000), "seed": _SEED},
    "reader-study export": {"seed": _SEED},
    "plan": {"delta": _num(0, math.inf, open_low=True, open_high=True), "max_seeds": _int(3, MAX_SEEDS),
             "power": _fraction(open_low=True, open_high=True)},
}  # fmt: skip


def check_options(command: str, **values) -> dict:
    """Validate command-line options of ``command`` that are not spec fields (``OPTION_RULES``); messages name
    the command and the option (``study: --threads ...``). Returns the values normalised."""
    with naming(command, flags=True):
        return {key: check_value(key, value, OPTION_RULES[command][key]) for key, value in values.items()}


def check_synthetic_size(images: int, size: int) -> None:
    """Refuse a synthetic benchmark whose decoded images would exceed ``MAX_SYNTHETIC_BYTES`` on disk."""
    need = images * size * size * 3
    if need > MAX_SYNTHETIC_BYTES:
        _fail(f"{images} synthetic images of {size} px would take {need / 2**30:.1f} GiB; "
              f"at most {MAX_SYNTHETIC_BYTES // 2**30} GiB: fewer images or a smaller size")  # fmt: skip


@contextmanager
def naming(source: str | None, flags: bool = False) -> Iterator[None]:
    """Within the block, validation messages start with ``source`` and name fields as options (``flags``:
    ``--epochs``) or as keys (``epochs``)."""
    token = _NAMING.set((source, flags))
    try:
        yield
    finally:
        _NAMING.reset(token)


def option_name(key: str) -> str:
    """``key`` as the current source names it: the YAML key, or its command-line flag."""
    return FLAG_NAMES.get(key, "--" + key.replace("_", "-")) if _NAMING.get()[1] else key


def _fail(text: str):
    source = _NAMING.get()[0]
    raise ConfigError(f"{source}: {text}" if source else text)


def check_value(key: str, value, rule: Rule):
    """``value`` of field ``key`` if ``rule`` accepts it (lists become tuples, ints of float fields floats)."""
    label = option_name(key)
    if value is None:
        return None if rule.optional else _fail(f"{label} must be {rule.expected()}, got nothing (null)")
    if rule.kind in ("ints", "floats", "strs"):
        items = (value,) if rule.kind == "strs" and isinstance(value, str) else value
        if not isinstance(items, list | tuple) or len(items) > rule.most:
            _fail(f"{label} must be {rule.expected()}, got {value!r}")
        element = replace(rule, kind="choice" if rule.choices else rule.kind[:-1], optional=False)
        return tuple(_scalar(f"{label}[{i}]", item, element) for i, item in enumerate(items))
    if rule.kind == "class_weights":
        if value == "balanced":
            return value
        if not isinstance(value, list | tuple) or not 2 <= len(value) <= rule.most:
            _fail(f"{label} must be {rule.expected()}, got {value!r}")
        return tuple(_scalar(f"{label}[{i}]", w, replace(rule, kind="float")) for i, w in enumerate(value))
    return _scalar(label, value, rule)


def _scalar(label: str, value, rule: Rule):
    kind = rule.kind
    if kind == "choice":
        if isinstance(value, str) and value in rule.valid():
            return value
        hint = (
            " (YAML reads unquoted off/on/no/yes as true or false: quote the word)" if isinstance(value, bool) else ""
        )
        _fail(f"unknown {label.lstrip('-')} '{value}'; choose one of: {', '.join(rule.valid())}{hint}")
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": numeric and math.isfinite(value),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str) and value != "" and "\0" not in value,
        "mapping": isinstance(value, dict),
        "name": isinstance(value, str) and name_problem(value) is None,
    }[kind]
    if not ok:
        _fail(f"{label} must be {rule.expected()}, got {value!r}")
    if kind in ("int", "float"):
        _check_range(label, value, rule)
        return float(value) if kind == "float" else value
    return value


def _check_range(label: str, value, rule: Rule) -> None:
    if value < rule.low or (rule.open_low and value == rule.low):
        bound = f"above {_show(rule.low)}" if rule.open_low else f"at least {_show(rule.low)}"
    elif value > rule.high or (rule.open_high and value == rule.high):
        bound = f"below {_show(rule.high)}" if rule.open_high else f"at most {_show(rule.high)}"
    else:
        return
    _fail(f"{label} must be {bound} ({rule.expected()}), got {value!r}")


def check_spec(spec) -> None:
    """Validate every field of ``spec`` (normalising it in place), then the checks across its fields."""
    for key, rule in RULES[type(spec).__name__].items():
        object.__setattr__(spec, key, check_value(key, getattr(spec, key), rule))
    if type(spec).__name__ == "ModelSpec" and spec.weights is not None:
        if spec.pretrained is False:
            contradiction = "--no-pretrained" if _NAMING.get()[1] else "pretrained: false"
            _fail(f"{option_name('weights')} {spec.weights} loads pretrained weights; {contradiction} contradicts it")
        object.__setattr__(spec, "pretrained", True)  # a weights file is loaded, never silently ignored
    if type(spec).__name__ == "DataSpec":
        _check_data(spec)


def _check_data(spec) -> None:
    if spec.val_fraction + spec.test_fraction >= 1:
        names = f"{option_name('val_fraction')} + {option_name('test_fraction')}"
        _fail(f"{names} must be below 1, got {spec.val_fraction} + {spec.test_fraction}")
    defaults = {f.name: f.default for f in fields(spec)}
    synthetic = [k for k in defaults if k.startswith("synthetic_") and getattr(spec, k) != defaults[k]]
    if spec.path is not None and synthetic:
        _fail(f"{option_name(synthetic[0])} applies to the synthetic benchmark only, not to {option_name('path')} "
              f"{spec.path}; remove one of them")  # fmt: skip


def check_sections(data: dict, source: str | None, *, flags: bool = False) -> dict:
    """Validate a partial run config ``{"data": {...}, "model": {...}, "train": {...}}`` (a ``--config`` file,
    command-line flags) key by key; unknown sections and keys are refused. Returns it normalised."""
    specs = {"data": "DataSpec", "model": "ModelSpec", "train": "TrainSpec"}
    with naming(source, flags):
        unknown = sorted(set(data) - set(specs))
        if unknown:
            _fail(f"unknown section '{unknown[0]}'; valid sections: data, model, train")
        wrong = [name for name, section in data.items() if not isinstance(section or {}, dict)]
        if wrong:
            _fail(f"section '{wrong[0]}' must be a mapping of keys, got {data[wrong[0]]!r}")
    where = (lambda name: f"{source} [{name}]") if source else (lambda name: None)
    return {name: check_values(specs[name], section or {}, where(name), flags=flags) for name, section in data.items()}


def check_values(spec: type | str, data: dict, source: str | None, *, flags: bool = False) -> dict:
    """Validate the fields given in ``data`` (a part of a ``cls`` spec: a study section, command-line flags);
    returns them normalised. Unknown keys are refused."""
    with naming(source, flags):
        rules = RULES[spec if isinstance(spec, str) else spec.__name__]
        unknown = sorted(set(data) - set(rules))
        if unknown:
            _fail(f"unknown key '{unknown[0]}'; valid keys: {', '.join(sorted(rules))}")
        return {key: check_value(key, value, rules[key]) for key, value in data.items()}
