"""Study definitions and grid expansion: crossing, keys, pairing with the baseline, one-line errors."""

import pytest

from medattn.errors import ConfigError
from medattn.study.config import load_study, parse_study
from medattn.study.grid import baseline_of, config_key, expand_grid

BASE = {
    "name": "grid",
    "data": {"synthetic_n": 100},
    "model": {"backbone": "resnet18", "preset": "rao2023", "image_size": 32},
    "train": {"epochs": 2},
}


def study(**changes):
    return parse_study(BASE | changes)


def test_factors_are_crossed_with_seeds_innermost():
    cells = expand_grid(study(factors={"attention": ["none", "se"], "augmentation": ["none", "perez2018"]}, seeds=3))
    assert len(cells) == 2 * 2 * 3
    assert [c.factors for c in cells[:4]] == [
        {"attention": "none", "augmentation": "none", "seed": 0},
        {"attention": "none", "augmentation": "none", "seed": 1},
        {"attention": "none", "augmentation": "none", "seed": 2},
        {"attention": "none", "augmentation": "perez2018", "seed": 0},
    ]
    assert len({c.key for c in cells}) == len(cells)
    cell = cells[-1]
    assert cell.config.model.attention == "se" and cell.config.train.augmentation == "perez2018"
    assert cell.config.train.seed == 2 and cell.config.train.epochs == 2
    assert cell.config.train.lr == 0.05  # the rao2023 protocol fills what the study leaves out
    assert cell.variant == {"attention": "se", "augmentation": "perez2018"}


def test_keys_are_the_hash_of_the_resolved_config_so_a_changed_setting_is_a_new_run():
    first = expand_grid(study(factors={"attention": ["se"]}))[0]
    again = expand_grid(study(factors={"attention": ["se"]}))[0]
    changed = expand_grid(study(factors={"attention": ["se"]}, train={"epochs": 3}))[0]
    assert first.key == again.key == config_key(first.config) and len(first.key) == 16
    assert changed.key != first.key
    assert study().digest() != study(train={"epochs": 3}).digest()


def test_every_variant_is_paired_with_the_baseline_of_the_same_seed():
    cells = expand_grid(study(factors={"attention": ["none", "se", "cbam"]}, seeds=2))
    for cell in cells:
        partner = baseline_of(cell, cells, {"attention": "none"})
        if cell.factors["attention"] == "none":
            assert partner is None
        else:
            assert partner.factors == {"attention": "none", "seed": cell.factors["seed"]}


def test_identical_cells_are_refused():
    with pytest.raises(ConfigError, match="resolve to the same run"):
        expand_grid(study(factors={"attention": ["se", "se"]}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"factors": {"colour": ["red"]}}, "factors: unknown factor 'colour'"),
        ({"factors": {"attention": []}}, "factors.attention must be a non-empty list"),
        ({"seeds": []}, "seeds must be a list of integers or a count"),
        ({"baseline": {"attention": "none"}}, "baseline.attention is not one of the factors"),
        ({"ood": [{"name": "x"}]}, "every ood entry needs a name and a path"),
        ({"colour": 1}, "unknown key 'colour'"),
        ({"factors": {"attention": ["bogus"]}}, r"cell \(attention=bogus, seed=0\): .*bogus"),
    ],
)
def test_bad_definitions_get_one_line_errors_naming_the_key(changes, message):
    with pytest.raises(ConfigError, match=message) as error:
        expand_grid(study(**changes))
    assert "\n" not in str(error.value)


def test_a_study_file_that_does_not_exist_names_the_shipped_studies(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.yaml: study file not found; shipped studies: .*quickstart"):
        load_study(str(tmp_path / "nope.yaml"))
