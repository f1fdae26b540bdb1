"""ELMo bidirectional-LM examples: one row per sentence, forward and backward targets, ELMo character ids.

Units are the tokenizer's tokens: the softmax of both directions needs ids of a closed vocabulary, and
the tokenizer's is the one the dataset has (bert-base-chinese: one token per Chinese character). The
segmenter's words are kept as word_ids so a model can pool a word's tokens.

A sentence w_1..w_n (longer ones are cut into pieces of max_seq_length - 2 tokens) becomes
input_ids = BOS w_1 .. w_n EOS, BOS and EOS the vocabulary's [CLS] and [SEP] (ELMo's <S> and </S>);
the targets are aligned 1:1 with it as in AllenNLP's LanguageModel: next_ids[t] = input_ids[t + 1]
(forward), previous_ids[t] = input_ids[t - 1] (backward), and the pad id where there is none (the last
position forward, the first backward). bilm-tf's reversed sentences EOS w_n .. w_1 BOS predict the same.

char_ids: 50 per token, AllenNLP's ELMoCharacterMapper: the token's bytes (at most 48) between begin- and
end-of-word markers, padded, every value + 1 (0 is left for padded tokens of a batch); BOS and EOS are its
beginning/end_of_sentence_characters. A token's bytes are the text it stands for (spellings()): a WordPiece
entry without its "##" continuation prefix, a byte-level BPE entry's bytes (GPT-2's byte-to-unicode map
inverted: a piece of a character is that piece), SentencePiece's "▁" a space and its <0xHH> pieces a byte;
special tokens as they are spelled.
Row order is the output's seeded shuffle, so sentences come shuffled, as ELMo trains on them.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import json
import re

import numpy as np
import pyarrow as pa

from corpusforge.objectives.instances import TokenizedDocument, split_long

MAX_WORD_LENGTH = 50
BOS_CHAR, EOS_CHAR, BOW_CHAR, EOW_CHAR, PAD_CHAR = 256, 257, 258, 259, 260  # ELMoCharacterMapper, before its + 1
BYTE_PIECE = re.compile(r"<0x([0-9A-F]{2})>")


def gpt2_byte_decoder() -> dict[str, int]:
    """GPT-2's bytes_to_unicode, inverted: the printable stand-in of each byte -> the byte."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("\xa1"), ord("\xac") + 1), *range(ord("\xae"), ord("\xff") + 1)]
    shifted = [b for b in range(256) if b not in kept]
    return {**{chr(b): b for b in kept}, **{chr(256 + n): b for n, b in enumerate(shifted)}}


def component_types(node) -> set:
    """The "type"s of a tokenizer.json component and of those nested in it (Sequence)."""
    if isinstance(node, dict):
        return {node.get("type")} | set().union(*map(component_types, node.values()))
    if isinstance(node, list):
        return set().union(set(), *map(component_types, node))
    return set()


def spellings(tokenizer) -> tuple[bytes, ...]:
    """The bytes each id of a TextTokenizer stands for in the text (see the module's docstring)."""
    if tokenizer.kind == "wordpiece":  # vocab.txt: id = line number
        return tuple((t[2:] if t.startswith("##") and len(t) > 2 else t).encode() for t in tokenizer._lines)
    by_id = [""] * tokenizer.vocab_size
    for token, i in tokenizer.vocab.items():
        by_id[i] = token
    if tokenizer.kind == "sentencepiece":
        sp = tokenizer.impl
        return tuple(bytes([int(BYTE_PIECE.fullmatch(t).group(1), 16)]) if sp.is_byte(i) else
                     (t if sp.is_control(i) or sp.is_unknown(i) else t.replace("\u2581", " ")).encode()
                     for i, t in enumerate(by_id))
    spec = json.loads(tokenizer.data)
    model, types = spec.get("model") or {}, component_types([spec.get("pre_tokenizer"), spec.get("decoder")])
    prefix = model.get("continuing_subword_prefix") if model.get("type") == "WordPiece" else None
    added = {t["content"] for t in spec.get("added_tokens") or []}
    byte_decoder = gpt2_byte_decoder() if "ByteLevel" in types else None

    def spell(token: str) -> bytes:
        if token in added:
            return token.encode()
        if prefix and token.startswith(prefix) and len(token) > len(prefix):
            token = token[len(prefix):]
        if byte_decoder is not None:
            return bytes(byte_decoder[c] for c in token) if all(c in byte_decoder for c in token) else token.encode()
        if model.get("byte_fallback") and BYTE_PIECE.fullmatch(token):
            return bytes([int(token[3:5], 16)])
        return (token.replace("\u2581", " ") if "Metaspace" in types else token).encode()

    return tuple(map(spell, by_id))


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
    spellings: tuple = ()  # the bytes each id stands for (spellings()), for the character ids
    dupe_factor: int = 1
    mode: str = "bilm"

    def __post_init__(self):
        if None in (self.bos_id, self.eos_id, self.pad_id) or not self.spellings:
            raise ValueError("bilm examples need the vocabulary's [CLS], [SEP] and [PAD] tokens and its entries")
        if self.max_seq_length < 3:
            raise ValueError(f"max_seq_length {self.max_seq_length} is too short (at least 3)")

    def char_table(self) -> np.ndarray:
        """(vocabulary size + 2, 50) uint16: each id's character ids, then BOS's and EOS's."""
        rows = [word_char_ids(t) for t in self.spellings]
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

    def build(self, docs: list[TokenizedDocument]) -> BilmBatch | None:
        cfg = self.cfg
        if self._table is None:
            self._table = cfg.char_table()
        bos_row, eos_row = len(cfg.spellings), len(cfg.spellings) + 1
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
