"""Sentence pairs for BERT's next-sentence prediction (NSP) and ALBERT's sentence-order prediction (SOP).

The chunking is Google's create_instances_from_document: a target length (max_num_tokens, or with
probability short_seq_prob a random shorter one, drawn once per document), sentences accumulated
until the target or the document's end, segment A = the chunk up to a random split point.

- NSP: with probability 0.5 B is the true continuation (label 0), else a run of sentences from a
  random place in a *different* document (label 1); the chunk's unused sentences go back.
- SOP: B is always the continuation; with probability 0.5 A and B are swapped (label 1).

Where this differs from Google's script, on purpose: Google forces a random B whenever the chunk
holds a single sentence, which made 60.8% of its NSP labels "random" on the shared wiki + news
text (and its ALBERT script does the same in SOP mode, pairing unrelated text). Here the label is
drawn first, always with probability 0.5; a single-sentence chunk that needs its true continuation
takes the next sentence as B, or, at the end of a document, is cut in two at a random token. Only
a chunk that cannot be split (one token) falls back to a random B (counted as forced_random).
truncate_seq_pair trims the longer side one token at a time from the front or the back at random,
as Google's does (for SOP only A's front and B's back, so the two stay adjacent text); it is computed in closed form (how many tokens each side loses, and a binomial
number of them from the front), which is the same distribution without a Python loop per token.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

# a sentence: (token ids, word ids), equal-length numpy arrays
Sentence = tuple[np.ndarray, np.ndarray]
Part = tuple[np.ndarray, np.ndarray]


def concat(sentences: list[Sentence]) -> Part:
    if len(sentences) == 1:
        return sentences[0]
    return np.concatenate([s[0] for s in sentences]), np.concatenate([s[1] for s in sentences])


def truncate_pair(a: Part, b: Part, max_tokens: int, rng: np.random.Generator,
                  outer_only: bool = False) -> tuple[Part, Part]:
    """Google's truncate_seq_pair: remove from the longer side until the pair fits, each removal
    from the front or the back with probability 1/2. outer_only: A loses tokens only at its front
    and B only at its back, so a true continuation stays adjacent text (SOP)."""
    la, lb = len(a[0]), len(b[0])
    excess = la + lb - max_tokens
    if excess <= 0:
        return a, b
    cut_a = cut_b = 0
    first = min(excess, abs(la - lb))  # the longer side alone, until the two are equal
    if la > lb:
        cut_a = first
    else:
        cut_b = first
    rest = excess - first  # then alternately, B first (Google picks B when lengths are equal)
    cut_b += (rest + 1) // 2
    cut_a += rest // 2

    def cut(part, n, front=None):
        if not n:
            return part
        if front is None:
            front = int(rng.binomial(n, 0.5))
        end = len(part[0]) - (n - front)
        return part[0][front:end], part[1][front:end]

    if outer_only:
        return cut(a, cut_a, front=cut_a), cut(b, cut_b, front=0)
    return cut(a, cut_a), cut(b, cut_b)


def sentence_pairs(sentences: list[Sentence], mode: str, max_num_tokens: int, short_seq_prob: float,
                   rng: np.random.Generator, random_segment: Callable[[int, np.random.Generator], tuple]):
    """Yield (A, B, label, b_source, forced) for one document; sentences fit in max_num_tokens.

    mode "nsp" or "sop". random_segment(target_length, rng) -> (sentences, source) from another
    document, or ([], None) when there is none (then B is the true continuation). b_source is
    None for a B from this document. forced: a random B where the 50/50 draw asked for the true one.
    """
    target = max_num_tokens
    if rng.random() < short_seq_prob:
        target = int(rng.integers(2, max_num_tokens + 1))
    chunk: list[Sentence] = []
    length, i, n = 0, 0, len(sentences)
    while i < n:
        chunk.append(sentences[i])
        length += len(sentences[i][0])
        if i < n - 1 and length < target:
            i += 1
            continue
        a_end = int(rng.integers(1, len(chunk))) if len(chunk) >= 2 else 1
        want_random = mode == "nsp" and rng.random() < 0.5
        swap = mode == "sop" and rng.random() < 0.5
        forced = False
        if not want_random and len(chunk) == 1:
            chunk, i = _with_continuation(chunk, sentences, i, rng)
            if len(chunk) == 1:  # a one-token chunk at the end of its document
                want_random = forced = mode == "nsp"
        source = None
        if want_random:
            b_sentences, source = random_segment(target - sum(len(s[0]) for s in chunk[:a_end]), rng)
            if b_sentences:
                a, b = concat(chunk[:a_end]), concat(b_sentences)
                i -= len(chunk) - a_end  # the chunk's unused sentences are used again
            else:  # no other document to draw from: the true continuation, if there is one
                want_random = forced = False
        if not want_random and len(chunk) >= 2:
            a, b = concat(chunk[:a_end]), concat(chunk[a_end:])
        if want_random or len(chunk) >= 2:
            a, b = truncate_pair(a, b, max_num_tokens, rng, outer_only=mode == "sop")
            if swap:
                a, b = b, a
            yield a, b, int(want_random or swap), source, forced
        chunk, length = [], 0
        i += 1


def _with_continuation(chunk: list[Sentence], sentences: list[Sentence], i: int, rng) -> tuple[list, int]:
    """A one-sentence chunk made into two parts of adjacent text: the next sentence joins it, or at
    the end of the document the sentence is cut in two at a random token (unchanged if it has one)."""
    if i + 1 < len(sentences):
        return [chunk[0], sentences[i + 1]], i + 1
    ids, words = chunk[0]
    if len(ids) < 2:
        return chunk, i
    cut = int(rng.integers(1, len(ids)))
    return [(ids[:cut], words[:cut]), (ids[cut:], words[cut:])], i
