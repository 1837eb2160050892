"""The search stage on hand-made history.csv files: the search grid, scores, choices, final grid, errors."""

import math

import pytest

from medattn.errors import ConfigError
from medattn.study.config import parse_study
from medattn.study.grid import expand_grid
from medattn.study.search import best_settings, final_cells, run_score, search_cells, study_search, variant_of
from medattn.train import rundir

SEARCH = {"factors": {"lr": [0.1, 0.01], "weight_decay": [0.0, 0.001]}, "seeds": [0, 1], "metric": "val_auc_roc"}
BASE = {
    "name": "searched",
    "data": {"synthetic_n": 100},
    "model": {"backbone": "resnet18", "preset": "rao2023", "image_size": 32},
    "train": {"epochs": 2},
    "factors": {"attention": ["none", "se"]},
    "seeds": 3,
    "search": SEARCH,
}


def study(**changes):
    return parse_study(BASE | changes)


def write_history(run, **columns) -> None:
    """A history.csv whose epochs have the given values (other columns 0)."""
    epochs = len(next(iter(columns.values())))
    rows = [{name: 0.0 for name in rundir.HISTORY_FIELDS} | {"epoch": i + 1} for i in range(epochs)]
    for name, values in columns.items():
        for row, value in zip(rows, values, strict=True):
            row[name] = value
    run.mkdir(parents=True)
    rundir.write_history(run, rows)


def run_id(cell) -> tuple:
    return tuple(cell.factors[name] for name in ("attention", "lr", "weight_decay", "seed"))


def uniform(cells, score: float = 0.5) -> dict:
    """Every search run scored ``score``, by ``(attention, lr, weight_decay, seed)``."""
    return {run_id(cell): score for cell in cells}


def scores_of(cells, table: dict) -> dict:
    """Scores by run key from ``{(attention, lr, weight_decay, seed): score}``; absent entries failed."""
    return {cell.key: table[run_id(cell)] for cell in cells if run_id(cell) in table}


def test_the_search_grid_is_every_variant_by_every_setting_by_every_search_seed():
    cells = search_cells(study())
    assert len(cells) == 2 * (2 * 2) * 2
    assert [c.factors for c in cells[:3]] == [
        {"attention": "none", "lr": 0.1, "weight_decay": 0.0, "seed": 0},
        {"attention": "none", "lr": 0.1, "weight_decay": 0.0, "seed": 1},
        {"attention": "none", "lr": 0.1, "weight_decay": 0.001, "seed": 0},
    ]
    for cell in cells:
        train = cell.config.train
        assert (train.lr, train.weight_decay, train.seed) == (cell.factors["lr"], cell.factors["weight_decay"],
                                                              cell.factors["seed"])  # fmt: skip
    assert len({c.key for c in cells}) == len(cells)


def test_run_score_is_the_best_epoch_of_the_metric(tmp_path):
    write_history(tmp_path / "run", val_auc_roc=[0.6, 0.8, 0.7], val_loss=[0.9, 0.5, 0.6])
    assert run_score(tmp_path / "run", "val_auc_roc", "max") == 0.8
    assert run_score(tmp_path / "run", "val_loss", "min") == 0.5


def test_run_score_skips_epochs_without_a_value_and_is_nan_when_none_has_one(tmp_path):
    write_history(tmp_path / "some", val_auc_roc=[None, math.nan, 0.7])
    write_history(tmp_path / "none", val_auc_roc=[None, math.nan])
    assert run_score(tmp_path / "some", "val_auc_roc", "max") == 0.7
    assert math.isnan(run_score(tmp_path / "none", "val_auc_roc", "max"))


def test_run_score_without_history_or_column_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="history.csv: no training history"):
        run_score(tmp_path, "val_auc_roc", "max")
    (tmp_path / rundir.HISTORY).write_text("epoch,val_loss\n1,0.5\n")
    with pytest.raises(ConfigError, match="no column 'val_auc_roc'; columns: epoch, val_loss"):
        run_score(tmp_path, "val_auc_roc", "max")


def test_each_variant_gets_the_setting_with_the_best_mean_over_the_search_seeds(tmp_path):
    spec = study()
    cells = search_cells(spec)
    table = uniform(cells)
    # none: (0.1, 0.0) has the single best run, but (0.01, 0.001) the best mean.
    table |= {("none", 0.1, 0.0, 0): 0.95, ("none", 0.1, 0.0, 1): 0.55}
    table |= {("none", 0.01, 0.001, 0): 0.8, ("none", 0.01, 0.001, 1): 0.8}
    table |= {("se", 0.1, 0.001, 0): 0.7, ("se", 0.1, 0.001, 1): 0.9}
    keys = scores_of(cells, table)
    for cell in cells:  # through real history files, as the runner scores them
        write_history(tmp_path / cell.key, val_auc_roc=[0.1, keys[cell.key], 0.2])
    scores = {cell.key: run_score(tmp_path / cell.key, "val_auc_roc", "max") for cell in cells}
    assert best_settings(spec, cells, scores) == {
        ("none",): {"lr": 0.01, "weight_decay": 0.001},
        ("se",): {"lr": 0.1, "weight_decay": 0.001},
    }


def test_mode_min_picks_the_lowest_mean():
    spec = study(search=SEARCH | {"metric": "val_loss", "mode": "min"})
    cells = search_cells(spec)
    table = uniform(cells)
    table |= {("se", 0.01, 0.0, 0): 0.2, ("se", 0.01, 0.0, 1): 0.3}
    chosen = best_settings(spec, cells, scores_of(cells, table))
    assert chosen[("se",)] == {"lr": 0.01, "weight_decay": 0.0}


def test_loss_metrics_default_to_mode_min_and_the_rest_to_max():
    assert study_search(study(search={"factors": {"lr": [0.1]}, "metric": "val_loss"})).mode == "min"
    assert study_search(study(search={"factors": {"lr": [0.1]}})) == study_search(
        study(search={"factors": {"lr": [0.1]}, "seeds": [0, 1], "metric": "val_auc_roc", "mode": "max"})
    )


def test_a_tie_goes_to_the_setting_listed_first_in_the_yaml():
    for lrs in ([0.1, 0.01], [0.01, 0.1]):
        spec = study(search=SEARCH | {"factors": {"lr": lrs, "weight_decay": [0.0]}})
        cells = search_cells(spec)
        assert best_settings(spec, cells, scores_of(cells, uniform(cells, 0.75)))[("se",)] == {
            "lr": lrs[0],
            "weight_decay": 0.0,
        }


def test_list_valued_search_factors_are_chosen_and_applied():
    spec = study(search={"factors": {"milestones": [[0.5], [0.3, 0.6]]}})
    cells = search_cells(spec)
    scores = {c.key: 0.9 if c.factors["milestones"] == [0.3, 0.6] else 0.6 for c in cells}
    chosen = best_settings(spec, cells, scores)
    assert chosen == {("none",): {"milestones": [0.3, 0.6]}, ("se",): {"milestones": [0.3, 0.6]}}
    assert {c.config.train.milestones for c in final_cells(spec, chosen)} == {(0.3, 0.6)}


def test_failed_runs_are_left_out_of_the_mean():
    spec = study()
    cells = search_cells(spec)
    table = uniform(cells)
    del table[("se", 0.01, 0.0, 1)]  # failed: its other seed alone is its mean
    table[("se", 0.01, 0.0, 0)] = 0.6
    table[("se", 0.1, 0.0, 1)] = math.nan  # no finite value: left out like a failure
    table[("se", 0.1, 0.0, 0)] = 0.59
    assert best_settings(spec, cells, scores_of(cells, table))[("se",)] == {"lr": 0.01, "weight_decay": 0.0}


def test_a_variant_whose_search_runs_all_failed_is_named():
    spec = study()
    cells = search_cells(spec)
    scores = {c.key: 0.5 for c in cells if c.factors["attention"] == "none"}
    with pytest.raises(ConfigError, match=r"every search run of \(attention=se\) failed; no lr, weight_decay") as e:
        best_settings(spec, cells, scores)
    assert "\n" not in str(e.value)


def test_final_cells_carry_each_variants_chosen_setting_under_new_keys():
    spec = study()
    chosen = {("none",): {"lr": 0.01, "weight_decay": 0.001}, ("se",): {"lr": 0.1, "weight_decay": 0.0}}
    cells = final_cells(spec, chosen)
    plain = expand_grid(spec)
    assert [c.factors for c in cells] == [c.factors for c in plain]  # variants still pair with their baseline
    for cell in cells:
        setting = chosen[variant_of(spec, cell)]
        assert (cell.config.train.lr, cell.config.train.weight_decay) == (setting["lr"], setting["weight_decay"])
        assert cell.config.train.seed == cell.factors["seed"]
    assert {c.factors["seed"] for c in cells} == {0, 1, 2}
    assert len({c.key for c in cells}) == len(cells) and not {c.key for c in cells} & {c.key for c in plain}
    again = final_cells(spec, chosen | {("se",): {"lr": 0.01, "weight_decay": 0.0}})
    assert [c.key for c in again[:3]] == [c.key for c in cells[:3]] and again[3].key != cells[3].key


def test_final_cells_need_a_setting_for_every_variant():
    with pytest.raises(ConfigError, match="no chosen setting for the variant {'attention': 'se'}"):
        final_cells(study(), {("none",): {"lr": 0.01, "weight_decay": 0.0}})


def test_a_study_without_search_has_no_search_grid():
    with pytest.raises(ConfigError, match="searched: the study has no 'search' stage"):
        search_cells(study(search={}))


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (
            {"factors": {"lr": [0.1]}, "budget": 3},
            "unknown key 'search.budget'; valid keys: factors, seeds, metric, mode",
        ),
        ({"seeds": [0, 1]}, "search.factors must be a non-empty mapping"),
        ({"factors": {"colour": [1]}}, "search.factors: unknown factor 'colour'"),
        ({"factors": {"lr": 0.1}}, "search.factors.lr must be a non-empty list"),
        ({"factors": {"attention": ["se"]}}, "search.factors.attention is already set by factors.attention"),
        ({"factors": {"seed": [3]}}, "search.factors.seed is already set by search.seeds"),
        ({"factors": {"lr": [0.1]}, "seeds": []}, "search.seeds must be a list of integers or a count"),
        ({"factors": {"lr": [0.1]}, "metric": "test_auc"}, "search.metric 'test_auc' is not one of: val_loss, val_auc"),
        ({"factors": {"lr": [0.1]}, "mode": "best"}, "search.mode 'best' is not one of: max, min"),
    ],
)
def test_bad_search_mappings_get_one_line_errors_naming_the_key(search, message):
    with pytest.raises(ConfigError, match=message) as error:
        study(search=search)
    assert str(error.value).startswith("study: ") and "\n" not in str(error.value)
