"""Sequential seeds: a study that adds seeds in rounds until its primary comparisons are decided.

```yaml
seeds: {min: 3, max: 20, step: 1, until: decided, metric: auc_roc, split: test}
```

Round 1 runs seeds 0 .. min - 1 of every variant; each later round adds ``step`` seeds (the last one fewer, up to
``max``). After each round the finished runs of the round's seeds are analysed as the report analyses them
(:func:`round_comparisons`): every variant against its baseline on ``metric`` and ``split``, paired by seed, with the
study's rho and ROPE, and the study's verdict (:func:`medattn.study.stats.decide_verdict`). The study stops

* ``decided``: when every one of these comparisons has a verdict other than "undecided" (better, worse or
  equivalent; a comparison that could not be made counts as undecided), or
* ``max_seeds``: when ``max`` seeds have run, whatever the verdicts, or
* ``incomplete``: when a run of the round did not finish (it failed, or another live process holds it): the
  verdicts would be computed on fewer pairs. Re-running the command retries it and resumes that round.

Rounds are successive batches of cells for the runner (``--workers`` and the Ray executor run each batch as they run
a whole grid); a round's runs are the cells of its seeds, so a round adds the cells of its new seeds to the store.

``sequential.json`` in the study folder records the rule, each round (its number of seeds, when it started and was
analysed, every comparison's verdict, pairs and mean difference), the seeds run so far and why and when the study
stopped. A re-run starts at the last recorded round: its finished runs are skipped as in any study, it is analysed
again and the rounds go on from there; rounds recorded under another rule (the study was changed, ``--force``) are
dropped. Since the last round is analysed again, re-running a stopped study checks its decision again with the
current ``rope:`` (an analysis-only key).

Looking at the verdicts after every round and stopping when they are reached changes the error rates of the verdict
(and of the Wilcoxon test, whose p-value assumes a fixed number of seeds): ``bench/sequential_seeds.py`` measures
them, and docs/statistics.md lists them.
"""

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

from medattn.errors import ConfigError
from medattn.io import write_json_atomic
from medattn.study.config import SequentialSeeds, StudyConfig
from medattn.study.measures import rope_of

SEQUENTIAL = "sequential.json"
UNDECIDED = "undecided"


def run_sequential(study: StudyConfig, out: Path, run_round: Callable[[tuple[int, ...]], dict]) -> tuple[dict, dict]:
    """Run the study's rounds (see the module docstring); returns the last round's stage and the state written.

    Args:
        study: a study with sequential seeds.
        out: the study folder.
        run_round: runs the cells of the given seeds and returns the runner's stage, with ``missing``: the keys of
            the round's cells that did not finish.
    """
    rule = study.sequential
    state = resumed_state(out, rule)
    sizes = rule.rounds()
    position = len(state["rounds"])
    while True:
        seeds = study.seeds[: sizes[position]]
        record = {"round": position + 1, "seeds": len(seeds), "started": _now()}
        state["rounds"].append(record)
        state["seeds"] = list(seeds)
        _write(out, state)
        stage = run_round(seeds)
        if stage["missing"]:
            return stage, _stop(out, state, "incomplete", missing=len(stage["missing"]))
        record["comparisons"] = round_comparisons(out, rule, seeds)
        record["analysed"] = _now()
        if is_decided([comparison["verdict"] for comparison in record["comparisons"]]):
            return stage, _stop(out, state, "decided")
        if position == len(sizes) - 1:
            return stage, _stop(out, state, "max_seeds")
        _write(out, state)
        position += 1


def is_decided(verdicts: list[str | None]) -> bool:
    """The stopping rule ``until: decided``: every comparison has a verdict, and none is "undecided" (None: the
    comparison could not be made)."""
    return bool(verdicts) and all(verdict not in (None, UNDECIDED) for verdict in verdicts)


def resumed_state(out: Path, rule: SequentialSeeds) -> dict:
    """``sequential.json`` without its last round (the round a re-run does again) and its stop; a fresh state when
    there is none, or when it was recorded under another rule."""
    state = read_state(out)
    fresh = {"rule": asdict(rule), "rounds": [], "seeds": []}
    if state.get("rule") != fresh["rule"] or not state.get("rounds"):
        return fresh
    rounds = state["rounds"][:-1]
    if [record.get("seeds") for record in rounds] != list(rule.rounds()[: len(rounds)]):
        return fresh
    return fresh | {"rounds": rounds}


def read_state(folder: Path) -> dict:
    """``sequential.json`` of a study folder; {} when there is none. A damaged file is a one-line ConfigError."""
    path = Path(folder) / SEQUENTIAL
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: not readable as JSON ({error}); delete it to start the rounds again") from None
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: expected a JSON mapping; delete it to start the rounds again")
    return state


def round_comparisons(folder: Path, rule: SequentialSeeds, seeds: tuple[int, ...]) -> list[dict]:
    """Every variant against its baseline on the rule's metric and split over the runs of ``seeds``, as the report
    compares them (:func:`medattn.study.analysis.compare_variants` with the study's rho and ROPE): per comparison
    the verdict (None when it could not be made, with a ``note``), the number of pairs and the mean difference."""
    from medattn.study.analysis import compare_variants, usable_test_predictions
    from medattn.study.correlation import split_correlation
    from medattn.study.results import load_study_dir, value_frame

    data = load_study_dir(folder)
    data = replace(data, runs=[run for run in data.runs if run.seed in seeds])
    rho, _ = split_correlation(data, usable_test_predictions(data)[0])
    values = value_frame(data)
    values = values[(values["source"] == rule.split) & (values["metric"] == rule.metric)]
    found, skipped = compare_variants(values, data.baselines, rho=rho, ropes=data.study.rope)
    by_pair = {(item.variant, item.baseline): item.comparison for item in found}
    rows = []
    for variant, baseline in data.baselines.items():
        comparison = by_pair.get((variant, baseline))
        if comparison is None:
            note = next((line for line in skipped if line.startswith(f"{variant} vs {baseline}")), "no values")
            rows.append({"variant": variant, "baseline": baseline, "verdict": None, "pairs": 0, "note": note})
            continue
        rows.append({"variant": variant, "baseline": baseline, "verdict": comparison.verdict, "pairs": comparison.n,
                     "mean_difference": comparison.mean_difference, "rope": comparison.rope,
                     "rho": comparison.rho})  # fmt: skip
    return rows


def _stop(out: Path, state: dict, reason: str, **details) -> dict:
    record = state["rounds"][-1]
    state["stopped"] = {"reason": reason, "round": record["round"], "seeds": record["seeds"], "at": _now(), **details}
    _write(out, state)
    return state


def stop_sentence(state: dict, study: StudyConfig) -> str:
    """When and why a sequential study stopped, in one sentence (or that its last round has not finished)."""
    rule = study.sequential
    what = (
        f"Sequential seeds (min {rule.min}, max {rule.max}, step {rule.step}): rounds until every comparison of "
        f"{rule.metric} on {rule.split} with its baseline has a verdict (ROPE ±{rope_of(rule.metric, study.rope):g})"
    )
    rounds, stopped = state.get("rounds") or [], state.get("stopped")
    if not rounds:
        return f"{what}; no round has started."
    if not stopped:
        last = rounds[-1]
        return f"{what}; round {last['round']} ({last['seeds']} seeds) has not finished: re-run `medattn study`."
    at = f"round {stopped['round']} ({stopped['seeds']} seeds, {stopped['at'][:16].replace('T', ' ')} UTC)"
    if stopped["reason"] == "incomplete":
        return (f"{what}; stopped in {at}: {stopped['missing']} run(s) of the round did not finish; re-run "
                "`medattn study` to retry them and resume the round.")  # fmt: skip
    verdicts = ", ".join(
        f"{row['variant']} vs {row['baseline']} {row['verdict'] or 'not compared'}" for row in rounds[-1]["comparisons"]
    )
    why = "every comparison was decided" if stopped["reason"] == "decided" else "it reached max seeds"
    return f"{what}; stopped after {at} because {why}: {verdicts}."


def _write(out: Path, state: dict) -> None:
    write_json_atomic(out / SEQUENTIAL, state)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
