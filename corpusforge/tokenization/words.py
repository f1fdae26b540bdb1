"""Token ids plus word boundaries: the per-document record whole-word masking needs.

A word is a span from the segmenter (jieba for Chinese, or any pluggable one). Each token belongs
to the word its first character falls in, so the tokens of one word are always consecutive and
share one index; an [UNK] token carries its source offsets and so keeps its word too.
"""
from __future__ import annotations

from bisect import bisect_right

import numpy as np


def token_words(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    """For each token (start, end), the index of the word span containing its start.

    A token that starts in whitespace between spans belongs to the span before it (the first
    span if none); so indices never decrease and runs are never interrupted.
    """
    if not spans:
        return [0] * len(offsets)
    starts = [s for s, _ in spans]
    return [max(bisect_right(starts, start) - 1, 0) for start, _ in offsets]


def tokenize_document(sentences: list[str], tokenizer, segmenter) -> tuple[list, list]:
    """(input_ids per sentence, word_ids per sentence); word ids count up through the document."""
    encoded = tokenizer.encode(sentences)
    dtype = tokenizer.id_dtype
    all_ids, all_words = [], []
    next_word = 0
    for sentence, (ids, offsets) in zip(sentences, encoded):
        words = token_words(offsets, segmenter.spans(sentence))
        dense, last = [], None
        for w in words:
            if w != last:
                last = w
                next_word += 1
            dense.append(next_word - 1)
        all_ids.append(np.asarray(ids, dtype=dtype))
        all_words.append(np.asarray(dense, dtype=np.int32))
    return all_ids, all_words
