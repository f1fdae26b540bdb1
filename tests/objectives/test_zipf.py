import numpy as np
import pytest

from corpusforge.objectives import zipf


def zipf_draws(alpha, n, seed):
    """n types whose counts are numpy's discrete power-law draws: P(count = k) = k^-alpha / ζ(alpha)."""
    return np.random.default_rng(seed).zipf(alpha, n)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # powerlaw's own use of its deprecated names
@pytest.mark.parametrize("alpha", [1.8, 2.0, 2.5])
def test_power_law_fit_recovers_alpha_and_agrees_with_the_powerlaw_package(alpha):
    import powerlaw

    counts = zipf_draws(alpha, 20_000, seed=7)
    fit = zipf.fit_power_law_mle(counts)  # the defaults build stats uses
    assert fit["alpha"] == pytest.approx(alpha, abs=0.05)
    assert fit["alpha_stderr"] < 0.05 and fit["tail_types"] >= 50
    # the independent implementation of Clauset, Shalizi & Newman's method
    reference = powerlaw.Fit(counts, discrete=True, verbose=False).power_law
    assert fit["x_min"] == reference.xmin
    assert fit["alpha"] == pytest.approx(reference.alpha, abs=1e-3)
    assert fit["ks"] == pytest.approx(reference.D, abs=1e-3)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_power_law_fit_on_real_word_counts_agrees_with_the_powerlaw_package():
    import powerlaw

    from tests.conftest import DATA

    words, counts = np.unique((DATA / "lm" / "news_train.txt").read_text(encoding="utf-8").split(),
                              return_counts=True)
    fit = zipf.fit_power_law_mle(counts)
    assert fit["x_min"] == powerlaw.Fit(counts, discrete=True, verbose=False).power_law.xmin == 16
    # at x_min >= 10 powerlaw's scan uses the continuous approximation (eq. 3.7); its exact discrete
    # fit at that x_min is the one to equal
    exact = powerlaw.Fit(counts, discrete=True, verbose=False, xmin=16, estimate_discrete=False).power_law
    assert fit["alpha"] == pytest.approx(exact.alpha, abs=1e-4) and fit["ks"] == pytest.approx(exact.D, abs=1e-4)


@pytest.mark.parametrize("exponent", [0.9, 1.0, 1.2])
def test_fits_recover_the_exponent_of_synthetic_zipf_data(exponent):
    counts = zipf.synthetic_zipf_counts(exponent, types=50_000, tokens=2_000_000, seed=1)
    fit = zipf.fit_zipf_least_squares(counts, (10, 1000))
    assert fit["exponent"] == pytest.approx(exponent, abs=0.03) and fit["r2"] > 0.99
    # the count distribution of a rank-frequency law s has tail exponent alpha = 1 + 1/s; fitted
    # from count 1 (where the law does not hold) it came out 1.35 for s = 1
    mle = zipf.fit_power_law_mle(counts)
    assert mle["alpha"] == pytest.approx(1 + 1 / exponent, abs=0.05) and mle["x_min"] > 1
    assert mle["zipf_exponent"] == pytest.approx(exponent, abs=0.05)


def test_power_law_fit_of_too_few_or_no_counts_is_nan():
    for counts in ([], [3], [0, 0]):
        fit = zipf.fit_power_law_mle(np.array(counts, dtype=np.int64))
        assert np.isnan(fit["alpha"]) and fit["tail_types"] == 0
    assert zipf.fit_power_law_mle(np.array([5, 1, 2, 1, 9]), x_min=2)["tail_types"] == 3


def test_heaps_fit_recovers_k_and_beta():
    tokens = np.geomspace(1e3, 1e7, 50)
    fit = zipf.fit_heaps(tokens, 30 * tokens ** 0.6)
    assert fit["k"] == pytest.approx(30, rel=1e-6) and fit["beta"] == pytest.approx(0.6, abs=1e-9)


def test_summary_and_heaps_curve():
    s = zipf.summary(np.array([5, 1, 1, 3]))
    assert (s["tokens"], s["types"], s["hapax"]) == (10, 4, 2) and s["type_token_ratio"] == 0.4
    tokens, types = zipf.heaps_curve(np.array([10, 0, 5]), np.array([0, 0, 2]))
    assert tokens.tolist() == [10, 15] and types.tolist() == [2, 3]
