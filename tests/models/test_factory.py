"""Factory behaviour: validation messages, identity at initialisation, placements, heads."""

import pytest
import timm
import torch
from torch import nn

from medattn.config import ModelSpec
from medattn.errors import ConfigError
from medattn.models import create_model, model_info
from medattn.models.attention.local_attn import EmbeddedLocalAttention, LocalSelfAttention
from medattn.models.attention.nonlocal_attn import NonLocalAttention
from medattn.models.blocks import ResidualUnit


def build(backbone="resnet18", attention="none", **kw):
    kw.setdefault("image_size", 64)
    return create_model(ModelSpec(backbone, attention, **kw), load_weights=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(backbone="resnet34"), "unknown backbone 'resnet34'; choose one of: resnet18, resnet50"),
        (dict(attention="bam"), "unknown attention 'bam'; choose one of: none, se, cbam"),
        (dict(attention="se+bam"), "unknown attention 'bam'"),
        (dict(attention="se", placement="middle"), "unknown placement 'middle'; choose one of: block, stage"),
        (dict(head="mlp"), "unknown head 'mlp'; choose one of: gap, flatten"),
        (dict(preset="smith2020"), "unknown preset 'smith2020'; choose one of: goncalves2021"),
        (dict(num_classes=0), "--num-classes must be at least 1"),
        (dict(backbone="densenet121", attention="la"), "attention 'la' cannot go at placement 'None' in densenet121"),
        (dict(backbone="vgg16", attention="se", placement="block"), "valid placements: stage"),
        (dict(attention="ga", placement="block"), "valid placements: stage"),
        (dict(backbone="deit_tiny", attention="se"), "'deit_tiny' is attention-only"),
        (dict(backbone="vit_tiny", head="flatten"), "head 'flatten' needs a CNN feature map"),
        (dict(attention="ga+la", placement="stage"), "one placement per mechanism"),
        (dict(attention="mldam+mldam-goncalves2021"), "combines two heads"),
        (dict(attention="se", placement="stage", stages=(7,)), "--stages [7]: resnet18 has feature levels 0..4"),
        (dict(preset="rao2023", backbone="vgg16"), "preset 'rao2023' has no backbone 'vgg16'; choose one of: resnet18"),
        (dict(preset="rao2023", attention="ga"), "preset 'rao2023' has no attention 'ga'; choose one of: none, se"),
    ],
)
def test_invalid_specs_raise_one_line_errors_listing_valid_choices(kwargs, message):
    with pytest.raises(ConfigError) as err:
        build(**kwargs)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        build(backbone="nope")


def _replace(model: nn.Module, kind: type, make) -> int:
    count = 0
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, kind):
                setattr(parent, name, make(child))
                count += 1
    return count


@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_b0"])
def test_ga_is_identity_at_initialisation(backbone):
    model = build(backbone, "ga").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        with_ga = model(x)
        assert _replace(model, NonLocalAttention, lambda m: nn.Identity()) == 2
        torch.testing.assert_close(model(x), with_ga)


@pytest.mark.parametrize("backbone, replaced", [("resnet18", 4), ("efficientnet_b0", 1)])
def test_ela_is_identity_at_initialisation(backbone, replaced):
    model = build(backbone, "ga+ela").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        with_ela = model(x)
        assert _replace(model, EmbeddedLocalAttention, lambda m: m.original) == replaced
        torch.testing.assert_close(model(x), with_ela)


def test_block_placement_puts_attention_before_every_residual_addition():
    model = build("resnet50", "se")
    units = [m for m in model.modules() if isinstance(m, ResidualUnit)]
    assert len(units) == 16 and all(type(u.attn).__name__ == "SqueezeExcite" for u in units)
    assert model_info(model, macs=False)["attention_modules"] == 16


def test_attention_modules_are_counted_once_even_when_nested():
    assert model_info(build("resnet18", "ga+ela"), macs=False)["attention_modules"] == 2 + 4


def test_stage_placement_uses_feature_levels_and_ga_defaults_to_strides_4_and_8():
    model = build("resnet18", "ga")
    names = [n for n, m in model.named_modules() if isinstance(m, NonLocalAttention)]
    assert names == ["backbone.stages.1.ga", "backbone.stages.2.ga"]
    vgg = build("vgg16", "ga")
    assert [m.theta.in_channels for m in vgg.modules() if isinstance(m, NonLocalAttention)] == [256, 512]
    custom = build("resnet18", "se", placement="stage", stages=(3, 4))
    se_256, se_512 = 256 * 16 + 16 + 16 * 256 + 256, 512 * 32 + 32 + 32 * 512 + 512
    assert model_info(custom, macs=False)["attention_params"] == se_256 + se_512


@pytest.mark.parametrize("attention", ["la", "ela"])
def test_replace_last_puts_local_attention_into_vggs_last_convolutional_stage(attention):
    # VGG-16's last feature level holds only the final max-pool; its three 3x3 convolutions are one level up.
    model = build("vgg16", attention)
    kinds = {"la": LocalSelfAttention, "ela": EmbeddedLocalAttention}
    names = [n for n, m in model.named_modules() if isinstance(m, kinds[attention])]
    assert names == [f"backbone.stages.4.features_{i}" for i in (24, 26, 28)]


def test_converted_blocks_compute_the_same_function_as_timm():
    for name in ["resnet18", "resnet50", "efficientnet_b0"]:
        reference = timm.create_model(name, num_classes=4).eval()
        model = build(name, num_classes=4).eval()
        source = reference.state_dict()
        target = model.state_dict()
        assert len(source) == len(target)
        model.load_state_dict(dict(zip(target, source.values(), strict=True)))  # same order, same tensors
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-4)


def test_flatten_head_refuses_other_input_sizes_with_a_clear_message():
    model = build("densenet121", head="flatten", image_size=64)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2)
    with pytest.raises(ValueError, match="flatten head built for a \\(2, 2\\) feature grid got \\(3, 3\\)"):
        model(torch.randn(1, 3, 96, 96))


@pytest.mark.parametrize("size", [64, 96, 160])
def test_mldam_heads_work_at_any_input_size(size):
    for attention in ("mldam", "mldam-goncalves2021"):
        model = build("resnet18", attention, image_size=size).eval()
        assert model(torch.randn(1, 3, size, size)).shape == (1, 2)
        assert model_info(model, macs=False)["head"] == attention


def test_single_logit_head_for_binary_sigmoid_training():
    assert build(num_classes=1)(torch.randn(2, 3, 64, 64)).shape == (2, 1)


def test_vit_runs_at_small_sizes_and_keeps_pretrained_sized_position_embedding():
    model = build("deit_tiny", image_size=64)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2)
    assert model.backbone.pos_embed.shape == (1, 197, 192)


def test_attention_parameter_counts_exclude_the_wrapped_original_layers():
    info = model_info(build("resnet18", "ela", num_classes=3), macs=False)
    assert info["attention_params"] == info["params"] - 11_178_051


def test_spec_round_trips_through_a_dict():
    spec = ModelSpec("resnet18", "ga+la", stages=(1, 2), attention_options={"ga": {"rd_ratio": 0.25}})
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ConfigError, match="unknown key 'backbon'"):
        ModelSpec.from_dict({"backbon": "resnet18"})


def test_attention_options_reach_the_modules():
    model = build("resnet18", "ga", attention_options={"ga": {"rd_ratio": 0.25}})
    assert [m.theta.out_channels for m in model.modules() if isinstance(m, NonLocalAttention)] == [16, 32]
