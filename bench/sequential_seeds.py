"""Operating characteristics of sequential seeds (``seeds: {min, max, until: decided}``) against fixed designs.

Usage: python bench/sequential_seeds.py [--studies 10000] [--sd 0.02] [--rope 0.01] [--min 3] [--max 20]
[--step 1] [--rho 0 0.176] [--comparisons 3] [--seed 0]
Prints a markdown table (docs/statistics.md, "Sequential seeds: measured error rates"). No training: the paired
differences are simulated and judged by the study's own verdict.

A simulated study has ``comparisons`` comparisons (variants against their baseline), each with one paired difference
A - B per seed, drawn from the correlated t-test's own model: normal with mean ``delta`` (the true difference), SD
``sd`` and correlation ``rho`` between the seeds of a comparison (equicorrelated: d_j = delta + sd * (sqrt(rho) Z_0
+ sqrt(1 - rho) Z_j)). Comparisons are independent (in a study they share the baseline's runs, which correlates
them; not modelled). ``rho`` 0 is one fixed test set; 0.176 = 0.15 / (0.15 + 0.70) is a new split per seed with
the default validation and test fractions (0.15 each): rho = n_test / (n_test + n_train), as the study computes it.
The verdict of a comparison after n seeds is the study's, on its first n differences
(:func:`medattn.study.plan.simulated_verdicts`: the Bayesian correlated t-test with ``rho`` and the ROPE, and the
P(A>B) rule, through :func:`medattn.study.stats.decide_verdict`).

Designs, each on the same simulated studies:

* fixed ``min`` / fixed ``max`` seeds: every comparison's verdict at that n (rates over every comparison);
* sequential, 1 comparison: the study's rounds (:meth:`medattn.study.config.SequentialSeeds.rounds`) and stopping
  rule (:func:`medattn.study.sequential.is_decided`) on the first comparison alone; its verdict where it stopped;
* sequential, ``comparisons`` comparisons: the rounds stop when every comparison is decided, and each comparison's
  verdict is the one at that round (a verdict reached earlier can be lost while another comparison is undecided).

Columns: the share of comparisons declared better / worse / equivalent / undecided, the share whose two-sided
Wilcoxon signed-rank p (the study's test, :func:`medattn.study.plan.wilcoxon_rejects`, before Holm) is below 0.05 at
the same number of seeds, and the mean and median number of seeds a study ran. With delta 0, "better" and "worse"
are false decisions (a practical difference that is not there) and the Wilcoxon share is its false positive rate;
with delta = one ROPE the truth sits on the ROPE's edge, so "better" and "equivalent" are both borderline; with
delta = two ROPEs "better" is the power.
"""

import argparse
import time

import numpy as np

from medattn.study.config import SequentialSeeds
from medattn.study.plan import ALPHA, simulated_verdicts, standard_draws, wilcoxon_rejects
from medattn.study.sequential import is_decided
from medattn.study.stats import VERDICTS


def simulate(delta: float, sd: float, rho: float, rope: float, studies: int, comparisons: int, rule: SequentialSeeds,
             seed: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Paired differences [study, comparison, seed] and verdicts [round, study, comparison] after each round."""
    draws = standard_draws(studies * comparisons, rule.max + 1, seed)  # column 0: the shared component Z_0
    differences = delta + sd * (np.sqrt(rho) * draws[:, :1] + np.sqrt(1 - rho) * draws[:, 1:])
    verdicts = np.array([
        simulated_verdicts(differences[:, :n], rope=rope, rho=rho, higher_is_better=True) for n in rule.rounds()
    ])  # fmt: skip
    return differences.reshape(studies, comparisons, rule.max), verdicts.reshape(-1, studies, comparisons)


def stopped_at(verdicts: np.ndarray) -> np.ndarray:
    """Per study, the index of the round it stopped at: the first where ``is_decided``, else the last (max)."""
    rounds, studies, _ = verdicts.shape
    decided = [[r for r in range(rounds) if is_decided(list(verdicts[r, study]))] for study in range(studies)]
    return np.array([found[0] if found else rounds - 1 for found in decided])


def row(label: str, differences: np.ndarray, verdicts: np.ndarray, sizes: tuple[int, ...], stop: np.ndarray) -> list:
    """A design's line: the verdicts of every comparison at the round its study stopped (``stop``), the share whose
    Wilcoxon p there is below 0.05 (two-sided, uncorrected), and the seeds the studies ran."""
    final = verdicts[stop, np.arange(len(stop))]
    rejected = [
        wilcoxon_rejects(differences[stop == r, :, :n].reshape(-1, n), ALPHA)
        for r, n in enumerate(sizes) if np.any(stop == r)
    ]  # fmt: skip
    seeds = np.asarray(sizes)[stop]
    rates = [f"{np.mean(final == verdict):.3f}" for verdict in VERDICTS]
    return [label, *rates, f"{np.mean(np.concatenate(rejected)):.3f}", f"{np.mean(seeds):.1f}", f"{np.median(seeds):g}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10_000, help="simulated studies per setting")
    parser.add_argument("--sd", type=float, default=0.02, help="SD of one paired difference (AUC)")
    parser.add_argument("--rope", type=float, default=0.01, help="ROPE half-width (AUC's default 0.01)")
    parser.add_argument("--min", type=int, default=3)
    parser.add_argument("--max", type=int, default=20)
    parser.add_argument("--step", type=int, default=1)
    parser.add_argument("--rho", type=float, nargs="+", default=[0.0, 0.176])
    parser.add_argument("--comparisons", type=int, default=3, help="comparisons of one study (the all-decided rule)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rule = SequentialSeeds(args.min, args.max, args.step)
    start = time.perf_counter()
    header = ["design", *VERDICTS, f"Wilcoxon p < {ALPHA:g}", "mean seeds", "median seeds"]
    print(
        f"{args.studies} simulated studies per setting; SD {args.sd:g}, ROPE ±{args.rope:g}, rounds {rule.min}.."
        f"{rule.max} step {rule.step}; 1 SE of a rate p: sqrt(p(1-p)/{args.studies}) or less"
    )
    sizes = rule.rounds()
    for rho in args.rho:
        for multiple in (0, 1, 2):
            delta = multiple * args.rope
            differences, verdicts = simulate(delta, args.sd, rho, args.rope, args.studies, args.comparisons, rule,
                                             args.seed)  # fmt: skip
            first = (differences[:, :1], verdicts[:, :, :1])
            lines = [
                row(f"fixed {rule.min} seeds", differences, verdicts, sizes, np.zeros(args.studies, dtype=int)),
                row(f"fixed {rule.max} seeds", differences, verdicts, sizes, np.full(args.studies, len(sizes) - 1)),
                row("sequential, 1 comparison", *first, sizes, stopped_at(first[1])),
                row(f"sequential, {args.comparisons} comparisons", differences, verdicts, sizes, stopped_at(verdicts)),
            ]
            print(f"\nrho {rho:g}, true difference {delta:g} ({multiple} ROPE):\n")
            print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
            print("\n".join("| " + " | ".join(cells) + " |" for cells in lines))
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
