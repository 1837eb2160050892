"""The ``medattn`` command line: parses options, calls the library, prints. No logic of its own."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from medattn.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Does attention really help? Build, train, explain.")
console = Console()


def _emit(data, as_json: bool, table: Table | None = None) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        console.print(table)


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List backbones, attention mechanisms, placements, heads and presets."""
    from medattn.models.catalog import catalog

    data = catalog()
    table = Table("kind", "names", title="medattn model zoo")
    for kind, names in data.items():
        if kind != "valid":
            table.add_row(kind, ", ".join(names))
    table.caption = f"{len(data['valid'])} valid backbone x attention x placement combinations"
    _emit(data, as_json, table)


@app.command("model-info")
def model_info_command(
    backbone: Annotated[str, typer.Option(help="Backbone name (see `medattn models`).")] = "resnet18",
    attention: Annotated[str, typer.Option(help="Attention, e.g. se, cbam, ga+la, or none.")] = "none",
    placement: Annotated[str | None, typer.Option(help="block | stage | replace-last | head.")] = None,
    head: Annotated[str | None, typer.Option(help="gap | flatten.")] = None,
    num_classes: Annotated[int | None, typer.Option(help="Output logits (1 = one sigmoid logit).")] = None,
    image_size: Annotated[int | None, typer.Option(help="Input size for MACs and flatten heads.")] = None,
    stages: Annotated[str | None, typer.Option(help="Feature levels for stage placement, e.g. 1,2.")] = None,
    preset: Annotated[str | None, typer.Option(help="A paper's conventions, e.g. goncalves2022.")] = None,
    pretrained: Annotated[bool | None, typer.Option("--pretrained/--no-pretrained", help="Load weights.")] = None,
    weights: Annotated[Path | None, typer.Option(help="Weights file (safetensors or .pth).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Build one model and report its parameter counts and MACs."""
    from medattn.config import ModelSpec
    from medattn.models import create_model, model_info

    spec = ModelSpec(
        backbone=backbone,
        attention=attention,
        placement=placement,
        head=head,
        num_classes=num_classes,
        image_size=image_size,
        stages=_parse_levels(stages),
        preset=preset,
        pretrained=True if weights else pretrained,
        weights=str(weights) if weights else None,
    )
    model = create_model(spec, load_weights=bool(weights) or pretrained is True)
    info = model_info(model)
    if model.weights_report:
        info["weights"] = model.weights_report
    table = Table("field", "value", title=f"{info['backbone']} + {info['attention']}")
    for key, value in info.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
    _emit(info, as_json, table)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the runs and results.json.")] = Path("runs/demo"),
    epochs: Annotated[int, typer.Option(help="Training epochs per model.")] = 6,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Train and test ResNet-18 with and without CBAM on the synthetic lesion benchmark."""
    from medattn.study.demo import SUMMARY_METRICS, run_demo

    if epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {epochs}")
    results = run_demo(out, epochs=epochs, quiet=as_json)
    table = Table("attention", "params", *SUMMARY_METRICS, title="test split (95 % bootstrap CI)")
    for r in results:
        cells = [_with_ci(r[name]) for name in SUMMARY_METRICS]
        table.add_row(r["attention"], f"{r['params']:,}", *cells)
    _emit(results, as_json, table)
    if not as_json:
        console.print(f"runs and results.json in {out}")


def _with_ci(metric: dict) -> str:
    if metric["value"] is None:
        return "n/a"
    return f"{metric['value']:.3f} [{metric['ci_low']:.3f}, {metric['ci_high']:.3f}]"


@app.command()
def audit(
    data: Annotated[Path, typer.Argument(help="Dataset folder, CSV manifest or .npz file.")],
    recipe: Annotated[str | None, typer.Option(help="Release layout, e.g. brain-tumor-mri.")] = None,
    near_distance: Annotated[int, typer.Option(help="Perceptual-hash bits for near duplicates.")] = 2,
    strict: Annotated[bool, typer.Option(help="Exit 1 on contamination or label conflicts.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Report what is wrong with a dataset before any model is trained."""
    from medattn.data.audit import audit_source, has_contamination
    from medattn.data.sources import open_source
    from medattn.progress import progress_callback

    source = open_source(data, recipe)
    with progress_callback("auditing", quiet=as_json) as update:
        report = audit_source(source, near_duplicate_distance=near_distance, progress=update)
    table = Table("split", *source.classes, title=f"{report['num_images']:,} images")
    for split, counts in report["counts"].items():
        table.add_row(split, *(f"{counts.get(c, 0):,}" for c in source.classes))
    _emit(report, as_json, table)
    if not as_json:
        for line in report["findings"] or ["no problems found"]:
            console.print(f"- {line}", highlight=False)
    if strict and has_contamination(report):
        raise typer.Exit(1)


def _parse_levels(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--stages '{text}': expected comma-separated integers such as 1,2") from None


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    try:
        code = app(standalone_mode=False)  # returns typer.Exit's code instead of exiting
        if isinstance(code, int) and code:
            sys.exit(code)
    except ConfigError as exc:
        print(f"medattn: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("medattn: aborted", file=sys.stderr)
        sys.exit(130)
    except typer.exceptions.TyperException as exc:  # usage errors: unknown option, bad value
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"medattn: error: {message} (see medattn --help)", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
