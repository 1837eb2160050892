"""What a variant costs (seed 001's complexity question): parameters, MACs, latency, throughput.

Latency and throughput are measured on the machine that ran the study, in the same process
conditions as training (the task's thread count), so they compare variants of one study; across
machines only their ratios mean something.
"""

import csv
import statistics
import time
from pathlib import Path

import torch

from medattn.models import create_model
from medattn.models.summary import count_macs, model_info
from medattn.train.rundir import read_config

LATENCY_BATCH = 8
LATENCY_REPEATS = 5


def inference_latency_ms(model: torch.nn.Module, image_size: int, batch: int = LATENCY_BATCH) -> float:
    """Median milliseconds per image of an eval-mode forward pass over a batch (after one warm-up)."""
    device = next(model.parameters()).device
    images = torch.zeros(batch, 3, image_size, image_size, device=device)
    model.eval()
    timings = []
    with torch.no_grad():
        for repeat in range(LATENCY_REPEATS + 1):
            start = time.perf_counter()
            model(images)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if repeat:
                timings.append((time.perf_counter() - start) * 1000 / batch)
    return statistics.median(timings)


def training_throughput(run_dir: Path) -> float | None:
    """Median training images per second over the run's epochs (from history.csv)."""
    path = Path(run_dir) / "history.csv"
    if not path.is_file():
        return None
    values = [float(row["images_per_second"]) for row in csv.DictReader(path.open())]
    return statistics.median(values) if values else None


def training_cost(run_dir: Path) -> dict:
    """Parameters (all / attention), MACs per image, inference ms per image, training images/s."""
    config = read_config(Path(run_dir))
    size = config.model.image_size or 224
    model = create_model(config.model, load_weights=False)
    names = set(model.attention_parameters)
    return {
        "params": model_info(model, macs=False)["params"],
        "attention_params": sum(p.numel() for n, p in model.named_parameters() if n in names),
        "macs": count_macs(model, size),
        "latency_ms": inference_latency_ms(model, size),
        "train_images_per_second": training_throughput(run_dir),
        "threads": torch.get_num_threads(),
    }
