"""Optimisers, schedules, losses and protocols, checked value by value."""

import pytest
import torch
from torch import nn

from medattn.config import TrainSpec
from medattn.errors import ConfigError
from medattn.train.protocols import build_run_config, resolve_train
from medattn.train.setup import (
    build_loss,
    build_optimizer,
    build_scheduler,
    class_weight_tensor,
    milestone_epochs,
    probabilities,
)


def _lrs(spec: TrainSpec) -> list[float]:
    model = nn.Linear(2, 2)
    optimizer = build_optimizer(model, spec)
    scheduler = build_scheduler(optimizer, spec)
    lrs = []
    for _ in range(spec.epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(1.0) if spec.schedule == "plateau" else scheduler.step()
    return lrs


def test_step_decay_at_30_60_90_percent_of_training():
    spec = TrainSpec(epochs=10, lr=0.05, schedule="step", milestones=(0.3, 0.6, 0.9), gamma=0.1)
    assert milestone_epochs(spec) == [3, 6, 9]
    assert _lrs(spec) == pytest.approx([0.05] * 3 + [0.005] * 3 + [0.0005] * 3 + [0.00005])


def test_cosine_plateau_and_constant_schedules():
    cosine = _lrs(TrainSpec(epochs=4, lr=1.0, schedule="cosine"))
    assert cosine[0] == 1.0 and cosine == sorted(cosine, reverse=True) and cosine[2] == pytest.approx(0.5)
    assert _lrs(TrainSpec(epochs=3, lr=0.1, schedule="constant")) == [0.1] * 3
    plateau = _lrs(TrainSpec(epochs=6, lr=0.1, schedule="plateau", gamma=0.5))
    assert plateau[:4] == [0.1] * 4 and plateau[-1] == 0.05  # no improvement for 3 epochs -> halved


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("loss, classes", [("ce", 2), ("ce", 3), ("bce", 1), ("bce", 2)])
def test_every_optimiser_and_loss_trains_a_toy_model(optimizer, loss, classes):
    torch.manual_seed(0)
    spec = TrainSpec(optimizer=optimizer, loss=loss, lr=0.1)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long() if classes < 3 else (x[:, 0] > 0).long() + (x[:, 1] > 1).long()
    model = nn.Linear(4, classes)
    opt, loss_fn = build_optimizer(model, spec), build_loss(spec, classes, None)
    first = loss_fn(model(x), y).item()
    for _ in range(30):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    assert loss_fn(model(x), y).item() < first
    probs = probabilities(model(x), spec)
    assert probs.shape == (64, max(classes, 2)) and torch.allclose(probs.sum(1), torch.ones(64))


def test_losses_match_their_definitions():
    logits, labels = torch.tensor([[0.3], [-1.2]]), torch.tensor([1, 0])
    bce = build_loss(TrainSpec(loss="bce"), 1, None)(logits, labels)
    expected = -(torch.log(torch.sigmoid(torch.tensor(0.3))) + torch.log(1 - torch.sigmoid(torch.tensor(-1.2)))) / 2
    assert bce.item() == pytest.approx(expected.item(), rel=1e-6)
    two = torch.tensor([[0.2, 1.0], [0.5, -0.5]])
    ce = build_loss(TrainSpec(loss="ce"), 2, torch.tensor([1.0, 3.0]))(two, labels)
    assert ce.item() == pytest.approx(nn.functional.cross_entropy(two, labels, weight=torch.tensor([1.0, 3.0])).item())


def test_balanced_class_weights():
    weights = class_weight_tensor(TrainSpec(class_weights="balanced"), torch.tensor([0, 0, 0, 1]), 2)
    assert weights.tolist() == pytest.approx([4 / 6, 4 / 2])
    with pytest.raises(ConfigError, match="3 given for 2 classes"):
        class_weight_tensor(TrainSpec(class_weights=(1.0, 2.0, 3.0)), torch.tensor([0, 1]), 2)
    with pytest.raises(ConfigError, match="loss 'ce' needs at least 2 logits"):
        build_loss(TrainSpec(loss="ce"), 1, None)


def test_protocols_apply_then_overrides_win_and_scaling_is_recorded():
    rao = resolve_train({"epochs": 5}, preset="rao2023")
    assert (rao.optimizer, rao.lr, rao.batch_size, rao.schedule, rao.epochs) == ("sgd", 0.05, 64, "step", 5)
    assert rao.scaled == {"epochs": [100, 5]} and rao.protocol == "rao2023"
    ela = resolve_train({}, preset="piater2024", backbone="efficientnet_b0", attention="ela")
    assert (ela.lr, ela.weight_decay, ela.augmentation) == (0.001, 0.0, "perez2018")
    camelyon = resolve_train({}, preset="piater2024", backbone="resnet18", attention="la", hyperparameters="camelyon17")
    assert (camelyon.lr, camelyon.weight_decay) == (0.0001, 0.01)
    assert resolve_train({"lr": 0.3}, preset="goncalves2021").lr == 0.3
    config = build_run_config({"model": {"preset": "rao2023", "backbone": "resnet18", "image_size": 64}})
    assert config.train.scaled == {"image_size": [224, 64]}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; choose one of: sgd, adam"),
        ({"schedule": "linear"}, "unknown schedule 'linear'"),
        ({"epochs": 0}, "--epochs must be at least 1"),
        ({"augmentation": "heavy"}, "unknown augmentation 'heavy'"),
        ({"momentum_x": 1}, "unknown key 'momentum_x'"),
    ],
)
def test_invalid_training_settings(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve_train(overrides)
    with pytest.raises(ConfigError, match="unknown hyperparameter set 'isbi'"):
        resolve_train({}, preset="piater2024", backbone="resnet18", hyperparameters="isbi")


def test_a_failed_checkpoint_write_leaves_the_previous_one_intact(tmp_path, monkeypatch):
    import medattn.train.checkpoint as checkpoint

    model = nn.Linear(2, 2)
    path = checkpoint.save_weights(model, tmp_path / "last.safetensors")
    before = path.read_bytes()

    real_open = open

    def disk_full(filename, mode="r", *args, **kwargs):  # the write of the temporary file fails half-way
        if "w" not in mode or not str(filename).endswith(".tmp"):
            return real_open(filename, mode, *args, **kwargs)
        with real_open(filename, mode) as handle:
            handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("builtins.open", disk_full)
    with torch.no_grad():
        model.weight.add_(1)
    with pytest.raises(OSError, match="No space left"):
        checkpoint.save_weights(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "plateau"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("loss, classes", [("ce", 2), ("bce", 1), ("bce", 2)])
def test_every_loss_optimiser_schedule_combination_runs_through_the_epoch_loops(schedule, optimizer, loss, classes):
    from medattn.train.engine import Precision, evaluate, train_epoch

    torch.manual_seed(0)
    spec = TrainSpec(epochs=3, schedule=schedule, optimizer=optimizer, loss=loss, lr=0.05)
    x = torch.randn(48, 4)
    loader = [(x[i : i + 16], (x[i : i + 16, 0] > 0).long()) for i in range(0, 48, 16)]
    model = nn.Linear(4, classes)
    opt, loss_fn = build_optimizer(model, spec), build_loss(spec, classes, None)
    scheduler, cpu = build_scheduler(opt, spec), Precision(torch.device("cpu"))
    losses = []
    for epoch in range(spec.epochs):
        train_epoch(model, loader, loss_fn, opt, cpu, epoch=epoch)
        val_loss, probs, labels = evaluate(model, loader, loss_fn, cpu, lambda z: probabilities(z, spec))
        scheduler.step(val_loss) if schedule == "plateau" else scheduler.step()
        losses.append(val_loss)
    assert losses[-1] < losses[0] and probs.shape == (48, 2) and labels.shape == (48,)
