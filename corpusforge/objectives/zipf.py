"""Corpus statistics: Zipf's law (two fits), Heaps' law, hapax share, type/token ratio. numpy, and
scipy for the Hurwitz zeta function and the one-dimensional likelihood maximisation.

Zipf: frequency f(r) ~ C r^-s over ranks r.
- least squares on log10 f against log10 r over a stated rank range (default 10 .. 10,000, clipped
  to the vocabulary and, in build stats, to the power-law tail the fit below finds: the ranks whose
  counts are >= its x_min), with R^2 as the goodness of fit;
- the discrete power-law fit of the count distribution P(count = k) ~ k^-α for k >= x_min, with
  x_min chosen by the Kolmogorov-Smirnov method of Clauset, Shalizi & Newman (2009): below x_min
  word counts do not follow a power law, and fitting from k = 1 biases α. The rank-frequency
  exponent the tail implies is s = 1 / (α - 1).
Heaps: types V(N) ~ K N^β, least squares on log-log over the curve's points.
"""
from __future__ import annotations

import math

import numpy as np

DEFAULT_RANKS = (10, 10_000)
MIN_TAIL = 50  # the fewest types a power-law tail is fitted to (x_min candidates leave at least these)
MAX_CANDIDATES = 1000  # x_min candidates scanned; more distinct counts: a geometric grid of them
ALPHA_MAX = 10.0  # upper bound of the α search (word counts have α near 2)


def rank_frequency(counts: np.ndarray) -> np.ndarray:
    """Counts sorted descending (rank 1 first)."""
    return np.sort(np.asarray(counts, dtype=np.int64))[::-1]


def fit_zipf_least_squares(freqs: np.ndarray, ranks: tuple[int, int] = DEFAULT_RANKS,
                           min_count: int | None = None) -> dict:
    """log10 f = log10 C - s log10 r over ranks lo..hi (clipped to the vocabulary and, given min_count, to
    the ranks whose count is at least that, if that leaves a range to fit). A line through ranks below
    the power law's x_min misses the data: a character vocabulary's closed alphabet ends in a steep fall
    that pulled the line to 30x the data at rank 10."""
    freqs = rank_frequency(freqs)
    lo, hi = max(1, ranks[0]), min(ranks[1], len(freqs))
    if min_count is not None:
        tail = int(np.searchsorted(-freqs, -min_count, side="right"))  # ranks with a count >= min_count
        if tail - lo >= 2:
            hi = min(hi, tail)
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


def fit_power_law_mle(counts: np.ndarray, x_min: int | None = None, min_tail: int = MIN_TAIL) -> dict:
    """Discrete power-law fit of the count distribution P(k) = k^-α / ζ(α, x_min), k >= x_min.

    Clauset, Shalizi & Newman (2009): α maximises the exact discrete likelihood (their eq. 3.5, with
    the Hurwitz zeta function; the continuous approximation of eq. 3.7 is biased for small x_min),
    and x_min, unless given, is the candidate whose fitted tail is closest to the data in the
    Kolmogorov-Smirnov distance (their section 3.3). Candidates are the distinct counts that leave
    at least ``min_tail`` types in the tail. Returns α, its standard error (from the Fisher
    information), the KS distance, x_min, the tail size, and the rank-frequency exponent
    s = 1 / (α - 1) that the tail implies.
    """
    from scipy.special import zeta  # lazy: only build stats needs scipy

    k = np.sort(np.asarray(counts, dtype=np.int64))
    k = k[k >= 1]
    values, first = np.unique(k, return_index=True)
    tail_sizes = len(k) - first  # types with a count >= values[i]
    # Σ ln k over each candidate's tail, from the suffix sums of the sorted log counts
    log_tail = np.concatenate([np.cumsum(np.log(k)[::-1])[::-1], [0.0]])[first]
    if x_min is None:
        candidates = np.flatnonzero(tail_sizes >= max(min_tail, 2))
        if len(candidates) > MAX_CANDIDATES:  # each costs O(distinct counts): keep a geometric grid
            grid = np.geomspace(values[candidates[0]], values[candidates[-1]], MAX_CANDIDATES)
            candidates = np.unique(np.minimum(np.searchsorted(values, grid), candidates[-1]))
    else:  # a given x_min: the tail starts at the first distinct count >= it
        i = int(np.searchsorted(values, x_min))
        candidates = [i] if i < len(values) and tail_sizes[i] >= 2 else []
    best = None
    for i in candidates:
        fit = _fit_tail(values[i:], tail_sizes[i:], int(values[i]), log_tail[i], zeta)
        if best is None or fit["ks"] < best["ks"]:
            best = fit
    if best is None:
        return {"alpha": math.nan, "alpha_stderr": math.nan, "zipf_exponent": math.nan, "x_min": x_min,
                "tail_types": 0, "ks": math.nan}
    return best


def _fit_tail(values: np.ndarray, tail_sizes: np.ndarray, x_min: int, log_sum: float, zeta) -> dict:
    """The discrete MLE of α for the tail k >= x_min (its distinct values and the types at or
    above each), with the KS distance of the fit."""
    from scipy.optimize import minimize_scalar

    n = int(tail_sizes[0])
    mean_log = log_sum / n
    # the negative log-likelihood per type, ln ζ(α, x_min) + α mean(ln k), is convex in α
    nll = lambda a: math.log(zeta(a, x_min)) + a * mean_log  # noqa: E731
    alpha = float(minimize_scalar(nll, bounds=(1.0 + 1e-9, ALPHA_MAX), method="bounded",
                                  options={"xatol": 1e-7}).x)
    h = 1e-4  # Fisher information per type: the second derivative of ln ζ(α, x_min)
    info = (nll(alpha + h) - 2 * nll(alpha) + nll(alpha - h)) / h ** 2 if alpha - h > 1 else math.nan
    # Both CDFs are steps on the integers and the data's is flat between its distinct values v, so
    # the supremum of |data - model| is at some v or at the integer just below one: compare
    # P(K <= v) and P(K < v) of both.
    norm = zeta(alpha, x_min)
    below = 1 - tail_sizes / n
    at = np.append(below[1:], 1.0)
    model_at = 1 - zeta(alpha, values + 1.0) / norm
    model_below = 1 - zeta(alpha, values.astype(np.float64)) / norm
    ks = float(max(np.abs(at - model_at).max(), np.abs(below - model_below).max()))
    return {"alpha": alpha, "alpha_stderr": float(1 / math.sqrt(n * info)) if info > 0 else math.nan,
            "zipf_exponent": 1 / (alpha - 1), "x_min": x_min, "tail_types": n, "ks": ks}


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
