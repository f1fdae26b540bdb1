"""word2vec's training corpus: subsampling of frequent words (Mikolov et al. 2013, as word2vec.c does it).

Pure numpy, no Beam. The vocabulary is the cooccurrence one (objectives.cooccurrence.select_vocab); a segment's
in-vocabulary ids are thinned here, and the (centre, context) pairs are made later, in the trainer: stored, they
would be about 2 x window x tokens rows.

word2vec.c keeps a word of count f among `total` training words (the vocabulary's counts summed) with
probability (sqrt(f / (t * total)) + 1) * (t * total) / f (t = --sample; above 1 means always). The uniform draw
per token comes from (seed, the segment's key, the copy) and the token's position in the segment, so any copy
of any segment is reproducible on its own, on any worker.
"""
from __future__ import annotations

import hashlib

import numpy as np

UNIGRAM_POWER = 0.75  # negative sampling draws from unigram counts ** 0.75 (word2vec.c InitUnigramTable)


def keep_probabilities(counts, sample: float) -> np.ndarray:
    """Per vocabulary id, word2vec.c's keep probability, capped at 1; sample <= 0 keeps everything."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0 or not len(counts):
        return np.ones(len(counts))
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1) * threshold / counts)


def segment_uniforms(seed: int, key: str, copy: int, n: int) -> np.ndarray:
    """n uniforms in [0, 1), the i-th for the token at position i of the segment `key` in copy `copy`."""
    digest = hashlib.blake2b(f"{seed}\0{key}\0{copy}".encode(), digest_size=16).digest()
    bits = np.random.Philox(key=int.from_bytes(digest, "little"))
    return np.random.Generator(bits).random(n)


def subsample(ids: np.ndarray, keep: np.ndarray, seed: int, key: str, copy: int = 0) -> np.ndarray:
    """A segment's in-vocabulary ids -> the ones kept (order kept)."""
    if not len(ids):
        return ids
    return ids[segment_uniforms(seed, key, copy, len(ids)) < keep[ids]]


def huffman_tree(counts) -> tuple[list[list[int]], list[list[int]]]:
    """word2vec.c's CreateBinaryTree over counts sorted most frequent first: per word its code (0/1 per level,
    root first) and points (the inner nodes on its path, 0..V-2, root = V-2 first), for hierarchical softmax.
    The two-queue construction: leaves in count order, inner nodes in creation order, each step joins the
    two smallest (a tie prefers the leaf, as word2vec.c's `<` does)."""
    v = len(counts)
    if v < 2:
        raise ValueError("hierarchical softmax needs at least two words")
    count = list(map(int, counts)) + [10 ** 15] * (v - 1)
    parent, binary = [0] * (2 * v - 1), [0] * (2 * v - 1)
    pos1, pos2 = v - 1, v
    for a in range(v - 1):
        mins = []
        for _ in range(2):
            if pos1 >= 0 and count[pos1] < count[pos2]:
                mins.append(pos1)
                pos1 -= 1
            else:
                mins.append(pos2)
                pos2 += 1
        count[v + a] = count[mins[0]] + count[mins[1]]
        parent[mins[0]] = parent[mins[1]] = v + a
        binary[mins[1]] = 1
    codes, points = [], []
    root = 2 * v - 2
    for a in range(v):
        code, point, b = [], [], a
        while b != root:
            code.append(binary[b])
            b = parent[b]
            point.append(b - v)
        codes.append(code[::-1])
        points.append(point[::-1])
    return codes, points
