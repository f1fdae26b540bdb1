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

ngram and span follow SpanBERT's masking (PairWithSpanMaskingScheme): until ``k`` tokens are
chosen, draw an anchor uniformly (span: a maskable token, SpanBERT; ngram: a word, ALBERT) and
redraw it if already chosen; draw a length n; choose the anchor's word and the next words up to n
in all (never past a [SEP]; words chosen before count towards n, as in SpanBERT), token by token,
stopping at ``k``. So every instance gets exactly ``k`` predictions, the drawn lengths follow the
stated distribution, and only the last unit may end inside a word. The draws run in rounds, one
unit of every unfinished instance per round, so a batch costs a few numpy passes per unit.

Replacement (BERT's 80/10/10): [MASK] with probability 0.8, a random token with 0.1, the token
itself with 0.1; decided per token, except ``span``, where SpanBERT decides once per span (a run
of adjacent predicted tokens, SpanBERT's merged intervals).

The [MASK] id and the replacement ids belong to the tokenizer: MaskingConfig has no defaults for
them (vocabulary_ids gives them for a vocabulary).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCHEMES = ("token", "wwm", "ngram", "span", "none")
MASK, RANDOM, KEEP = 0, 1, 2  # how a predicted position is shown to the model


@dataclass(frozen=True)
class MaskingConfig:
    scheme: str = "token"
    mask_id: int | None = None  # the tokenizer's [MASK]
    random_ids: np.ndarray | None = None  # the ids random replacements are drawn from
    masked_lm_prob: float = 0.15
    max_predictions: int = 20
    max_ngram: int = 3
    span_p: float = 0.2
    max_span: int = 10

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"masking scheme {self.scheme!r} is not one of {', '.join(SCHEMES)}")
        if self.scheme != "none" and (self.mask_id is None or self.random_ids is None or not len(self.random_ids)):
            raise ValueError("masking needs the tokenizer's [MASK] id and the ids to draw random replacements from "
                             "(mask_id and random_ids, e.g. from vocabulary_ids)")

    def unit_lengths(self) -> tuple[np.ndarray, np.ndarray]:
        """(lengths in words, their probabilities) for ngram / span units."""
        if self.scheme == "ngram":
            n = np.arange(1, self.max_ngram + 1)
            p = 1.0 / n
        else:
            n = np.arange(1, self.max_span + 1)
            p = self.span_p * (1 - self.span_p) ** (n - 1)
        return n, p / p.sum()


def vocabulary_ids(special_ids: dict, vocab_size: int) -> tuple[int, np.ndarray]:
    """A vocabulary's [MASK] id and the ids random replacements are drawn from: every id but its special tokens."""
    return special_ids["mask"], np.setdiff1d(np.arange(vocab_size), list(special_ids.values()))


@dataclass
class Masked:
    """A batch of masked instances, flat: instance i's tokens are input_ids[offsets[i]:offsets[i+1]]."""

    input_ids: np.ndarray  # what the model sees
    positions: np.ndarray  # int32, ascending within an instance, relative to its start
    counts: np.ndarray  # predicted positions per instance
    labels: np.ndarray  # the original ids at those positions
    shown_as: np.ndarray  # int8 per position: MASK, RANDOM or KEEP
    unit_words: np.ndarray  # words per masked unit (wwm: 1 per word; ngram / span: the drawn length), for the statistics


def words_of(special: np.ndarray, word_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole words among the maskable tokens: (start, end) token positions and a segment number.

    A word is a run of maskable tokens with one word id; special tokens end words and segments.
    """
    n = len(word_ids)
    new = ~special
    new[1:] &= (word_ids[1:] != word_ids[:-1]) | special[:-1]
    boundaries = np.append(np.flatnonzero(new | special), n)  # a word ends where the next word or a special begins
    is_start = new[boundaries[:-1]]
    starts, ends = boundaries[:-1][is_start], boundaries[1:][is_start]
    segment = np.cumsum(special, dtype=np.int32)[starts]
    return starts, ends, segment


def budget(maskable: np.ndarray, cfg: MaskingConfig) -> np.ndarray:
    """k per instance: Google's min(max_predictions, max(1, round(n * masked_lm_prob))) of the n maskable
    tokens (round half to even, as Python's round), 0 where nothing is maskable."""
    maskable = np.asarray(maskable, dtype=np.int64)
    k = np.minimum(cfg.max_predictions, np.maximum(1, np.rint(maskable * cfg.masked_lm_prob))).astype(np.int64)
    return np.minimum(k, maskable)


def choose_words(special: np.ndarray, word_ids: np.ndarray, k: int, rng: np.random.Generator) -> list:
    """One instance, whole-word masking: the chosen words as (start, end) token ranges, in position order."""
    starts, ends, _ = words_of(special, word_ids)
    sizes = ends - starts
    units, total = [], 0
    for w in rng.permutation(len(starts)):
        if total >= k:
            break
        if total + sizes[w] > k:
            continue  # Google's rule: a word that does not fit is skipped, never cut
        units.append((int(starts[w]), int(ends[w])))
        total += int(sizes[w])
    return sorted(units)


def choose_units(special: np.ndarray, word_ids: np.ndarray, offsets: np.ndarray, k: np.ndarray,
                 rng: np.random.Generator, cfg: MaskingConfig) -> tuple[np.ndarray, np.ndarray]:
    """ngram / span for a batch (instance i is tokens offsets[i]:offsets[i+1]): (the chosen positions,
    flat and ascending, exactly k[i] in instance i; the drawn length in words of every unit)."""
    lengths, probs = cfg.unit_lengths()
    cum = np.cumsum(probs)
    cum[-1] = 1.0
    starts, ends, segment = words_of(special, word_ids)
    last = np.append(np.flatnonzero(np.diff(segment)), len(segment) - 1)  # each segment's last word
    seg_last = np.repeat(last, np.diff(last, prepend=-1))
    lo, hi = offsets[:-1], offsets[1:]
    if cfg.scheme == "span":  # SpanBERT: an anchor token, then its word
        pool = np.flatnonzero(~special)
        word_of = np.full(len(special), -1, dtype=np.int64)
        word_of[pool] = np.repeat(np.arange(len(starts)), ends - starts)  # words tile the maskable tokens
    else:  # ALBERT: an anchor word
        pool = word_of = None
    first = np.searchsorted(pool if pool is not None else starts, lo)
    size = np.searchsorted(pool if pool is not None else starts, hi) - first
    chosen = np.zeros(len(special), dtype=bool)
    total = np.zeros(len(k), dtype=np.int64)
    active = np.flatnonzero(k > 0)
    drawn = []
    while len(active):
        u = rng.random((2, len(active)))
        pick = first[active] + (u[0] * size[active]).astype(np.int64)
        w = word_of[pool[pick]] if pool is not None else pick
        free = ~chosen[starts[w]]  # a word is free or chosen from its start (only a last unit is cut)
        inst, w = active[free], w[free]
        n = lengths[np.searchsorted(cum, u[1][free], side="right")]
        drawn.append(n)
        a, b = starts[w], ends[np.minimum(w + n - 1, seg_last[w])]  # the unit's tokens, all maskable
        span = b - a
        before = np.cumsum(span) - span
        tok = np.arange(int(span.sum())) - np.repeat(before - a, span)
        new = ~chosen[tok]
        rank = np.cumsum(new)
        rank -= np.repeat(np.concatenate([[0], rank])[before], span)  # 1, 2, ... over a unit's new tokens
        take = new & (rank <= np.repeat(k[inst] - total[inst], span))
        chosen[tok[take]] = True
        total[inst] += np.bincount(np.repeat(np.arange(len(inst)), span)[take], minlength=len(inst))
        active = active[total[active] < k[active]]
    return np.flatnonzero(chosen), np.concatenate(drawn) if drawn else np.zeros(0, dtype=np.int64)


def mask_batch(input_ids: np.ndarray, special: np.ndarray, word_ids: np.ndarray, lengths: np.ndarray,
               rng: np.random.Generator, cfg: MaskingConfig) -> Masked:
    """Mask a batch of instances given flat: choose positions, then replace them 80/10/10.

    Token masking is vectorised over the whole batch (a random score per token, the k lowest of
    each instance win), ngram and span over the instances of each round; wwm chooses per instance.
    input_ids is not modified.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    n = len(lengths)
    special_at = np.flatnonzero(special)
    special_row = np.searchsorted(offsets, special_at, side="right") - 1
    if cfg.scheme == "none":
        empty = np.zeros(0, dtype=np.int64)
        return Masked(input_ids.copy(), empty.astype(np.int32), np.zeros(n, dtype=np.int64), input_ids[empty],
                      empty.astype(np.int8), empty)
    k = budget(lengths - np.bincount(special_row, minlength=n), cfg)
    if cfg.scheme == "token":
        # a random score per token on an (instance x position) grid, specials and padding scored
        # above every real one; each row's k lowest win: those at or below its k-th lowest score
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
    elif cfg.scheme == "wwm":
        parts = []
        for i in range(n):
            a, b = offsets[i], offsets[i + 1]
            parts += [np.arange(s, e) + a for s, e in choose_words(special[a:b], word_ids[a:b], k[i], rng)]
        chosen = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
        unit_words = np.ones(len(parts), dtype=np.int64)
    else:
        chosen, unit_words = choose_units(special, word_ids, offsets, k, rng, cfg)
    instance_of = np.searchsorted(offsets, chosen, side="right") - 1
    counts = np.bincount(instance_of, minlength=n)
    if cfg.scheme == "span":  # one decision per span (a run of adjacent positions), applied to all its tokens
        run = np.cumsum(np.diff(chosen, prepend=-2) != 1) - 1
        u = rng.random(int(run[-1]) + 1 if len(run) else 0)[run]
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
