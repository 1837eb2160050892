"""The demo job: baseline vs CBAM ResNet-18 on the synthetic lesion task, trained and tested."""

from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from medattn.config import ModelSpec
from medattn.data.synthetic import make_lesion_dataset
from medattn.evaluate.metrics import binary_metrics
from medattn.io import write_json_atomic
from medattn.models import create_model, model_info
from medattn.train.engine import fit, predict_scores

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def run_demo(
    out: Path,
    *,
    attentions: tuple[str, ...] = ("none", "cbam"),
    image_size: int = 64,
    n_train: int = 768,
    n_test: int = 384,
    epochs: int = 4,
    seed: int = 0,
    quiet: bool = False,
) -> list[dict]:
    """Train and test one model per attention on the same data and seed; write ``results.json``."""
    train_x, train_y, _ = make_lesion_dataset(n_train, image_size, seed=seed)
    test_x, test_y, _ = make_lesion_dataset(n_test, image_size, seed=seed + 1)
    train_set = TensorDataset((train_x - MEAN) / STD, train_y)
    test_loader = DataLoader(TensorDataset((test_x - MEAN) / STD, test_y), batch_size=128)
    results = []
    for attention in attentions:
        torch.manual_seed(seed)
        spec = ModelSpec(backbone="resnet18", attention=attention, preset="rao2023", image_size=image_size)
        model = create_model(spec)
        loader = DataLoader(train_set, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(seed))
        losses = fit(model, loader, epochs=epochs, lr=0.05, quiet=quiet)
        scores, labels = predict_scores(model, test_loader)
        info = model_info(model, macs=False)
        metrics = binary_metrics(labels.numpy(), scores[:, 1].numpy())
        results.append({"attention": attention, "params": info["params"], "train_loss": losses, **metrics})
        write_json_atomic(out / "results.json", results)
    return results
