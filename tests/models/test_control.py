"""Parameter-matched controls (``matched-<name>``): sizes, identity at initialisation, integration."""

import json

import pytest
import torch

from medattn.config import ModelSpec
from medattn.errors import ConfigError
from medattn.models import create_model, model_info
from medattn.models.attention.control import MatchedBottleneck, matched_width
from medattn.models.blocks import ResidualUnit
from medattn.models.catalog import catalog, valid_combinations
from medattn.models.checks import explainer_problems
from medattn.models.layers import Add
from medattn.train.protocols import resolve_train

from ..cli_helpers import run_cli


def build(attention="none", backbone="resnet18", **kw):
    kw.setdefault("image_size", 64)
    return create_model(ModelSpec(backbone, attention, **kw), load_weights=False)


def info(attention, **kw):
    return model_info(build(attention, **kw), macs=False)


def widths(model):
    return [m.fc1.out_channels for m in model.modules() if isinstance(m, MatchedBottleneck)]


@pytest.mark.parametrize(
    "attention, placement, mechanism, control",
    [
        ("se", "block", 89_080, 89_080),  # exact: h = SE's reduction width
        ("cbam", "block", 89_880, 89_595),  # -0.32 %
        ("gc", "block", 91_248, 91_004),  # -0.27 %
        ("gc", "stage", 45_624, 45_182),  # -0.97 %: the last step (C = 512) is 1025 parameters
    ],
)
def test_resnet18_control_matches_the_mechanisms_parameter_count(attention, placement, mechanism, control):
    attended = info(attention, placement=placement)
    matched = info(f"matched-{attention}", placement=placement)
    assert attended["attention_params"] == mechanism and matched["attention_params"] == control
    assert abs(control - mechanism) < 0.01 * mechanism
    assert matched["params"] - info("none")["params"] == control
    assert matched["attention_modules"] == attended["attention_modules"] and matched["placement"] == placement


def test_width_is_nearest_after_carrying_the_surplus():
    # GC on 64 channels has 653 parameters: h = 4 gives 580, h = 5 gives 709 (nearer); the next
    # position then owes 56 and takes h = 4 (ResNet-18 blocks: 64, 64, 128, 128, ...).
    assert matched_width(653, 64, bias=True) == 5 and matched_width(653 - 56, 64, bias=True) == 4
    assert widths(build("matched-gc")) == [5, 4, 9, 8, 17, 16, 33, 32]
    assert matched_width(3, 64, bias=False) == 0  # ECA's 3-weight convolution: nothing is nearer than no module


def test_eca_has_no_control_and_says_why_in_one_line():
    with pytest.raises(ConfigError, match=r"^attention 'matched-eca': eca adds 3 parameters at 64 channels, under"):
        build("matched-eca")


def test_control_is_the_baseline_at_initialisation():
    baseline, matched = build().eval(), build("matched-cbam").eval()
    missing, unexpected = matched.load_state_dict(baseline.state_dict(), strict=False)
    assert not unexpected and set(missing) == set(matched.attention_parameters)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(matched(x), baseline(x))


def test_control_is_a_plain_residual_bottleneck_explainers_can_follow():
    model = build("matched-se")
    units = [m for m in model.modules() if isinstance(m, ResidualUnit)]
    assert all(isinstance(u.attn, MatchedBottleneck) and isinstance(u.attn.residual, Add) for u in units)
    assert explainer_problems(model.eval(), torch.randn(1, 3, 64, 64)) == []


def test_gradients_reach_every_control_parameter():
    model = build("matched-gc", num_classes=3)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 64, 64)), torch.tensor([0, 2]))
    loss.backward()
    controls = [m for m in model.modules() if isinstance(m, MatchedBottleneck)]
    assert all(m.fc2.weight.grad.abs().sum() > 0 for m in controls)  # the zero-initialised conv learns first
    with torch.no_grad():  # wake the zero-initialised convs and timm's zero-initialised last BN of each block
        for p in model.parameters():
            if not p.any():
                p.normal_(0, 0.01)
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 64, 64)), torch.tensor([0, 2])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for m in controls for p in m.parameters())


def test_rao2023_preset_accepts_the_control_with_the_mechanisms_options():
    model = create_model(ModelSpec("resnet18", "matched-cbam", preset="rao2023"), load_weights=False)
    assert model.spec.attention_options == {"matched-cbam": {"mlp_bias": True}} and model.spec.placement == "block"
    assert model_info(model, macs=False)["attention_params"] == 89_595


def test_control_follows_the_mechanisms_bias_convention():
    # Seed 001's SE has no biases (goncalves2022); its control has none either and matches exactly.
    spec = dict(backbone="resnet50", preset="goncalves2022", image_size=64)
    matched = build("matched-se", **spec)
    assert (
        info("se", **spec)["attention_params"] == model_info(matched, macs=False)["attention_params"] == 2_514_944
    )  # 2 C^2/16 per block
    assert all(m.fc1.bias is None and m.fc2.bias is None for m in matched.modules() if isinstance(m, MatchedBottleneck))


def test_control_trains_with_its_mechanisms_tuned_hyperparameters():
    # piater2024 Table 5, ISIC, ResNet-18: none [1e-3, 1e-4], ga [1e-3, 0].
    train = resolve_train({}, preset="piater2024", backbone="resnet18", attention="matched-ga", hyperparameters="isic")
    assert (train.lr, train.weight_decay) == (0.001, 0.0)


@pytest.mark.parametrize(
    "attention, backbone, message",
    [
        ("matched-mldam", "resnet18", "attention 'matched-mldam': 'mldam' goes only at placement head, not block or"),
        ("matched-la", "resnet18", "'la' goes only at placement replace-last, not block or stage, so it has no"),
        ("matched-se", "deit_tiny", "backbone 'deit_tiny' is attention-only; it takes attention 'none'"),
        ("matched-bam", "resnet18", "unknown attention 'matched-bam'; choose one of: none, se, cbam"),
    ],
)
def test_controls_without_block_or_stage_positions_are_refused_in_one_line(attention, backbone, message):
    with pytest.raises(ConfigError) as err:
        build(attention, backbone)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_catalog_lists_controls_apart_and_the_combination_matrix_is_unchanged():
    controls = catalog()["controls"]
    assert controls["matched-gc"] == {"matches": "gc", "placements": ["block", "stage"]}
    assert set(controls) == {"matched-se", "matched-cbam", "matched-gc", "matched-eca", "matched-ga"}
    assert not [a for _, a, _ in valid_combinations() if "matched" in a]


def test_cli_model_info_reports_the_control(capsys, monkeypatch):
    code, out, _ = run_cli(
        capsys, monkeypatch, "model-info", "--attention", "matched-cbam", "--image-size", "64", "--json"
    )
    assert code == 0 and json.loads(out)["attention_params"] == 89_595
