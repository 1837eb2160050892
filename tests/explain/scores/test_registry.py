import dataclasses
import importlib

import pytest

from medattn.errors import ConfigError
from medattn.explain.scores import FAMILIES, SCORES, ScoreInfo, score_table_rows

# Registry names that are not themselves function names: the function and the option that computes them.
FUNCTION_OF = {"road_morf": "road", "road_lerf": "road", "randomisation": "randomisation_check"}
NEEDS = {"mask", "model", "explainer", "seed_maps"}


@pytest.mark.parametrize("name", list(SCORES))
def test_every_score_is_implemented_in_its_family_module(name):
    info = SCORES[name]
    assert info.name == name and info.family in FAMILIES
    module = importlib.import_module(f"medattn.explain.scores.{info.family}")
    assert callable(getattr(module, FUNCTION_OF.get(name, name)))
    assert set(info.needs) <= NEEDS
    assert info.reference and info.baseline and info.parameters


def test_every_family_has_a_score_and_directions_are_explicit():
    assert {info.family for info in SCORES.values()} == set(FAMILIES)
    assert SCORES["deletion_auc"].higher_is_better is False and SCORES["insertion_auc"].higher_is_better is True
    assert SCORES["road_morf"].higher_is_better is False and SCORES["road_lerf"].higher_is_better is True


def test_table_rows_for_the_docs():
    rows = score_table_rows()
    assert [row["score"] for row in rows] == list(SCORES)
    assert all(isinstance(value, str) and value for row in rows for value in row.values())
    assert rows[0]["needs"] == "mask" and next(r for r in rows if r["score"] == "sparseness")["needs"] == "maps only"


def test_score_info_is_frozen_and_validates_its_family():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SCORES["ssim"].name = "other"
    with pytest.raises(ConfigError, match="unknown score family 'style'; choose one of: localisation"):
        ScoreInfo("x", "style", True, "", "", "", ())
