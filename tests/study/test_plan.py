"""``medattn plan``: the seed searches against fresh simulations of the study's own tests, the cost of the seeds on a
study folder from test_analysis's builder, and the command's table, JSON and one-line errors."""

import json

import numpy as np
import pytest

from medattn.cli.output import console
from medattn.errors import ConfigError
from medattn.io import write_json_atomic
from medattn.study.analysis import analyse_study
from medattn.study.plan import (
    plan_study,
    seeds_for_decision,
    seeds_for_power,
    simulated_verdicts,
    standard_draws,
    wilcoxon_rejects,
)
from medattn.study.stats import compare_paired, wilcoxon_p

from ..cli_helpers import run_cli
from .test_analysis import SEEDS, build_study, run_key

SECONDS = {"none": 100.0, "se": 200.0, "cbam": 300.0}  # run time the store records per attention
DEVICES = {"none": "cuda", "se": "cuda", "cbam": "cpu"}  # env.json's precision.device


def _write_devices(root) -> None:
    for attention, device in DEVICES.items():
        for seed in SEEDS:
            folder = root / "runs" / run_key({"attention": attention, "seed": seed})
            if folder.is_dir():
                write_json_atomic(folder / "env.json", {"precision": {"device": device}})


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    root = build_study(tmp_path_factory.mktemp("plan"), seconds=lambda cell: SECONDS[cell["attention"]])
    _write_devices(root)
    return root


@pytest.fixture(scope="module")
def analysis(study_dir):
    return analyse_study(study_dir)


def _fresh_power(n: int, level: float, studies: int, rng) -> float:
    """Rejection rate of the study's own Wilcoxon test over fresh studies of n N(1, 1) paired differences."""
    return float(np.mean([wilcoxon_p(row, np.zeros(n))[0] < level for row in rng.normal(1.0, 1.0, (studies, n))]))


@pytest.mark.parametrize("family", [1, 3])
def test_planned_seeds_reach_the_power_in_fresh_studies_and_one_seed_fewer_does_not(family):
    level = 0.05 / family
    planned = seeds_for_power(1.0, 1.0, power=0.8, level=level, max_seeds=30, simulations=2000, seed=0)
    rng = np.random.default_rng(2024)  # not the planner's draws
    achieved, fewer = (_fresh_power(n, level, 3000, rng) for n in (planned.seeds, planned.seeds - 1))
    assert planned.seeds == {1: 11, 3: 14}[family]  # delta/sd = 1: the t-test needs 10 (alpha 0.05)
    assert abs(achieved - 0.8) < 0.03 and abs(achieved - planned.probability) < 0.03
    assert fewer < 0.8


def test_the_power_search_starts_where_the_wilcoxon_test_can_reject_and_stops_at_max_seeds():
    # the smallest two-sided p is 2/2^n: below 0.05/3 from 7 seeds on, so a huge effect needs exactly 7
    assert seeds_for_power(100.0, 1.0, power=0.8, level=0.05 / 3, simulations=200).seeds == 7
    impossible = seeds_for_power(100.0, 1.0, power=0.8, level=0.05 / 3, max_seeds=6, simulations=200)
    assert impossible.seeds is None and "2/2^n" in impossible.note and "from 7 seeds" in impossible.note
    small = seeds_for_power(0.05, 1.0, power=0.8, level=0.05, max_seeds=12, simulations=200)
    assert small.seeds is None and small.probability < 0.8 and "at 12 seeds, below 0.8" in small.note


def test_a_decision_rho_keeps_out_of_reach_is_reported_with_the_posteriors_floor():
    # rho 0.2: the scale stays above 0.5 x SD = 0.01, so P(better) = P(d > rope) never passes 0.95
    found = seeds_for_decision(0.02, 0.02, rope=0.01, rho=0.2, max_seeds=15, simulations=200)
    assert found.seeds is None and "never falls below 0.01 (sqrt(rho / (1 - rho)) x SD)" in found.note
    assert seeds_for_decision(0.02, 0.02, rope=0.01, rho=0.0, max_seeds=40, simulations=200).seeds is not None


def test_simulated_studies_get_the_studys_own_wilcoxon_decision_and_verdict():
    many = standard_draws(40, 55, seed=3)  # above 50 seeds the study's test is scipy's normal approximation
    draws = many[:, :8]
    for rows in (0.5 + draws, 0.3 + many):
        for level in (0.05, 0.01):
            want = [wilcoxon_p(row, np.zeros(rows.shape[1]))[0] < level for row in rows]
            assert wilcoxon_rejects(rows, level).tolist() == want and 0 < sum(want) < len(want)
    rows = np.concatenate([0.018 + 0.01 * draws[:20], 0.002 * draws[20:]])  # better or undecided; equivalent
    for higher in (True, False):
        want = [compare_paired(row, np.zeros(8), metric="m", rope=0.01, rho=0.1, higher_is_better=higher).verdict
                for row in rows]  # fmt: skip
        assert simulated_verdicts(rows, rope=0.01, rho=0.1, higher_is_better=higher) == want
        assert {"equivalent", "undecided", "better" if higher else "worse"} <= set(want)


def test_cost_is_seeds_times_both_arms_measured_run_time_on_the_recorded_device(analysis):
    plan = plan_study(analysis, delta=0.002, metric="auc_roc", split="test", max_seeds=40, simulations=300)
    assert plan.family_size == 2 and [row.variant for row in plan.rows] == ["se", "cbam"]
    se, cbam = plan.rows
    assert (se.seeds_now, cbam.seeds_now) == (10, 9)  # cbam's seed 9 failed
    assert (se.seconds_per_seed, cbam.seconds_per_seed) == (300.0, 400.0)
    assert (se.device, cbam.device) == ("GPU", "GPU+CPU")
    for row in plan.rows:
        for search in (row.power, row.decision):
            costed = row.costed(search)
            assert costed["extra_runs"] == 2 * max(0, search.seeds - row.seeds_now)
            assert costed["hours"] == pytest.approx(search.seeds * row.seconds_per_seed / 3600)
            assert costed["extra_hours"] == pytest.approx(costed["extra_runs"] / 2 * row.seconds_per_seed / 3600)
    assert se.power.seeds > se.seeds_now  # delta is a fifth of what se gains: it needs more seeds
    assert se.to_dict()["power"]["extra_runs"] > 0


def test_a_comparison_with_fewer_than_two_seeds_is_not_plannable_and_says_why(tmp_path):
    root = build_study(tmp_path, seeds=(0, 1), failed={("cbam", 1): "RuntimeError: out of memory"}, explain=False)
    plan = plan_study(analyse_study(root), delta=0.01, max_seeds=10, simulations=200)
    se, cbam = plan.rows
    assert se.power is not None and se.note == ""
    assert cbam.power is None and cbam.decision is None and cbam.seeds_now == 1
    assert cbam.note == "1 paired seed(s): the SD of the differences needs 2"
    assert cbam.to_dict()["power"] is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delta": 0.0}, "plan: --delta must be above 0"),
        ({"power": 1.0}, "plan: --power must be below 1"),
        ({"metric": "nope"}, "plan: --metric 'nope' has no values on 'test'; choose one of: auc_roc"),
        ({"split": "nope"}, "plan: --split 'nope' has no values in this study; choose one of: test, ood_site"),
    ],
)
def test_bad_settings_are_one_line_errors_naming_the_option(analysis, options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        plan_study(analysis, **{"delta": 0.01} | options)


def test_cli_prints_the_table_with_the_method(capsys, monkeypatch, study_dir):
    monkeypatch.setattr(console, "width", 160)  # one line per row, as in a wide terminal
    code, out, _ = run_cli(capsys, monkeypatch, "plan", study_dir, "--max-seeds", "20")
    assert code == 0
    text = " ".join(out.split())
    assert "se vs none" in text and "cbam vs none" in text and "seeds for power" in text
    assert "assuming the other 1 comparison(s) null (Holm's first step: p < 0.05/2)" in text
    assert "2000 simulated studies per n" in text and "0 / 0 │ 0 / 0 GPU-h │ 0.583 / 0.25 GPU-h" in text


def test_cli_json_is_one_object_with_the_rows_and_settings(capsys, monkeypatch, study_dir):
    code, out, _ = run_cli(capsys, monkeypatch, "plan", study_dir, "--delta", "0.02", "--power", "0.9",
                           "--split", "ood_site", "--max-seeds", "20", "--json")  # fmt: skip
    plan = json.loads(out)
    assert code == 0 and (plan["delta"], plan["power"], plan["source"], plan["family_size"]) == (
        0.02,
        0.9,
        "ood_site",
        2,
    )
    assert plan["alpha"] == 0.05 and plan["simulations"] == 2000 and "Holm's first step" in plan["method"]
    se = plan["rows"][0]
    assert se["variant"] == "se" and se["power"]["probability"] >= 0.9 and se["decision"]["seeds"] >= 3
    assert {"extra_runs", "hours", "extra_hours", "note"} <= set(se["power"])


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--delta", "0"], "--delta"),
        (["--delta", "-0.01"], "--delta"),
        (["--power", "1.5"], "--power"),
        (["--power", "0"], "--power"),
        (["--max-seeds", "2"], "--max-seeds"),
        (["--metric", "nope"], "--metric"),
    ],
)
def test_cli_bad_options_exit_2_with_one_line(capsys, monkeypatch, study_dir, argv, option):
    code, out, err = run_cli(capsys, monkeypatch, "plan", study_dir, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("medattn: error: plan: ") and option in err


def test_cli_missing_study_folder_is_a_one_line_error(capsys, monkeypatch, tmp_path):
    code, out, err = run_cli(capsys, monkeypatch, "plan", tmp_path / "nope")
    assert code == 2 and out == "" and err.count("\n") == 1 and "no such study folder" in err
