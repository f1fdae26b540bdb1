"""MinHash signatures and LSH bands for near-duplicate detection (no Beam).

A document's shingles are the character n-grams of its text (Chinese) or its word n-grams
(English), after lower-casing and dropping whitespace and punctuation, so reposts that differ
only there have equal shingle sets. The signature is rensa's RMinHash (Rust, a fixed seed, so
signatures are equal in every process and build), chosen because it is faster than numpy-vectorised
hashing and datasketch with estimates as good. The fraction of equal signature entries of two
documents estimates the Jaccard similarity of their shingle sets (standard error
sqrt(J(1-J)/num_perm)).
"""
from __future__ import annotations

import re

import numpy as np
import rensa

from corpusforge.text.normalize import cjk_ratio

__all__ = ["SHINGLES", "MinHasher", "shingles", "candidate_probability", "agreement"]

SHINGLES = ("auto", "chars", "words")
_NON_WORD = re.compile(r"[\W_]+")
_WORD = re.compile(r"[^\W_]+")
_SEED = 1  # the permutations are fixed (not --seed): signatures are comparable across builds


def shingles(text: str, shingle: str = "auto", n: int = 5) -> list[str]:
    """The text's n-gram shingles: characters without whitespace/punctuation (chars), or words joined
    by one space (words); auto: chars when at least half of the text is CJK. A text shorter than n
    units is one shingle, one without letters or digits has none."""
    text = text.lower()
    if shingle == "auto":
        shingle = "chars" if cjk_ratio(text) >= 0.5 else "words"
    if shingle == "chars":
        units = _NON_WORD.sub("", text)
        return [units[i:i + n] for i in range(max(1, len(units) - n + 1))] if units else []
    words = _WORD.findall(text)
    return [" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))] if words else []


class MinHasher:
    """Signatures of num_perm uint32 minima; bands_of() cuts the first bands x rows of them into LSH keys."""

    def __init__(self, num_perm: int = 128, bands: int = 18, shingle: str = "auto", n: int = 5):
        if not 1 <= bands <= num_perm:
            raise ValueError(f"bands must be between 1 and num_perm ({num_perm}), not {bands}")
        if shingle not in SHINGLES:
            raise ValueError(f"shingle must be one of {SHINGLES}, not {shingle!r}")
        self.num_perm, self.bands, self.rows, self.shingle, self.n = num_perm, bands, num_perm // bands, shingle, n

    def signature(self, text: str) -> np.ndarray | None:
        """uint32[num_perm], or None for a text without shingles (it has no near-duplicates)."""
        return self.signature_of(shingles(text, self.shingle, self.n))

    def signature_of(self, items: list[str]) -> np.ndarray | None:
        """The signature of a set of shingles."""
        if not items:
            return None
        h = rensa.RMinHash(num_perm=self.num_perm, seed=_SEED)
        h.update(items)
        return np.array(h.digest(), dtype=np.uint32)

    def bands_of(self, signature: np.ndarray) -> list[bytes]:
        """One key per band: the band's number then its rows' bytes (equal keys: equal band)."""
        r = self.rows
        return [i.to_bytes(2, "big") + signature[i * r:(i + 1) * r].tobytes() for i in range(self.bands)]


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """The share of equal signature entries: the MinHash estimate of the Jaccard similarity."""
    return float(np.count_nonzero(a == b)) / len(a)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """P(two documents share at least one band) = 1 - (1 - J^rows)^bands (the LSH S-curve)."""
    return 1.0 - (1.0 - jaccard ** rows) ** bands
