"""``medattn features``: which features each model uses (conditional-independence tests, seed 004 section 3.3)."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from medattn.cli.output import console, emit
from medattn.study.results import FEATURES_JSON, decision_mark


def features_command(
    runs: Annotated[list[Path], typer.Argument(help="Run folders and/or study folders (every finished run).")],
    data: Annotated[str | None, typer.Option(help="Dataset the features describe (default: each run's own).")] = None,
    recipe: Annotated[str | None, typer.Option(help="Release layout of --data.")] = None,
    features: Annotated[
        Path | None, typer.Option(help="CSV: a path column and one column per feature (default: measure them).")
    ] = None,
    split: Annotated[str, typer.Option(help="Split whose predictions are tested.")] = "test",
    tests: Annotated[str, typer.Option(help="Comma-separated: chsic, rcot, cmiknn.")] = "chsic,rcot,cmiknn",
    alpha: Annotated[float, typer.Option(help="Significance level of each test (the paper's 0.01).")] = 0.01,
    max_n: Annotated[int, typer.Option(help="Images per test at most (stratified subsample).")] = 500,
    permutations: Annotated[int, typer.Option(help="Permutations of the cHSIC and CMIknn tests.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of subsampling, permutations and random features.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Result JSON (default: STUDY/features.json for a study, else ./features.json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Test whether each model's output depends on each feature given the true label (majority of three tests)."""
    from medattn.features.inputs import measured_features, open_models, read_features
    from medattn.features.usage import feature_usage
    from medattn.io import check_file_name, write_json_atomic
    from medattn.progress import progress_callback
    from medattn.study.runner import STORE
    from medattn.validation import check_options

    check_options("features", alpha=alpha, max_n=max_n, permutations=permutations, seed=seed)
    check_file_name(split, "--split")  # it names the predictions file read from each run
    models = open_models(runs, split=split, data=data, recipe=recipe)
    if features is None:
        with progress_callback("measuring features", quiet=as_json) as update:
            table = measured_features(models, data, recipe, progress=update)
    else:
        table = read_features(features, data)
    with progress_callback("testing", quiet=as_json) as update:
        result = feature_usage(models, table, tests=[t.strip() for t in tests.split(",") if t.strip()], alpha=alpha,
                               max_n=max_n, permutations=permutations, seed=seed, progress=update)  # fmt: skip
    result["split"], result["features_source"] = split, str(features) if features else "measured"
    target = out or (runs[0] / FEATURES_JSON if len(runs) == 1 and (runs[0] / STORE).is_file() else None)
    target = target or Path(FEATURES_JSON)
    write_json_atomic(target, result)
    emit(result, as_json, usage_table(result))
    if not as_json:
        for note in result["notes"]:
            console.print(f"note: {note}", markup=False, highlight=False)
        console.print(f"written: {target}", markup=False, highlight=False, soft_wrap=True)


def usage_table(result: dict, width: int | None = None) -> Table:
    """Seed 004's Table 3 (one row per model, one column per feature) where it fits ``width`` (default: the
    terminal's), else one row per feature with how many models use it; every decision stays in the JSON."""
    width = width or console.width
    name_width = max((len(model["name"]) for model in result["models"]), default=5)
    needed = name_width + sum(max(len(name), 5) + 3 for name in result["features"]) + 4
    return _models_by_features(result) if needed <= width else _features_summary(result)


def _models_by_features(result: dict) -> Table:
    title = Text("Does the model use the feature? (given the label)")
    table = Table("model", *(Column(header=Text(name)) for name in result["features"]), title=title)
    cells: dict[tuple[str, str], str] = {}
    for row in result["rows"]:
        cells[row["run"], row["feature"]] = decision_mark(row)
    for model in result["models"]:
        table.add_row(Text(model["name"]), *(Text(cells[model["run"], f]) for f in result["features"]))
    table.caption = Text(
        f"✓ dependent / ✗ independent by the majority of {', '.join(result['tests'])} at p < {result['alpha']}; "
        "[Holm-adjusted decision]; - not tested"
    )
    return table


def _features_summary(result: dict) -> Table:
    models = len(result["models"])
    title = Text(f"How many of the {models} models use each feature? (given the label)")
    table = Table("feature", "use it (majority)", "after Holm", "not tested", title=title)
    for feature in result["features"]:
        rows = [row for row in result["rows"] if row["feature"] == feature]
        used = sum(bool(row["uses"]) for row in rows)
        used_holm = sum(bool(row["uses_holm"]) for row in rows)
        untested = sum(row["uses"] is None for row in rows)
        table.add_row(Text(feature), f"{used} / {models}", f"{used_holm} / {models}", str(untested) if untested else "")
    table.caption = Text(
        f"majority of {', '.join(result['tests'])} at p < {result['alpha']}; the table per model (too wide for this "
        "terminal) is in the JSON file and the study report"
    )
    return table
