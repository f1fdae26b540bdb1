"""Masked-LM targets: which tokens to predict and what the model sees in their place.

Pure functions of (tokens, word boundaries, a numpy Generator, MaskingConfig): the pretraining
pipeline uses them for static masking and the torch collators for dynamic masking, so both mask
the same way. Schemes:

- ``token`` (BERT): ``k = min(max_predictions, max(1, round(masked_lm_prob * n)))`` of the ``n``
  maskable tokens (everything but [CLS]/[SEP]/[PAD]), chosen uniformly;
- ``wwm`` (Chinese BERT-wwm, Google's whole-word masking): whole words in random order, a word
  taken only if it still fits in ``k`` (Google's rule), so a word is never partly masked;
- ``ngram`` (ALBERT): n-grams of ``n <= max_ngram`` whole words, ``p(n) ∝ 1/n`` (6/11, 3/11, 2/11);
- ``span`` (SpanBERT): spans of whole words, length ~ Geometric(span_p) clipped (renormalised) at
  ``max_span`` words, mean 3.8 for p = 0.2;
- ``none``: nothing masked (the trainer masks dynamically).

For ngram and span the length is drawn first and the start then uniformly among the word
positions where a unit of that length fits (inside one segment, not overlapping one already
chosen), so the realised lengths follow the stated distribution instead of drifting towards
short units near segment ends. Units are added until ``k`` is reached; the last unit is kept if
that lands nearer to ``k`` than stopping before it (and never beyond ``max_predictions``), so the
masked share centres on ``masked_lm_prob``.

Replacement (BERT's 80/10/10): [MASK] with probability 0.8, a random token with 0.1, the token
itself with 0.1; decided per token, except ``span``, where SpanBERT decides once per span.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SCHEMES = ("token", "wwm", "ngram", "span", "none")
MASK, RANDOM, KEEP = 0, 1, 2  # how a predicted position is shown to the model


@dataclass(frozen=True)
class MaskingConfig:
    scheme: str = "token"
    mask_id: int = 103  # [MASK] of bert-base-chinese
    random_ids: np.ndarray = field(default_factory=lambda: np.arange(106, 21128))  # draw random replacements from
    masked_lm_prob: float = 0.15
    max_predictions: int = 20
    max_ngram: int = 3
    span_p: float = 0.2
    max_span: int = 10

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"masking scheme {self.scheme!r} is not one of {', '.join(SCHEMES)}")

    def unit_lengths(self) -> tuple[np.ndarray, np.ndarray]:
        """(lengths in words, their probabilities) for ngram / span units."""
        if self.scheme == "ngram":
            n = np.arange(1, self.max_ngram + 1)
            p = 1.0 / n
        else:
            n = np.arange(1, self.max_span + 1)
            p = self.span_p * (1 - self.span_p) ** (n - 1)
        return n, p / p.sum()


@dataclass
class Masked:
    """A batch of masked instances, flat: instance i's tokens are input_ids[offsets[i]:offsets[i+1]]."""

    input_ids: np.ndarray  # what the model sees
    positions: np.ndarray  # int32, ascending within an instance, relative to its start
    counts: np.ndarray  # predicted positions per instance
    labels: np.ndarray  # the original ids at those positions
    shown_as: np.ndarray  # int8 per position: MASK, RANDOM or KEEP
    unit_words: list | np.ndarray  # words per masked unit (wwm / ngram / span), for the statistics


def words_of(special: np.ndarray, word_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole words among the maskable tokens: (start, end) token positions and a segment number.

    A word is a run of maskable tokens with one word id; special tokens end words and segments.
    """
    n = len(word_ids)
    new = ~special
    new[1:] &= (word_ids[1:] != word_ids[:-1]) | special[:-1]
    starts = np.flatnonzero(new)
    boundaries = np.append(np.flatnonzero(new | special), n)  # a word ends where the next word or a special begins
    ends = boundaries[np.searchsorted(boundaries, starts, side="right")]
    segment = np.cumsum(special)[starts]
    return starts, ends, segment


def choose_positions(special: np.ndarray, word_ids: np.ndarray, rng: np.random.Generator,
                     cfg: MaskingConfig) -> tuple[np.ndarray, list, list]:
    """One instance, word-based schemes (wwm, ngram, span): (positions to predict, ascending; words
    per unit; the units as (start, end) token ranges, in position order)."""
    candidates = np.flatnonzero(~special)
    if cfg.scheme == "none" or not len(candidates):
        return np.zeros(0, dtype=np.int32), [], []
    k = min(cfg.max_predictions, max(1, int(round(len(candidates) * cfg.masked_lm_prob))))
    starts, ends, segment = words_of(special, word_ids)
    sizes = ends - starts
    if cfg.scheme == "wwm":
        units, total = [], 0
        for w in rng.permutation(len(starts)):
            if total >= k:
                break
            if total + sizes[w] > k:
                continue  # Google's rule: a word that does not fit is skipped, never cut
            units.append((int(starts[w]), int(ends[w])))
            total += int(sizes[w])
        units.sort()
        positions = np.concatenate([np.arange(s, e) for s, e in units]) if units else np.zeros(0, int)
        return positions.astype(np.int32), [1] * len(units), units
    return _choose_units(starts, ends, segment, sizes, k, rng, cfg)


def _choose_units(starts, ends, segment, sizes, k, rng, cfg):
    lengths, probs = cfg.unit_lengths()
    n_words = len(starts)
    taken = np.zeros(n_words, dtype=bool)
    cum = np.concatenate([[0], np.cumsum(sizes)])
    # Stop by the running total alone (never by the size of the next unit), so the kept units'
    # lengths follow `probs`; the threshold is lowered by the expected overshoot of the last unit
    # (renewal theory: E[s^2] / 2E[s] for unit sizes s in tokens, s a sum of n word
    # sizes), so the masked total still centres on k.
    threshold = k
    if n_words:
        mean_n, mean_n2 = float(lengths @ probs), float(lengths ** 2 @ probs)
        w_mean, w_var = float(sizes.mean()), float(sizes.var())
        threshold -= (mean_n * w_var + mean_n2 * w_mean ** 2) / (2 * mean_n * w_mean)
    units, unit_words, total = [], [], 0
    while total < threshold:
        n = int(rng.choice(lengths, p=probs))
        if n > n_words:
            continue
        # starts w where words w..w+n-1 share a segment and are all still free
        idx = np.arange(n_words - n + 1)
        free_before = np.concatenate([[0], np.cumsum(taken)])
        idx = idx[(segment[idx] == segment[idx + n - 1]) & (free_before[idx + n] == free_before[idx])]
        if not len(idx):
            if n == 1:
                break  # no free word left at all
            continue
        w = int(idx[rng.integers(len(idx))])
        size = int(cum[w + n] - cum[w])
        if total + size > cfg.max_predictions:
            break
        taken[w:w + n] = True
        units.append((int(starts[w]), int(ends[w + n - 1])))
        unit_words.append(n)
        total += size
    positions = np.concatenate([np.arange(s, e) for s, e in units]) if units else np.zeros(0, int)
    order = np.argsort([s for s, _ in units], kind="stable")
    return np.sort(positions).astype(np.int32), [unit_words[i] for i in order], [units[i] for i in order]


def mask_batch(input_ids: np.ndarray, special: np.ndarray, word_ids: np.ndarray, lengths: np.ndarray,
               rng: np.random.Generator, cfg: MaskingConfig) -> Masked:
    """Mask a batch of instances given flat: choose positions, then replace them 80/10/10.

    Token masking is vectorised over the whole batch (a random score per token, the k lowest of
    each instance win); the word-based schemes choose per instance. input_ids is not modified.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    n = len(lengths)
    unit_words: list | np.ndarray = []
    unit_sizes = None
    if cfg.scheme == "none":
        chosen = np.zeros(0, dtype=np.int64)
    elif cfg.scheme == "token":
        # a random score per token on an (instance x position) grid, specials and padding scored
        # above every real one; each row's k lowest win: those at or below its k-th lowest score
        special_at = np.flatnonzero(special)
        special_row = np.searchsorted(offsets, special_at, side="right") - 1
        maskable = lengths - np.bincount(special_row, minlength=n)
        k = np.minimum(maskable, np.minimum(cfg.max_predictions, np.maximum(1, np.rint(maskable * cfg.masked_lm_prob))))
        k = k.astype(np.int64)
        kmax = int(k.max()) if n else 0
        if kmax:
            width = int(lengths.max())
            grid = rng.random((n, width))
            grid[np.arange(width) >= lengths[:, None]] = 3.0
            grid[special_row, special_at - offsets[special_row]] = 2.0
            lowest = np.sort(np.partition(grid, kmax - 1, axis=1)[:, :kmax], axis=1)
            threshold = np.where(k > 0, lowest[np.arange(n), np.maximum(k - 1, 0)], -1.0)
            row, column = np.nonzero(grid <= threshold[:, None])  # row-major: positions ascending
            chosen = offsets[row] + column
        else:
            chosen = np.zeros(0, dtype=np.int64)
        unit_words = np.ones(len(chosen), dtype=np.int64)
    else:
        parts, sizes = [], []
        for i in range(n):
            a, b = offsets[i], offsets[i + 1]
            positions, words, units = choose_positions(special[a:b], word_ids[a:b], rng, cfg)
            parts.append(positions + a)
            unit_words += words
            sizes += [e - s for s, e in units]
        chosen = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
        unit_sizes = np.array(sizes, dtype=np.int64)
    instance_of = np.searchsorted(offsets, chosen, side="right") - 1
    counts = np.bincount(instance_of, minlength=n)
    if cfg.scheme == "span":  # one decision per span, applied to all its tokens
        u = np.repeat(rng.random(len(unit_sizes)), unit_sizes)
    else:
        u = rng.random(len(chosen))
    shown_as = np.where(u < 0.8, MASK, np.where(u < 0.9, RANDOM, KEEP)).astype(np.int8)
    out = input_ids.copy()
    out[chosen[shown_as == MASK]] = cfg.mask_id
    random_at = chosen[shown_as == RANDOM]
    if len(random_at):
        out[random_at] = cfg.random_ids[rng.integers(len(cfg.random_ids), size=len(random_at))]
    return Masked(out, (chosen - offsets[instance_of]).astype(np.int32), counts, input_ids[chosen], shown_as,
                  unit_words)


def mask_tokens(input_ids: np.ndarray, special: np.ndarray, word_ids: np.ndarray, rng: np.random.Generator,
                cfg: MaskingConfig) -> Masked:
    """One instance: mask_batch of a batch of one."""
    return mask_batch(input_ids, special, word_ids, np.array([len(input_ids)]), rng, cfg)
