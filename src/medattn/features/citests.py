"""Conditional-independence tests of a model's output X and a feature Y given the true label Z.

H0 is X ⟂ Y | Z. Seed 004 (section 3.3) follows Reimers et al. 2020/2021 and Penzel et al. 2022: a
model uses a feature when the majority of three tests, cHSIC, RCoT and CMIknn, rejects H0 at
p < 0.01. Here Z is always discrete (class indices), which every test exploits: conditioning on Z
means working within the strata of equal label, and permuting Y within strata gives exact
finite-sample null distributions (Y's dependence on Z and X's dependence on Z are both kept).

Each test is also built so that a small class is not drowned by a large one (a melanoma class of 10 %
where the model uses a criterion only for melanomas; the measured power is in docs/features.md, "Power",
from bench/feature_power.py):

- ``chsic``: Fukumizu et al. 2008, "Kernel measures of conditional dependence" (NIPS 2007). The
  statistic is the empirical HS norm of the normalised conditional cross-covariance operator
  V_{YẌ|Z} with Ẍ = (X, Z): ``Tr[R_Y R_Ẍ - 2 R_Y R_Ẍ R_Z + R_Y R_Z R_Ẍ R_Z]``, R = G (G + m eps I)^-1
  on the centred Gram matrix G of m rows, eps = 0.1. Gaussian kernels on standardised X and Y with
  the median heuristic (sigma = median of the non-zero pairwise distances), a delta kernel on Z, and
  k_Ẍ = k_X * delta_Z, whose Gram matrix is block-diagonal over the classes. Deviation: R_Ẍ is built
  block by block, each class's block centred within the class and regularised by its own size
  (m = n_c); the blocks are then orthogonal to the class indicators, R_Z drops out exactly, and the
  statistic is ``<R_Y, R_Ẍ>_F``. With one regulariser n eps for all classes a class of 10 % is
  shrunk ten times more than the others, and with the constant eps = 1e-3 of the first version
  R_Y and R_Ẍ are nearly the identity and the test nearly blind (docs/features.md, "Power"); with
  the blocks, eps = 0.1 had a little more power than 0.03 (0.73 against 0.70 with a 10 % class,
  0.84 against 0.82 balanced, n = 300-500, 30-50 replicates). p-value by ``permutations``
  within-stratum permutations of Y (default 500).
- ``rcot``: Strobl, Zhang & Visweswaran 2019 (RCoT). ``num_features`` (default 5, as in the paper)
  random Fourier features each of standardised X and Y (Gaussian kernel, median-heuristic
  bandwidth), standardised. Deviation: instead of random features of Z, the features are
  residualised on a one-hot encoding of Z; ridge regression on a one-hot design with a vanishing
  ridge is subtraction of the class means, which is the exact conditional expectation for a
  discrete Z. Statistic per class n_c * ||Cov(res_X, res_Y)||_F^2; its null is a weighted sum of
  chi^2_1 with weights the eigenvalues of the covariance of the products res_X,i * res_Y,j.
  Deviation: the classes' statistics are summed (and their nulls, independent under H0, pooled)
  instead of one covariance over all rows, in which a class of 10 % enters with 1 % of its own;
  classes of fewer than 3 rows are left out. Deviation: the p-value is a Monte Carlo estimate from
  10 000 seeded draws of that sum (the paper uses the Lindsay-Pilla-Basak approximation), so
  p >= 1 / 10 001.
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
  k-th neighbour among the points of the same level, k = 0.4 of the level's size, at least 5;
  counts of the class's points within that distance), weighted by class size. With k a fraction
  of the class instead, a level's ball held the whole level and a 3-level feature was nearly
  invisible (power 0.10 against 0.35 at n = 300, effect 0.2, 40 replicates). Deviations from
  tigramite: ties get average ranks instead of
  random tie-breaking noise, and the local shuffle test (permute Y, tigramite's default, among the
  ``shuffle_neighbors`` nearest neighbours in Z; the paper permutes X) becomes a permutation of Y
  within strata, because with a discrete Z all points of a class are each other's nearest
  neighbours. ``permutations`` defaults to 500.

Z may hold a single class (for example when a lesion feature exists only on lesion images): the test
is then the unconditional one within that class. All three tests need at least 10 rows and draw at
most ``max_n`` (default 500), stratified by Z (largest-remainder quotas), with a generator from
``seed``; the same seed and ``max_n`` give the same rows for every test. p-values of the permutation
tests are (1 + #{T_perm >= T}) / (1 + permutations), so at least 1 / 501 by default. A constant X or Y gives p = 1.

Cost at n = 500, 500 permutations, one core: cHSIC about 0.5 s (eigendecompositions of the n x n and
the n_c x n_c Gram matrices, then one gather of the class blocks per permutation; O(n^3) +
O(permutations sum n_c^2)), CMIknn about 1 s (one
partition of the within-class distance matrices per permutation), RCoT about 0.02 s (linear in
n). With more BLAS threads than free cores, the eigendecompositions can be far slower.
"""

import numbers
from collections.abc import Callable
from dataclasses import dataclass

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
DISCRETE_LEVELS = 10  # a feature with at most this many distinct values is discrete for CMIknn


@dataclass(frozen=True)
class CITestResult:
    """Outcome of one conditional-independence test of H0: X ⟂ Y | Z.

    Attributes:
        test: "chsic", "rcot" or "cmiknn".
        statistic: the test statistic (larger means more dependence).
        p_value: probability under H0 of a statistic at least as large.
        n: samples actually used, after stratified subsampling.
    """

    test: str
    statistic: float
    p_value: float
    n: int


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


# --- cHSIC --------------------------------------------------------------------------------------


def _median_bandwidth(a: np.ndarray) -> float:
    distances = pdist(a)
    positive = distances[distances > 0]
    return float(np.median(positive)) if positive.size else 1.0


def _gaussian_gram(a: np.ndarray) -> np.ndarray:
    sigma = _median_bandwidth(a)
    return np.exp(-cdist(a, a, "sqeuclidean") / (2 * sigma**2))


def _normalised_operator(gram: np.ndarray) -> np.ndarray:
    """R = G~ (G~ + n eps I)^-1 for the centred Gram matrix G~ (symmetric, via its eigenbasis)."""
    n = len(gram)
    centred = gram - gram.mean(axis=0) - gram.mean(axis=1)[:, None] + gram.mean()
    values, vectors = np.linalg.eigh((centred + centred.T) / 2)
    values = np.clip(values, 0, None)
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


def chsic(x, y, z, *, permutations: int = 500, max_n: int = 500, seed: int = 0) -> CITestResult:
    """Conditional HSIC test (Fukumizu et al. 2008) of X ⟂ Y | Z with a within-stratum permutation null.

    Args:
        x: model output, [n] or [n, dx].
        y: encoded feature, [n] or [n, dy].
        z: true labels, [n] integer class indices (one class: X ⟂ Y within it).
        permutations: within-stratum permutations of Y for the p-value.
        max_n: rows used at most (stratified subsample).
        seed: seeds the subsample and the permutations.
    """
    _check_count("permutations", permutations)
    x, y, codes, rng = _prepare(x, y, z, max_n, seed)
    blocks = _class_blocks(codes)
    gram_x = _gaussian_gram(_standardise(x))
    r_y = _normalised_operator(_gaussian_gram(_standardise(y)))
    # R_Ẍ of k_X * delta_Z is block-diagonal; each class's block regularised by its own size (n_c eps)
    r_xz = [_normalised_operator(gram_x[np.ix_(m, m)]) for m in blocks]
    r_y_blocks = [r_y[np.ix_(m, m)] for m in blocks]
    # <R_Y, (I - R_Z) R_Ẍ (I - R_Z)>_F = <R_Y, R_Ẍ>_F: each block is centred within its class, so it is
    # orthogonal to the class indicators that R_Z projects on; only R_Y's diagonal blocks enter
    statistic = float(sum(np.vdot(ry, rx) for ry, rx in zip(r_y_blocks, r_xz, strict=True)))
    # permuting Y's rows within strata permutes each diagonal block of R_Y by that class's local permutation
    local = _local_positions(blocks, len(codes))
    null = np.array(
        [
            sum(
                np.vdot(ry.take(local[p[m]], 0).take(local[p[m]], 1), rx)
                for ry, rx, m in zip(r_y_blocks, r_xz, blocks, strict=True)
            )
            for p in _within_strata_permutations(codes, permutations, rng)
        ]
    )
    return CITestResult("chsic", statistic, _permutation_p_value(statistic, null), len(codes))


# --- RCoT ---------------------------------------------------------------------------------------


def _fourier_features(a: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Random Fourier features sqrt(2) cos(W a + b) of a Gaussian kernel with median-heuristic width."""
    a = _standardise(a)
    weights = rng.standard_normal((a.shape[1], count)) / _median_bandwidth(a)
    offsets = rng.uniform(0, 2 * np.pi, count)
    return np.sqrt(2) * np.cos(a @ weights + offsets)


def _rcot_statistic(features_x: np.ndarray, features_y: np.ndarray, codes: np.ndarray) -> tuple[float, np.ndarray]:
    """RCoT statistic and the weights of its chi^2_1 mixture null, from the features of X and Y."""
    n = len(codes)
    counts = np.bincount(codes)

    def residual(features: np.ndarray) -> np.ndarray:
        features = _standardise(features, ddof=1)
        class_means = np.stack([np.bincount(codes, f, minlength=len(counts)) for f in features.T], axis=1)
        return features - (class_means / counts[:, None])[codes]

    res_x, res_y = residual(features_x), residual(features_y)
    covariance = res_x.T @ res_y / (n - 1)
    products = (res_x[:, :, None] * res_y[:, None, :]).reshape(n, -1)
    weights = np.linalg.eigvalsh(products.T @ products / n)
    return float(n * np.sum(covariance**2)), weights[weights > 1e-12 * max(weights.max(), 1e-300)]


def _stratified_rcot_statistic(
    features_x: np.ndarray, features_y: np.ndarray, codes: np.ndarray
) -> tuple[float, np.ndarray]:
    """The sum over classes of each class's own RCoT statistic, and the weights of all classes' nulls.

    The classes' statistics are independent under H0, so the sum's null is the chi^2_1 mixture with every
    class's weights. Unlike one statistic over the residuals of all rows, where a class of 10 % enters with
    1 % of its covariance, each class counts with its own sample size. Classes of fewer than 3 rows are left out.
    """
    statistic, weights = 0.0, []
    for members in _class_blocks(codes):
        if len(members) >= 3:
            part, part_weights = _rcot_statistic(features_x[members], features_y[members], np.zeros_like(members))
            statistic, weights = statistic + part, [*weights, part_weights]
    return statistic, np.concatenate(weights) if weights else np.empty(0)


def _weighted_chi2_sf(statistic: float, weights: np.ndarray, rng: np.random.Generator) -> float:
    """Monte Carlo P(sum_j w_j chi^2_1 >= statistic) from ``_RCOT_NULL_DRAWS`` draws."""
    if weights.size == 0:
        return 1.0
    null = rng.standard_normal((_RCOT_NULL_DRAWS, weights.size)) ** 2 @ weights
    return _permutation_p_value(statistic, null)


def rcot(x, y, z, *, num_features: int = 5, max_n: int = 500, seed: int = 0) -> CITestResult:
    """Randomized conditional correlation test (RCoT, Strobl et al. 2019) of X ⟂ Y | Z.

    Args:
        x: model output, [n] or [n, dx].
        y: encoded feature, [n] or [n, dy].
        z: true labels, [n] integer class indices (one class: X ⟂ Y within it).
        num_features: random Fourier features each of X and Y.
        max_n: rows used at most (stratified subsample).
        seed: seeds the subsample, the random features and the Monte Carlo null.
    """
    _check_count("num_features", num_features)
    x, y, codes, rng = _prepare(x, y, z, max_n, seed)
    features_x = _fourier_features(x, num_features, rng)
    features_y = _fourier_features(y, num_features, rng)
    statistic, weights = _stratified_rcot_statistic(features_x, features_y, codes)
    return CITestResult("rcot", statistic, _weighted_chi2_sf(statistic, weights, rng), len(codes))


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
    x, y, z, *, k: float = 0.4, permutations: int = 500, max_n: int = 500, seed: int = 0, discrete: bool | None = None
) -> CITestResult:
    """Conditional mutual information test (Runge 2018) of X ⟂ Y | Z with a within-stratum permutation null.

    Args:
        x: model output, [n] or [n, dx].
        y: encoded feature, [n] or [n, dy].
        z: true labels, [n] integer class indices (one class: X ⟂ Y within it).
        k: nearest neighbours; below 1 a fraction of each class's size (at least ``_CMI_MIN_K``).
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
        statistic = _discrete_cmi_estimate(dist_x, levels, k)

        def shuffled_statistic(p: np.ndarray) -> float:
            return _discrete_cmi_estimate(dist_x, [level[p[m]] for m in members], k)
    else:
        ks = _neighbour_counts(k, [len(m) for m in members])
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
