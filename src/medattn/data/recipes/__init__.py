"""Recipes: each maps one public dataset's native release layout to a DataSource.

A recipe is data (a name and a loader); its options are the loader's keyword-only parameters.
``load_recipe("brain-tumor-mri", root, classes="4")`` is what ``open_source(root, recipe=...)``
calls. Every loader documents the release layout it assumes. Wherever a recipe is named by one
string (``--recipe``, ``data.recipe`` of a study or run YAML), its options follow the name after
colons: ``ph2:task=melanoma``, ``mimic-cxr:finding=Edema:views=PA,AP``.
"""

from pathlib import Path

from medattn.data.recipes.aptos2019 import load_aptos2019
from medattn.data.recipes.base import Recipe, choice
from medattn.data.recipes.brain_tumor_mri import load_brain_tumor_mri
from medattn.data.recipes.busi import load_busi
from medattn.data.recipes.camelyon17 import load_camelyon17
from medattn.data.recipes.cbis_ddsm import load_cbis_ddsm
from medattn.data.recipes.covid_ct import load_covid_ct
from medattn.data.recipes.isic2020 import load_isic2020
from medattn.data.recipes.kermany_cxr import load_kermany_cxr
from medattn.data.recipes.mimic_cxr import load_mimic_cxr
from medattn.data.recipes.pad_ufes_20 import load_pad_ufes_20
from medattn.data.recipes.ph2 import load_ph2
from medattn.data.recipes.synthetic import load_synthetic
from medattn.data.records import DataError, DataSource

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe("brain-tumor-mri", load_brain_tumor_mri),
        Recipe("kermany-cxr", load_kermany_cxr),
        Recipe("covid-ct", load_covid_ct),
        Recipe("isic2020", load_isic2020),
        Recipe("aptos2019", load_aptos2019),
        Recipe("cbis-ddsm", load_cbis_ddsm),
        Recipe("mimic-cxr", load_mimic_cxr),
        Recipe("camelyon17", load_camelyon17),
        Recipe("pad-ufes-20", load_pad_ufes_20),
        Recipe("busi", load_busi),
        Recipe("ph2", load_ph2),
        Recipe("synthetic", load_synthetic),
    )
}

__all__ = ["RECIPES", "Recipe", "load_recipe", "parse_recipe"]


def parse_recipe(spec: str) -> tuple[str, dict[str, str]]:
    """``"ph2:task=melanoma"`` -> ``("ph2", {"task": "melanoma"})``: a recipe name and the options written after it,
    each ``:key=value`` (a value may hold commas, as ``views=PA,AP``)."""
    name, *items = str(spec).split(":")
    options: dict[str, str] = {}
    for item in items:
        key, equals, value = (part.strip() for part in item.partition("="))
        if not (equals and key and value):
            raise DataError(f"recipe '{spec}': option '{item}' is not key=value (e.g. ph2:task=melanoma)")
        if key in options:
            raise DataError(f"recipe '{spec}': option '{key}' given twice")
        options[key] = value
    return name.strip(), options


def load_recipe(name: str, root: Path, **options) -> DataSource:
    """Open the dataset at ``root`` with the recipe ``name``.

    Args:
        name: a key of ``RECIPES``, optionally followed by options (``ph2:task=melanoma``, see
            :func:`parse_recipe`).
        root: the dataset's release folder (see the recipe's docstring for the layout).
        **options: the recipe's options; an option given as None takes its default.

    Raises:
        DataError: unknown recipe or option, invalid option value, or a release file that is
            missing or malformed. Files named by the release's metadata but absent are not errors:
            they are left out and listed in ``DataSource.skipped``.
    """
    name, given = parse_recipe(name)
    recipe = RECIPES[choice("recipe", name, RECIPES)]
    options = {key: value for key, value in options.items() if value is not None}
    if twice := sorted(set(given) & set(options)):
        raise DataError(f"recipe '{name}': option '{twice[0]}' given twice")
    options |= given
    unknown = sorted(set(options) - set(recipe.options))
    if unknown:
        valid = ", ".join(recipe.options) or "none"
        raise DataError(f"recipe '{name}': unknown option '{unknown[0]}'; valid options: {valid}")
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (recipe '{name}' expects the dataset's release folder)")
    return recipe.load(root, **options)
