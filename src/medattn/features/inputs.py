"""What feature-usage analysis reads: the models' predictions and a features table, aligned by image path.

A model is a run folder, or every finished run of a study folder (named by variant and seed). Its
outputs are the run's ``predictions-<split>.csv``; on another dataset (``data`` that is not the
run's own) the run first predicts it once with its best-validation checkpoint
(``medattn.train.final.test_run``, written as ``predictions-external-<split>.csv``). The features
come from a CSV with a ``path`` column (absolute, or relative to the data folder) and one column
per feature, or are measured from the images and their lesion masks (``medattn.features.measure``).
"""

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from medattn.errors import ConfigError
from medattn.features.usage import ModelOutputs
from medattn.study.results import load_study_dir, read_predictions_file
from medattn.study.runner import STORE
from medattn.train import rundir


def open_models(folders: list[str | Path], *, split: str = "test", data: str | None = None,
                recipe: str | None = None) -> list[ModelOutputs]:  # fmt: skip
    """The models of run folders and study folders, in the order given."""
    models = []
    for folder in map(Path, folders):
        if (folder / STORE).is_file():
            study = load_study_dir(folder)
            runs = [(f"{run.variant} seed {run.seed}", run.folder) for run in study.runs]
        elif (folder / rundir.CONFIG).is_file():
            runs = [(folder.name, folder)]
        else:
            raise ConfigError(f"{folder}: neither a run folder (no {rundir.CONFIG}) nor a study folder (no {STORE})")
        models += [ModelOutputs(name, str(run), _predictions(run, split, data, recipe)) for name, run in runs]
    return models


def run_data(run: Path) -> tuple[Path, str | None]:
    """The dataset folder the run was trained on and its recipe (the synthetic benchmark's cached copy without one)."""
    from medattn.train.data import synthetic_dataset_path

    config = rundir.read_config(run)
    if config.data.path:
        return Path(config.data.path).resolve(), config.data.recipe
    return synthetic_dataset_path(config.data, config.model.image_size, config.train.seed).resolve(), "synthetic"


def _predictions(run: Path, split: str, data: str | None, recipe: str | None):
    from medattn.train.final import test_run

    external = data is not None and Path(data).resolve() != run_data(run)[0]
    name = f"external-{split}" if external else split
    path = run / f"predictions-{name}.csv"
    if not path.is_file():
        override = {k: v for k, v in {"path": data, "recipe": recipe}.items() if v is not None} if external else None
        test_run(run, split=split, data=override)
    return read_predictions_file(path)


def read_features(csv: str | Path, root: str | Path | None = None) -> pd.DataFrame:
    """A features CSV indexed by resolved image path (relative paths are taken relative to ``root``)."""
    csv = Path(csv)
    if not csv.is_file():
        raise ConfigError(f"{csv}: features file not found")
    try:
        table = pd.read_csv(csv)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise ConfigError(f"{csv}: not a readable CSV ({type(error).__name__})") from None
    if "path" not in table.columns or len(table.columns) < 2:
        raise ConfigError(f"{csv}: needs a 'path' column and at least one feature column (has {list(table.columns)})")
    base = Path(root) if root else csv.parent
    table.index = [str(p if p.is_absolute() else (base / p).resolve()) for p in map(Path, table["path"].astype(str))]
    duplicated = table.index[table.index.duplicated()]
    if len(duplicated):
        raise ConfigError(f"{csv}: image {duplicated[0]} has more than one row")
    return table.drop(columns="path")


def measured_features(
    models: list[ModelOutputs], data: str | None = None, recipe: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Features measured from the models' images and lesion masks, indexed by resolved image path.

    The masks come from ``data`` (with ``recipe``), or without it from each model's own training
    data; images without a mask get NaN lesion features, and a dataset without masks has none. A
    release that annotates its images (``DataSource.features``, e.g. PH2's dermoscopic criteria) adds
    those columns, categorical ones kept as categories.
    """
    from medattn.data.sources import open_source
    from medattn.features.measure import measure_dataset

    sources = {(Path(data).resolve(), recipe)} if data else {run_data(Path(m.run)) for m in models}
    masks: dict[str, str | None] = {}
    annotated = []
    for folder, folder_recipe in sources:
        source = open_source(folder, folder_recipe)
        masks |= {str(Path(r.path).resolve()): r.mask for r in source.records}
        if source.features is not None:
            annotated.append(source.features.set_axis([str(Path(p).resolve()) for p in source.features.index]))
    paths = sorted({str(Path(p).resolve()) for m in models for p in m.predictions.paths})
    table = measure_dataset(paths, [masks.get(p) for p in paths], progress=progress)
    table.index = table.pop("path").to_numpy()
    table = table.dropna(axis=1, how="all")  # lesion features of a dataset without masks
    if annotated:
        release = pd.concat(annotated)
        table = table.join(release[~release.index.duplicated()], how="left")
    return table
