import sys
import types

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import cdist

from medattn.features.citests import (
    CI_TESTS,
    CITestResult,
    _combined_p_value,
    _neighbour_counts,
    _permutation_p_value,
    _rcot_statistics,
    _stratified_rows,
    _within_strata_permutations,
    chsic,
    cmiknn,
    encode_feature,
    rcot,
)

ALPHA = 0.01
SEEDS = (0, 1, 2)
FAST = {"chsic": {"permutations": 200}, "rcot": {}, "cmiknn": {"permutations": 200}}


def continuous_case(seed: int, *, direct: float, n: int = 300, classes: int = 2):
    """Label z; a feature y shifted by z; an output x = z-effect (+ direct * y) + noise ([n] for 2 classes)."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, classes, n)
    y = 1.5 * z + rng.standard_normal(n)
    x = 2.0 * (z[:, None] == np.arange(1, classes)) + direct * y[:, None] + rng.standard_normal((n, classes - 1))
    return (x[:, 0] if classes == 2 else x), y, z


def categorical_case(seed: int, *, direct: float, n: int = 300):
    """A three-category feature whose frequencies depend on the binary label; x shifts with category 'c'."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, n)
    probabilities = np.where(z[:, None] == 0, [0.6, 0.3, 0.1], [0.2, 0.3, 0.5])
    category = np.array(["a", "b", "c"])[(rng.random(n)[:, None] > probabilities.cumsum(1)).sum(1)]
    x = 2.0 * z + direct * (category == "c") + rng.standard_normal(n)
    return x, encode_feature(category.astype(object)), z


CASES = {"continuous": continuous_case, "categorical": categorical_case}
EFFECT = {"continuous": 1.0, "categorical": 2.0}  # direct effects that every test detects on 30 of 30 seeds


def columns(a: np.ndarray) -> np.ndarray:
    return a.reshape(len(a), -1)


# --- encode_feature -----------------------------------------------------------------------------


def test_encode_numeric_is_one_standardised_column():
    encoded = encode_feature([1, 2, 3, 6])
    assert encoded.shape == (4, 1)
    np.testing.assert_allclose(encoded[:, 0], (np.array([1, 2, 3, 6]) - 3) / np.sqrt(3.5))


def test_encode_categorical_is_one_hot_without_the_first_category():
    np.testing.assert_array_equal(
        encode_feature(np.array(["b", "a", "c", "b"], dtype=object)), [[1, 0], [0, 0], [0, 1], [1, 0]]
    )
    np.testing.assert_array_equal(encode_feature(np.array([True, False, True])), [[1], [0], [1]])


def test_encode_object_numbers_count_as_numeric_but_a_category_dtype_does_not():
    assert encode_feature(np.array([1, 2.5, 4], dtype=object)).shape == (3, 1)
    np.testing.assert_array_equal(
        encode_feature(pd.Series([3, 1, 2, 3], dtype="category")), [[0, 1], [0, 0], [1, 0], [0, 1]]
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([3.0, 3.0, 3.0], "constant feature"),
        (np.array(["a", "a"], dtype=object), "constant feature"),
        ([1.0, np.nan, 2.0], "missing"),
        ([1.0, np.inf, 2.0], "infinite"),
        (pd.Series([1, None, 3], dtype="Int64"), "missing"),
        (np.array(["a", None, "b"], dtype=object), "missing"),
        (np.zeros((3, 2)), "1-D"),
    ],
)
def test_encode_rejects_unusable_features(values, message):
    with pytest.raises(ValueError, match=message):
        encode_feature(values)


# --- planted dependencies -----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", CI_TESTS)
def test_feature_explained_by_the_label_is_judged_independent(name, case):
    for seed in SEEDS:
        x, y, z = CASES[case](seed, direct=0.0)
        assert stats.spearmanr(x, columns(y)[:, -1]).pvalue < 1e-4  # clearly dependent marginally
        result = CI_TESTS[name](x, y, z, seed=seed, **FAST[name])
        assert result.p_value >= ALPHA, (seed, result)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", CI_TESTS)
def test_feature_the_output_uses_is_judged_dependent(name, case):
    for seed in SEEDS:
        x, y, z = CASES[case](seed, direct=EFFECT[case])
        result = CI_TESTS[name](x, y, z, seed=seed, **FAST[name])
        assert result.p_value < ALPHA, (seed, result)


@pytest.mark.parametrize("name", CI_TESTS)
def test_three_classes_and_a_two_column_output(name):
    for direct, independent in ((0.0, True), (1.0, False)):
        x, y, z = continuous_case(3, direct=direct, classes=3)
        result = CI_TESTS[name](x, y, z, seed=3, **FAST[name])
        assert (result.p_value >= ALPHA) == independent, result


@pytest.mark.parametrize("name", CI_TESTS)
def test_a_single_class_is_an_unconditional_test_within_it(name):
    """Lesion features exist only on lesion images: Z is then one class."""
    rng = np.random.default_rng(5)
    y, noise = rng.normal(size=200), rng.normal(size=200)
    z = np.ones(200, dtype=int)
    assert CI_TESTS[name](noise, y, z, **FAST[name]).p_value >= ALPHA
    assert CI_TESTS[name](y + 0.5 * noise, y, z, **FAST[name]).p_value < ALPHA


@pytest.mark.parametrize("name", CI_TESTS)
def test_constant_output_or_feature_gives_p_one(name):
    x, y, z = categorical_case(5, direct=0.0)
    assert CI_TESTS[name](np.ones(len(z)), y, z, **FAST[name]).p_value == 1.0
    assert CI_TESTS[name](x, np.zeros(len(z)), z, **FAST[name]).p_value == 1.0


@pytest.mark.parametrize("name", CI_TESTS)
def test_rejection_rate_under_h0_is_near_the_level(name):
    rejections = 0
    for seed in range(20):
        x, y, z = continuous_case(100 + seed, direct=0.0, n=150)
        rejections += CI_TESTS[name](x, y, z, seed=seed, **FAST[name]).p_value < 0.05
    assert rejections <= 4  # expected 1 of 20; P(>= 5) = 0.016 for a calibrated test


# --- reproducibility and subsampling ------------------------------------------------------------


@pytest.mark.parametrize("name", CI_TESTS)
def test_same_seed_same_result_other_seed_other_subsample(name):
    x, y, z = continuous_case(7, direct=0.3, n=400)
    first = CI_TESTS[name](x, y, z, seed=1, max_n=200, **FAST[name])
    assert first == CI_TESTS[name](x, y, z, seed=1, max_n=200, **FAST[name])
    assert isinstance(first, CITestResult) and first.test == name and first.n == 200
    assert first.statistic != CI_TESTS[name](x, y, z, seed=2, max_n=200, **FAST[name]).statistic


@pytest.mark.parametrize("test", [chsic, cmiknn])
def test_permutation_tests_change_only_the_null_with_the_seed(test):
    x, y, z = continuous_case(8, direct=0.0)
    results = [test(x, y, z, seed=seed, permutations=200) for seed in SEEDS]
    assert len({r.statistic for r in results}) == 1 and len({r.p_value for r in results}) > 1


def test_stratified_subsample_keeps_class_proportions():
    codes = np.repeat([0, 1, 2], [600, 300, 100])
    rows = _stratified_rows(codes, 101, np.random.default_rng(0))
    assert len(np.unique(rows)) == 101
    assert np.bincount(codes[rows]).tolist() == [61, 30, 10]


def test_permutations_stay_within_strata():
    codes = np.array([1, 0, 1, 2, 0, 1, 2, 0])
    permutations = _within_strata_permutations(codes, 50, np.random.default_rng(0))
    assert (codes[permutations] == codes).all()
    assert all(sorted(p) == list(range(8)) for p in permutations.tolist())
    assert len({tuple(p) for p in permutations.tolist()}) > 10


# --- exact values -------------------------------------------------------------------------------


def test_chsic_statistic_is_fukumizus_trace_formula():
    """Tr[R_Y R_Ẍ - 2 R_Y R_Ẍ R_Z + R_Y R_Z R_Ẍ R_Z], R = G~ (G~ + m eps I)^-1 on the centred Gram of m rows;
    R_Ẍ of k_X * delta_Z built class by class (each block regularised by its class's size), eps = 0.1."""
    x, y, z = continuous_case(4, direct=0.3, n=40, classes=3)
    x, n = x.sum(1), 40

    def gram(a):
        a = (a - a.mean()) / a.std()
        distances = cdist(a[:, None], a[:, None])
        return np.exp(-(distances**2) / (2 * np.median(distances[np.triu_indices(len(a), 1)]) ** 2))

    def normalised(g, epsilon=0.1):
        m = len(g)
        centring = np.eye(m) - 1 / m
        g = centring @ g @ centring
        return g @ np.linalg.inv(g + m * epsilon * np.eye(m))

    r_x = np.zeros((n, n))
    gram_x = gram(x)
    for c in np.unique(z):
        rows = np.flatnonzero(z == c)
        r_x[np.ix_(rows, rows)] = normalised(gram_x[np.ix_(rows, rows)])
    r_y = normalised(gram(y))
    for epsilon in (1e-3, 0.1):  # R_Z drops out: the class blocks are orthogonal to the class indicators
        r_z = normalised((z[:, None] == z[None, :]).astype(float), epsilon)
        expected = np.trace(r_y @ r_x - 2 * r_y @ r_x @ r_z + r_y @ r_z @ r_x @ r_z)
        result = chsic(x, y, z, statistics=["per-class"], linear=False, permutations=1)
        assert result.statistic == pytest.approx(expected, rel=1e-9)


def test_chsic_pooled_statistic_and_linear_kernel_by_hand():
    """pooled: <R_Y, R_X>_F of the within-class centred Gram matrices of all rows (n eps); linear: k + x x'/d."""
    x, y, z = continuous_case(5, direct=0.3, n=40, classes=3)
    n = 40
    within = np.eye(n) - (z[:, None] == z[None, :]) / np.bincount(z)[z][None, :]

    def gram(a, linear):
        a = (a - a.mean(0)) / a.std(0)
        distances = cdist(a, a)
        k = np.exp(-(distances**2) / (2 * np.median(distances[np.triu_indices(n, 1)]) ** 2))
        return k + a @ a.T / a.shape[1] if linear else k

    def operator(g):
        g = within @ g @ within
        return g @ np.linalg.inv(g + n * 0.1 * np.eye(n))

    for linear in (False, True):
        expected = np.sum(operator(gram(columns(y), linear)) * operator(gram(x, linear)))
        result = chsic(x, y, z, statistics=["pooled"], linear=linear, permutations=1)
        assert result.statistic == pytest.approx(expected, rel=1e-9)


def test_cmiknn_neighbours_are_a_fraction_of_each_class_with_a_floor():
    assert _neighbour_counts(0.2, [450, 50]) == [90, 10]  # a 10 % class gets its own 20 %, not 20 % of n
    assert _neighbour_counts(0.2, [12, 3]) == [5, 2]  # the floor of 5, capped at the class size - 1
    assert _neighbour_counts(7, [100, 4]) == [7, 3]  # a count is the same in every class, capped likewise


def test_discrete_cmiknn_is_rosss_estimate_as_in_scikit_learn():
    """Within one class the discrete estimate is scikit-learn's mutual_info_classif kernel (Ross 2014) with
    k = 0.7 of each level's size by default; over classes it is their size-weighted mean."""
    from sklearn.feature_selection._mutual_info import _compute_mi_cd

    rng = np.random.default_rng(0)
    z = np.repeat([0, 1], [120, 60])
    level = np.concatenate([rng.permutation(np.repeat([0, 1, 2], 40)), rng.permutation(np.repeat([0, 1, 2], 20))])
    x = rng.standard_normal(180) + 0.8 * (level == 2)
    ranks = stats.rankdata(x)
    # levels of 40 and of 20 points: k = 28 and 14 (scikit-learn takes one k per call, so the levels are equal)
    expected = np.average(
        [_compute_mi_cd(ranks[z == c], level[z == c], k) for c, k in ((0, 28), (1, 14))], weights=[120, 60]
    )
    result = cmiknn(x, encode_feature(level.astype(str).astype(object)), z, permutations=1)
    assert result.statistic == pytest.approx(expected, rel=1e-9)
    assert cmiknn(x, level, z, permutations=1).statistic == pytest.approx(expected, rel=1e-9)  # numeric levels too
    fixed = np.average([_compute_mi_cd(ranks[z == c], level[z == c], 7) for c in (0, 1)], weights=[120, 60])
    assert cmiknn(x, level, z, k=7, permutations=1).statistic == pytest.approx(fixed, rel=1e-9)  # a count: as is


def test_cmiknn_treats_few_distinct_values_as_discrete_unless_told():
    x, y, z = categorical_case(5, direct=1.0)
    auto, forced = cmiknn(x, y, z, permutations=50), cmiknn(x, y, z, permutations=50, discrete=False)
    assert auto.statistic != forced.statistic
    assert cmiknn(x, y, z, permutations=50, discrete=True) == auto


def minority_case(seed: int, *, direct: float, n: int = 500):
    """A 10 % class; the output depends on the feature only inside it (a melanoma-like class)."""
    rng = np.random.default_rng(seed)
    z = (rng.random(n) < 0.1).astype(int)
    y = rng.normal(0.8 * z, 1.0)
    x = z + direct * (y - y.mean()) / y.std() * z + rng.standard_normal(n)
    return x, y, z


@pytest.mark.parametrize("name", CI_TESTS)
def test_dependence_inside_a_small_class_is_found(name):
    """The defaults before issue 18 were nearly blind here: cHSIC regularised every class by n eps with eps 1e-3,
    RCoT pooled the classes' residuals (a 10 % class enters with 1 % of its covariance), CMIknn took k = 0.2 n,
    so the small class's ball covered the whole class (docs/features.md, "Power")."""
    rejected = [
        CI_TESTS[name](*minority_case(seed, direct=1.5), seed=seed, **FAST[name]).p_value < ALPHA for seed in SEEDS
    ]
    assert all(rejected)
    kept = [
        CI_TESTS[name](*minority_case(seed, direct=0.0), seed=seed, **FAST[name]).p_value >= ALPHA for seed in SEEDS
    ]
    assert all(kept)


def test_rcot_per_class_statistic_is_the_sum_of_the_classes_pooled_statistics():
    rng = np.random.default_rng(0)
    codes = np.repeat([0, 1, 2], [50, 30, 2])  # the 2-row class is left out
    features_x = rng.standard_normal((82, 5)) * [1, 2, 3, 4, 5]
    features_y = rng.standard_normal((82, 5)) + codes[:, None]

    def statistic(rows, chosen):
        z = np.zeros(len(rows), dtype=int) if chosen == ("pooled",) else codes[rows]
        return _rcot_statistics(features_x[rows], features_y[rows], z, chosen, np.random.default_rng(1))[0][0]

    classes = [np.flatnonzero(codes == c) for c in (0, 1)]
    expected = sum(statistic(rows, ("pooled",)) for rows in classes)
    assert statistic(np.arange(82), ("per-class",)) == pytest.approx(expected, rel=1e-12)
    one_class = np.zeros(82, dtype=int)
    both = _rcot_statistics(features_x, features_y, one_class, ("per-class", "pooled"), np.random.default_rng(1))[0]
    assert both[0] == pytest.approx(both[1], rel=1e-12)  # one class: the pooled statistic of Strobl et al.


def test_rcot_null_draws_have_the_papers_chi2_mixture_marginals():
    """Each statistic's marginal null is sum_j w_j chi^2_1 with the paper's weights: the eigenvalues of the
    products' covariance (pooled: over all rows; per-class: each class's own, standardised within it)."""
    rng = np.random.default_rng(0)
    codes = np.repeat([0, 1], [300, 100])
    features_x = rng.standard_normal((400, 3)) * np.where(codes[:, None] == 1, 3.0, 1.0)
    features_y = rng.standard_normal((400, 2)) ** 2
    _, null = _rcot_statistics(features_x, features_y, codes, ("pooled", "per-class"), np.random.default_rng(1))

    def residuals(f, z):
        f = (f - f.mean(0)) / f.std(0, ddof=1)
        return f - np.stack([f[z == c].mean(0) for c in np.unique(z)])[np.unique(z, return_inverse=True)[1]]

    def weights(fx, fy, z):
        rx, ry = residuals(fx, z), residuals(fy, z)
        products = (rx[:, :, None] * ry[:, None, :]).reshape(len(z), -1)
        return np.linalg.eigvalsh(products.T @ products / len(z))

    pooled = weights(features_x, features_y, codes)
    per_class = np.concatenate(
        [weights(features_x[codes == c], features_y[codes == c], codes[codes == c]) for c in (0, 1)]
    )
    chi2 = np.random.default_rng(2).standard_normal((200_000, 12)) ** 2
    for column, w in ((0, pooled), (1, per_class)):
        reference = chi2[:, : len(w)] @ w
        np.testing.assert_allclose(
            np.quantile(null[:, column], [0.5, 0.9, 0.99]), np.quantile(reference, [0.5, 0.9, 0.99]), rtol=0.06
        )


def test_combined_p_value_of_one_statistic_is_the_permutation_p_value():
    null = np.random.default_rng(0).standard_normal((999, 1))
    for observed in (-1.0, 0.5, 2.0, 5.0):
        assert _combined_p_value(np.array([observed]), null) == pytest.approx(
            _permutation_p_value(observed, null[:, 0]), rel=1e-12
        )
    twice = np.hstack([null, null])  # a statistic combined with itself is that statistic
    assert _combined_p_value(np.array([0.5, 0.5]), twice) == pytest.approx(_permutation_p_value(0.5, null[:, 0]))


def test_combined_p_value_is_uniform_under_the_joint_null():
    """Two correlated statistics, observed rows drawn from their own null: the combined p-value rejects at the level."""
    rng = np.random.default_rng(0)
    covariance = [[1.0, 0.6], [0.6, 1.0]]
    null = rng.multivariate_normal([0, 0], covariance, 2000) ** 2
    observed = rng.multivariate_normal([0, 0], covariance, 2000) ** 2
    p = np.array([_combined_p_value(row, null) for row in observed])
    for level in (0.01, 0.05, 0.2):
        assert abs(np.mean(p <= level) - level) < 3 * np.sqrt(level * (1 - level) / 2000) + 0.005
    smallest = np.minimum(*[(null[:, k][None, :] >= observed[:, k][:, None]).mean(1) for k in (0, 1)])
    assert np.mean(smallest <= 0.05) > 0.06  # the uncorrected smallest p-value would not be


# --- invalid input ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CI_TESTS)
def test_invalid_input_raises_one_line_value_errors(name):
    x, y, z = continuous_case(0, direct=0.0, n=50)
    test = CI_TESTS[name]
    with_nan = x.copy()
    with_nan[3] = np.nan
    bad = {
        "differ in length": (x[:-1], y, z),
        "x contains NaN": (with_nan, y, z),
        "y contains NaN": (x, with_nan, z),
        "integer class indices": (x, y, z + 0.5),
        "shape": (x, y[:, None, None], z),
        "at least 10 samples": (x[:5], y[:5], np.array([0, 1, 0, 1, 0])),
    }
    for message, arguments in bad.items():
        with pytest.raises(ValueError, match=message) as error:
            test(*arguments)
        assert "\n" not in str(error.value)


# --- references ---------------------------------------------------------------------------------


def _tigramite_cmiknn(monkeypatch):
    """tigramite's CMIknn; its module imports numba only for an object-mode ``jit``, stubbed when absent."""
    pytest.importorskip("tigramite")
    try:
        import numba  # noqa: F401
    except ImportError:
        stub = types.ModuleType("numba")
        stub.jit = lambda *args, **kwargs: lambda function: function
        monkeypatch.setitem(sys.modules, "numba", stub)
    from tigramite.independence_tests.cmiknn import CMIknn

    return CMIknn


@pytest.mark.parametrize("case", CASES)
def test_cmiknn_statistic_equals_tigramite(case, monkeypatch):
    cmi_knn = _tigramite_cmiknn(monkeypatch)
    for seed, k in zip(SEEDS, (5, 20, 60), strict=True):
        x, y, z = CASES[case](seed, direct=0.5 * seed)
        reference = cmi_knn(knn=k, transform=False, workers=1)
        reference.random_state = types.SimpleNamespace(random=np.zeros)  # no tie-breaking noise
        # ranks as ours (average ranks); Z as a coordinate far beyond any rank distance: exact conditioning
        array = np.vstack([stats.rankdata(columns(x).T, axis=1), stats.rankdata(columns(y).T, axis=1), 1e6 * z])
        xyz = np.repeat([0, 1, 2], [columns(x).shape[1], columns(y).shape[1], 1])
        expected = reference.get_dependence_measure(array, xyz)
        assert cmiknn(x, y, z, k=k, permutations=1, discrete=False).statistic == pytest.approx(
            expected, rel=1e-9, abs=1e-12
        )


@pytest.fixture
def global_numpy_seed():
    """causal-learn draws from numpy's global generator; leave it as it was."""
    state = np.random.get_state()
    yield np.random.seed
    np.random.set_state(state)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("planted", [False, True])
def test_decisions_agree_with_causal_learn_kci_and_rcot(case, planted, global_numpy_seed):
    pytest.importorskip("causallearn")
    from causallearn.utils.KCI.KCI import KCI_CInd
    from causallearn.utils.RCIT.RCIT import RCIT

    for seed in SEEDS:
        x, y, z = CASES[case](seed, direct=EFFECT[case] if planted else 0.0)
        data = (columns(x), columns(y), columns(z).astype(float))
        global_numpy_seed(seed)
        kci = KCI_CInd().compute_pvalue(*data)[0]
        rcot_reference = RCIT(rcit=False).compute_pvalue(*data)[0]
        assert (kci < ALPHA) == (chsic(x, y, z, seed=seed, **FAST["chsic"]).p_value < ALPHA), (seed, kci)
        assert (rcot_reference < ALPHA) == (rcot(x, y, z, seed=seed).p_value < ALPHA), (seed, rcot_reference)


def test_rcot_statistic_and_null_equal_causal_learn_on_the_same_features():
    """causal-learn's RCIT(rcit=False) is RCoT; fed our Fourier features of X, Y and a one-hot Z it must agree."""
    pytest.importorskip("causallearn")
    from causallearn.utils.RCIT.RCIT import RCIT

    class GivenFeatures(RCIT):
        def __init__(self, *features):
            super().__init__(rcit=False, num_f=features[0].shape[1])
            self.features = list(features)  # asked for in the order Z, X, Y

        def random_fourier_features(self, x, w=None, b=None, num_f=None, sigma=None):
            return self.features.pop(0)

    for seed, classes, direct in ((0, 2, 0.0), (1, 3, 0.0), (2, 2, 0.2), (3, 3, 0.2)):
        x, y, z = continuous_case(seed, direct=direct, classes=classes, n=400)
        rng = np.random.default_rng(seed)
        features_x = np.cos(columns(x) @ rng.standard_normal((classes - 1, 5)) + rng.uniform(0, 2 * np.pi, 5))
        features_y = np.cos(np.outer(y, rng.standard_normal(5)) + rng.uniform(0, 2 * np.pi, 5))
        one_hot = (z[:, None] == np.arange(1, classes)).astype(float)
        p_reference, reference = GivenFeatures(one_hot, features_x, features_y).compute_pvalue(
            columns(x), columns(y), one_hot
        )
        statistic, null = _rcot_statistics(features_x, features_y, z, ("pooled",), rng)
        assert statistic[0] == pytest.approx(reference, rel=1e-6)
        # Monte Carlo (10 000 draws) against causal-learn's moment approximation of the same null
        assert _permutation_p_value(statistic[0], null[:, 0]) == pytest.approx(p_reference, abs=0.04)
