"""Dataset audit: what is wrong with the data, before any model is trained on it.

One pass over the files (``scan.py``: sha256 of the bytes, one decode, a 64-bit perceptual hash)
feeds every check: unreadable files, identical files, near-identical images, test
contamination (the same or nearly the same image in two splits), label conflicts (the same
image under two labels) and group (patient) leaks across splits. The result is one
JSON-serialisable dict whose ``findings`` list says, one line each, what needs attention.

Near duplicates: two images are near duplicates when their DCT perceptual hashes (``hashing.py``)
differ in at most ``near_duplicate_distance`` of 64 bits; groups are the connected components of
that relation over distinct file contents, so a group always holds at least two different
files (groups of identical files only are reported as exact duplicates). Hashes thresholded at
their median have 32 set bits, so distances are even. The default of 2 comes from looking at
the brain-tumor MRI dataset: pairs at distance 0-2 were re-encoded copies of one slice or the
directly adjacent slice of the same series; at 4-6 they are mostly other slices of the same
series, and from 8 on mostly different patients. Even at 2 a 64-bit hash can match distinct
images: one of the 130 groups found there joins two different sagittal slices (a glioma and a
meningioma), so near-duplicate findings are for a person to look at, and only exact duplicates
are ever removed automatically. Raise the distance to catch crops and rescans, at the price of
grouping similar but distinct images.
"""

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from medattn.data.confounds import confound_section
from medattn.data.hashing import connected_groups, near_pairs
from medattn.data.records import DataSource, Record
from medattn.data.scan import FileFacts, ProgressArg, scan_files
from medattn.errors import ConfigError, choose

NEAR_DUPLICATE_DISTANCE = 2
TOP_SIZES = 10
IMBALANCE_RATIO = 5.0  # a finding when one class has this many times the images of another
UNSPLIT = "unsplit"  # the counts key for records without a split
_SPLIT_RANK = {"train": 0, "val": 1, "test": 2}


DUPLICATE_POLICIES = ("train", "evaluation")


def split_rank(split: str | None) -> tuple[int, str]:
    """Sort key for splits: train, val, test, other named splits (alphabetically), then none."""
    if split is None:
        return (4, "")
    return (_SPLIT_RANK.get(split, 3), split)


def audit_source(
    source: DataSource,
    *,
    near_duplicate_distance: int = NEAR_DUPLICATE_DISTANCE,
    workers: int = 0,
    progress: ProgressArg = None,
) -> dict:
    """Audit a dataset: read every file once and report what is wrong with the data.

    Args:
        source: the dataset.
        near_duplicate_distance: the largest perceptual-hash Hamming distance (0-64 bits) at
            which two different files count as near duplicates (see the module docstring).
        workers: threads for the per-file pass; 0 picks one per core plus one (at most 8).
        progress: None, a callable ``progress(done, total)`` called after each file, or a
            ``rich.progress.Progress`` (a task is added and advanced per file).

    Returns:
        A JSON-serialisable dict with the keys source, root, num_images, num_files, classes,
        counts, image_sizes, modes, unreadable, mask_problems, exact_duplicate_groups, near_duplicate_distance,
        near_duplicate_groups, cross_split_duplicates, label_conflicts, group_leaks, skipped and
        findings. Duplicate groups are dicts with ``kind`` ("exact" or "near"), ``members``
        (one ``{path, split, class}`` per record), ``splits`` and ``classes``;
        cross_split_duplicates and label_conflicts are the groups spanning two or more splits or
        classes. mask_problems lists ``{path, mask, problem}`` per readable image whose mask is
        unreadable or of another size (training drops these images).

    Raises:
        ConfigError: ``near_duplicate_distance`` outside 0-64.
    """
    if not 0 <= near_duplicate_distance <= 64:
        raise ConfigError(f"near-duplicate distance {near_duplicate_distance} is not between 0 and 64 bits")
    facts = scan_files((r.path for r in source.records), workers=workers, progress=progress)
    mask_facts = scan_files((r.mask for r in source.records if r.mask), workers=workers)
    readable = [f for f in facts.values() if f.problem is None]
    contents = _records_by_content(source, facts)
    exact = [
        duplicate_group(source, "exact", members, sha256=sha) for sha, members in contents.items() if len(members) > 1
    ]
    near = _near_groups(source, contents, facts, near_duplicate_distance)
    report = {
        "source": source.name,
        "root": str(source.root),
        "num_images": len(source.records),
        "num_files": len(facts),
        "classes": list(source.classes),
        "counts": _counts(source),
        "image_sizes": summarise_sizes(readable),
        "modes": summarise_modes(readable),
        "unreadable": [{"path": f.path, "problem": f.problem} for f in facts.values() if f.problem],
        "mask_problems": _mask_problems(source, facts, mask_facts),
        "exact_duplicate_groups": exact,
        "near_duplicate_distance": near_duplicate_distance,
        "near_duplicate_groups": near,
        "cross_split_duplicates": [g for g in exact + near if len(g["splits"]) > 1],
        "label_conflicts": [g for g in exact + near if len(g["classes"]) > 1],
        "group_leaks": group_leaks(source),
        "skipped": list(source.skipped),
        "confounds": confound_section(source, facts),
    }
    report["findings"] = findings(report)
    return report


def has_contamination(report: dict) -> bool:
    """True when the report shows cross-split duplicates, label conflicts or group leaks
    (what ``--strict`` refuses to train on)."""
    return bool(report["cross_split_duplicates"] or report["label_conflicts"] or report["group_leaks"])


def duplicates_to_drop(groups: list[dict], keep: str) -> dict[tuple[str, str], tuple[str, str]]:
    """Which copies of cross-split exact-duplicate ``groups`` to drop under policy ``keep``.

    Returns ``{(path, split): (kept split, kept path)}`` (see ``remove_cross_split_duplicates``).
    """
    choose("duplicate policy", keep, DUPLICATE_POLICIES)
    drop: dict[tuple[str, str], tuple[str, str]] = {}
    for group in groups:
        if group["kind"] != "exact":
            continue
        keep_split = kept_split(group["splits"], keep)
        kept = next(m["path"] for m in group["members"] if m["split"] == keep_split)
        for member in group["members"]:
            if member["split"] is not None and member["split"] != keep_split:
                drop[(member["path"], member["split"])] = (keep_split, kept)
    return drop


def kept_split(splits: list[str], keep: str) -> str:
    """The split policy ``keep`` keeps of several: the earliest for ``"train"``, the latest for ``"evaluation"``."""
    return (min if keep == "train" else max)(splits, key=split_rank)


def remove_cross_split_duplicates(
    source: DataSource, report: dict, *, keep: str = "train"
) -> tuple[DataSource, list[str]]:
    """Drop the copies of identical files that lie in two or more splits, keeping one split's.

    With ``keep="train"`` (the default) the copies in the earliest split (train, then val, then
    test, then other named splits) are kept and the later copies removed: an image that is in
    train leaves val and test, so no evaluation split contains a training image and the training
    set keeps all its data; a val/test pair loses its test copy, as val is used for model
    selection. This can empty an evaluation split: on the brain-tumor MRI dataset 251 of the
    394 test images are files of the training set, all 105 ``no_tumor`` ones among them. With
    ``keep="evaluation"`` the latest split's copies are kept instead, so the official test set
    stays whole and comparable with published numbers, and training loses the copies.
    Near duplicates are left alone: they depend on a threshold and deserve a look first.

    Args:
        source: the audited dataset.
        report: ``audit_source(source)`` (or the same dict read back from JSON).
        keep: ``"train"`` or ``"evaluation"``, as above.

    Returns:
        The source without the removed records, and one line per removed record.

    Raises:
        ConfigError: ``keep`` is not one of the choices.
    """
    drop = duplicates_to_drop(report["cross_split_duplicates"], keep)
    records, lines = [], []
    for record in source.records:
        hit = drop.get((record.path, record.split))
        if hit is None:
            records.append(record)
        else:
            lines.append(f"{record.path}: removed from {record.split}, identical to {hit[1]} in {hit[0]}")
    return (source.with_records(records) if lines else source), lines


def _mask_problems(source: DataSource, facts: dict[str, FileFacts], mask_facts: dict[str, FileFacts]) -> list[dict]:
    """Readable images whose mask cannot be used: unreadable, or not the image's width x height."""
    problems = {}
    for record in source.records:
        image, mask = facts[record.path], mask_facts.get(record.mask)
        if mask is None or image.problem is not None:
            continue
        if mask.problem is not None:
            problem = f"mask unreadable: {mask.problem}"
        elif (mask.width, mask.height) != (image.width, image.height):
            problem = f"mask is {mask.width}x{mask.height} but its image is {image.width}x{image.height}"
        else:
            continue
        problems[record.path, record.mask] = {"path": record.path, "mask": record.mask, "problem": problem}
    return list(problems.values())


def _records_by_content(source: DataSource, facts: dict[str, FileFacts]) -> dict[str, list[Record]]:
    """Readable records per sha256 of their file, in order of first appearance."""
    contents: dict[str, list[Record]] = {}
    for record in source.records:
        fact = facts[record.path]
        if fact.problem is None:
            contents.setdefault(fact.sha256, []).append(record)
    return contents


def duplicate_group(source: DataSource, kind: str, members: list[Record], **extra) -> dict:
    splits = {r.split for r in members if r.split is not None}
    return {
        "kind": kind,
        **extra,
        "members": [{"path": r.path, "split": r.split, "class": source.classes[r.label]} for r in members],
        "splits": sorted(splits, key=split_rank),
        "classes": [c for i, c in enumerate(source.classes) if any(r.label == i for r in members)],
    }


def _near_groups(
    source: DataSource, contents: dict[str, list[Record]], facts: dict[str, FileFacts], max_distance: int
) -> list[dict]:
    """Groups of two or more distinct contents linked by perceptual-hash distance <= max_distance."""
    shas = list(contents)
    hashes = np.array([facts[contents[sha][0].path].phash for sha in shas], dtype=np.uint64)
    first, second, distance = near_pairs(hashes, max_distance)
    components = connected_groups(len(shas), first, second)
    component_of = np.full(len(shas), -1)
    for index, nodes in enumerate(components):
        component_of[nodes] = index
    largest = np.zeros(len(components), dtype=np.int64)
    np.maximum.at(largest, component_of[first], distance.astype(np.int64))
    return [
        duplicate_group(
            source, "near", [r for node in nodes for r in contents[shas[node]]], max_distance=int(largest[index])
        )
        for index, nodes in enumerate(components)
    ]


def _counts(source: DataSource) -> dict[str, dict[str, int]]:
    per_split = source.class_counts()
    return {split or UNSPLIT: per_split[split] for split in sorted(per_split, key=split_rank)}


def group_leaks(source: DataSource) -> list[dict]:
    """Groups (patients) whose records lie in more than one split: ``{group, splits, num_images}`` each."""
    splits: dict[str, set[str]] = defaultdict(set)
    sizes: Counter = Counter()
    for record in source.records:
        if record.group is not None:
            sizes[record.group] += 1
            if record.split is not None:
                splits[record.group].add(record.split)
    return [
        {"group": group, "splits": sorted(found, key=split_rank), "num_images": sizes[group]}
        for group, found in splits.items()
        if len(found) > 1
    ]


def summarise_sizes(facts: list[FileFacts], top: int = TOP_SIZES) -> dict:
    """Distinct (width, height) over readable files: how many, the ``top`` most common, extremes."""
    sizes = Counter((f.width, f.height) for f in facts)
    widths = [w for w, _ in sizes] or [0]
    heights = [h for _, h in sizes] or [0]
    return {
        "distinct": len(sizes),
        "top": [{"width": w, "height": h, "count": n} for (w, h), n in sizes.most_common(top)],
        "min_width": min(widths),
        "max_width": max(widths),
        "min_height": min(heights),
        "max_height": max(heights),
    }


def summarise_modes(facts: list[FileFacts]) -> dict:
    """File formats, PIL modes, channel counts and bits per channel of the readable files."""
    return {
        "formats": dict(Counter(f.format for f in facts).most_common()),
        "pil_modes": dict(Counter(f.mode for f in facts).most_common()),
        "channels": dict(Counter(str(f.channels) for f in facts).most_common()),
        "bit_depths": dict(Counter(str(f.bits) if f.bits else "unknown" for f in facts).most_common()),
        "rgb_with_equal_channels": sum(f.equal_channels for f in facts),
    }


def findings(report: dict) -> list[str]:
    """One line per problem in ``report``; an empty list means nothing needs attention."""
    root = Path(report["root"])
    lines = _file_findings(report, root) + _duplicate_findings(report, root)
    for leak in report["group_leaks"][:1]:
        lines.append(
            f"{len(report['group_leaks'])} group id(s) appear in more than one split (patient leak), "
            f"e.g. '{leak['group']}' in {', '.join(leak['splits'])}"
        )
    return lines + _balance_findings(report) + report.get("confounds", {}).get("findings", [])


def _file_findings(report: dict, root: Path) -> list[str]:
    lines = []
    if report["unreadable"]:
        bad = report["unreadable"][0]
        lines.append(
            f"{len(report['unreadable'])} unreadable file(s), e.g. {_short(bad['path'], root)}: {bad['problem']}"
        )
    masks = report["mask_problems"]
    if masks:
        bad = masks[0]
        lines.append(
            f"{len(masks)} image(s) whose mask cannot be used (training drops them), "
            f"e.g. {_short(bad['path'], root)}: {bad['problem']}"
        )
    if report["skipped"]:
        lines.append(f"{len(report['skipped'])} manifest entr(y/ies) skipped, e.g. {report['skipped'][0]}")
    channels = report["modes"]["channels"]
    if len(channels) > 1:
        mix = ", ".join(f"{n} with {c} channel(s)" for c, n in channels.items())
        lines.append(f"files mix channel counts: {mix}")
    return lines


def _duplicate_findings(report: dict, root: Path) -> list[str]:
    distance = report["near_duplicate_distance"]
    lines = []
    exact, near = report["exact_duplicate_groups"], report["near_duplicate_groups"]
    if exact:
        copies = sum(len(g["members"]) - 1 for g in exact)
        lines.append(
            f"{len(exact)} group(s) of identical files ({copies} redundant copies), e.g. {_example(exact, root)}"
        )
    if near:
        size = sum(len(g["members"]) for g in near)
        lines.append(
            f"{len(near)} group(s) of near-duplicate images (perceptual-hash distance <= {distance}; {size} images),"
            f" e.g. {_example(near, root)}"
        )
    for kind, what in (("exact", "identical files"), ("near", "near-duplicate images")):
        crossing = [g for g in report["cross_split_duplicates"] if g["kind"] == kind]
        if crossing:
            pairs = Counter("/".join(g["splits"]) for g in crossing)
            spans = ", ".join(f"{n} {splits}" for splits, n in pairs.most_common())
            lines.append(
                f"{len(crossing)} group(s) of {what} span splits ({spans}): test contamination,"
                f" e.g. {_example(crossing, root, 'split')}"
            )
        conflicts = [g for g in report["label_conflicts"] if g["kind"] == kind]
        if conflicts:
            lines.append(
                f"{len(conflicts)} group(s) of {what} carry different labels, e.g. {_example(conflicts, root, 'class')}"
            )
    return lines


def _balance_findings(report: dict) -> list[str]:
    lines = []
    for split, per_class in report["counts"].items():
        for name, count in per_class.items():
            if count == 0:
                lines.append(f"class '{name}' has no images in split '{split}'")
        present = {name: n for name, n in per_class.items() if n}
        if len(present) > 1:
            big, small = max(present, key=present.get), min(present, key=present.get)
            if present[big] >= IMBALANCE_RATIO * present[small]:
                ratio = present[big] / present[small]
                lines.append(f"classes are imbalanced in '{split}': '{big}' has {ratio:.1f}x the images of '{small}'")
    return lines


def _example(groups: list[dict], root: Path, differing: str | None = None) -> str:
    """Two members of the first group; with ``differing`` ("split"/"class"), two that differ in it."""
    first, *others = groups[0]["members"]
    second = next((m for m in others if differing is None or m[differing] != first[differing]), others[0])
    return " ~ ".join(f"{_short(m['path'], root)} ({m['split'] or UNSPLIT}, {m['class']})" for m in (first, second))


def _short(path: str, root: Path) -> str:
    for base in (root, root.resolve()):
        try:
            return str(Path(path).relative_to(base))
        except ValueError:
            continue
    return path
