"""The ``medattn`` command line: parses options, calls the library, prints. No logic of its own."""

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from medattn.cli.explain import explain_command, reader_app
from medattn.cli.features import features_command
from medattn.cli.output import console
from medattn.cli.output import emit as _emit
from medattn.cli.plan import plan_command
from medattn.cli.report import report_command
from medattn.cli.study import demo_command, study_command
from medattn.errors import ConfigError, os_error_message

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Does attention really help? Build, train, explain.")


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
    from medattn.train.protocols import check_model

    spec = ModelSpec(
        backbone=backbone,
        attention=attention,
        placement=placement,
        head=head,
        num_classes=num_classes,
        image_size=image_size,
        stages=_parse_levels(stages),
        preset=preset,
        pretrained=pretrained,  # a weights file implies pretrained; with --no-pretrained it is refused
        weights=str(weights) if weights else None,
    )
    check_model(spec)
    model = create_model(spec, load_weights=bool(spec.pretrained))
    info = model_info(model)
    if model.weights_report:
        info["weights"] = model.weights_report
    table = Table("field", "value", title=f"{info['backbone']} + {info['attention']}")
    for key, value in info.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value))
    _emit(info, as_json, table)


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
    from medattn.validation import check_options

    check_options("audit", near_distance=near_distance)
    source = open_source(data, recipe)
    with progress_callback("auditing", quiet=as_json) as update:
        report = audit_source(source, near_duplicate_distance=near_distance, progress=update)
    _emit(report, as_json, _counts_table(f"{report['num_images']:,} images", source.classes, report["counts"]))
    if not as_json:
        for line in report["findings"] or ["no problems found"]:
            console.print(f"- {line}", highlight=False)
    if strict and has_contamination(report):
        raise typer.Exit(1)


Opt = typer.Option


@app.command()
def train(
    out: Annotated[Path | None, Opt(help="Run directory to create.")] = None,
    resume: Annotated[Path | None, Opt(help="Continue the run in this directory.")] = None,
    config: Annotated[Path | None, Opt(help="Run config YAML (sections data/model/train); flags override.")] = None,
    data: Annotated[str | None, Opt(help="Dataset path; default: the synthetic lesion benchmark.")] = None,
    recipe: Annotated[str | None, Opt(help="Release layout of --data, e.g. brain-tumor-mri.")] = None,
    preset: Annotated[str | None, Opt(help="A paper's model + protocol, e.g. rao2023.")] = None,
    backbone: Annotated[str | None, Opt(help="Backbone (see `medattn models`).")] = None,
    attention: Annotated[str | None, Opt(help="Attention, e.g. se, cbam, ga+la, none.")] = None,
    placement: Annotated[str | None, Opt(help="block | stage | replace-last | head.")] = None,
    head: Annotated[str | None, Opt(help="gap | flatten.")] = None,
    num_classes: Annotated[
        int | None, Opt(help="Output logits; default: the data's classes (1: one sigmoid logit).")
    ] = None,
    image_size: Annotated[int | None, Opt(help="Input size in pixels.")] = None,
    pretrained: Annotated[bool | None, Opt("--pretrained/--no-pretrained", help="ImageNet weights.")] = None,
    weights: Annotated[str | None, Opt(help="Backbone weights file (safetensors or .pth).")] = None,
    epochs: Annotated[int | None, Opt(help="Epochs (scales the protocol's).")] = None,
    batch_size: Annotated[int | None, Opt(help="Batch size.")] = None,
    lr: Annotated[float | None, Opt(help="Learning rate.")] = None,
    weight_decay: Annotated[float | None, Opt(help="Weight decay.")] = None,
    optimizer: Annotated[str | None, Opt(help="sgd | adam.")] = None,
    schedule: Annotated[str | None, Opt(help="constant | step | cosine | plateau.")] = None,
    loss: Annotated[str | None, Opt(help="ce | bce.")] = None,
    class_weights: Annotated[str | None, Opt(help="'balanced' or comma-separated weights.")] = None,
    augmentation: Annotated[str | None, Opt(help="none | goncalves2021 | perez2018.")] = None,
    amp: Annotated[
        str | None, Opt(help="cuda (GPU autocast; CPU fp32) | auto (+ CPU bf16 if faster) | off | bf16.")
    ] = None,
    patience: Annotated[int | None, Opt(help="Early-stopping patience in epochs.")] = None,
    grad_clip: Annotated[float | None, Opt(help="Max gradient norm.")] = None,
    seed: Annotated[int | None, Opt(help="Random seed.")] = None,
    deterministic: Annotated[bool | None, Opt("--deterministic/--fast", help="Bit-identical reruns.")] = None,
    workers: Annotated[int | None, Opt(help="Data-loading processes.")] = None,
    regime: Annotated[float | None, Opt(help="Fraction of the training split to use.")] = None,
    duplicates: Annotated[str | None, Opt(help="refuse | train | evaluation | keep (cross-split copies).")] = None,
    max_dropped: Annotated[float | None, Opt(help="Fraction of unusable files accepted (default 0.05).")] = None,
    synthetic_n: Annotated[int | None, Opt(help="Synthetic benchmark size (without --data).")] = None,
    shortcut: Annotated[float | None, Opt(help="Synthetic shortcut-marker strength (without --data).")] = None,
    hyperparameters: Annotated[str | None, Opt(help="Per-model lr/wd table of the preset (piater2024).")] = None,
    log: Annotated[str | None, Opt(help="Extra loggers: tensorboard, mlflow (comma-separated).")] = None,
    quiet: Annotated[bool, Opt(help="One line per epoch, no progress bar.")] = False,
    as_json: Annotated[bool, Opt("--json", help="Print the test metrics as JSON.")] = False,
) -> None:
    """Train one model (resumable) and test it; writes a run directory."""
    from medattn.config import read_yaml
    from medattn.train.engine import TrainingError
    from medattn.train.protocols import build_run_config
    from medattn.train.report import Reporter
    from medattn.train.run import train_run
    from medattn.validation import check_sections

    if (out is None) == (resume is None):
        raise ConfigError("give exactly one of --out RUN_DIR (new run) or --resume RUN_DIR")
    flags = {
        "data": {"path": data, "recipe": recipe, "regime": regime, "duplicates": duplicates,
                 "max_dropped": max_dropped, "synthetic_n": synthetic_n, "synthetic_shortcut": shortcut},
        "model": {"preset": preset, "backbone": backbone, "attention": attention, "placement": placement,
                  "head": head, "num_classes": num_classes, "image_size": image_size, "pretrained": pretrained,
                  "weights": weights},
        "train": {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                  "optimizer": optimizer, "schedule": schedule, "loss": loss, "augmentation": augmentation, "amp": amp,
                  "patience": patience, "grad_clip": grad_clip, "seed": seed, "deterministic": deterministic,
                  "workers": workers, "class_weights": _parse_weights(class_weights),
                  "log": log.split(",") if log else None},
    }  # fmt: skip
    flags = check_sections({k: {f: v for f, v in flags[k].items() if v is not None} for k in flags}, None, flags=True)
    sections = check_sections(read_yaml(config), str(config)) if config else {}
    merged = {k: {**(sections.get(k) or {}), **flags[k]} for k in flags}
    run_config = None if resume else build_run_config(merged, hyperparameters=hyperparameters, flags=True)
    try:
        metrics = train_run(
            run_config, resume or out, resume=resume is not None, reporter=Reporter(quiet=quiet or as_json)
        )
    except KeyboardInterrupt:
        print(
            f"medattn: interrupted; the last completed epoch is saved: medattn train --resume {resume or out}",
            file=sys.stderr,
        )
        sys.exit(130)
    except TrainingError as exc:
        print(f"medattn: error: {exc}; last good checkpoint kept in {resume or out}/checkpoints", file=sys.stderr)
        sys.exit(1)
    _print_metrics(metrics, as_json, f"{resume or out}: test split")


@app.command("test")
def test_command(
    run: Annotated[Path, typer.Argument(help="Run directory.")],
    split: Annotated[str, Opt(help="Split to score: test, val, ood_test ...")] = "test",
    checkpoint: Annotated[str, Opt(help="best-val | best-train | last.")] = "best-val",
    data: Annotated[str | None, Opt(help="Another dataset (e.g. out-of-distribution).")] = None,
    recipe: Annotated[str | None, Opt(help="Release layout of --data.")] = None,
    name: Annotated[str | None, Opt(help="Result files' name (default: split; external-SPLIT with --data).")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score a trained run on a split with bootstrap confidence intervals."""
    from medattn.io import check_file_name
    from medattn.train.final import test_run

    if name is not None:
        check_file_name(name, "--name")
    override = {k: v for k, v in {"path": data, "recipe": recipe}.items() if v is not None}
    metrics = test_run(run, split=split, checkpoint=checkpoint, data=override or None, name=name)
    _print_metrics(metrics, as_json, f"{run}: {split} split, {checkpoint} checkpoint")


METRIC_ORDER = ("accuracy", "balanced_accuracy", "precision", "recall", "specificity", "f1", "mcc", "auc_roc",
                "auc_pr", "brier", "ece")  # fmt: skip


def _print_metrics(metrics: dict, as_json: bool, title: str) -> None:
    table = Table("metric", "value", "95 % CI", title=title)
    for name in METRIC_ORDER:
        m = metrics.get(name)
        if m:
            ci = "n/a" if m["ci_low"] is None else f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
            table.add_row(name, "n/a" if m["value"] is None else f"{m['value']:.3f}", ci)
    _emit(metrics, as_json, table)


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write images/, masks/ and manifest.csv into.")],
    n: Annotated[int, Opt(help="Number of images.")] = 1000,
    size: Annotated[int, Opt(help="Image side in pixels.")] = 64,
    seed: Annotated[int, Opt(help="Random seed.")] = 0,
    shortcut: Annotated[float | None, Opt(help="Marker-label agreement in train/val (0-1).")] = None,
    difficulty: Annotated[float, Opt(help="0 (easy) to 1 (hard).")] = 0.5,
    as_json: Annotated[bool, Opt("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Write the synthetic lesion benchmark (images, exact masks, optional shortcut marker)."""
    from medattn.data.sources import open_source
    from medattn.data.synthetic import write_synthetic_dataset
    from medattn.progress import progress_callback
    from medattn.validation import check_options, check_synthetic_size, naming

    check_options("synth", n=n, size=size, seed=seed, shortcut=shortcut, difficulty=difficulty)
    with naming("synth"):
        check_synthetic_size(n, size)
    try:
        with progress_callback("writing", quiet=as_json) as update:
            write_synthetic_dataset(out, n, size, seed=seed, shortcut=shortcut, difficulty=difficulty, progress=update)
    except ValueError as exc:
        raise ConfigError(f"synth: {exc}") from None
    except OSError as exc:  # a failed write() names no file: name the dataset folder
        raise exc if exc.filename else OSError(exc.errno, exc.strerror, str(out)) from None
    source = open_source(out, "synthetic")
    summary = {"out": str(out), "num_images": len(source.records), "counts": source.class_counts()}
    _emit(
        summary, as_json, _counts_table(f"{len(source.records):,} synthetic images", source.classes, summary["counts"])
    )


app.command("explain")(explain_command)
app.add_typer(reader_app, name="reader-study")
app.command("study")(study_command)
app.command("demo")(demo_command)
app.command("report")(report_command)
app.command("plan")(plan_command)
app.command("features")(features_command)


def _counts_table(title: str, classes, counts: dict) -> Table:
    """Images per split (rows) and class (columns)."""
    table = Table("split", *classes, title=title)
    for split, per_class in counts.items():
        table.add_row(str(split), *(f"{per_class.get(c, 0):,}" for c in classes))
    return table


def _parse_weights(text: str | None):
    if text is None or text == "balanced":
        return text
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise ConfigError(f"--class-weights '{text}': expected 'balanced' or numbers such as 1,3") from None


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
    except OSError as exc:  # disk full, read-only folder, a file where a folder belongs: the user's to fix
        print(f"medattn: error: {os_error_message(exc)}", file=sys.stderr)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        print("medattn: aborted", file=sys.stderr)
        sys.exit(130)
    except typer.exceptions.TyperException as exc:  # usage errors: unknown option, bad value
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"medattn: error: {message} (see medattn --help)", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
