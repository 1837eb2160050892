"""Explanation-quality scores, one value per image, and their registry.

``SCORES`` describes every score: its family, direction, what an uninformative map scores, its
parameters, the paper, and what it needs besides the maps (a ground-truth mask, the model, an
explainer, maps from other training seeds). The functions live in one module per family:
:mod:`.localisation`, :mod:`.faithfulness`, :mod:`.complexity`, :mod:`.robustness`,
:mod:`.repeatability` and :mod:`.sanity`.
"""

from dataclasses import dataclass

from medattn.errors import ConfigError

UNIFORM_MAP = "uniform map"  # the model name of the localisation scores of a constant map in scores.csv
FAMILIES = ("localisation", "faithfulness", "complexity", "robustness", "repeatability", "sanity")


@dataclass(frozen=True)
class ScoreInfo:
    """What a score measures and how to read it.

    Attributes:
        name: registry key, also the name of the function (or the function and its option) computing it.
        family: one of ``FAMILIES``.
        higher_is_better: direction of improvement.
        baseline: what a random or uninformative map scores, to read a value against.
        parameters: defaults and tolerances that change the value.
        reference: the paper that defines the score.
        needs: inputs besides the maps: ``"mask"``, ``"model"`` (a ``predict`` function or the module),
            ``"explainer"`` (a function that recomputes maps), ``"seed_maps"`` (maps of other training seeds).
    """

    name: str
    family: str
    higher_is_better: bool
    baseline: str
    parameters: str
    reference: str
    needs: tuple[str, ...]

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ConfigError(f"unknown score family '{self.family}'; choose one of: {', '.join(FAMILIES)}")


_ARRAS = "Arras, Osman & Samek 2022, CLEVR-XAI, Information Fusion 81:14-40"
_RISE = "Petsiuk, Das & Saenko 2018, RISE, BMVC"
_ROAD = "Rong et al. 2022, A consistent and efficient evaluation strategy for attribution methods, ICML"

SCORES: dict[str, ScoreInfo] = {
    info.name: info
    for info in (
        ScoreInfo("relevance_mass_accuracy", "localisation", True, "uniform map: mask area / image area",
                  "relevance='absolute' (|map|) or 'positive'", _ARRAS, ("mask",)),
        ScoreInfo("relevance_rank_accuracy", "localisation", True, "random map: mask area / image area",
                  "relevance='absolute' or 'positive'; ties scored by expectation", _ARRAS, ("mask",)),
        ScoreInfo("energy_pointing_game", "localisation", True, "uniform map: mask area / image area",
                  "positive relevance only; bounding_box=False", "Wang et al. 2020, Score-CAM, CVPR Workshops",
                  ("mask",)),
        ScoreInfo("pointing_game", "localisation", True,
                  "uniform map: share of pixels within tolerance of the mask",
                  "tolerance=15 px (for 224 px images)", "Zhang et al. 2018, Excitation Backprop, IJCV 126",
                  ("mask",)),
        ScoreInfo("deletion_auc", "faithfulness", False, "random-order deletion curve of the same model",
                  "n_steps=32, baseline=0", _RISE, ("model",)),
        ScoreInfo("insertion_auc", "faithfulness", True, "random-order insertion curve of the same model",
                  "n_steps=32, start=RISE blur (11 px, sigma 5)", _RISE, ("model",)),
        ScoreInfo("road_morf", "faithfulness", False, "random-order ROAD curve of the same model",
                  "percentages 10..90 %, noise=0.01, mean over percentages", _ROAD, ("model",)),
        ScoreInfo("road_lerf", "faithfulness", True, "random-order ROAD curve of the same model",
                  "percentages 10..90 %, noise=0.01, mean over percentages", _ROAD, ("model",)),
        ScoreInfo("sparseness", "complexity", True, "constant map 0; i.i.d. uniform map 1/3",
                  "Gini index of |map|", "Chalasani et al. 2020, Concise explanations, ICML", ()),
        ScoreInfo("max_sensitivity", "robustness", False, "input-independent map: 0 (not informative alone)",
                  "n_samples=10, radius=2 % of the image range, relative L2 change",
                  "Yeh et al. 2019, On the (in)fidelity and sensitivity of explanations, NeurIPS",
                  ("explainer",)),
        ScoreInfo("ssim", "repeatability", True, "independent noise maps: about 0",
                  "maps scaled |m|/max|m|, Gaussian window sigma 1.5, K1=0.01, K2=0.03",
                  "Wang et al. 2004, SSIM, IEEE TIP 13", ("seed_maps",)),
        ScoreInfo("spearman", "repeatability", True, "independent noise maps: about 0",
                  "average ranks for ties", "Spearman 1904", ("seed_maps",)),
        ScoreInfo("randomisation", "sanity", False,
                  "model-independent explainer: 1 (fails); pass/fail only, does not rank methods",
                  "cascading, Spearman of |maps|, fails if mean similarity > 0.5 after full randomisation",
                  "Adebayo et al. 2018, Sanity checks for saliency maps, NeurIPS; Binder et al. 2023, CVPR",
                  ("model", "explainer")),
    )
}  # fmt: skip


def score_table_rows() -> list[dict[str, str]]:
    """One row of strings per registered score, in registry order, for the documentation table."""
    return [
        {
            "score": info.name,
            "family": info.family,
            "better": "higher" if info.higher_is_better else "lower",
            "uninformative map": info.baseline,
            "parameters": info.parameters,
            "reference": info.reference,
            "needs": ", ".join(info.needs) or "maps only",
        }
        for info in SCORES.values()
    ]
