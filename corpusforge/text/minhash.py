"""MinHash signatures and LSH bands for near-duplicate detection (pure numpy, no Beam).

A document's shingles are the character n-grams of its text (Chinese) or its word n-grams
(English), after lower-casing and dropping whitespace and punctuation, so reposts that differ
only there have equal shingle sets. Each shingle is a 32-bit hash (a polynomial over the units'
codes, mixed by splitmix64's finaliser: vectorised, no Python call per shingle). Permutation i is
multiply-shift hashing, (a_i * x + b_i) mod 2^64 with a random odd 64-bit a_i; the signature keeps
the high 32 bits of each minimum. (Not the textbook (a*x + b) mod 2^61-1: that needs a up to
2^61, whose product overflows uint64, and with a < 2^32 it barely wraps, so it is almost monotone
in x and every permutation's minimum falls on the same few shingles.) The fraction of equal signature entries of two
documents estimates the Jaccard similarity of their shingle sets (standard error
sqrt(J(1-J)/num_perm)).
"""
from __future__ import annotations

import re

import numpy as np
import xxhash

from corpusforge.text.normalize import cjk_ratio

__all__ = ["SHINGLES", "MinHasher", "shingle_units", "candidate_probability", "agreement"]

SHINGLES = ("auto", "chars", "words")
_NON_WORD = re.compile(r"[\W_]+")
_WORD = re.compile(r"[^\W_]+")
_SEED = 1  # the permutations are fixed (not --seed): signatures are comparable across builds


def shingle_units(text: str, shingle: str = "auto") -> tuple[str, list[str] | str]:
    """("chars", the text without whitespace/punctuation) or ("words", its lower-cased words).
    auto: characters when at least half of the text is CJK, else words."""
    text = text.lower()
    if shingle == "auto":
        shingle = "chars" if cjk_ratio(text) >= 0.5 else "words"
    if shingle == "chars":
        return "chars", _NON_WORD.sub("", text)
    return "words", _WORD.findall(text)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit reaches every output bit (uint64 wraps by design)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def shingle_hashes(text: str, shingle: str = "auto", n: int = 5) -> np.ndarray:
    """The distinct 32-bit hashes of the text's n-gram shingles (uint64 array); a text shorter than
    n units is one shingle, an empty one has none."""
    kind, units = shingle_units(text, shingle)
    if kind == "chars":
        codes = np.frombuffer(units.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    else:
        codes = np.fromiter((xxhash.xxh64_intdigest(w.encode()) for w in units), dtype=np.uint64, count=len(units))
    if not len(codes):
        return codes
    n = min(n, len(codes))
    windows = len(codes) - n + 1
    with np.errstate(over="ignore"):
        h = np.zeros(windows, dtype=np.uint64)
        for k in range(n):  # polynomial hash of each window, mod 2^64
            h = h * np.uint64(0x100000001B3) + _mix(codes[k:k + windows] + np.uint64(k + 1))
        return np.unique(_mix(h) >> np.uint64(32))


class MinHasher:
    """Signatures of num_perm uint32 minima; bands() cuts the first bands x rows of them into LSH keys."""

    def __init__(self, num_perm: int = 128, bands: int = 18, shingle: str = "auto", n: int = 5):
        if not 1 <= bands <= num_perm:
            raise ValueError(f"bands must be between 1 and num_perm ({num_perm}), not {bands}")
        if shingle not in SHINGLES:
            raise ValueError(f"shingle must be one of {SHINGLES}, not {shingle!r}")
        self.num_perm, self.bands, self.rows, self.shingle, self.n = num_perm, bands, num_perm // bands, shingle, n
        rng = np.random.RandomState(_SEED)
        # multiply-shift hashing (Dietzfelbinger et al.): odd 64-bit a, 64-bit b, the high bits of a*x+b
        self.a = rng.randint(0, 1 << 63, size=(num_perm, 1), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self.b = rng.randint(0, 1 << 63, size=(num_perm, 1), dtype=np.uint64) * np.uint64(2)

    def signature(self, text: str) -> np.ndarray | None:
        """uint32[num_perm], or None for a text without shingles (it has no near-duplicates)."""
        return self.signature_of(shingle_hashes(text, self.shingle, self.n))

    def signature_of(self, x: np.ndarray) -> np.ndarray | None:
        """The signature of a set of shingle hashes (uint64 values below 2^32)."""
        if not len(x):
            return None
        step = max(1, (1 << 20) // self.num_perm)  # bounds the (num_perm, step) matrix for long documents
        with np.errstate(over="ignore"):
            for start in range(0, len(x), step):
                y = self.a * x[None, start:start + step]
                y += self.b  # mod 2^64, in place (half the time of a new array)
                part = y.min(axis=1)
                out = part if start == 0 else np.minimum(out, part)
        return (out >> np.uint64(32)).astype(np.uint32)  # the well-mixed high half

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
