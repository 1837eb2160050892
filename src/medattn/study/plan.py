"""How many seeds each comparison of a study needs, and what they cost (``medattn plan``).

For one metric (or explanation score) on one test split (or explanation source), every variant is planned against
its baseline, from the paired differences the study measured (``A - B`` in the metric's units, over the seeds both
arms have, as :func:`medattn.study.analysis.compare_variants` pairs them):

* **seeds for power**: the smallest number n of paired seeds with which the study's frequentist rule, the
  Holm-adjusted Wilcoxon signed-rank p below ``alpha`` (:data:`ALPHA`, the study's ``*`` mark), is reached with
  probability >= ``power`` when the true mean paired difference is ``delta`` and the differences are normal with the
  observed standard deviation (ddof=1). The Holm family is every variant against its baseline on this metric and
  split (m comparisons, :func:`medattn.study.analysis.holm_family`). **Assumption**: the other m - 1 comparisons of
  the family are null, so this one must pass Holm's first step, p < alpha / m (true effects elsewhere in the family
  would let it pass a later, laxer step: the plan errs on the side of more seeds). A rejection in either direction
  counts, as the two-sided test's mark does.
* **seeds for a decision**: the smallest n with which the study's verdict (:func:`~medattn.study.stats.
  decide_verdict`: the Bayesian correlated t-test with the study's ``rho`` and the metric's ROPE above 0.95 for
  better, equivalent or worse, with Bouthillier et al.'s P(A > B) rule for better and worse) is anything but
  "undecided" with probability >= ``power``, the differences drawn from N(observed mean, observed SD^2). With
  ``rho > 0`` the posterior's scale never falls below ``sqrt(rho / (1 - rho))`` times the SD, so a mean near a ROPE
  boundary may not be decided with any number of seeds: the search then stops at ``max_seeds`` and says so.
* **cost**: both arms need a run per new seed, so ``extra runs = 2 * max(0, n - seeds now)``; hours are n (or the
  extra seeds) times the mean measured run time of the variant plus that of its baseline (the store's seconds per
  run, wall clock), on the device the runs' ``env.json`` recorded (GPU for CUDA, CPU). A baseline shared by several
  variants is counted in each row.

Simulation: :data:`SIMULATIONS` simulated studies per n, from standard normal draws of one numpy generator seeded
with ``seed``: column j holds the j-th seed of every simulated study, so n and n + 1 seeds share their first n draws
(the estimates move smoothly with n) and the answer does not depend on ``max_seeds``. The search goes upward, one
seed at a time, from the smallest n the rule can decide with (the Wilcoxon test's smallest p is 2 / 2**n; a verdict
needs 3 pairs) to ``max_seeds``; the exact test's power is not monotone in n, so no bisection.

The simulated studies run the study's own functions, vectorised over the simulated studies where they would be slow
one by one (:func:`wilcoxon_rejects`, :func:`simulated_verdicts`).
"""

import bisect
import functools
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from medattn.errors import ConfigError
from medattn.study.analysis import StudyAnalysis, paired_values
from medattn.study.measures import higher_is_better, rope_of
from medattn.study.results import StudyRun
from medattn.study.stats import (
    MARKS,
    BayesProbabilities,
    approx_signed_rank_p,
    decide_verdict,
    posterior_scale,
    probability_of_outperforming,
    region_probabilities,
    signed_rank_p_values,
)
from medattn.study.stats.paired import EXACT_WILCOXON_MAX, MIN_PAIRS_FOR_CI
from medattn.train.rundir import ENV
from medattn.validation import check_options

SIMULATIONS = 2000  # simulated studies per number of seeds: a probability of 0.8 is estimated to +-0.009 (1 SE)
ALPHA = MARKS[-1][0]  # the study's significance level: a Holm-adjusted p below it gets the '*' mark
DEVICE_NAMES = {"cuda": "GPU", "cpu": "CPU"}


@dataclass(frozen=True)
class SeedSearch:
    """The smallest number of paired seeds that reaches a target probability, or None and ``note`` says why.

    ``probability`` is the simulated probability at ``seeds`` (at the last number searched when not reached; None
    when nothing could be searched).
    """

    seeds: int | None
    probability: float | None
    note: str = ""


@dataclass(frozen=True)
class PlanRow:
    """The plan of one variant against its baseline on one metric and split.

    Attributes:
        seeds_now: paired seeds the study has. family_size: m, the comparisons of the Holm family.
        mean_difference, sd: mean and standard deviation (ddof=1) of the observed ``A - B`` (None below 2 seeds).
        rope, rho: the settings of the study's Bayesian test for this comparison.
        power, decision: the two searches (None when the comparison is not plannable: ``note`` says why).
        seconds_per_seed: mean measured run seconds of the variant plus those of its baseline (None when either
            arm recorded none). device: where the runs trained ("GPU", "CPU", "GPU+CPU"; "" when not recorded).
    """

    variant: str
    baseline: str
    source: str
    metric: str
    seeds_now: int
    family_size: int
    mean_difference: float | None = None
    sd: float | None = None
    rope: float | None = None
    rho: float | None = None
    power: SeedSearch | None = None
    decision: SeedSearch | None = None
    seconds_per_seed: float | None = None
    device: str = ""
    note: str = ""

    def extra_seeds(self, seeds: int) -> int:
        """Seeds beyond the paired ones the study has."""
        return max(0, seeds - self.seeds_now)

    def hours(self, seeds: int) -> float | None:
        """Run hours of ``seeds`` seeds of both arms (None when the run times were not recorded)."""
        return None if self.seconds_per_seed is None else seeds * self.seconds_per_seed / 3600

    def costed(self, search: SeedSearch | None) -> dict | None:
        """``search`` with its extra runs, hours and extra hours."""
        if search is None:
            return None
        found = search.seeds is not None
        return asdict(search) | {
            "extra_runs": 2 * self.extra_seeds(search.seeds) if found else None,  # both arms
            "hours": self.hours(search.seeds) if found else None,
            "extra_hours": self.hours(self.extra_seeds(search.seeds)) if found else None,
        }

    def to_dict(self) -> dict:
        plain = {name: value for name, value in asdict(self).items() if name not in ("power", "decision")}
        return plain | {"power": self.costed(self.power), "decision": self.costed(self.decision)}


@dataclass(frozen=True)
class StudyPlan:
    """:func:`plan_study`'s rows and the settings they were planned with; ``method`` says how, in one paragraph."""

    study: str
    source: str
    metric: str
    delta: float
    power: float
    alpha: float
    family_size: int
    max_seeds: int
    simulations: int
    seed: int
    rows: list[PlanRow] = field(default_factory=list)

    @property
    def method(self) -> str:
        m = self.family_size
        return (
            f"Seeds for power: smallest n at which the Wilcoxon signed-rank p, Holm-adjusted over the {m} "
            f"comparison(s) of the family, is below {self.alpha:g} with probability >= {self.power:g} when the paired "
            f"differences are N({self.delta:g}, observed SD^2), assuming the other {m - 1} comparison(s) null "
            f"(Holm's first step: p < {self.alpha:g}/{m}). Seeds for a decision: smallest n at which the study's "
            f"verdict (Bayesian correlated t-test with its rho and ROPE above 0.95, and the P(A>B) rule) is not "
            f"'undecided' with probability >= {self.power:g}, the differences drawn from N(observed mean, observed "
            f"SD^2). {self.simulations} simulated studies per n (seed {self.seed}), n searched up to "
            f"{self.max_seeds}. Extra runs: both arms, for each seed beyond the paired ones (a shared baseline counts "
            "in every row); hours: seeds x the measured mean run time of both arms."
        )

    def to_dict(self) -> dict:
        plain = {name: value for name, value in asdict(self).items() if name != "rows"}
        return plain | {"method": self.method, "rows": [row.to_dict() for row in self.rows]}


PLAN_COLUMNS = ("comparison", "mean diff ± sd", "seeds now", "seeds for power", "seeds for a decision", "extra runs",
                "extra hours", "hours")  # fmt: skip
PLAN_READING = "Seeds: n (simulated probability). Runs and hours: for the seeds for power / for a decision."


def plan_cells(plan: dict) -> tuple[list[tuple[str, ...]], list[str]]:
    """The table of a plan (:meth:`StudyPlan.to_dict`) as ``medattn plan`` and the study report show it: one row of
    :data:`PLAN_COLUMNS` per comparison, and the notes (why a comparison was not planned, why a search found no
    number of seeds)."""
    rows, notes = [], []
    for row in plan["rows"]:
        name = f"{row['variant']} vs {row['baseline']}"
        if row["note"]:
            notes.append(f"{name}: not plannable, {row['note']}")
            rows.append((name, "n/a", str(row["seeds_now"]), "n/a", "n/a", "", "", ""))
            continue
        searches = (row["power"], row["decision"])
        notes += [f"{name}: {search['note']}" for search in searches if search["note"]]
        unit = f"{row['device']}-h" if row["device"] else "h"
        rows.append((
            name, f"{row['mean_difference']:+.4f} ± {row['sd']:.4f}", str(row["seeds_now"]), *map(_seeds, searches),
            " / ".join(_number(search["extra_runs"], "d") for search in searches),
            *(" / ".join(_number(search[key], ".3g") for search in searches) + f" {unit}"
              for key in ("extra_hours", "hours")),
        ))  # fmt: skip
    return rows, notes


def _seeds(search: dict) -> str:
    if search["seeds"] is None:
        return "not reached" if search["probability"] is not None else "n/a"
    return f"{search['seeds']} ({search['probability']:.2f})"


def _number(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def plan_study(
    analysis: StudyAnalysis,
    *,
    delta: float,
    power: float = 0.8,
    metric: str = "auc_roc",
    split: str = "test",
    max_seeds: int = 100,
    simulations: int = SIMULATIONS,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> StudyPlan:
    """Plan every variant against its baseline on ``metric`` and ``split`` (see the module docstring).

    Args:
        analysis: :func:`medattn.study.analysis.analyse_study` of the study folder.
        delta: the true mean paired difference the power is planned for, in the metric's units (> 0).
        power: the probability wanted, of a significant test and of a verdict (in (0, 1)).
        metric, split: a metric (or explanation score) and a test split (or explanation source) of the study.
        max_seeds: the largest number of seeds searched.
        simulations, seed: simulated studies per number of seeds, and the seed of their draws.
        progress: called with (comparisons planned, comparisons) after each.

    Raises:
        ConfigError: one line naming the option: delta or power out of range, a split or metric without values,
            a study without a baseline.
    """
    check_options("plan", delta=delta, power=power, max_seeds=max_seeds)
    data = analysis.data
    group = _family_values(analysis.values, split, metric)
    if not data.baselines:
        raise ConfigError(f"plan: {data.folder}: no variant has a baseline to compare with (the study's baseline:)")
    plan = StudyPlan(data.study.name, split, metric, float(delta), float(power), ALPHA, len(data.baselines),
                     max_seeds, simulations, seed)  # fmt: skip
    rows = []
    for variant, baseline in data.baselines.items():
        pairs = paired_values(group, variant, baseline)
        runs = [run for run in data.runs if run.variant in (variant, baseline)]
        row = PlanRow(variant, baseline, split, metric, seeds_now=0 if pairs is None else len(pairs),
                      family_size=plan.family_size, **_cost_of(runs, variant, baseline))  # fmt: skip
        if row.seeds_now < 2:
            rows.append(replace(row, note=f"{row.seeds_now} paired seed(s): the SD of the differences needs 2"))
        else:
            difference = (pairs[variant] - pairs[baseline]).to_numpy()
            rho, rope = analysis.rho[(variant, baseline)], rope_of(metric, data.study.rope)
            rows.append(_planned(row, difference, plan, rho=rho, rope=rope))
        if progress is not None:
            progress(len(rows), len(data.baselines))
    return replace(plan, rows=rows)


def _family_values(values: pd.DataFrame, split: str, metric: str) -> pd.DataFrame:
    sources = list(dict.fromkeys(values["source"]))
    if split not in sources:
        raise ConfigError(f"plan: --split '{split}' has no values in this study; choose one of: {', '.join(sources)}")
    on_split = values[values["source"] == split]
    metrics = list(dict.fromkeys(on_split["metric"]))
    if metric not in metrics:
        raise ConfigError(f"plan: --metric '{metric}' has no values on '{split}'; choose one of: {', '.join(metrics)}")
    return on_split[on_split["metric"] == metric]


def _planned(row: PlanRow, difference: np.ndarray, plan: StudyPlan, *, rho: float, rope: float) -> PlanRow:
    mean, sd = float(np.mean(difference)), float(np.std(difference, ddof=1))
    simulation = {"max_seeds": plan.max_seeds, "simulations": plan.simulations, "seed": plan.seed}
    return replace(
        row, mean_difference=mean, sd=sd, rope=rope, rho=rho,
        power=seeds_for_power(plan.delta, sd, power=plan.power, level=plan.alpha / plan.family_size, **simulation),
        decision=seeds_for_decision(mean, sd, rope=rope, rho=rho, higher_is_better=higher_is_better(row.source,
                                    row.metric), probability=plan.power, **simulation),
    )  # fmt: skip


def standard_draws(simulations: int, max_seeds: int, seed: int) -> np.ndarray:
    """Standard normal draws [simulations, max_seeds]: column j is the j-th seed of every simulated study, drawn
    before column j + 1, so the first n columns are the same whatever ``max_seeds`` is."""
    return np.random.default_rng(seed).standard_normal((max_seeds, simulations)).T


def wilcoxon_rejects(differences: np.ndarray, level: float) -> np.ndarray:
    """Per row (one simulated study's paired differences), whether the study's Wilcoxon test
    (:func:`~medattn.study.stats.wilcoxon_p`) gives p < ``level``.

    Normal draws have no zero and no tied differences (with probability 1), so up to ``EXACT_WILCOXON_MAX`` seeds
    the exact p depends on the signed-rank statistic alone and is looked up among the p-values of ranks 1..n
    (:func:`~medattn.study.stats.signed_rank_p_values`); beyond, scipy's normal approximation, as ``wilcoxon_p``
    calls it. Constant rows (an observed SD of 0) all have one sign, and their p, 2 / 2**n, is the same with
    distinct or tied ranks.
    """
    n = differences.shape[1]
    if n > EXACT_WILCOXON_MAX:
        return approx_signed_rank_p(differences, axis=1) < level
    ranks = np.argsort(np.argsort(np.abs(differences), axis=1), axis=1) + 1
    doubled_statistic = 2 * np.sum(ranks * (differences > 0), axis=1)
    return signed_rank_p_values(2 * np.arange(1, n + 1))[doubled_statistic] < level


def seeds_for_power(
    delta: float,
    sd: float,
    *,
    power: float,
    level: float,
    max_seeds: int = 100,
    simulations: int = SIMULATIONS,
    seed: int = 0,
) -> SeedSearch:
    """The smallest n <= ``max_seeds`` at which the Wilcoxon test gives p < ``level`` with probability >= ``power``
    for paired differences N(``delta``, ``sd``^2), estimated from ``simulations`` studies per n drawn with
    :func:`standard_draws` (``level`` = alpha / m for Holm's first step; see the module docstring)."""
    draws = standard_draws(simulations, max_seeds, seed)
    first = math.floor(math.log2(2 / level)) + 1  # the smallest n with 2 / 2**n < level
    return _smallest_n(
        lambda n: float(np.mean(wilcoxon_rejects(delta + sd * draws[:, :n], level))), first, max_seeds, power,
        "power", f"the Wilcoxon test's smallest p, 2/2^n, is below {level:.3g} from {first} seeds on",
    )  # fmt: skip


def seeds_for_decision(
    mean: float,
    sd: float,
    *,
    rope: float,
    rho: float,
    higher_is_better: bool = True,
    probability: float = 0.8,
    max_seeds: int = 100,
    simulations: int = SIMULATIONS,
    seed: int = 0,
) -> SeedSearch:
    """The smallest n <= ``max_seeds`` at which the study's verdict (:func:`simulated_verdicts`) is not
    "undecided" with probability >= ``probability``, for paired differences ``A - B`` drawn from
    N(``mean``, ``sd``^2); ``simulations`` and ``seed`` as in :func:`seeds_for_power`."""
    draws = standard_draws(simulations, max_seeds, seed)

    def decided(n: int) -> float:
        verdicts = simulated_verdicts(mean + sd * draws[:, :n], rope=rope, rho=rho, higher_is_better=higher_is_better)
        return float(np.mean([verdict != "undecided" for verdict in verdicts]))

    found = _smallest_n(decided, MIN_PAIRS_FOR_CI, max_seeds, probability, "probability of a verdict",
                        f"a verdict needs {MIN_PAIRS_FOR_CI} pairs")  # fmt: skip
    if found.seeds is None and rho > 0:
        floor = posterior_scale(sd**2, math.inf, rho)
        return replace(found, note=f"{found.note}; with rho {rho:.3g} the posterior's scale never falls below "
                                   f"{floor:.3g} (sqrt(rho / (1 - rho)) x SD), whatever the seeds")  # fmt: skip
    return found


def simulated_verdicts(differences: np.ndarray, *, rope: float, rho: float, higher_is_better: bool) -> list[str]:
    """The study's verdict (:func:`~medattn.study.stats.decide_verdict`) of each row of paired differences
    ``A - B`` (one simulated study), as :func:`~medattn.study.stats.compare_paired` would give it.

    The Bayesian correlated t-test's probabilities are computed for all rows at once
    (:func:`~medattn.study.stats.posterior_scale`, :func:`~medattn.study.stats.region_probabilities`) and
    Bouthillier et al.'s decision from the number of pairs A wins (:func:`outperforming_bounds`; the rows are
    normal draws, without ties); the verdict rule itself is the study's.
    """
    n = differences.shape[1]
    better = differences if higher_is_better else -differences  # "better" as correlated_t_test and wins orient it
    bayes = region_probabilities(np.mean(better, axis=1), posterior_scale(np.var(better, axis=1, ddof=1), n, rho),
                                 n - 1, rope)  # fmt: skip
    a_from, b_below = outperforming_bounds(n)
    return [
        decide_verdict(n, won >= a_from, won < b_below, BayesProbabilities(*probabilities))[0]
        for won, *probabilities in zip(np.count_nonzero(better > 0, axis=1), *bayes, strict=True)
    ]


@functools.cache
def outperforming_bounds(n: int) -> tuple[int, int]:
    """Bouthillier et al.'s decision (:func:`~medattn.study.stats.probability_of_outperforming`, the study's
    bootstrap) for n pairs without ties, as bounds on the number k of pairs A wins: A is better when k >= the
    first bound, B when k < the second.

    The decision depends on k alone, up to the order in which the bootstrap meets the wins (a Monte Carlo detail),
    and is monotone in k: the bootstrap resamples the same pair indices whatever the outcomes, so each resample's
    P(A > B) grows with k. A bisection over k finds both bounds.
    """

    def outcome(k: int):
        return probability_of_outperforming((np.arange(n) < k).astype(float), np.full(n, 0.5))

    counts = range(n + 1)
    return (
        bisect.bisect_left(counts, True, key=lambda k: outcome(k).a_better),
        bisect.bisect_left(counts, True, key=lambda k: not outcome(k).b_better),
    )


def _smallest_n(
    probability_at: Callable[[int], float], first: int, last: int, target: float, what: str, why_first: str
) -> SeedSearch:
    """The smallest n in [first, last] with ``probability_at(n) >= target`` (``why_first``: why not fewer)."""
    if first > last:
        return SeedSearch(None, None, f"{why_first}: more than the {last} searched")
    for n in range(first, last + 1):
        reached = probability_at(n)
        if reached >= target:
            return SeedSearch(n, reached)
    return SeedSearch(None, reached, f"{what} {reached:.2f} at {last} seeds, below {target:g}")


def _cost_of(runs: list[StudyRun], variant: str, baseline: str) -> dict:
    """``seconds_per_seed`` and ``device`` of a pair's runs (see :class:`PlanRow`)."""
    means = []
    for name in (variant, baseline):
        seconds = [run.seconds for run in runs if run.variant == name and run.seconds is not None]
        means.append(float(np.mean(seconds)) if seconds else None)
    devices = sorted({device for run in runs if (device := run_device(run))}, key=lambda d: d != "cuda")
    return {
        "seconds_per_seed": None if None in means else sum(means),
        "device": "+".join(DEVICE_NAMES.get(device, device) for device in devices),
    }


def run_device(run: StudyRun) -> str | None:
    """The device type the run trained on (``cuda``, ``cpu``), as its ``env.json`` recorded it; None when not."""
    try:
        environment = json.loads((run.folder / ENV).read_text())
    except (OSError, ValueError):
        return None
    precision = environment.get("precision") if isinstance(environment, dict) else None
    device = precision.get("device") if isinstance(precision, dict) else None
    return device if isinstance(device, str) else None
