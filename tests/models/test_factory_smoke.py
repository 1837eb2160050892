"""Every valid backbone x attention x placement: builds, runs, trains, and suits explainers."""

import pytest
import torch

from medattn.config import ModelSpec
from medattn.models import create_model
from medattn.models.attention import attention_names
from medattn.models.backbones import BACKBONES
from medattn.models.catalog import valid_combinations
from medattn.models.checks import explainer_problems

COMBINATIONS = valid_combinations()
IDS = [f"{b}-{a}-{p or 'default'}" for b, a, p in COMBINATIONS]


def _build(backbone, attention, placement, image_size, num_classes=3):
    spec = ModelSpec(backbone, attention, placement, num_classes=num_classes, image_size=image_size)
    return create_model(spec, load_weights=False)


def test_the_matrix_covers_every_backbone_and_mechanism():
    assert len(COMBINATIONS) >= 60
    assert {b for b, _, _ in COMBINATIONS} == set(BACKBONES)
    attentions = {a for _, a, _ in COMBINATIONS}
    assert set(attention_names()) | {"ga+la", "ga+ela"} <= attentions
    assert set(attention_names()) >= {"se", "cbam", "gc", "eca", "ga", "la", "ela", "mldam", "mldam-goncalves2021"}


@pytest.mark.parametrize("backbone, attention, placement", COMBINATIONS, ids=IDS)
def test_trains_at_64px_and_every_parameter_gets_a_gradient(backbone, attention, placement):
    model = _build(backbone, attention, placement, 64)
    with torch.no_grad():  # wake zero-initialised gates so that a missing gradient path shows up
        for p in model.parameters():
            if not p.any():
                p.normal_(0, 0.01)
    logits = model(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 3)
    assert torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    unreached = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unreached, f"parameters the forward pass never used: {unreached[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    # A single-unit bottleneck (SE on 16 channels) may sit behind a dead ReLU, so require a nonzero
    # gradient per attention mechanism rather than per tensor.
    attention = [p.grad.abs().sum() for n, p in model.named_parameters() if n in model.attention_parameters]
    assert not attention or sum(attention) > 0
    assert all(p.grad.abs().sum() > 0 for p in model.head.parameters())


@pytest.mark.parametrize("backbone, attention, placement", COMBINATIONS, ids=IDS)
def test_forward_at_224px_is_finite_and_explainer_friendly(backbone, attention, placement):
    model = _build(backbone, attention, placement, 224, num_classes=2).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()
    assert explainer_problems(model, x) == []
