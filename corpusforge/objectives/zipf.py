"""Corpus statistics: Zipf's law (two fits), Heaps' law, hapax share, type/token ratio. Pure numpy.

Zipf: frequency f(r) ~ C r^-s over ranks r.
- least squares on log10 f against log10 r over a stated rank range (default 10 .. 10,000, clipped
  to the vocabulary), with R^2 as the goodness of fit;
- the discrete power-law maximum-likelihood estimate of the exponent α of P(count = k) ~ k^-α for
  counts k >= k_min (Clauset, Shalizi & Newman 2009, eq. 3.7 approximation
  α = 1 + n / Σ ln(k_i / (k_min - 1/2))), with its standard error (α - 1)/√n and the
  Kolmogorov-Smirnov distance between the fitted and observed count distributions. The
  rank-frequency exponent it implies is s = 1 / (α - 1).
Heaps: types V(N) ~ K N^β, least squares on log-log over the curve's points.
"""
from __future__ import annotations

import math

import numpy as np

DEFAULT_RANKS = (10, 10_000)


def rank_frequency(counts: np.ndarray) -> np.ndarray:
    """Counts sorted descending (rank 1 first)."""
    return np.sort(np.asarray(counts, dtype=np.int64))[::-1]


def fit_zipf_least_squares(freqs: np.ndarray, ranks: tuple[int, int] = DEFAULT_RANKS) -> dict:
    """log10 f = log10 C - s log10 r over ranks lo..hi (clipped to the vocabulary)."""
    freqs = rank_frequency(freqs)
    lo, hi = max(1, ranks[0]), min(ranks[1], len(freqs))
    if hi - lo < 2:
        lo, hi = 1, len(freqs)
    r = np.arange(lo, hi + 1, dtype=np.float64)
    f = freqs[lo - 1:hi].astype(np.float64)
    x, y = np.log10(r), np.log10(f)
    if len(x) < 2:
        return {"exponent": math.nan, "log10_c": math.nan, "r2": math.nan, "rank_range": [lo, hi]}
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    r2 = 1 - residual.var() / y.var() if y.var() > 0 else math.nan
    return {"exponent": float(-slope), "log10_c": float(intercept), "r2": float(r2), "rank_range": [int(lo), int(hi)]}


def fit_power_law_mle(counts: np.ndarray, k_min: int = 1) -> dict:
    """Discrete power-law MLE of the count distribution P(k) ~ k^-alpha, k >= k_min."""
    k = np.asarray(counts, dtype=np.float64)
    k = k[k >= k_min]
    n = len(k)
    if n < 2:
        return {"alpha": math.nan, "alpha_stderr": math.nan, "zipf_exponent": math.nan, "k_min": k_min, "ks": math.nan}
    alpha = 1 + n / np.log(k / (k_min - 0.5)).sum()
    # KS distance between the empirical CDF and the fitted (continuous-approximation) CDF
    values, freq = np.unique(k, return_counts=True)
    empirical = np.cumsum(freq) / n
    fitted = 1 - ((values + 0.5) / (k_min - 0.5)) ** (1 - alpha)
    ks = float(np.abs(empirical - fitted).max())
    return {"alpha": float(alpha), "alpha_stderr": float((alpha - 1) / math.sqrt(n)),
            "zipf_exponent": float(1 / (alpha - 1)) if alpha > 1 else math.nan, "k_min": int(k_min), "ks": ks}


def fit_heaps(tokens: np.ndarray, types: np.ndarray) -> dict:
    """types = K tokens^β, least squares on log10 over the points with tokens > 0."""
    tokens, types = np.asarray(tokens, np.float64), np.asarray(types, np.float64)
    keep = (tokens > 0) & (types > 0)
    if keep.sum() < 2:
        return {"k": math.nan, "beta": math.nan, "r2": math.nan}
    x, y = np.log10(tokens[keep]), np.log10(types[keep])
    beta, log_k = np.polyfit(x, y, 1)
    residual = y - (beta * x + log_k)
    r2 = 1 - residual.var() / y.var() if y.var() > 0 else math.nan
    return {"k": float(10 ** log_k), "beta": float(beta), "r2": float(r2)}


def heaps_curve(tokens_per_bucket: np.ndarray, first_bucket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative tokens, cumulative types) after each bucket of documents along the corpus.

    first_bucket: for every type, the bucket of the first document it occurs in.
    """
    buckets = len(tokens_per_bucket)
    new_types = np.bincount(first_bucket, minlength=buckets)[:buckets]
    tokens, types = np.cumsum(tokens_per_bucket), np.cumsum(new_types)
    keep = np.concatenate([[True], np.diff(tokens) > 0]) & (tokens > 0)
    return tokens[keep], types[keep]


def summary(counts: np.ndarray) -> dict:
    counts = np.asarray(counts, np.int64)
    tokens, types = int(counts.sum()), len(counts)
    hapax = int((counts == 1).sum())
    return {"tokens": tokens, "types": types, "hapax": hapax,
            "hapax_share_of_types": hapax / types if types else math.nan,
            "hapax_share_of_tokens": hapax / tokens if tokens else math.nan,
            "type_token_ratio": types / tokens if tokens else math.nan}


def synthetic_zipf_counts(exponent: float, types: int, tokens: int, seed: int = 0) -> np.ndarray:
    """Counts of `tokens` draws from a Zipf distribution over `types` ranks (for testing the fits)."""
    p = np.arange(1, types + 1, dtype=np.float64) ** -exponent
    counts = np.random.default_rng(seed).multinomial(tokens, p / p.sum())
    return counts[counts > 0]
