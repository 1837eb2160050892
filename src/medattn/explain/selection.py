"""Which images to explain: as in seed 000, test images every compared model predicts correctly."""

from pathlib import Path

import numpy as np

from medattn.errors import ConfigError, choose

SELECTIONS = ("all-correct", "per-class", "list")


def correct_by_all(labels: np.ndarray, predictions: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean [N]: every model's predicted class equals the label."""
    correct = np.ones(len(labels), dtype=bool)
    for predicted in predictions.values():
        correct &= predicted == labels
    return correct


def read_list(path: Path, paths: list[str]) -> np.ndarray:
    """Rows of the images named in a file (one path or file name per line, or a CSV 'path' column)."""
    if not Path(path).is_file():
        raise ConfigError(f"--select list: {path} does not exist")
    lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if lines and lines[0].split(",")[0].strip().lower() == "path":
        lines = [line.split(",")[0].strip() for line in lines[1:]]
    by_path = {p: i for i, p in enumerate(paths)}
    by_name: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        by_name.setdefault(Path(p).name, []).append(i)
    rows = []
    for number, entry in enumerate(lines, start=1):
        if entry in by_path:
            rows.append(by_path[entry])
        elif len(by_name.get(Path(entry).name, [])) == 1:
            rows.append(by_name[Path(entry).name][0])
        else:
            found = "is ambiguous" if Path(entry).name in by_name else "is not in the split"
            raise ConfigError(f"{path}: line {number}: '{entry}' {found}")
    return np.asarray(rows, dtype=np.int64)


def select_images(
    rule: str,
    labels: np.ndarray,
    predictions: dict[str, np.ndarray],
    *,
    n: int,
    seed: int = 0,
    list_file: Path | None = None,
    paths: list[str] | None = None,
) -> np.ndarray:
    """Row indices to explain, sorted.

    Args:
        rule: ``all-correct`` (n images predicted correctly by every model, drawn with ``seed``),
            ``per-class`` (n such images per class) or ``list`` (the images of ``list_file``).
        labels: true classes [N]; predictions: model name -> predicted classes [N].
    """
    choose("selection", rule, SELECTIONS)
    if rule == "list":
        if list_file is None:
            raise ConfigError("--select list needs --list FILE")
        return read_list(list_file, paths or [])
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    correct = np.flatnonzero(correct_by_all(labels, predictions))
    if correct.size == 0:
        raise ConfigError(f"no image is predicted correctly by all {len(predictions)} models; use --select list")
    rng = np.random.default_rng(seed)
    if rule == "all-correct":
        return np.sort(rng.permutation(correct)[:n])
    chosen = [rng.permutation(correct[labels[correct] == c])[:n] for c in np.unique(labels[correct])]
    return np.sort(np.concatenate(chosen))
