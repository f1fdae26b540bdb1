"""Token ids plus word boundaries: the per-document record whole-word masking needs.

A word is a span from the segmenter (jieba for Chinese, or any pluggable one). Each token belongs
to the word its first character falls in, so the tokens of one word are always consecutive and
share one index; an [UNK] token carries its source offsets and so keeps its word too.
"""
from __future__ import annotations

import numpy as np


def token_words(offsets, spans: list[tuple[int, int]]) -> np.ndarray:
    """For each token (start, end), the index of the word span containing its start.

    A token that starts in whitespace between spans belongs to the span before it (the first
    span if none); so indices never decrease and runs are never interrupted.
    """
    token_starts = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)[:, 0]
    if not spans:
        return np.zeros(len(token_starts), dtype=np.int64)
    span_starts = np.fromiter((s for s, _ in spans), dtype=np.int64, count=len(spans))
    return np.maximum(np.searchsorted(span_starts, token_starts, side="right") - 1, 0)


def tokenize_document(sentences: list[str], tokenizer, segmenter) -> tuple[list, list]:
    """(input_ids per sentence, word_ids per sentence); word ids count up through the document."""
    dtype = tokenizer.id_dtype
    all_ids, all_words = [], []
    next_word = 0
    for sentence, (ids, offsets) in zip(sentences, tokenizer.encode(sentences)):
        words = token_words(offsets, segmenter.spans(sentence))
        starts_word = np.ones(len(words), dtype=bool)  # True where a token begins a new word
        starts_word[1:] = words[1:] != words[:-1]
        dense = np.cumsum(starts_word, dtype=np.int32) + np.int32(next_word - 1)
        next_word += int(starts_word.sum())
        all_ids.append(np.asarray(ids, dtype=dtype))
        all_words.append(dense)
    return all_ids, all_words
