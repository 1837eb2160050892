"""The shipped studies: each parses, expands without touching its data, and has its paper's grid."""

import itertools

import pytest

from medattn.errors import ConfigError
from medattn.models.presets import apply_preset
from medattn.study.config import load_study, study_presets
from medattn.study.grid import expand_grid
from medattn.study.search import search_cells, study_search

SHIPPED = (
    "amp-equivalence",
    "demo",
    "goncalves2021",
    "goncalves2022",
    "ph2",
    "piater2024",
    "quickstart",
    "rao2023",
    "rao2023-ct-cpu",
    "rao2023-mri-cpu",
    "rao2023-mri-cpu-asreleased",
)

# Cells of each study's grid, counted from the paper.
CELLS = {
    "amp-equivalence": 2 * 2 * 10,  # ResNet-18 none/CBAM x fp32/bf16 autocast x 10 paired seeds (issue 15)
    "demo": 2 * 3,  # none/CBAM x 3 seeds: the grid `medattn demo` runs in about 80 s on 2 cores
    "quickstart": 4 * 3,  # rao2023's grid (none/SE/CBAM/GC x 3 runs) on the synthetic benchmark
    "rao2023": 4 * 3,  # seed 002, Tables 1/3/5/6: ResNet-18, +SE, +CBAM, +GC, "Test 1-3"
    "rao2023-ct-cpu": 4 * 5,  # the same grid on COVID-CT (Table 6), scaled to a 2-core CPU, 5 paired seeds
    "rao2023-mri-cpu": 4 * 3,  # the same grid on the MRI set (Table 5), scaled to a 2-core CPU (issue 7)
    "rao2023-mri-cpu-asreleased": 4 * 3,  # the same, test copies of training images kept (the release as is)
    "goncalves2021": 3 * 2 * 2,  # seed 000, Tables 1-2: 3 backbones x use-cases (a)-(d), one run each
    "goncalves2022": 2 * 3 * 4,  # seed 001: DenseNet-121/ResNet-50 x none/SE/CBAM x regimes 1/10/50/100 %
    "piater2024": 2 * 6 * 10,  # seed 004, Tables 1-2: 2 backbones x 6 attention variants x 10 splits
    "ph2": 5 * 10,  # ResNet-18 none/SE/CBAM/GC + matched-cbam x 10 repeated stratified splits (issue 16)
}


SYNTHETIC = ("amp-equivalence", "demo", "quickstart")  # studies on the synthetic benchmark, no data folder of their own


def expanded(name: str, tmp_path) -> tuple:
    """The study on a data path that does not exist (expansion must not open it), and its cells."""
    study = load_study(name, data=None if name in SYNTHETIC else str(tmp_path / "absent"))
    return study, expand_grid(study)


def models(cells) -> list:
    return [apply_preset(cell.config.model)[0] for cell in cells]


def test_the_shipped_studies_are_quickstart_one_per_seed_paper_and_the_cpu_reproduction():
    assert tuple(study_presets()) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_study_expands_to_its_papers_cell_count_without_touching_the_data(name, tmp_path):
    study, cells = expanded(name, tmp_path)
    assert study.name == name
    assert len(cells) == CELLS[name]
    assert len({cell.key for cell in cells}) == len(cells)
    assert not (tmp_path / "absent").exists()
    variants = [tuple(cell.variant.values()) for cell in cells]
    assert set(variants) == set(itertools.product(*study.factors.values()))
    assert all(variants.count(v) == len(study.seeds) for v in set(variants))


@pytest.mark.parametrize("name", [n for n in SHIPPED if n not in SYNTHETIC])
def test_a_shipped_study_on_your_data_keeps_its_recipe_and_replaces_the_path(name):
    study = load_study(name, data="/data/mine")
    assert study.data["path"] == "/data/mine" and study.data["recipe"]
    assert load_study(name).data.get("path") is None  # real-data studies name no path of their own


def test_quickstart_on_your_data_drops_the_synthetic_settings():
    assert load_study("quickstart").data == {"synthetic_n": 600, "synthetic_shortcut": 0.9}
    assert load_study("quickstart", data="/data/mine").data == {"path": "/data/mine"}


def test_an_unknown_study_is_a_one_line_error_listing_the_shipped_ones():
    with pytest.raises(ConfigError, match="nope: study file not found; shipped studies: " + ", ".join(SHIPPED)) as e:
        load_study("nope")
    assert "\n" not in str(e.value)


def test_quickstart_is_rao2023_scaled_down_on_the_synthetic_shortcut_benchmark(tmp_path):
    study, cells = expanded("quickstart", tmp_path)
    for cell, model in zip(cells, models(cells), strict=True):
        assert cell.config.data.path is None and cell.config.data.synthetic_shortcut == 0.9
        assert (model.backbone, model.pretrained, model.image_size) == ("resnet18", False, 64)
        assert cell.config.train.scaled == {"epochs": [100, 6], "image_size": [224, 64]}
    assert study.explain["scores"] == ["localisation", "faithfulness", "complexity"]


def test_demo_is_a_smaller_quickstart_whose_marker_the_test_split_breaks(tmp_path):
    study, cells = expanded("demo", tmp_path)
    for cell, model in zip(cells, models(cells), strict=True):
        assert cell.config.data.path is None and cell.config.data.synthetic_shortcut == 0.95
        assert (model.backbone, model.pretrained, model.attention in ("none", "cbam")) == ("resnet18", False, True)
        assert cell.config.train.scaled == {"epochs": [100, 3], "batch_size": [64, 16], "image_size": [224, 64]}
    assert study.explain["methods"] == ["gradcam", "saliency"] and "localisation" in study.explain["scores"]


def test_rao2023_is_resnet18_from_scratch_with_attention_in_every_residual_block(tmp_path):
    study, cells = expanded("rao2023", tmp_path)
    for cell, model in zip(cells, models(cells), strict=True):
        assert (model.backbone, model.pretrained, model.num_classes, model.image_size) == ("resnet18", False, 2, 224)
        assert model.placement == (None if model.attention == "none" else "block")
        train = cell.config.train
        assert (train.optimizer, train.lr, train.momentum, train.weight_decay) == ("sgd", 0.05, 0.9, 1e-4)
        assert (train.batch_size, train.epochs, train.schedule, train.milestones) == (64, 100, "step", (0.3, 0.6, 0.9))
        assert cell.config.data.val_fraction == 0.2  # Sec. 4.1: 80 % training, 20 % validation
    assert {c.factors["seed"] for c in cells} == {0, 1, 2}
    assert study.explain["methods"] == ["gradcam"]


def test_goncalves2021_crosses_three_pretrained_backbones_with_mldam_and_augmentation(tmp_path):
    _, cells = expanded("goncalves2021", tmp_path)
    assert {(m.backbone, m.attention) for m in models(cells)} == set(
        itertools.product(["densenet121", "resnet50", "vgg16"], ["none", "mldam-goncalves2021"])
    )
    for cell, model in zip(cells, models(cells), strict=True):
        assert model.pretrained and model.image_size == 224
        train = cell.config.train
        assert (train.optimizer, train.lr, train.loss, train.epochs, train.batch_size) == ("adam", 1e-4, "bce", 300, 4)
    assert {c.config.train.augmentation for c in cells} == {"none", "goncalves2021"}


def test_goncalves2022_crosses_se_and_cbam_with_the_four_data_regimes(tmp_path):
    _, cells = expanded("goncalves2022", tmp_path)
    assert {c.config.data.regime for c in cells} == {0.01, 0.1, 0.5, 1.0}
    for model in models(cells):
        assert model.pretrained and model.backbone in ("densenet121", "resnet50")
        if model.attention != "none":
            assert model.placement == {"densenet121": "stage", "resnet50": "block"}[model.backbone]
        if model.attention == "se":
            assert model.attention_options == {"se": {"bias": False}}  # the survey's parameter counts


def test_piater2024_searches_lr_and_weight_decay_on_2_splits_then_runs_10(tmp_path):
    study, cells = expanded("piater2024", tmp_path)
    attentions = {"none", "ga", "la", "ga+la", "ela", "ga+ela"}
    assert {(m.backbone, m.attention) for m in models(cells)} == set(
        itertools.product(["resnet18", "efficientnet_b0"], attentions)
    )
    assert all(m.pretrained and m.num_classes == 2 for m in models(cells))
    assert {c.factors["seed"] for c in cells} == set(range(10))
    train = cells[0].config.train
    assert (train.optimizer, train.momentum, train.batch_size, train.augmentation) == ("sgd", 0.9, 32, "perez2018")
    search = study_search(study)
    assert (search.seeds, search.metric, search.mode) == ((0, 1), "val_balanced_accuracy", "max")
    searched = search_cells(study)
    assert len(searched) == 12 * (3 * 4) * 2  # 12 models x (3 lr x 4 weight decays of Table 5) x 2 splits
    assert {(c.config.train.lr, c.config.train.weight_decay) for c in searched} == set(
        itertools.product([0.01, 0.001, 0.0001], [0.0, 0.0001, 0.001, 0.01])
    )
