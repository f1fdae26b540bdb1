"""RoBERTa's FULL-SENTENCES and DOC-SENTENCES packing: contiguous sentences up to a maximum length.

full-sentences fills each block to max_tokens, crossing document boundaries with a separator
token between documents; doc-sentences never crosses a boundary, so a document's last block may
be short (kept; its length is the length of its input_ids). Sentences already fit in max_tokens.
"""
from __future__ import annotations

import numpy as np

from corpusforge.objectives.pairs import Part, Sentence, concat


def pack_sentences(documents: list[list[Sentence]], max_tokens: int, cross_documents: bool,
                   sep_id: int) -> list[Part]:
    """Blocks of (ids, word ids); between documents (full-sentences only) a sep_id with word id -1."""
    blocks: list[Part] = []
    current: list[Sentence] = []
    length = 0
    sep = (np.array([sep_id], dtype=np.int64), np.array([-1], dtype=np.int64))

    def flush():
        nonlocal current, length
        while current and current[-1] is sep:
            current.pop()
        if current:
            blocks.append(concat(current))
        current, length = [], 0

    for doc in documents:
        if current:
            if cross_documents:
                if length + 1 < max_tokens:
                    current.append(sep)
                    length += 1
                else:
                    flush()
            else:
                flush()
        for sentence in doc:
            if length + len(sentence[0]) > max_tokens:
                flush()
            current.append(sentence)
            length += len(sentence[0])
    flush()
    return blocks
