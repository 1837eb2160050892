"""Presets rebuild the published architectures: parameter counts equal the papers' tables."""

import pytest

from medattn.config import ModelSpec
from medattn.models import create_model, model_info


def _reported(preset, backbone, attention, **kw):
    model = create_model(ModelSpec(backbone, attention, preset=preset, **kw), load_weights=False)
    return model_info(model, macs=False)


# Seed 001 (Goncalves et al. 2022 survey, talk slide "Are we decreasing the complexity"), 2 classes.
SEED_001 = [
    ("densenet121", "none", 7_054_210),
    ("resnet50", "none", 23_512_130),
    ("densenet121", "se", 7_357_314),
    ("resnet50", "se", 26_027_074),
    ("densenet121", "cbam", 7_360_706),
    ("resnet50", "cbam", 26_044_722),
    ("deit_tiny", "none", 5_486_786),
]


@pytest.mark.parametrize("backbone, attention, expected", SEED_001)
def test_goncalves2022_counts_match_seed_001(backbone, attention, expected):
    assert _reported("goncalves2022", backbone, attention)["params_reported"] == expected


def test_deit_reported_count_leaves_out_position_embedding_and_class_token():
    info = _reported("goncalves2022", "deit_tiny", "none")
    assert info["params"] - info["params_reported"] == 197 * 192 + 192


# Seed 004 (Piater et al. 2024) Table 1, 3 classes, millions with two decimals.
SEED_004 = [
    ("resnet18", "none", 11.18),
    ("resnet18", "ga", 11.22),
    ("resnet18", "la", 5.67),
    ("resnet18", "ga+la", 5.71),
    ("resnet18", "ela", 14.98),
    ("resnet18", "ga+ela", 15.02),
    ("efficientnet_b0", "none", 4.01),
    ("efficientnet_b0", "ga", 4.02),
    ("efficientnet_b0", "la", 3.48),
    ("efficientnet_b0", "ga+la", 3.48),
    ("efficientnet_b0", "ela", 4.30),
    ("efficientnet_b0", "ga+ela", 4.30),
    ("vit_tiny", "none", 5.49),
]


@pytest.mark.parametrize("backbone, attention, millions", SEED_004)
def test_piater2024_counts_match_seed_004_table_1(backbone, attention, millions):
    info = _reported("piater2024", backbone, attention)
    assert info["num_classes"] == 3
    assert round(info["params_reported"] / 1e6, 2) == millions


@pytest.mark.parametrize(
    "backbone, attention, percent",
    [
        ("resnet18", "ga", 0.37),
        ("resnet18", "la", -49.25),
        ("resnet18", "ela", 34.02),
        ("resnet18", "ga+ela", 34.40),
        ("efficientnet_b0", "ga", 0.12),
        ("efficientnet_b0", "ela", 7.16),
        ("efficientnet_b0", "ga+ela", 7.27),
        ("efficientnet_b0", "ga+la", -13.17),
    ],
)
def test_piater2024_relative_changes_match_table_1(backbone, attention, percent):
    base = _reported("piater2024", backbone, "none")["params_reported"]
    change = 100 * (_reported("piater2024", backbone, attention)["params_reported"] - base) / base
    assert round(change, 2) == percent


def test_goncalves2021_vgg16_flatten_head_matches_seed_000_code():
    info = _reported("goncalves2021", "vgg16", "none")
    assert info["head"] == "flatten" and info["params"] == 14_764_866


def test_preset_conventions_apply_only_where_they_matter():
    info = _reported("rao2023", "resnet18", "cbam")
    assert info["params"] == info["params_reported"] and info["placement"] == "block"
    assert info["attention_params"] == info["params"] - 11_177_538


def test_user_values_override_the_preset():
    info = _reported("goncalves2022", "resnet50", "se", num_classes=5)
    assert info["num_classes"] == 5 and info["params_reported"] == 26_027_074 - 2 * 2049 + 5 * 2049
