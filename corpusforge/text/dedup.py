"""Exact-duplicate detection over normalised, sentence-split documents."""

from __future__ import annotations

import hashlib

__all__ = ["content_hash"]


def content_hash(sentences: list[str]) -> bytes:
    """16-byte BLAKE2b digest of the sentences joined with "\\n" (UTF-8).

    Documents that are equal after normalisation and splitting get equal digests; sentence
    boundaries count ("ab" and ["a", "b"] differ).
    """
    return hashlib.blake2b("\n".join(sentences).encode("utf-8"), digest_size=16).digest()
