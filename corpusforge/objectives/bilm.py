"""ELMo bidirectional-LM examples: one row per sentence, forward and backward targets, ELMo character ids.

Units are the tokenizer's tokens: the softmax of both directions needs ids of a closed vocabulary, and
the tokenizer's is the one the dataset has (bert-base-chinese: one token per Chinese character). The
segmenter's words are kept as word_ids so a model can pool a word's tokens.

A sentence w_1..w_n (longer ones are cut into pieces of max_seq_length - 2 tokens) becomes
input_ids = BOS w_1 .. w_n EOS, BOS and EOS the vocabulary's [CLS] and [SEP] (ELMo's <S> and </S>);
the targets are aligned 1:1 with it as in AllenNLP's LanguageModel: next_ids[t] = input_ids[t + 1]
(forward), previous_ids[t] = input_ids[t - 1] (backward), and the pad id where there is none (the last
position forward, the first backward). bilm-tf's reversed sentences EOS w_n .. w_1 BOS predict the same.

char_ids: 50 per token, AllenNLP's ELMoCharacterMapper: the token's UTF-8 bytes (at most 48) between
begin- and end-of-word markers, padded, every value + 1 (0 is left for padded tokens of a batch); BOS
and EOS are its beginning/end_of_sentence_characters. A token is spelled as in the vocabulary, without
WordPiece's "##" continuation prefix and SentencePiece's "▁" word-start mark.
Row order is the output's seeded shuffle, so sentences come shuffled, as ELMo trains on them.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from corpusforge.objectives.instances import Document, split_long

MAX_WORD_LENGTH = 50
BOS_CHAR, EOS_CHAR, BOW_CHAR, EOW_CHAR, PAD_CHAR = 256, 257, 258, 259, 260  # ELMoCharacterMapper, before its + 1


def surface(token: str) -> str:
    """The characters a vocabulary entry stands for."""
    if token.startswith("##") and len(token) > 2:
        return token[2:]
    return token[1:] if token.startswith("\u2581") and len(token) > 1 else token


def word_char_ids(word: bytes) -> list[int]:
    ids = [PAD_CHAR] * MAX_WORD_LENGTH
    word = word[:MAX_WORD_LENGTH - 2]
    ids[0], ids[1:len(word) + 1], ids[len(word) + 1] = BOW_CHAR, list(word), EOW_CHAR
    return [c + 1 for c in ids]


def sentence_char_ids(marker: int) -> list[int]:
    ids = [PAD_CHAR] * MAX_WORD_LENGTH
    ids[0], ids[1], ids[2] = BOW_CHAR, marker, EOW_CHAR
    return [c + 1 for c in ids]


@dataclass(frozen=True)
class BilmConfig:
    max_seq_length: int = 128
    bos_id: int | None = None
    eos_id: int | None = None
    pad_id: int | None = None
    tokens: tuple = ()  # the vocabulary's entries by id, for the character ids
    dupe_factor: int = 1
    mode: str = "bilm"

    def __post_init__(self):
        if None in (self.bos_id, self.eos_id, self.pad_id) or not self.tokens:
            raise ValueError("bilm examples need the vocabulary's [CLS], [SEP] and [PAD] tokens and its entries")
        if self.max_seq_length < 3:
            raise ValueError(f"max_seq_length {self.max_seq_length} is too short (at least 3)")

    def char_table(self) -> np.ndarray:
        """(vocabulary size + 2, 50) uint16: each id's character ids, then BOS's and EOS's."""
        rows = [word_char_ids(surface(t).encode("utf-8", "ignore")) for t in self.tokens]
        return np.array(rows + [sentence_char_ids(BOS_CHAR), sentence_char_ids(EOS_CHAR)], dtype=np.uint16)


@dataclass
class BilmBatch:
    record_ids: list
    lengths: np.ndarray
    input_ids: np.ndarray
    next_ids: np.ndarray
    previous_ids: np.ndarray
    word_ids: np.ndarray
    char_rows: np.ndarray  # per token, a row of the char table
    table_: np.ndarray

    def table(self, schema: pa.Schema, keys: list) -> pa.Table:
        offsets = pa.array(np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int32))

        def lists(values, name):
            return pa.ListArray.from_arrays(offsets, pa.array(values, schema.field(name).type.value_type))

        chars = self.table_[self.char_rows].reshape(-1)
        per_token = pa.ListArray.from_arrays(pa.array(np.arange(0, len(chars) + 1, MAX_WORD_LENGTH, dtype=np.int32)),
                                             pa.array(chars, pa.uint16()))
        return pa.table([lists(self.input_ids, "input_ids"), lists(self.next_ids, "next_ids"),
                         lists(self.previous_ids, "previous_ids"), lists(self.word_ids, "word_ids"),
                         pa.ListArray.from_arrays(offsets, per_token), pa.array(keys, pa.binary())], schema=schema)


class BilmBuilder:
    """The sentence examples of one bucket of documents, with their tallies (InstanceBuilder's interface)."""

    def __init__(self, cfg: BilmConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.stats: Counter = Counter()
        self._table = None

    def build(self, docs: list[Document]) -> BilmBatch | None:
        cfg = self.cfg
        if self._table is None:
            self._table = cfg.char_table()
        bos_row, eos_row = len(cfg.tokens), len(cfg.tokens) + 1
        record_ids, ids, words, rows = [], [], [], []
        for doc in sorted(docs, key=lambda d: d.key):
            sentences = [s for s in split_long(doc.sentences, cfg.max_seq_length - 2, self.stats) if len(s[0])]
            self.stats["kept" if sentences else "filtered:no_instance"] += 1
            for k, (sent, word) in enumerate(sentences):
                ids.append(np.concatenate([[cfg.bos_id], sent, [cfg.eos_id]]))
                words.append(np.concatenate([[-1], word - word[0], [-1]]))
                rows.append(np.concatenate([[bos_row], sent, [eos_row]]))
                record_ids.append(f"{doc.doc_id}/{k}")
        if not ids:
            return None
        lengths = np.array([len(x) for x in ids], dtype=np.int64)
        flat = np.concatenate(ids).astype(np.int64)
        first = np.cumsum(lengths) - lengths
        last = first + lengths - 1
        next_ids, previous_ids = np.roll(flat, -1), np.roll(flat, 1)
        next_ids[last], previous_ids[first] = cfg.pad_id, cfg.pad_id
        n = cfg.dupe_factor  # copies are identical rows at other places in the shuffle (more epochs of ELMo)
        batch = BilmBatch([f"{r}/{c}" for c in range(n) for r in record_ids], np.tile(lengths, n), np.tile(flat, n),
                          np.tile(next_ids, n), np.tile(previous_ids, n), np.tile(np.concatenate(words), n),
                          np.tile(np.concatenate(rows).astype(np.int64), n), self._table)
        self.stats["instances"] += len(batch.lengths)
        self.stats["instance_tokens"] += int(batch.lengths.sum())
        for length, count in zip(*np.unique(batch.lengths, return_counts=True)):
            self.stats[f"length={length}"] += int(count)
        return batch


def bilm_statistics(totals: dict, max_seq_length: int) -> dict:
    """The manifest's summary of a bilm dataset, from the tallies of BilmBuilder."""
    sentences = totals.get("instances", 0)
    if not sentences:
        return {"sentences": 0}
    lengths = sorted((int(k.split("=")[1]), v) for k, v in totals.items() if k.startswith("length="))
    cum, p50 = 0, None
    for length, count in lengths:
        cum += count
        if p50 is None and cum >= 0.5 * sentences:
            p50 = length
    tokens = totals.get("instance_tokens", 0)
    return {"sentences": sentences, "tokens": tokens,
            "tokens_per_sentence": {"mean": round(tokens / sentences, 3), "p50": p50, "max": lengths[-1][0]},
            "sentences_split": totals.get("sentences_split", 0)}
