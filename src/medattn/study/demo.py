"""The demo job: ResNet-18 with and without CBAM on the synthetic lesion benchmark, each trained
under Rao et al.'s protocol (scaled down) through the full training engine, then tested."""

from pathlib import Path

from medattn.config import DataSpec, ModelSpec, RunConfig
from medattn.io import write_json_atomic
from medattn.models import create_model, model_info
from medattn.train.protocols import resolve_train
from medattn.train.report import Reporter
from medattn.train.run import train_run

SUMMARY_METRICS = ("auc_roc", "balanced_accuracy", "sensitivity", "specificity", "ece")


def run_demo(
    out: Path,
    *,
    attentions: tuple[str, ...] = ("none", "cbam"),
    image_size: int = 64,
    n_images: int = 800,
    epochs: int = 6,
    seed: int = 0,
    quiet: bool = False,
) -> list[dict]:
    """Train and test one run per attention (same data, same seed); write ``results.json``.

    Each run is a full run directory under ``out`` (config, history, checkpoints, predictions,
    metrics with bootstrap CIs).
    """
    results = []
    for attention in attentions:
        model = ModelSpec("resnet18", attention, preset="rao2023", image_size=image_size)
        train = resolve_train(
            {"epochs": epochs, "seed": seed}, preset="rao2023", backbone="resnet18", attention=attention
        )
        config = RunConfig(DataSpec(synthetic_n=n_images), model, train)
        run = out / attention
        metrics = train_run(config, run, resume=(run / "config.yaml").exists(), reporter=Reporter(quiet=quiet))
        params = model_info(create_model(model, load_weights=False), macs=False)["params"]
        summary = {name: metrics[_key(name)] for name in SUMMARY_METRICS}
        results.append({"attention": attention, "params": params, "run": str(run), "n": metrics["n"], **summary})
        write_json_atomic(out / "results.json", results)
    return results


def _key(name: str) -> str:
    return "recall" if name == "sensitivity" else name
