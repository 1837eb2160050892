"""Power and calibration of the feature-usage tests (cHSIC, RCoT, CMIknn) and of their majority decision.

Usage: python bench/feature_power.py [REPS] [PROCESSES] [--n 100,300,1000] [--effects 0,0.2,0.4,0.8]
[--permutations 200] [--out FILE.csv] (default: 50 replicates per setting, 2 processes, every n and effect). Prints a
markdown table of rejection rates at p < 0.01 (docs/features.md, "Power") and writes every p-value
to FILE.csv when asked.

Each replicate draws a binary label Z, a feature F whose distribution depends on Z (so that F and
the output are dependent through the label even when the model ignores F), and a model output
X = Z + effect * std(F) + N(0, 1):

- classes ``balanced``: Z ~ Bernoulli(0.5) and the direct effect in every row; ``minority``:
  Z ~ Bernoulli(0.1) and the direct effect only inside the minority class (a melanoma-like class of
  10 %, the case where a test that pools the classes is blind);
- feature ``continuous``: F ~ N(0.8 Z, 1); ``binary``: F ~ Bernoulli(0.3 + 0.4 Z); ``3-level``: a
  category with probabilities (0.5, 0.3, 0.2) for Z = 0 and (0.2, 0.3, 0.5) for Z = 1, acting on X
  through the level values (0, 1, -1), standardised, and passed to the tests as a pandas category
  (one-hot), as ``medattn features`` passes a categorical criterion;
- effect 0 is the null (calibration: the rate should stay near 0.01), then 0.2, 0.4, 0.8.

Every test runs at its defaults, with 200 permutations unless told (the p-value floor 1/201 is below 0.01;
``medattn features`` uses 500, whose p-values are less coarse near 0.01);
n = 1000 is subsampled to ``max_n`` = 500 rows, stratified by Z, as by default. The majority
decision is the paper's: at least 2 of the 3 tests reject.
"""

import argparse
import functools
import itertools
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

ALPHA = 0.01
PERMUTATIONS = 200
EFFECTS = (0.0, 0.2, 0.4, 0.8)
CLASSES = ("balanced", "minority")
FEATURES = ("continuous", "binary", "3-level")
TESTS = ("chsic", "rcot", "cmiknn")


def draw(seed: int, n: int, classes: str, feature: str, effect: float):
    """One replicate: output x [n], feature column (numeric array or pandas category) and label z [n]."""
    rng = np.random.default_rng(seed)
    z = (rng.random(n) < (0.1 if classes == "minority" else 0.5)).astype(int)
    if feature == "continuous":
        values = rng.normal(0.8 * z, 1.0)
        acting = values
    elif feature == "binary":
        values = (rng.random(n) < 0.3 + 0.4 * z).astype(float)
        acting = values
    else:
        probabilities = np.where(z[:, None] == 0, [0.5, 0.3, 0.2], [0.2, 0.3, 0.5])
        codes = (rng.random(n)[:, None] > probabilities.cumsum(1)).sum(1)
        values = pd.Series(pd.Categorical(np.array(["a", "b", "c"])[codes]))
        acting = np.array([0.0, 1.0, -1.0])[codes]
    acting = (acting - acting.mean()) / acting.std()
    inside = (z == 1) if classes == "minority" else np.ones(n, dtype=bool)
    x = z + effect * acting * inside + rng.standard_normal(n)
    return x, values, z


def replicate(setting: tuple, permutations: int = PERMUTATIONS) -> dict:
    from medattn.features.citests import CI_TESTS, encode_feature

    with threadpool_limits(1):  # one BLAS thread per process: no oversubscription
        return _replicate(setting, permutations, CI_TESTS, encode_feature)


def _replicate(setting: tuple, permutations: int, CI_TESTS, encode_feature) -> dict:
    n, classes, feature, effect, seed = setting
    x, values, z = draw(seed, n, classes, feature, effect)
    encoded = encode_feature(values)
    row = {"n": n, "classes": classes, "feature": feature, "effect": effect, "seed": seed}
    for name in TESTS:
        options = {"seed": seed} | ({} if name == "rcot" else {"permutations": permutations})
        row[name] = CI_TESTS[name](x, encoded, z, **options).p_value
    return row


def rejection_table(frame: pd.DataFrame) -> pd.DataFrame:
    rejected = frame[list(TESTS)] < ALPHA
    frame = frame.assign(**{name: rejected[name] for name in TESTS}, majority=rejected.sum(axis=1) >= 2)
    keys = ["classes", "feature", "n", "effect"]
    return frame.groupby(keys)[[*TESTS, "majority"]].mean().reset_index()


def markdown(table: pd.DataFrame, reps: int) -> str:
    lines = [
        f"| classes | feature | n | effect | cHSIC | RCoT | CMIknn | majority |  ({reps} replicates each)",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples(index=False):
        rates = " | ".join(f"{getattr(row, name):.2f}" for name in (*TESTS, "majority"))
        lines.append(f"| {row.classes} | {row.feature} | {row.n} | {row.effect:g} | {rates} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reps", nargs="?", type=int, default=50)
    parser.add_argument("processes", nargs="?", type=int, default=2)
    parser.add_argument("--n", default="100,300,1000")
    parser.add_argument("--effects", default=",".join(map(str, EFFECTS)))
    parser.add_argument("--permutations", type=int, default=PERMUTATIONS)
    parser.add_argument("--out", help="CSV of every replicate's p-values")
    args = parser.parse_args()
    sizes = [int(n) for n in args.n.split(",")]
    effects = [float(effect) for effect in args.effects.split(",")]
    settings = [
        (n, classes, feature, effect, seed)
        for n, classes, feature, effect in itertools.product(sizes, CLASSES, FEATURES, effects)
        for seed in range(args.reps)
    ]
    with ProcessPoolExecutor(args.processes) as pool:
        draws = pool.map(functools.partial(replicate, permutations=args.permutations), settings, chunksize=8)
        frame = pd.DataFrame(draws)
    if args.out:
        frame.to_csv(args.out, index=False)
    table = rejection_table(frame)
    print(markdown(table, args.reps))
    null = table[table["effect"] == 0]
    worst = null[[*TESTS, "majority"]].max()
    pooled = (frame[frame["effect"] == 0][list(TESTS)] < ALPHA).mean()
    print(
        "\nnull rejection at 0.01, pooled over the null settings: "
        + ", ".join(f"{name} {pooled[name]:.3f}" for name in TESTS)
        + "; worst single setting: "
        + ", ".join(f"{name} {worst[name]:.2f}" for name in (*TESTS, "majority"))
    )


if __name__ == "__main__":
    main()
