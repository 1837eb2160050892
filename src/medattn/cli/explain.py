"""``medattn explain`` and ``medattn reader-study``: the command-line side of medattn.explain."""

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from medattn.cli.output import console, emit
from medattn.errors import ConfigError

Opt = typer.Option
reader_app = typer.Typer(no_args_is_help=True, help="Blinded reader study of explanation maps (seed 002).")


def explain_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories to compare.")],
    method: Annotated[list[str], Opt(help="Method (repeatable): saliency, gradcam, deeplift ...")],
    out: Annotated[Path, Opt(help="Folder for maps, figures and scores.")],
    data: Annotated[str | None, Opt(help="Dataset path (default: the runs' own data).")] = None,
    split: Annotated[str, Opt(help="Split to explain.")] = "test",
    select: Annotated[str, Opt(help="all-correct | per-class | list.")] = "per-class",
    list_file: Annotated[Path | None, Opt("--list", help="Images for --select list (one path per line).")] = None,
    n: Annotated[int, Opt(help="Images per class (per-class) or in all (all-correct).")] = 4,
    target: Annotated[str, Opt(help="label | predicted.")] = "label",
    seed: Annotated[int, Opt(help="Seed for selection, noise and random baselines.")] = 0,
    checkpoint: Annotated[str, Opt(help="best-val | best-train | last.")] = "best-val",
    memory_limit: Annotated[int | None, Opt(help="MiB per forward+backward chunk (default 2048).")] = None,
    display: Annotated[str, Opt(help="Colour scaling: shared (one scale per figure) | per-map.")] = "shared",
    score: Annotated[bool, Opt("--score", help="Add the quality scores.")] = False,
    scores: Annotated[str | None, Opt(help="Score families (comma-separated); implies --score.")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print one JSON object.")] = False,
) -> None:
    """Explain the test images of trained runs; write maps, figure grids and quality scores."""
    from medattn.errors import choose
    from medattn.explain.job import ExplainJob, run_explain
    from medattn.explain.methods import METHODS
    from medattn.progress import progress_callback
    from medattn.validation import check_options

    check_options("explain", n=n, seed=seed, memory_limit=memory_limit)
    for name in method:
        choose("method", name, METHODS)
    choose("display", display, ("shared", "per-map"))
    families = _score_families(scores, score)
    job = ExplainJob(
        runs, method, out, data=data, split=split, select=select, n=n, list_file=list_file, target=target, seed=seed,
        checkpoint=checkpoint, memory_limit=memory_limit * 2**20 if memory_limit else None, display=display,
        scores=families,
    )  # fmt: skip
    with progress_callback("explaining", quiet=as_json) as update:
        summary = run_explain(job, progress=update)
    emit(summary, as_json, _summary_table(summary, out))
    if not as_json and families:
        console.print(_scores_table(summary["scores"]))
        for key, verdict in summary["scores"]["sanity"].items():
            outcome = "passed" if verdict["passed"] else "FAILED (maps barely change with randomised weights)"
            statistic = f"mean {verdict['measure']} {verdict['statistic']:.2f} vs threshold {verdict['threshold']}"
            console.print(f"randomisation check {key}: {outcome}, {statistic}", highlight=False)


def _score_families(text: str | None, flag: bool) -> list[str]:
    from medattn.explain.quality import DEFAULT_FAMILIES, QUALITY_FAMILIES

    if text is None:
        return list(DEFAULT_FAMILIES) if flag else []
    families = [part.strip() for part in text.split(",") if part.strip()]
    for family in families:
        if family not in QUALITY_FAMILIES:
            raise ConfigError(f"--scores: unknown family '{family}'; choose from: {', '.join(QUALITY_FAMILIES)}")
    return families


def _summary_table(summary: dict, out: Path) -> Table:
    table = Table("method", "files", "display scale", title=f"{len(summary['images'])} images explained -> {out}")
    for method, info in summary["figures"].items():
        table.add_row(method, ", ".join(info["files"]), info["display"]["label"])
    for key, made in summary["explanations"].items():
        if "refused" in made:
            table.add_row(key, "refused", made["refused"])
    return table


def _scores_table(scores: dict) -> Table:
    table = Table("model", "method", "score", "better", "mean", "std", "n", title="explanation quality")
    for row in scores["summary"]:
        table.add_row(row["model"], row["method"], row["score"], "higher" if row["higher_is_better"] else "lower",
                      _number(row["mean"]), _number(row["std"]), str(row["n"]))  # fmt: skip
    return table


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@reader_app.command("export")
def reader_export(
    explained: Annotated[Path, typer.Argument(help="Output folder of `medattn explain`.")],
    method: Annotated[str, Opt(help="Which method's maps to show.")],
    out: Annotated[Path, Opt(help="Folder for the sheet and its key.")],
    seed: Annotated[int, Opt(help="Seed of the shuffled model order.")] = 0,
) -> None:
    """Write a blinded HTML sheet (models shuffled, anonymous labels) and the key that un-blinds it."""
    from medattn.explain.display import normalise_columns
    from medattn.explain.methods import METHODS
    from medattn.explain.reader_study import export_sheet
    from medattn.validation import check_options

    check_options("reader-study export", seed=seed)
    summary, maps, pixels = _read_explained(explained)
    columns = {key.split("|")[0]: m for key, m in maps.items() if key.split("|")[1] == method}
    if not columns:
        raise ConfigError(f"{explained}: no maps of method '{method}'; it has: {_methods_in(maps)}")
    scheme = "shared-abs" if METHODS[method].signed else "shared-positive"
    normalised, scale = normalise_columns(columns, scheme)
    ids = [Path(image["path"]).name for image in summary["images"]]
    if len(set(ids)) < len(ids):
        ids = [image["path"] for image in summary["images"]]
    sheet, key = export_sheet(pixels / 255.0, normalised, out, image_ids=ids, seed=seed, scale=scale)
    console.print(f"reader sheet: {sheet}\nkey (keep it from the readers): {key}", highlight=False)


def _read_explained(folder: Path):
    try:
        summary = json.loads((folder / "explanations.json").read_text())
        with np.load(folder / "maps.npz") as maps, np.load(folder / "images.npz") as images:
            return summary, {k: maps[k] for k in maps.files}, images["images"]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{folder}: not an output folder of `medattn explain` ({type(exc).__name__})") from None


def _methods_in(maps: dict) -> str:
    return ", ".join(sorted({key.split("|")[1] for key in maps}))


@reader_app.command("tally")
def reader_tally(
    answers: Annotated[list[Path], typer.Argument(help="Answer CSV files downloaded from the sheet.")],
    key: Annotated[Path, Opt(help="The key file written with the sheet.")],
    as_json: Annotated[bool, Opt("--json", help="Print one JSON object.")] = False,
) -> None:
    """Un-blind the answers and count the votes per model, with Wilson 95 % intervals."""
    from medattn.explain.reader_study import tally

    result = tally(answers, key)
    rows = result.to_rows()
    table = Table("reader", "model", "votes", "share", "95 % CI", title="best explanation votes")
    for row in rows:
        ci = f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
        table.add_row(row["reader"], row["model"], f"{row['votes']}/{row['n']}", f"{row['proportion']:.2f}", ci)
    emit({"votes": rows, "abstentions": result.abstentions}, as_json, table)
