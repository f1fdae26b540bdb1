"""Sentence pairs for BERT's next-sentence prediction (NSP) and ALBERT's sentence-order prediction (SOP).

The chunking is Google's create_instances_from_document: a target length (max_num_tokens, or with
probability short_seq_prob a random shorter one, drawn once per document), sentences accumulated
until the target or the document's end, segment A = the chunk up to a random split point.

- NSP: with probability 0.5 B is the true continuation (label 0), else a run of sentences from a
  random place in a *different* document (label 1); the chunk's unused sentences go back.
- SOP: B is always the continuation; with probability 0.5 A and B are swapped (label 1).

Where this differs from Google's script, on purpose: Google forces a random B whenever the chunk
holds a single sentence, which on short-sentence text makes most of its NSP labels "random"
(BENCHMARKS.md has the share on the shared corpora; its ALBERT script does the same in SOP mode, pairing unrelated text). Here the label is
drawn first, always with probability 0.5; a single-sentence chunk that needs its true continuation
takes the next sentence as B, or, at the end of a document, is cut in two at a random token. Only
a chunk that cannot be split (one token) falls back to a random B (counted as forced_random).
truncate_seq_pair trims the longer side one token at a time from the front or the back at random,
as Google's does (for SOP only A's front and B's back, so the two stay adjacent text); it is computed
in closed form (how many tokens each side loses, and a binomial number of them from the front), which
is the same distribution without a Python loop per token.

Sentences are never copied here: a bucket's sentences lie end to end in one token array and
sentence_pairs works on token offsets into it (plain Python ints), yielding each pair as two
(start, end) ranges; the random draws come 64 bits at a time from blocks of one Generator (Draws).
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Callable

import numpy as np

# a sentence: (token ids, word ids), equal-length numpy arrays
Sentence = tuple[np.ndarray, np.ndarray]
Part = tuple[np.ndarray, np.ndarray]


def concat(sentences: list[Sentence]) -> Part:
    if len(sentences) == 1:
        return sentences[0]
    return np.concatenate([s[0] for s in sentences]), np.concatenate([s[1] for s in sentences])


class Draws:
    """Uniform draws from a Generator's raw 64-bit words, fetched 1,024 at a time (one numpy call
    per block instead of one per draw, which cost about a microsecond each)."""

    def __init__(self, rng: np.random.Generator, block: int = 1024):
        def words():
            while True:
                yield from rng.bit_generator.random_raw(block).tolist()
        self._next = words().__next__

    def chance(self, p: float) -> bool:
        """True with probability p."""
        return self._next() < p * 18446744073709551616.0  # 2**64

    def below(self, n: int) -> int:
        """Uniform in [0, n) (Lemire's multiply-shift; its bias, n / 2**64, is far below any test)."""
        return (self._next() * n) >> 64

    def heads(self, n: int) -> int:
        """Binomial(n, 1/2): the set bits of n random bits."""
        count = 0
        while n > 0:
            take = min(n, 64)
            count += (self._next() >> (64 - take)).bit_count()
            n -= take
        return count


def truncation(la: int, lb: int, max_tokens: int) -> tuple[int, int]:
    """Google's truncate_seq_pair in closed form: how many tokens A and B lose (the longer side alone
    until the two are equal, then alternately, B first, as Google picks B when lengths are equal)."""
    excess = la + lb - max_tokens
    if excess <= 0:
        return 0, 0
    first = min(excess, abs(la - lb))
    rest = excess - first
    return (first if la > lb else 0) + rest // 2, (0 if la > lb else first) + (rest + 1) // 2


def sentence_pairs(starts: list[int], first: int, end: int, mode: str, max_num_tokens: int, short_seq_prob: float,
                   draws: Draws, random_segment: Callable[[int, Draws], tuple | None]):
    """Yield (a_start, a_end, b_start, b_end, label, b_source, forced) for one document, whose
    sentences are first..end-1: sentence s is tokens starts[s]..starts[s + 1] of the bucket's token
    array; sentences fit in max_num_tokens.

    mode "nsp" or "sop". random_segment(target_length, draws) -> (start, end, source) of a run of
    sentences of another document, or None when there is none (then B is the true continuation).
    b_source is None for a B from this document. forced: a random B where the 50/50 draw asked for
    the true one.
    """
    nsp, chance, below, heads = mode == "nsp", draws.chance, draws.below, draws.heads
    target = max_num_tokens
    if chance(short_seq_prob):
        target = 2 + below(max_num_tokens - 1)
    i = chunk = first  # the chunk is sentences chunk..i
    while i < end:
        if i < end - 1 and starts[i + 1] - starts[chunk] < target:
            i += 1
            continue
        split = chunk + 1 + (below(i - chunk) if i > chunk else 0)  # A = sentences chunk..split-1
        want_random = nsp and chance(0.5)
        swap = not nsp and chance(0.5)
        forced = False
        a0, a1, b0, b1 = starts[chunk], starts[split], starts[split], starts[i + 1]
        pair = i > chunk
        if not want_random and not pair:  # one sentence: its continuation is the next one, or half of it
            if i + 1 < end:
                i += 1
                b1, pair = starts[i + 1], True
            elif a1 - a0 >= 2:
                a1 = b0 = a0 + 1 + below(a1 - a0 - 1)
                pair = True
            else:  # a one-token chunk at the end of its document
                want_random = forced = nsp
        source = None
        if want_random:
            segment = random_segment(target - (a1 - a0), draws)
            if segment:
                b0, b1, source = segment
                i = split - 1  # the chunk's unused sentences are used again
            else:  # no other document to draw from: the true continuation, if there is one
                want_random = forced = False
        if want_random or pair:
            cut_a, cut_b = truncation(a1 - a0, b1 - b0, max_num_tokens)
            if cut_a:
                front = cut_a if not nsp else heads(cut_a)
                a0, a1 = a0 + front, a1 - (cut_a - front)
            if cut_b:
                front = 0 if not nsp else heads(cut_b)
                b0, b1 = b0 + front, b1 - (cut_b - front)
            if swap:
                a0, a1, b0, b1 = b0, b1, a0, a1
            yield a0, a1, b0, b1, int(want_random or swap), source, forced
        i += 1
        chunk = i


def random_run(starts: list[int], first: int, end: int, target: int, draws: Draws) -> tuple[int, int]:
    """Tokens of a run of sentences of one document (sentences first..end-1) from a uniform random
    sentence on, until `target` tokens or the document's end."""
    if end == first:
        return starts[first], starts[first]
    s = first + draws.below(end - first)
    return starts[s], starts[bisect_left(starts, starts[s] + target, s + 1, end)]
