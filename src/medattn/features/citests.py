"""Conditional-independence tests of a model's output X and a feature Y given the true label Z.

H0 is X ⟂ Y | Z. Seed 004 (section 3.3) follows Reimers et al. 2020/2021 and Penzel et al. 2022: a
model uses a feature when the majority of three tests, cHSIC, RCoT and CMIknn, rejects H0 at
p < 0.01. Here Z is always discrete (class indices), which every test exploits: conditioning on Z
means working within the strata of equal label, and permuting Y within strata gives exact
finite-sample null distributions (Y's dependence on Z and X's dependence on Z are both kept).

Each test is also built so that a small class is not drowned by a large one (a melanoma class of 10 %
where the model uses a criterion only for melanomas), and cHSIC and RCoT so that a dependence shared
by every class is not split among them: each computes two statistics, ``per-class`` (each class on
its own terms, summed) and ``pooled`` (one statistic over all rows, the label's effect removed), and
its p-value is that of the smaller of their two p-values, calibrated on the same null draws (min-p);
``statistics=[...]`` keeps one of them. Both also add a linear kernel to their Gaussian one
(``linear``): the Gaussian kernel keeps them consistent against any dependence, the linear part gives
them the power of a correlation test where the output moves monotonically with the feature. Every
choice here was measured with bench/feature_power.py (docs/features.md, "Power").

- ``chsic``: Fukumizu et al. 2008, "Kernel measures of conditional dependence" (NIPS 2007). The
  statistic is the empirical HS norm of the normalised conditional cross-covariance operator
  V_{YẌ|Z} with Ẍ = (X, Z): ``Tr[R_Y R_Ẍ - 2 R_Y R_Ẍ R_Z + R_Y R_Z R_Ẍ R_Z]``, R = G (G + m eps I)^-1
  on the centred Gram matrix G of m rows, eps = 0.1. Kernels on standardised X and Y: Gaussian with
  the median heuristic (sigma = median of the non-zero pairwise distances) plus the linear kernel
  x'y / d (deviation: the papers use the Gaussian one alone); a delta kernel on Z, and
  k_Ẍ = k_X * delta_Z, whose Gram matrix is block-diagonal over the classes. Deviation (``per-class``):
  R_Ẍ is built block by block, each class's block centred within the class and regularised by its
  own size (m = n_c); the blocks are then orthogonal to the class indicators, R_Z drops out exactly,
  and the statistic is ``<R_Y, R_Ẍ>_F``. With one regulariser n eps for all classes a class of 10 % is
  shrunk ten times more than the others, and with the constant eps = 1e-3 of the first version
  R_Y and R_Ẍ are nearly the identity and the test nearly blind (docs/features.md, "Power"); with
  the blocks, eps = 0.1 had a little more power than 0.03 (0.73 against 0.70 with a 10 % class,
  0.84 against 0.82 balanced, n = 300-500, 30-50 replicates). ``pooled``: ``<R_Y, R_X>_F`` of the Gram
  matrices of X and Y over all rows, each centred within the classes (the class means of the feature
  maps removed, as KCI's residualisation on Z does for a discrete Z) and regularised by n eps; unlike
  the block-diagonal R_Ẍ it keeps the products of rows of different classes, which carry a
  dependence of the same direction in every class. p-value by ``permutations`` within-stratum
  permutations of Y (default 500), the same permutations for both statistics.
- ``rcot``: Strobl, Zhang & Visweswaran 2019 (RCoT). ``num_features`` (default 5, as in the paper)
  random Fourier features each of standardised X and Y (Gaussian kernel, median-heuristic
  bandwidth) and, with ``linear``, the standardised columns themselves (deviation). Deviation:
  instead of random features of Z, the features are residualised on a one-hot encoding of Z; ridge
  regression on a one-hot design with a vanishing ridge is subtraction of the class means, which is
  the exact conditional expectation for a discrete Z. ``pooled`` is the paper's statistic
  n ||Cov(res_X, res_Y)||_F^2 over all rows, whose null is a weighted sum of chi^2_1 with weights the
  eigenvalues of the covariance of the products res_X,i * res_Y,j; in it a class of 10 % enters with
  1 % of its own covariance. ``per-class`` (deviation) is the sum of the classes' own statistics, each
  class's features standardised within it; classes of fewer than 3 rows are left out. Both are
  quadratic forms of the classes' sums of products, asymptotically independent Gaussians under H0,
  so 10 000 seeded joint draws of those give both nulls at once (each one's marginal is the paper's
  chi^2 mixture). Deviation: the p-value is a Monte Carlo estimate from those draws (the paper uses
  the Lindsay-Pilla-Basak approximation), so p >= 1 / 10 001.
- ``cmiknn``: Runge 2018 (AISTATS). Frenzel-Pompe kNN estimate of CMI(X; Y | Z) with tigramite's
  ``CMIknn`` conventions: rank-transformed X and Y columns, max-norm, eps_i the distance to the
  k-th neighbour in the joint space, neighbour counts within eps_i shrunk by 1e-9 (strictly
  closer), ``psi(k) - mean(psi(k_xz) + psi(k_yz) - psi(k_z))``. Z enters as a discrete
  coordinate: points of other classes are infinitely far, so k_z is the class size. ``k`` < 1 is
  a fraction of each class's size (default 0.4), at least 5, at most the class's size - 1
  (tigramite's ``knn * T`` is a fraction of all n: in a class of 10 % its ball held the whole
  class). A discrete Y (at most ``DISCRETE_LEVELS`` distinct values: binary and categorical
  features, ratings) has ties that the Frenzel-Pompe counts cannot resolve; its CMI is Ross's
  (2014) estimate of I(X; Y) within each class, as scikit-learn's ``mutual_info_classif`` (the
  k-th neighbour among the points of the same level, k = 0.7 of the level's size by default, at
  least 5; counts of the class's points within that distance), weighted by class size. With k a
  fraction of the class instead, a level's ball held the whole level and a 3-level feature was
  nearly invisible (power 0.10 against 0.35 at n = 300, effect 0.2, 40 replicates); of the level,
  k = 0.1 / 0.2 / 0.4 / 0.7 gave power 0.11 / 0.21 / 0.31 / 0.41 for a binary feature (balanced
  classes, effect 0.2) and 0.21 / 0.31 / 0.42 / 0.53 for a 3-level one inside a 10 % class
  (effect 0.8; n = 300, 150 replicates, 500 permutations). Deviations from
  tigramite: ties get average ranks instead of
  random tie-breaking noise, and the local shuffle test (permute Y, tigramite's default, among the
  ``shuffle_neighbors`` nearest neighbours in Z; the paper permutes X) becomes a permutation of Y
  within strata, because with a discrete Z all points of a class are each other's nearest
  neighbours. ``permutations`` defaults to 500. CMIknn has no pooled statistic: the mutual
  information of within-class ranks over all rows, combined by min-p, was measured (n = 300,
  150 replicates): +0.06 power with balanced classes, -0.05 with a 10 % class, and the majority
  decision unchanged (docs/features.md, "Power").

Z may hold a single class (for example when a lesion feature exists only on lesion images): the test
is then the unconditional one within that class. All three tests need at least 10 rows and draw at
most ``max_n`` (default 500), stratified by Z (largest-remainder quotas), with a generator from
``seed``; the same seed and ``max_n`` give the same rows for every test. p-values of the permutation
tests are (1 + #{T_perm >= T}) / (1 + permutations), so at least 1 / 501 by default. A constant X or Y gives p = 1.

Cost at n = 500, 500 permutations, one core (AMD EPYC): cHSIC 0.45 s (eigendecompositions of the
n x n and n_c x n_c Gram matrices, then per permutation one gather of the class blocks and one of the
pooled n x n operator; O(n^3) + O(permutations n^2)), CMIknn 0.46 s (one partition of the
within-class distance matrices per permutation), RCoT 0.03 s (linear in n). With more BLAS threads
than free cores, the eigendecompositions can be far slower.
"""

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special
from scipy.spatial.distance import cdist, pdist
from scipy.stats import rankdata

_MIN_SAMPLES = 10
_CHSIC_EPSILON = 0.1  # per class: n_c eps (see the module docstring and docs/features.md, "Power")
_RCOT_NULL_DRAWS = 10_000
_CMI_SHRINK = 1 - 1e-9  # tigramite counts neighbours within 0.999999999 * eps
_CMI_MIN_K = 5  # fewest neighbours a class gets when k is a fraction
_CMI_K, _DISCRETE_CMI_K = 0.4, 0.7  # default k: of each class's size; of each level's size for a discrete Y
DISCRETE_LEVELS = 10  # a feature with at most this many distinct values is discrete for CMIknn
STATISTICS = ("per-class", "pooled")  # what each test combines by default (see the module docstring)


@dataclass(frozen=True)
class CITestResult:
    """Outcome of one conditional-independence test of H0: X ⟂ Y | Z.

    Attributes:
        test: "chsic", "rcot" or "cmiknn".
        statistic: the first of the test's statistics (larger means more dependence).
        p_value: probability under H0 of a statistic at least as large; with several statistics, of a
            smallest p-value at least as small (their min-p combination over the same null draws).
        n: samples actually used, after stratified subsampling.
        statistics: every statistic computed, by name ("per-class", "pooled").
    """

    test: str
    statistic: float
    p_value: float
    n: int
    statistics: dict[str, float] = field(default_factory=dict)


def encode_feature(values) -> np.ndarray:
    """Encode one feature column for the tests.

    Numbers (not bool) become one standardised column [n, 1]; anything else (strings, bools, a
    pandas ``category`` dtype, mixed objects) becomes a one-hot encoding [n, k-1] of its k sorted
    categories, dropping the first.

    Args:
        values: one value per sample, 1-D (a list, numpy array or pandas Series).

    Raises:
        ValueError: for a missing or infinite value, a non-1-D input, or a constant feature.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"feature must be 1-D, got shape {array.shape}")
    if pd.isna(array).any():
        raise ValueError("feature contains missing values")
    if _is_numeric(array) and str(getattr(values, "dtype", "")) != "category":
        numeric = array.astype(float)
        if not np.isfinite(numeric).all():
            raise ValueError("feature contains infinite values")
        if np.ptp(numeric) == 0:
            raise ValueError("constant feature")
        return ((numeric - numeric.mean()) / numeric.std())[:, None]
    categories, codes = np.unique(array.astype(str), return_inverse=True)
    if len(categories) < 2:
        raise ValueError("constant feature")
    return (codes[:, None] == np.arange(1, len(categories))[None, :]).astype(float)


def _is_numeric(array: np.ndarray) -> bool:
    if array.dtype.kind in "iuf":
        return True
    if array.dtype.kind != "O":
        return False
    return all(isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_) for v in array.tolist())


def _as_matrix(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"{name} must have shape [n] or [n, d], got {np.shape(values)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _class_codes(z) -> np.ndarray:
    array = np.asarray(z)
    if array.ndim != 1:
        raise ValueError(f"z must have shape [n], got {array.shape}")
    if array.dtype.kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
        raise ValueError("z must hold integer class indices")
    if array.dtype.kind not in "iufb":
        raise ValueError(f"z must hold integer class indices, got dtype {array.dtype}")
    return np.unique(array, return_inverse=True)[1]


def _prepare(x, y, z, max_n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.random.Generator]:
    """Validate, subsample at most ``max_n`` rows stratified by z, and return the test's generator."""
    x, y, codes = _as_matrix("x", x), _as_matrix("y", y), _class_codes(z)
    if not len(x) == len(y) == len(codes):
        raise ValueError(f"x, y and z differ in length: {len(x)}, {len(y)}, {len(codes)}")
    if max_n < _MIN_SAMPLES or len(codes) < _MIN_SAMPLES:
        raise ValueError(f"need at least {_MIN_SAMPLES} samples (n = {len(codes)}, max_n = {max_n})")
    subsample_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    if len(codes) > max_n:
        rows = _stratified_rows(codes, max_n, np.random.default_rng(subsample_seed))
        x, y, codes = x[rows], y[rows], np.unique(codes[rows], return_inverse=True)[1]
    return x, y, codes, np.random.default_rng(test_seed)


def _stratified_rows(codes: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` row indices keeping the class proportions (largest-remainder rounding)."""
    counts = np.bincount(codes)
    quota = counts * size / counts.sum()
    take = np.floor(quota).astype(int)
    take[np.argsort(take - quota, kind="stable")[: size - take.sum()]] += 1
    rows = [rng.choice(np.flatnonzero(codes == c), take[c], replace=False) for c in range(len(counts))]
    return np.sort(np.concatenate(rows))


def _standardise(a: np.ndarray, ddof: int = 0) -> np.ndarray:
    centred = a - a.mean(axis=0)
    std = centred.std(axis=0, ddof=ddof)
    return centred / np.where(std > 0, std, 1.0)


def _within_strata_permutations(codes: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """[count, n] permutations that only exchange rows of the same class."""
    slots = np.argsort(codes, kind="stable")
    permutations = np.empty((count, len(codes)), dtype=np.intp)
    permutations[:, slots] = np.argsort(codes[None, :] + rng.random((count, len(codes))), axis=1)
    return permutations


def _permutation_p_value(statistic: float, null: np.ndarray) -> float:
    exceed = np.count_nonzero(null >= statistic - 1e-12 * max(1.0, abs(statistic)))
    return float((1 + exceed) / (1 + len(null)))


def _check_count(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def _check_statistics(statistics: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(statistics))
    unknown = [name for name in chosen if name not in STATISTICS]
    if unknown or not chosen:
        raise ValueError(f"statistics: unknown '{(unknown or [''])[0]}'; choose from {', '.join(STATISTICS)}")
    return chosen


def _upper_tail_shares(values: np.ndarray) -> np.ndarray:
    """For each entry, the share of entries at least as large (ties within 1e-12 relative count as equal)."""
    scale = max(float(np.abs(values).max()), 1e-300)
    return rankdata(-np.round(values / scale, 12), method="max") / len(values)


def _combined_p_value(observed: np.ndarray, null: np.ndarray) -> float:
    """p-value of the smallest of k statistics' p-values.

    ``observed`` [k] and ``null`` [draws, k] come from the same draws (within-strata permutations, or
    joint Monte Carlo draws), so the k statistics' dependence is kept. With the observed row counted
    among the draws, each row's p-value per statistic is the share of rows at least as large; the
    combined p-value is the share of rows whose smallest p-value is at most the observed one's. With
    one statistic this is the ordinary (1 + #{null >= observed}) / (1 + draws).
    """
    rows = np.vstack([observed[None, :], null])
    smallest = np.column_stack([_upper_tail_shares(column) for column in rows.T]).min(axis=1)
    return float(np.mean(smallest <= smallest[0] * (1 + 1e-12)))


def _result(test: str, names: Sequence[str], observed: np.ndarray, null: np.ndarray, n: int) -> CITestResult:
    """The result of one or several statistics (``observed`` [k], their joint ``null`` draws [draws, k])."""
    p_value = _permutation_p_value(observed[0], null[:, 0]) if len(names) == 1 else _combined_p_value(observed, null)
    return CITestResult(test, float(observed[0]), p_value, n, dict(zip(names, map(float, observed), strict=True)))


# --- cHSIC --------------------------------------------------------------------------------------


def _median_bandwidth(a: np.ndarray) -> float:
    distances = pdist(a)
    positive = distances[distances > 0]
    return float(np.median(positive)) if positive.size else 1.0


def _gram(a: np.ndarray, linear: bool) -> np.ndarray:
    """Gaussian Gram matrix (median-heuristic width) of standardised rows, plus a linear kernel when asked."""
    gram = np.exp(-cdist(a, a, "sqeuclidean") / (2 * _median_bandwidth(a) ** 2))
    return gram + a @ a.T / a.shape[1] if linear else gram


def _normalised_operator(gram: np.ndarray, codes: np.ndarray | None = None) -> np.ndarray:
    """R = G~ (G~ + n eps I)^-1 for the centred Gram matrix G~ (symmetric, via its eigenbasis).

    G~ is centred over all rows, or within each class of ``codes`` (rows and columns: the class means of
    the feature maps are removed, as residualising on a one-hot label does).
    """
    n = len(gram)
    if codes is None:
        centred = gram - gram.mean(axis=0) - gram.mean(axis=1)[:, None] + gram.mean()
    else:
        centring = np.eye(n) - (codes[:, None] == codes[None, :]) / np.bincount(codes)[codes][None, :]
        centred = centring.T @ gram @ centring
    values, vectors = np.linalg.eigh((centred + centred.T) / 2)
    values = np.where(values > 1e-10 * max(1.0, values.max()), values, 0.0)  # rounding noise of a constant kernel: 0
    return (vectors * (values / (values + n * _CHSIC_EPSILON))) @ vectors.T


def _class_blocks(codes: np.ndarray) -> list[np.ndarray]:
    """Row indices of each class present, in class order."""
    return [members for c in range(codes.max() + 1) if len(members := np.flatnonzero(codes == c))]


def _local_positions(blocks: list[np.ndarray], n: int) -> np.ndarray:
    """[n]: each row's position within its class block (maps a within-strata permutation onto the blocks)."""
    local = np.zeros(n, dtype=np.intp)
    for members in blocks:
        local[members] = np.arange(len(members))
    return local


def _permutation_null(
    statistics: list[Callable[[np.ndarray], float]], codes: np.ndarray, permutations: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Observed statistics [k] of Y's rows as they are, and [permutations, k] of within-strata permutations."""
    observed = np.array([statistic(np.arange(len(codes))) for statistic in statistics])
    draws = _within_strata_permutations(codes, permutations, rng)
    return observed, np.array([[statistic(p) for statistic in statistics] for p in draws])


def chsic(
    x,
    y,
    z,
    *,
    statistics: Sequence[str] = STATISTICS,
    linear: bool = True,
    permutations: int = 500,
    max_n: int = 500,
    seed: int = 0,
) -> CITestResult:
    """Conditional HSIC test (Fukumizu et al. 2008) of X ⟂ Y | Z with a within-stratum permutation null.

    Args:
        x: model output, [n] or [n, dx].
        y: encoded feature, [n] or [n, dy].
        z: true labels, [n] integer class indices (one class: X ⟂ Y within it).
        statistics: "per-class" (Fukumizu's, class blocks), "pooled" (one operator of the within-class
            centred Gram matrices of all rows), or both, combined by their smallest p-value.
        linear: add a linear kernel to the Gaussian one.
        permutations: within-stratum permutations of Y for the p-value.
        max_n: rows used at most (stratified subsample).
        seed: seeds the subsample and the permutations.
    """
    _check_count("permutations", permutations)
    chosen = _check_statistics(statistics)
    x, y, codes, rng = _prepare(x, y, z, max_n, seed)
    blocks = _class_blocks(codes)
    gram_x, gram_y = _gram(_standardise(x), linear), _gram(_standardise(y), linear)
    local = _local_positions(blocks, len(codes))
    names, parts = [], []
    if "per-class" in chosen or len(blocks) == 1:
        # R_Ẍ of k_X * delta_Z is block-diagonal, each class's block regularised by its own size (n_c eps).
        # <R_Y, (I - R_Z) R_Ẍ (I - R_Z)>_F = <R_Y, R_Ẍ>_F: each block is centred within its class, so it is
        # orthogonal to the class indicators that R_Z projects on; only R_Y's diagonal blocks enter, and
        # permuting Y's rows within strata permutes each of them by that class's local permutation
        r_y = _normalised_operator(gram_y)
        pairs = [(r_y[np.ix_(m, m)], _normalised_operator(gram_x[np.ix_(m, m)]), m) for m in blocks]
        names.append("per-class")
        parts.append(lambda p: sum(np.vdot(ry.take(local[p[m]], 0).take(local[p[m]], 1), rx) for ry, rx, m in pairs))
    if "pooled" in chosen and len(blocks) > 1:
        r_x, r_y = _normalised_operator(gram_x, codes), _normalised_operator(gram_y, codes)
        names.append("pooled")
        parts.append(lambda p: np.vdot(r_y.take(p, 0).take(p, 1), r_x))
    return _result("chsic", names, *_permutation_null(parts, codes, permutations, rng), len(codes))


# --- RCoT ---------------------------------------------------------------------------------------


def _rcot_features(a: np.ndarray, count: int, linear: bool, rng: np.random.Generator) -> np.ndarray:
    """Random Fourier features sqrt(2) cos(W a + b) of a Gaussian kernel with median-heuristic width, of the
    standardised columns; with ``linear`` the standardised columns themselves follow (a linear kernel)."""
    a = _standardise(a)
    weights = rng.standard_normal((a.shape[1], count)) / _median_bandwidth(a)
    offsets = rng.uniform(0, 2 * np.pi, count)
    features = np.sqrt(2) * np.cos(a @ weights + offsets)
    return np.hstack([features, a]) if linear else features


def _class_residuals(features: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Standardised features (ddof 1) minus their class means: the residuals of a regression on one-hot Z."""
    features = _standardise(features, ddof=1)
    counts = np.bincount(codes)
    class_means = np.stack([np.bincount(codes, f, minlength=len(counts)) for f in features.T], axis=1)
    return features - (class_means / counts[:, None])[codes]


def _rcot_statistics(
    features_x: np.ndarray, features_y: np.ndarray, codes: np.ndarray, chosen: tuple[str, ...], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Observed RCoT statistics [k] in ``chosen`` order and ``_RCOT_NULL_DRAWS`` joint draws of their null [draws, k].

    "pooled" is Strobl et al.'s n ||Cov(res_X, res_Y)||_F^2 over all rows, the features standardised and
    residualised on one-hot Z. "per-class" is the sum over classes of each class's own statistic, its features
    standardised within the class. Both are quadratic forms of the classes' sums of residual products, which
    under H0 are asymptotically independent N(0, n_c S_c) (S_c: the class's covariance of the products), so one
    set of draws of them gives the joint null; each statistic's marginal is the paper's chi^2_1 mixture (pooled:
    weights the eigenvalues of sum_c n_c S_c / n; per-class: those of every class's own standardised S_c).
    Classes of fewer than 3 rows are left out.
    """
    n = len(codes)
    res_x, res_y = _class_residuals(features_x, codes), _class_residuals(features_y, codes)
    per_class, per_class_null, pooled_sum, pooled_null = 0.0, 0.0, 0.0, 0.0
    for members in (m for m in _class_blocks(codes) if len(m) >= 3):
        size = len(members)
        products = (res_x[members, :, None] * res_y[members, None, :]).reshape(size, -1)
        values, vectors = np.linalg.eigh(products.T @ products / size)
        draws = rng.standard_normal((_RCOT_NULL_DRAWS, len(values))) @ (vectors * np.sqrt(np.clip(values, 0, None))).T
        # standardising the class's residuals divides each product column by the spreads of its two features
        spread = np.outer(res_x[members].std(axis=0, ddof=1), res_y[members].std(axis=0, ddof=1)).reshape(-1)
        scale = np.divide(1.0, spread, out=np.zeros_like(spread), where=spread > 1e-12)
        per_class = per_class + size * np.sum((scale * products.sum(axis=0) / (size - 1)) ** 2)
        per_class_null = per_class_null + np.sum((scale * draws) ** 2, axis=1)
        pooled_sum, pooled_null = pooled_sum + products.sum(axis=0), pooled_null + np.sqrt(size / n) * draws
    statistics = {
        "per-class": (per_class, per_class_null),
        "pooled": (n * np.sum((pooled_sum / (n - 1)) ** 2), np.sum(pooled_null**2, axis=1)),
    }
    return np.array([statistics[name][0] for name in chosen]), np.column_stack([statistics[name][1] for name in chosen])


def rcot(
    x,
    y,
    z,
    *,
    statistics: Sequence[str] = STATISTICS,
    linear: bool = True,
    num_features: int = 5,
    max_n: int = 500,
    seed: int = 0,
) -> CITestResult:
    """Randomized conditional correlation test (RCoT, Strobl et al. 2019) of X ⟂ Y | Z.

    Args:
        x: model output, [n] or [n, dx].
        y: encoded feature, [n] or [n, dy].
        z: true labels, [n] integer class indices (one class: X ⟂ Y within it).
        statistics: "pooled" (the paper's: one covariance over all rows), "per-class" (the sum of the
            classes' own statistics), or both, combined by their smallest p-value.
        linear: the standardised columns of X and Y join their random Fourier features.
        num_features: random Fourier features each of X and Y.
        max_n: rows used at most (stratified subsample).
        seed: seeds the subsample, the random features and the Monte Carlo null.
    """
    _check_count("num_features", num_features)
    chosen = _check_statistics(statistics)
    x, y, codes, rng = _prepare(x, y, z, max_n, seed)
    features_x = _rcot_features(x, num_features, linear, rng)
    features_y = _rcot_features(y, num_features, linear, rng)
    if np.bincount(codes).max() < 3:
        return CITestResult("rcot", 0.0, 1.0, len(codes), dict.fromkeys(chosen, 0.0))
    return _result("rcot", chosen, *_rcot_statistics(features_x, features_y, codes, chosen, rng), len(codes))


# --- CMIknn -------------------------------------------------------------------------------------


def _neighbour_counts(k: float, sizes: list[int]) -> list[int]:
    """Neighbours per class: ``k`` < 1 a fraction of the class's size (at least ``_CMI_MIN_K``), else ``k``;
    always at most the class's size - 1."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    wanted = [max(_CMI_MIN_K, round(k * size)) if k < 1 else int(k) for size in sizes]
    return [min(count, size - 1) for count, size in zip(wanted, sizes, strict=True)]


def _max_norm_distances(a: np.ndarray) -> np.ndarray:
    return cdist(a, a, "chebyshev")


def _cmi_estimate(dist_x: list[np.ndarray], dist_y: list[np.ndarray], ks: list[int]) -> float:
    """Frenzel-Pompe CMI from within-class max-norm distance matrices of X and Y (one pair per class)."""
    terms = []
    for dx, dy, k in zip(dist_x, dist_y, ks, strict=True):
        joint = np.maximum(dx, dy)
        eps = np.partition(joint, k, axis=1)[:, k, None] * _CMI_SHRINK
        k_xz, k_yz = np.count_nonzero(dx <= eps, axis=1), np.count_nonzero(dy <= eps, axis=1)
        terms.append(special.digamma(k) + special.digamma(len(dx)) - special.digamma(k_xz) - special.digamma(k_yz))
    return float(np.concatenate(terms).mean())


def _discrete_cmi_estimate(dist_x: list[np.ndarray], levels: list[np.ndarray], k: float) -> float:
    """CMI(X; Y | Z) for a discrete Y: Ross's (2014) kNN estimate of I(X; Y) within each class, weighted by size.

    Per class, as scikit-learn's ``mutual_info_classif``: for a point of level l (N_l points of the
    class), d is the distance to its k_l-th nearest neighbour among level l and m the class's points
    closer than d (itself included); I = psi(n) + <psi(k_l)> - <psi(N_l)> - <psi(m)> over the n points of
    levels with at least 2 points. k_l follows ``k`` as :func:`_neighbour_counts` does for a class, with
    the level's size: a level's points are the neighbours searched.
    """
    terms = []
    for dx, level in zip(dist_x, levels, strict=True):
        values, counts = np.unique(level, return_counts=True)
        shared = [np.flatnonzero(level == v) for v, c in zip(values, counts, strict=True) if c > 1]
        usable = sum(len(rows) for rows in shared)
        for rows, k_level in zip(shared, _neighbour_counts(k, [len(rows) for rows in shared]), strict=True):
            radius = np.partition(dx[np.ix_(rows, rows)], k_level, axis=1)[:, k_level]
            closer = np.count_nonzero(dx[rows] <= np.nextafter(radius, 0)[:, None], axis=1)
            terms.append(
                special.digamma(usable)
                + special.digamma(k_level)
                - special.digamma(len(rows))
                - special.digamma(closer)
            )
    return float(np.concatenate(terms).mean()) if terms else 0.0


def _is_discrete(y: np.ndarray) -> bool:
    return len(np.unique(y, axis=0)) <= DISCRETE_LEVELS


def cmiknn(
    x,
    y,
    z,
    *,
    k: float | None = None,
    permutations: int = 500,
    max_n: int = 500,
    seed: int = 0,
    discrete: bool | None = None,
) -> CITestResult:
    """Conditional mutual information test (Runge 2018) of X ⟂ Y | Z with a within-stratum permutation null.

    Args:
        x: model output, [n] or [n, dx].
        y: encoded feature, [n] or [n, dy].
        z: true labels, [n] integer class indices (one class: X ⟂ Y within it).
        k: nearest neighbours; below 1 a fraction of each class's size, or for a discrete Y of each level's
            (at least ``_CMI_MIN_K``); default 0.4, for a discrete Y 0.7.
        permutations: within-stratum permutations of Y for the p-value.
        max_n: rows used at most (stratified subsample).
        seed: seeds the subsample and the permutations.
        discrete: estimate for a discrete Y (Ross 2014, see :func:`_discrete_cmi_estimate`); default: Y is
            discrete when it has at most ``DISCRETE_LEVELS`` distinct values (rows).
    """
    _check_count("permutations", permutations)
    x, y, codes, rng = _prepare(x, y, z, max_n, seed)
    members = [m for m in _class_blocks(codes) if len(m) > 1]  # a lone point has no neighbour: no information
    if not members:
        raise ValueError("cmiknn needs a class with at least 2 samples")
    ranks_x = rankdata(x, axis=0)
    dist_x = [_max_norm_distances(ranks_x[m]) for m in members]
    if _is_discrete(y) if discrete is None else discrete:
        level = np.unique(y, axis=0, return_inverse=True)[1].reshape(-1)
        levels = [level[m] for m in members]
        k = _DISCRETE_CMI_K if k is None else k
        statistic = _discrete_cmi_estimate(dist_x, levels, k)

        def shuffled_statistic(p: np.ndarray) -> float:
            return _discrete_cmi_estimate(dist_x, [level[p[m]] for m in members], k)
    else:
        ks = _neighbour_counts(_CMI_K if k is None else k, [len(m) for m in members])
        local = _local_positions(members, len(codes))
        ranks_y = rankdata(y, axis=0)
        dist_y = [_max_norm_distances(ranks_y[m]) for m in members]
        statistic = _cmi_estimate(dist_x, dist_y, ks)

        def shuffled_statistic(p: np.ndarray) -> float:
            shuffled = [dy.take(local[p[m]], 0).take(local[p[m]], 1) for dy, m in zip(dist_y, members, strict=True)]
            return _cmi_estimate(dist_x, shuffled, ks)

    null = np.array([shuffled_statistic(p) for p in _within_strata_permutations(codes, permutations, rng)])
    return CITestResult("cmiknn", statistic, _permutation_p_value(statistic, null), len(codes))


CI_TESTS: dict[str, Callable[..., CITestResult]] = {"chsic": chsic, "rcot": rcot, "cmiknn": cmiknn}
