"""What ``medattn demo`` concludes, in one or two lines computed from a finished study folder.

The synthetic lesion benchmark's corner marker agrees with the label in a share ``P`` (``synthetic_shortcut``) of
the training and validation images and is random in the test split (:mod:`medattn.data.synthetic.markers`). So a
run's validation AUC is measured where the shortcut still works and its test AUC where it is broken; a model that
learnt the marker loses AUC from one to the other. The validation split also chose the checkpoint (best val), which
makes its AUC slightly optimistic: the drop is only read as shortcut learning when it is larger than the AUC's ROPE
(:mod:`medattn.study.measures`), and the lines say in how many runs it was seen.

Localisation: each explanation method's relevance mass accuracy (the share of the map's relevance inside the lesion
mask, averaged over each run's lesion images, then over runs) beside a uniform map's on the same images (the
lesion's share of the image, :func:`medattn.study.results.uniform_map_scores`). A method localises the lesion when
it beats the uniform map by more than the score's ROPE.
"""

from pathlib import Path

from medattn.study.measures import rope_of
from medattn.study.results import StudyData, explanation_frame, load_study_dir, metric_value, uniform_map_scores

METRIC = "auc_roc"
SCORE = "relevance_mass_accuracy"
MARKED, BROKEN = "val", "test"  # medattn.data.synthetic.CORRELATED_SPLITS: the marker follows the label in val only


def demo_finding(folder: str | Path) -> list[str]:
    """The demo's finding: the shortcut line (a synthetic study with a marker) and the localisation line
    (explanation scores with a uniform-map reference); a line is left out where its numbers are missing.

    Raises:
        ConfigError: not a study folder, or no finished run (:func:`~medattn.study.results.load_study_dir`).
    """
    data = load_study_dir(folder)
    return [line for line in (shortcut_line(data), localisation_line(data)) if line]


def shortcut_line(data: StudyData) -> str | None:
    """Mean validation and test AUC over the runs that have both, and their paired difference; None without a
    synthetic shortcut or without such runs."""
    shortcut = data.study.data.get("synthetic_shortcut")
    if shortcut is None or data.study.data.get("path"):
        return None
    pairs = [
        (marked, broken)
        for run in data.runs
        if (marked := metric_value(run.metrics, MARKED, METRIC)) is not None
        and (broken := metric_value(run.metrics, BROKEN, METRIC)) is not None
    ]
    if not pairs:
        return None
    marked = sum(m for m, _ in pairs) / len(pairs)
    broken = sum(b for _, b in pairs) / len(pairs)
    lower = sum(b < m for m, b in pairs)
    learnt = marked - broken > rope_of(METRIC, data.study.rope)
    verdict = "the models learnt the shortcut" if learnt else "no sign that the models rely on the marker"
    marker = f"{_percent(shortcut)} of the {MARKED} images"
    return (
        f"finding: AUC {marked:.2f} where the marker agrees with the label ({marker}, as in training), "
        f"{broken:.2f} where it is random ({BROKEN} images): {broken - marked:+.2f}, lower in {lower} of {len(pairs)} "
        f"runs: {verdict}"
    )


def localisation_line(data: StudyData) -> str | None:
    """Each method's mean relevance mass accuracy and the uniform map's, and which methods beat it; None without
    the score or without the uniform-map rows."""
    scores = explanation_frame(data)
    uniform = uniform_map_scores(data).get(SCORE)
    scores = scores[scores["metric"] == SCORE]
    if scores.empty or uniform is None:
        return None
    means = scores.groupby("source", sort=False)["value"].mean()
    means.index = means.index.str.removeprefix("explanations (").str.removesuffix(")")
    rope = rope_of(SCORE, data.study.rope)
    shares = ", ".join(f"{method} {_percent(value)}" for method, value in means.items())
    better = [method for method, value in means.items() if value > uniform + rope]
    others = [method for method in means.index if method not in better]
    if not better:
        verdict = "no method puts more on the lesion than a uniform map"
    else:
        verdict = f"{' and '.join(better)} localise{'s' * (len(better) == 1)} the lesion"
        verdict += f", {' and '.join(others)} no better than a uniform map" if others else ""
    return (
        f"explanations: relevance on the lesion: {shares}, a uniform map {_percent(uniform)} (the lesion's share of "
        f"the image): {verdict}"
    )


def _percent(share: float) -> str:
    """``0.38`` -> ``38 %``; one decimal below 10 % (``1.6 %``), where whole percents would hide the differences."""
    return f"{share * 100:.{0 if share >= 0.1 else 1}f} %"
