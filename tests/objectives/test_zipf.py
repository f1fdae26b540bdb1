import numpy as np
import pytest

from corpusforge.objectives import zipf


@pytest.mark.parametrize("exponent", [0.9, 1.1])
def test_fits_recover_the_exponent_of_synthetic_zipf_data(exponent):
    counts = zipf.synthetic_zipf_counts(exponent, types=50_000, tokens=2_000_000, seed=1)
    fit = zipf.fit_zipf_least_squares(counts, (10, 1000))
    assert fit["exponent"] == pytest.approx(exponent, abs=0.03) and fit["r2"] > 0.99
    # the count distribution of a rank-frequency law s has tail exponent alpha = 1 + 1/s
    mle = zipf.fit_power_law_mle(counts, k_min=20)
    assert mle["alpha"] == pytest.approx(1 + 1 / exponent, abs=0.1)


def test_heaps_fit_recovers_k_and_beta():
    tokens = np.geomspace(1e3, 1e7, 50)
    fit = zipf.fit_heaps(tokens, 30 * tokens ** 0.6)
    assert fit["k"] == pytest.approx(30, rel=1e-6) and fit["beta"] == pytest.approx(0.6, abs=1e-9)


def test_summary_and_heaps_curve():
    s = zipf.summary(np.array([5, 1, 1, 3]))
    assert (s["tokens"], s["types"], s["hapax"]) == (10, 4, 2) and s["type_token_ratio"] == 0.4
    tokens, types = zipf.heaps_curve(np.array([10, 0, 5]), np.array([0, 0, 2]))
    assert tokens.tolist() == [10, 15] and types.tolist() == [2, 3]
