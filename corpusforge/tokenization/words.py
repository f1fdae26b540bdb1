"""Token ids plus word boundaries: the per-document record whole-word masking needs.

A word is a span from the segmenter (jieba for Chinese, or any pluggable one). Each token belongs
to the word its first character falls in, so the tokens of one word are always consecutive and
share one index; an [UNK] token carries its source offsets and so keeps its word too.
"""
from __future__ import annotations

from itertools import chain

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


def tokenize_documents(docs: list[list[str]], tokenizer, segmenter) -> list[tuple[list, list]]:
    """For each document (a list of sentences): (input_ids per sentence, word_ids per sentence);
    segmenter None: no segmentation and every word id 0, for builds that never read word ids.

    The rule of token_words, applied to a whole batch at once: the sentences are laid end to end
    (one character apart) so one encode call, one searchsorted and one cumsum serve every
    document; word ids then count up through each document from 0.
    """
    sentences = [s for doc in docs for s in doc]
    n = len(sentences)
    if not n:
        return [([], []) for _ in docs]
    if segmenter is None:
        return _without_words(docs, *tokenizer.encode_ids_flat(sentences))
    ids, starts, counts = tokenizer.encode_flat(sentences)
    lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=n)
    base = np.zeros(n, dtype=np.int64)  # where each sentence starts in the laid-out batch
    np.cumsum(lengths[:-1] + 1, out=base[1:])
    starts_of = getattr(segmenter, "span_starts", None)  # optional: the starts alone, without tuples
    if starts_of:
        starts_per = [starts_of(s) or [0] for s in sentences]
    else:
        starts_per = [[a for a, _ in segmenter.spans(s)] or [0] for s in sentences]
    span_counts = np.fromiter(map(len, starts_per), dtype=np.int64, count=n)
    span_starts = np.fromiter(chain.from_iterable(starts_per), dtype=np.int64,
                              count=int(span_counts.sum())) + np.repeat(base, span_counts)
    first_span = np.zeros(n, dtype=np.int64)
    np.cumsum(span_counts[:-1], out=first_span[1:])
    token_sentence = np.repeat(np.arange(n), counts)
    word = np.searchsorted(span_starts, starts + base[token_sentence], side="right") - 1
    word = np.maximum(word, first_span[token_sentence])  # before a sentence's first span: its first word
    new_word = np.ones(len(word), dtype=bool)
    new_word[1:] = word[1:] != word[:-1]  # sentences and documents never share a span
    words_so_far = np.cumsum(new_word, dtype=np.int64)
    sentence_ends = np.cumsum(counts)
    id_parts = np.split(ids, sentence_ends[:-1])
    word_parts = np.split(words_so_far, sentence_ends[:-1])
    out, i, words_before = [], 0, 0
    for doc in docs:
        j = i + len(doc)
        out.append((id_parts[i:j], [(w - (words_before + 1)).astype(np.int32) for w in word_parts[i:j]]))
        if j > i and sentence_ends[j - 1] > 0:
            words_before = int(words_so_far[sentence_ends[j - 1] - 1])
        i = j
    return out


def _without_words(docs, ids, counts) -> list[tuple[list, list]]:
    """tokenize_documents' output with all word ids 0 (views of one zero array)."""
    ends = np.cumsum(counts)[:-1]
    id_parts, word_parts = np.split(ids, ends), np.split(np.zeros(len(ids), np.int32), ends)
    out, i = [], 0
    for doc in docs:
        out.append((id_parts[i:i + len(doc)], word_parts[i:i + len(doc)]))
        i += len(doc)
    return out
