"""Sequential seeds: the YAML mapping, and the rounds of the runner with training replaced by a fake that writes each
run's test AUC (se beats none by 0.05; cbam equals none up to +-0.004), so a round takes a moment instead of
minutes."""

import json
import math
from pathlib import Path

import pytest
import yaml

from medattn.errors import ConfigError
from medattn.study import executor
from medattn.study.analysis import analyse_study
from medattn.study.config import FIRST_ROUND, SequentialSeeds, parse_study
from medattn.study.report import write_report
from medattn.study.runner import RUNS, run_study
from medattn.study.sequential import SEQUENTIAL, read_state
from medattn.study.stats.paired import MIN_PAIRS_FOR_CI

from ..cli_helpers import run_cli
from .test_runner import results

STUDY = {
    "name": "sequential",
    "data": {"synthetic_n": 80},
    "model": {"backbone": "resnet18", "image_size": 32},
    "train": {"epochs": 1},
    "factors": {"attention": ["none", "se"]},
    "seeds": {"min": 3, "max": 8},
}
SIZES = {"train": 120, "val": 40, "test": 40}  # rho = 40 / (40 + 120) = 0.25


def auc(attention: str, seed: int) -> float:
    base = 0.8 + 0.01 * math.sin(seed)
    return base + {"none": 0.0, "se": 0.05 + 0.001 * seed, "cbam": 0.004 * math.sin(2.1 * seed + 1)}[attention]


class FakeTraining:
    """Stands in for ``executor._train_and_evaluate``: records each run trained, writes its run directory and returns
    its test AUC; ``fail`` maps (attention, seed) to the exception that run raises."""

    def __init__(self, fail: dict | None = None):
        self.trained: list[tuple[str, int]] = []
        self.fail = fail or {}

    def __call__(self, task):
        run = (task.config["model"]["attention"], task.config["train"]["seed"])
        if run in self.fail:
            raise self.fail[run]
        self.trained.append(run)
        Path(task.run_dir).mkdir(parents=True, exist_ok=True)
        return {"test": {"auc_roc": {"value": auc(*run)}, "n": SIZES["test"], "split_sizes": SIZES}}, {"params": 1}


def run_with(monkeypatch, fake: FakeTraining, out: Path, **changes) -> dict:
    monkeypatch.setattr(executor, "_train_and_evaluate", fake)
    return run_study(parse_study(STUDY | changes), out, threads=1)


def rounds(out: Path) -> list[int]:
    return [record["seeds"] for record in read_state(out)["rounds"]]


def verdicts(record: dict) -> dict[str, str | None]:
    return {f"{row['variant']} vs {row['baseline']}": row["verdict"] for row in record["comparisons"]}


NO_EFFECT = {
    "factors": {"attention": ["none", "se", "cbam"]},
    "seeds": {"min": 3, "max": 5},
    "rope": {"auc_roc": 0.001},
}


@pytest.fixture(scope="module")
def to_max(tmp_path_factory):
    """se is better from the first round on, cbam never decided within a ROPE of ±0.001: the study runs to max."""
    out = tmp_path_factory.mktemp("sequential") / "out"
    with pytest.MonkeyPatch.context() as monkeypatch:
        fake = FakeTraining()
        summary = run_with(monkeypatch, fake, out, **NO_EFFECT)
    return out, summary, fake


@pytest.mark.parametrize(
    ("seeds", "rule", "rounds_"),
    [
        ({"min": 3, "max": 20, "until": "decided"}, SequentialSeeds(3, 20), tuple(range(3, 21))),
        ({"max": 4}, SequentialSeeds(FIRST_ROUND, 4), (3, 4)),
        ({"min": 2, "max": 7, "step": 2, "metric": "ece", "split": "site_b"},
         SequentialSeeds(2, 7, 2, metric="ece", split="site_b"), (2, 4, 6, 7)),
        ({"min": 5, "max": 5}, SequentialSeeds(5, 5), (5,)),
    ],
)  # fmt: skip
def test_sequential_seeds_parse_to_a_rule_and_every_seed_up_to_max(seeds, rule, rounds_):
    study = parse_study(STUDY | {"seeds": seeds, "ood": [{"name": "site_b", "path": "/x"}]})
    assert study.sequential == rule and rule.rounds() == rounds_
    assert study.seeds == tuple(range(rule.max))
    assert parse_study(study.to_dict()) == study  # the study.yaml a study folder keeps reads back the same
    assert FIRST_ROUND == MIN_PAIRS_FOR_CI


def test_a_count_or_a_list_of_seeds_stays_as_it_was():
    for seeds, expected in ((5, (0, 1, 2, 3, 4)), ([0, 4, 2], (0, 4, 2))):
        study = parse_study(STUDY | {"seeds": seeds})
        assert study.seeds == expected and study.sequential is None
        assert study.to_dict()["seeds"] == list(expected) and "sequential" not in study.to_dict()


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ({"min": 5, "max": 3}, r"^s.yaml: seeds.min \(5\) must be at most seeds.max \(3\)$"),
        ({"min": 1, "max": 5}, r"^s.yaml \[seeds\]: min must be at least 2 "),
        (
            {"max": 5, "until": "significant"},
            r"^s.yaml \[seeds\]: unknown until 'significant'; choose one of: decided$",
        ),
        ({"min": 3}, r"^s.yaml: seeds.max is required for sequential seeds"),
        ({"max": 5, "step": 0}, r"^s.yaml \[seeds\]: step must be at least 1 "),
        ({"max": 5000}, r"^s.yaml \[seeds\]: max must be at most 1000 "),
        ({"max": 5, "metric": "loss"}, r"^s.yaml \[seeds\]: unknown metric 'loss'; choose one of: auc_roc, "),
        ({"max": 5, "split": "site_c"}, r"^s.yaml: seeds.split 'site_c' is not a test split of the study: test$"),
        ({"max": 5, "colour": "red"}, r"^s.yaml \[seeds\]: unknown key 'colour'; valid keys: max, metric, min, "),
    ],
)
def test_bad_sequential_seeds_are_one_line_errors_naming_the_key(seeds, message):
    with pytest.raises(ConfigError, match=message) as error:
        parse_study(STUDY | {"seeds": seeds}, "s.yaml")
    assert "\n" not in str(error.value)


def test_a_study_without_a_baseline_comparison_is_refused_before_anything_runs(tmp_path):
    study = parse_study(STUDY | {"factors": {"attention": ["se", "cbam"]}})
    with pytest.raises(ConfigError, match=r"sequential seeds stop on the comparisons with the baseline"):
        run_study(study, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_large_effect_stops_after_the_first_round(tmp_path, monkeypatch):
    fake = FakeTraining()
    summary = run_with(monkeypatch, fake, tmp_path / "out")
    assert sorted(fake.trained) == [(a, s) for a in ("none", "se") for s in range(3)]
    state = json.loads((tmp_path / "out" / SEQUENTIAL).read_text())
    assert summary["sequential"] == state and state["seeds"] == [0, 1, 2]
    assert state["rule"] == {"min": 3, "max": 8, "step": 1, "until": "decided", "metric": "auc_roc", "split": "test"}
    (record,) = state["rounds"]
    assert verdicts(record) == {"se vs none": "better"} and record["comparisons"][0]["pairs"] == 3
    assert record["comparisons"][0]["rho"] == pytest.approx(0.25) and record["comparisons"][0]["rope"] == 0.01
    assert state["stopped"]["reason"] == "decided" and (state["stopped"]["round"], state["stopped"]["seeds"]) == (1, 3)
    assert summary["counts"]["done"] == 6 and len(results(tmp_path / "out")) == 6  # no cell of a later seed


def test_no_effect_with_a_narrow_rope_runs_every_round_up_to_max(to_max):
    out, summary, fake = to_max
    assert rounds(out) == [3, 4, 5] and summary["counts"]["done"] == 15 and len(fake.trained) == 15
    state = read_state(out)
    assert [verdicts(record) for record in state["rounds"]] == [
        {"se vs none": "better", "cbam vs none": "undecided"}
    ] * 3
    assert state["stopped"]["reason"] == "max_seeds" and state["stopped"]["seeds"] == 5


def test_the_last_rounds_verdicts_are_the_reports(to_max):
    out, *_ = to_max
    analysis = analyse_study(out)
    reported = {f"{c.variant} vs {c.baseline}": c.comparison.verdict for c in analysis.comparisons
                if (c.source, c.comparison.metric) == ("test", "auc_roc")}  # fmt: skip
    assert verdicts(read_state(out)["rounds"][-1]) == reported
    markdown = Path(write_report(out)["markdown"]).read_text()
    assert "Study 'sequential': 3 variants x 5 sequential seeds (15 done runs)." in markdown
    assert (
        "Sequential seeds (min 3, max 5, step 1): rounds until every comparison of auc_roc on test with its baseline "
        "has a verdict (ROPE ±0.001); stopped after round 3 (5 seeds, "
    ) in markdown
    assert "because it reached max seeds: se vs none better, cbam vs none undecided." in markdown


def test_rerunning_a_stopped_study_trains_nothing_and_stops_again(to_max, monkeypatch):
    out, summary, _ = to_max
    before = read_state(out)
    fake = FakeTraining()
    again = run_with(monkeypatch, fake, out, **NO_EFFECT)
    assert fake.trained == [] and rounds(out) == [3, 4, 5]
    assert again["sequential"]["rounds"][:2] == before["rounds"][:2]  # earlier rounds kept as recorded
    assert again["sequential"]["stopped"]["reason"] == "max_seeds"


def test_a_study_killed_in_a_round_resumes_that_round(tmp_path, monkeypatch):
    out = tmp_path / "out"
    killed = FakeTraining(fail={("cbam", 3): KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        run_with(monkeypatch, killed, out, **NO_EFFECT)
    state = read_state(out)
    assert rounds(out) == [3, 4] and "analysed" not in state["rounds"][1] and "stopped" not in state
    assert killed.trained[-2:] == [("none", 3), ("se", 3)]
    assert {row.status for row in results(out).values() if row.cell == {"attention": "cbam", "seed": 3}} == {"running"}

    resumed = FakeTraining()
    summary = run_with(monkeypatch, resumed, out, **NO_EFFECT)
    assert resumed.trained == [("cbam", 3), ("none", 4), ("se", 4), ("cbam", 4)]  # nothing trained twice
    assert rounds(out) == [3, 4, 5] and summary["sequential"]["rounds"][0] == state["rounds"][0]
    assert summary["sequential"]["stopped"]["reason"] == "max_seeds" and summary["counts"]["done"] == 15


def test_a_failed_run_stops_the_round_incomplete_and_a_rerun_retries_it(tmp_path, monkeypatch):
    out = tmp_path / "out"
    failing = FakeTraining(fail={("se", 1): RuntimeError("simulated out of memory")})
    summary = run_with(monkeypatch, failing, out)
    stopped = summary["sequential"]["stopped"]
    assert (stopped["reason"], stopped["round"], stopped["missing"]) == ("incomplete", 1, 1)
    assert "comparisons" not in summary["sequential"]["rounds"][0] and summary["counts"]["failed"] == 1
    assert (out / RUNS).is_dir()

    retried = FakeTraining()
    summary = run_with(monkeypatch, retried, out)
    assert retried.trained == [("se", 1)] and summary["sequential"]["stopped"]["reason"] == "decided"
    assert rounds(out) == [3]


def test_the_study_command_says_when_and_why_the_rounds_stopped(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(executor, "_train_and_evaluate", FakeTraining())
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    code, out, _ = run_cli(capsys, monkeypatch, "study", tmp_path / "study.yaml", "--out", tmp_path / "out",
                           "--threads", "1")  # fmt: skip
    assert code == 0
    text = " ".join(out.split())
    assert "Sequential seeds (min 3, max 8, step 1): rounds until every comparison of auc_roc on test" in text
    assert (
        "stopped after round 1 (3 seeds, " in text
        and "because every comparison was decided: se vs none better." in text
    )
