"""Pretraining instances: tokenized documents -> [CLS] A [SEP] B [SEP] pairs or packed blocks, masked.

A pure function of (documents, InstanceConfig, seed): the pipeline calls it once per random group
("bucket") of documents, which is also where NSP draws its random segments from. Every random
choice comes from a Generator seeded by (seed, document key, copy, purpose), so the instances of a
document do not depend on which worker builds them or in what order.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from corpusforge.objectives.masking import KEEP, MASK, RANDOM, MaskingConfig, mask_tokens
from corpusforge.objectives.packing import pack_sentences
from corpusforge.objectives.pairs import Sentence, sentence_pairs

MODES = ("nsp", "sop", "full-sentences", "doc-sentences")
LABELS = {"nsp": "next_sentence_label", "sop": "sentence_order_label"}


@dataclass(frozen=True)
class InstanceConfig:
    mode: str = "nsp"
    max_seq_length: int = 128
    short_seq_prob: float = 0.1
    dupe_factor: int = 1
    cls_id: int = 101
    sep_id: int = 102
    masking: MaskingConfig = field(default_factory=MaskingConfig)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.max_seq_length < 8:
            raise ValueError(f"max_seq_length {self.max_seq_length} is too short (at least 8)")

    @property
    def content_tokens(self) -> int:
        """Tokens per instance left for text: 3 specials for a pair, 2 for a packed block."""
        return self.max_seq_length - (3 if self.mode in LABELS else 2)


def rng_for(seed: int, key: bytes, *purpose) -> np.random.Generator:
    digest = hashlib.blake2b(key + repr(purpose).encode(), digest_size=16, key=str(seed).encode()[:64]).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little")))


def split_long(sentences: list[Sentence], limit: int, stats: Counter) -> list[Sentence]:
    """Sentences longer than `limit` tokens become consecutive pieces; none is dropped."""
    if all(len(ids) <= limit for ids, _ in sentences):
        return sentences
    out = []
    for ids, words in sentences:
        if len(ids) <= limit:
            out.append((ids, words))
            continue
        stats["sentences_split"] += 1
        out.extend((ids[i:i + limit], words[i:i + limit]) for i in range(0, len(ids), limit))
    return out


@dataclass
class Document:
    key: bytes  # the row's seeded key: its order in the bucket and its randomness
    doc_id: str
    sentences: list  # [(ids, word ids)] numpy arrays


def assemble(parts: list, cls_id: int, sep_id: int) -> tuple[np.ndarray, ...]:
    """[CLS] part1 [SEP] (part2 [SEP]): ids, token types, special mask, word ids (dense, -1 on specials)."""
    pieces_ids, pieces_words, types = [np.array([cls_id])], [np.array([-1])], [np.zeros(1)]
    for t, (ids, words) in enumerate(parts):
        pieces_ids += [ids, np.array([sep_id])]
        pieces_words += [words, np.array([-1])]
        types += [np.full(len(ids) + 1, t)]
    ids = np.concatenate(pieces_ids).astype(np.int64)
    raw_words = np.concatenate(pieces_words).astype(np.int64)
    special = raw_words < 0  # [CLS], [SEP]s and full-sentences' document separators
    new = ~special
    new[1:] &= (raw_words[1:] != raw_words[:-1]) | special[:-1]
    words = np.where(special, -1, np.cumsum(new) - 1)
    return ids, np.concatenate(types).astype(np.uint8), special, words.astype(np.int32)


class InstanceBuilder:
    """Builds the instances of one bucket of documents and tallies their statistics."""

    def __init__(self, cfg: InstanceConfig, seed: int, on_pair=None):
        """on_pair(doc, a, b, label, b_source_doc or None): an audit hook (the tests use it)."""
        self.cfg, self.seed, self.on_pair = cfg, seed, on_pair
        self.stats: Counter = Counter()

    def build(self, docs: list[Document]):
        """Yield (record id, row dict) for every instance of these documents."""
        cfg = self.cfg
        docs = sorted(docs, key=lambda d: d.key)
        for doc in docs:
            doc.sentences = split_long(doc.sentences, cfg.content_tokens, self.stats)
        if cfg.mode in LABELS:
            yield from self._pairs(docs)
        else:
            yield from self._packed(docs)

    def _pairs(self, docs):
        cfg, n = self.cfg, len(docs)
        produced = np.zeros(n, dtype=bool)
        for copy in range(cfg.dupe_factor):
            for d, doc in enumerate(docs):
                rng = rng_for(self.seed, doc.key, copy, "pairs")

                def random_segment(target, rng, d=d):
                    if n < 2:
                        return [], None
                    other = int(rng.integers(n - 1))
                    other += other >= d  # uniform over the other documents of the bucket
                    sentences = docs[other].sentences
                    start = int(rng.integers(len(sentences)))
                    taken, length = [], 0
                    for s in sentences[start:]:
                        taken.append(s)
                        length += len(s[0])
                        if length >= target:
                            break
                    return taken, other

                pairs = sentence_pairs(doc.sentences, cfg.mode, cfg.content_tokens, cfg.short_seq_prob, rng,
                                       random_segment)
                for k, (a, b, label, source, forced) in enumerate(pairs):
                    produced[d] = True
                    self.stats["forced_random"] += forced
                    self.stats["random_from_same_document"] += source == d
                    if self.on_pair:
                        self.on_pair(doc, a, b, label, None if source is None else docs[source])
                    yield self._row(f"{doc.doc_id}/{copy}/{k}", [a, b], label, rng)
        self._count_documents(produced)

    def _packed(self, docs):
        cfg = self.cfg
        blocks = pack_sentences([d.sentences for d in docs], cfg.content_tokens, cfg.mode == "full-sentences",
                                cfg.sep_id)
        self._count_documents(np.array([any(len(s[0]) for s in d.sentences) for d in docs], dtype=bool))
        name = docs[0].doc_id if docs else ""
        for copy in range(cfg.dupe_factor):
            for k, block in enumerate(blocks):
                rng = rng_for(self.seed, docs[0].key, copy, k, "packed")
                yield self._row(f"{name}/{copy}/{k}", [block], None, rng)

    def _count_documents(self, produced: np.ndarray):
        self.stats["kept"] += int(produced.sum())
        self.stats["filtered:no_instance"] += int((~produced).sum())

    def _row(self, record_id: str, parts, label, rng) -> tuple[str, dict]:
        cfg, stats = self.cfg, self.stats
        ids, types, special, words = assemble(parts, cfg.cls_id, cfg.sep_id)
        masked = mask_tokens(ids, special, words, rng, cfg.masking)
        n = len(ids)
        stats["instances"] += 1
        stats["tokens"] += n
        stats[f"length={n}"] += 1
        stats["masked"] += len(masked.positions)
        stats["maskable"] += int((~special).sum())
        stats["shown_mask"] += int((masked.shown_as == MASK).sum())
        stats["shown_random"] += int((masked.shown_as == RANDOM).sum())
        stats["shown_kept"] += int((masked.shown_as == KEEP).sum())
        for w in masked.unit_words:
            stats[f"unit_words={w}"] += 1
        row = {"input_ids": masked.input_ids, "token_type_ids": types, "special_tokens_mask": special.astype(np.uint8),
               "word_ids": words, "masked_lm_positions": masked.positions, "masked_lm_labels": masked.labels}
        if label is not None:
            stats[f"label={label}"] += 1
            row[LABELS[cfg.mode]] = label
        return record_id, row


def instance_statistics(totals: dict, max_seq_length: int) -> dict:
    """The manifest's summary of a pretraining dataset, from the tallies of InstanceBuilder."""
    instances = totals.get("instances", 0)
    if not instances:
        return {"instances": 0}
    lengths = sorted((int(k.split("=")[1]), v) for k, v in totals.items() if k.startswith("length="))
    cum, p50, p90 = 0, None, None
    for length, count in lengths:
        cum += count
        if p50 is None and cum >= 0.5 * instances:
            p50 = length
        if p90 is None and cum >= 0.9 * instances:
            p90 = length
    masked = totals.get("masked", 0)
    out = {
        "instances": instances,
        "tokens": totals.get("tokens", 0),
        "tokens_per_instance": {"mean": round(totals.get("tokens", 0) / instances, 3), "p50": p50, "p90": p90,
                                "share_at_max_length": round(totals.get(f"length={max_seq_length}", 0) / instances, 4)},
        "masked_per_instance": round(masked / instances, 3),
        "masked_share_of_maskable": round(masked / max(1, totals.get("maskable", 0)), 4),
    }
    if masked:
        out["shown_as"] = {k: round(totals.get(f"shown_{k}", 0) / masked, 4) for k in ("mask", "random", "kept")}
    labels = {k.split("=")[1]: v for k, v in totals.items() if k.startswith("label=")}
    if labels:
        out["label_share"] = {k: round(v / instances, 4) for k, v in sorted(labels.items())}
    units = {int(k.split("=")[1]): v for k, v in totals.items() if k.startswith("unit_words=")}
    if units and any(k > 1 for k in units):
        total = sum(units.values())
        out["unit_words"] = {"histogram": {str(k): units[k] for k in sorted(units)},
                             "mean": round(sum(k * v for k, v in units.items()) / total, 3)}
    for key in ("sentences_split", "forced_random", "random_from_same_document"):
        if key in totals:
            out[key] = totals[key]
    return out
