"""Pretraining instances: tokenized documents -> [CLS] A [SEP] B [SEP] pairs or packed blocks, masked.

A pure function of (documents, InstanceConfig, seed): the pipeline calls it once per random group
("bucket") of documents, which is also where NSP draws its random segments from. Every random
choice comes from a Generator seeded by (seed, the bucket's first document key, copy or purpose):
a bucket's members are fixed by the seed, so its instances do not depend on which worker builds
them or in what order.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from corpusforge.objectives.electra import electra_examples, electra_statistics
from corpusforge.objectives.masking import KEEP, MASK, RANDOM, MaskingConfig, mask_batch
from corpusforge.objectives.packing import pack_sentences
from corpusforge.objectives.pairs import Draws, Sentence, random_run, sentence_pairs

MODES = ("nsp", "sop", "full-sentences", "doc-sentences", "electra")
LABELS = {"nsp": "next_sentence_label", "sop": "sentence_order_label"}


@dataclass(frozen=True)
class InstanceConfig:
    mode: str = "nsp"
    max_seq_length: int = 128
    short_seq_prob: float = 0.1
    dupe_factor: int = 1
    cls_id: int | None = None  # the tokenizer's [CLS] and [SEP]
    sep_id: int | None = None
    masking: MaskingConfig | None = None

    def __post_init__(self):
        if self.cls_id is None or self.sep_id is None or self.masking is None:
            raise ValueError("instances need the tokenizer's [CLS] and [SEP] ids and a MaskingConfig")
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
class TokenizedDocument:
    """A document of tokenized sentences, as instances are built from it (a raw record read from a corpus is
    corpusforge.sources.formats.Document)."""

    key: bytes  # the row's seeded key: its order in the bucket and its randomness
    doc_id: str
    sentences: list  # [(ids, word ids)] numpy arrays
    source: str = ""  # the raw layout it was read as (translation pairs: sources.formats.PAIRS)


def assemble(instances: list[list], cls_id: int, sep_id: int) -> tuple[np.ndarray, ...]:
    """Each instance [CLS] part1 [SEP] (part2 [SEP]), laid end to end: (ids, token types, special
    mask, word ids dense per instance with -1 on specials, lengths). A part is (ids, word ids)."""
    parts = [part for inst in instances for part in inst]
    part_len = np.fromiter((len(p[0]) for p in parts), dtype=np.int64, count=len(parts))
    ends = np.cumsum(part_len)
    empty = np.zeros(0, dtype=np.int64)
    ids = np.concatenate([p[0] for p in parts]) if parts else empty
    words = np.concatenate([p[1] for p in parts]) if parts else empty
    return assemble_ranges(ids, words, ends - part_len, ends, np.fromiter(map(len, instances), dtype=np.int64,
                                                                       count=len(instances)), cls_id, sep_id)


def assemble_ranges(ids: np.ndarray, words: np.ndarray, part_start: np.ndarray, part_end: np.ndarray,
                    n_parts: np.ndarray, cls_id: int, sep_id: int) -> tuple[np.ndarray, ...]:
    """assemble with the parts given as token ranges [part_start, part_end) of ids and words, the
    parts of instance i following those of instance i - 1 (n_parts[i] of them).

    Each instance is a row of runs ([CLS], part 1, [SEP], part 2, [SEP]); every output token is
    gathered from its run's source (ids and words with a [CLS] and a [SEP] appended): a few numpy
    passes over the output, no Python work per instance or part. Word ids are renumbered densely
    per instance from a running count of word starts in the source."""
    n, n_tokens = len(n_parts), len(ids)
    part_start, part_end = np.asarray(part_start, dtype=np.int64), np.asarray(part_end, dtype=np.int64)
    part_len = part_end - part_start
    instance = np.repeat(np.arange(n), n_parts)  # the instance of each part
    first_part = np.cumsum(n_parts) - n_parts  # index of each instance's first part
    t = np.arange(len(part_len)) - first_part[instance]  # each part's number inside its instance
    # word starts: a word id >= 0 unlike its predecessor's (or following a separator, word id < 0);
    # the source gets a [CLS] and a [SEP] appended (at n_tokens, n_tokens + 1)
    special_src = np.concatenate([words < 0, [True, True]])
    new = ~special_src
    new[1:n_tokens] &= (words[1:] != words[:-1]) | special_src[:n_tokens - 1]
    starts_upto = np.cumsum(new, dtype=np.int32)  # word starts in source[0..j]
    nonempty = part_len > 0
    lead = ~special_src[part_start] & nonempty  # the part's first token starts a word
    base = starts_upto[part_start]
    part_words = np.where(nonempty, starts_upto[part_end - 1] - base, 0) + lead
    words_before = np.cumsum(part_words) - part_words
    words_before -= words_before[first_part[instance]]  # words of the instance's earlier parts
    # the runs: [CLS] of instance i at 2 * first_part[i] + i, part p at 2 p + instance[p] + 1, its [SEP] next
    cls_at, part_at = 2 * first_part + np.arange(n), 2 * np.arange(len(part_len)) + instance + 1
    runs = n + 2 * len(part_len)
    run_len, run_src = np.ones(runs, dtype=np.int64), np.full(runs, n_tokens + 1, dtype=np.int64)  # a [SEP]
    run_type, run_words = np.zeros(runs, dtype=np.uint8), np.full(runs, -1, dtype=np.int32)
    run_src[cls_at] = n_tokens
    run_len[part_at], run_src[part_at] = part_len, part_start
    run_type[part_at] = run_type[part_at + 1] = t
    run_words[part_at] = words_before + lead - base - 1
    run_out = np.cumsum(run_len) - run_len
    total = int(run_len.sum())
    source = np.repeat(run_src - run_out, run_len)
    source += np.arange(total)
    ext_ids = np.concatenate([ids, np.array([cls_id, sep_id], dtype=ids.dtype)])
    special = special_src[source]
    count = starts_upto[source]
    count += np.repeat(run_words, run_len)
    lengths = np.bincount(instance, weights=part_len, minlength=n).astype(np.int64) + n_parts + 1
    return (ext_ids[source], np.repeat(run_type, run_len), special,
            np.where(special, np.int32(-1), count), lengths)


@dataclass
class InstanceBatch:
    """The instances of one bucket, columnar: flat token arrays and per-instance lengths."""

    record_ids: list
    lengths: np.ndarray
    input_ids: np.ndarray
    token_type_ids: np.ndarray
    special_tokens_mask: np.ndarray
    word_ids: np.ndarray
    labels: np.ndarray | None
    masked_counts: np.ndarray
    masked_lm_positions: np.ndarray
    masked_lm_labels: np.ndarray

    def rows(self, label_name: str | None = None):
        """(record id, row dict) per instance: the readable form (tests, small tools)."""
        off = np.concatenate([[0], np.cumsum(self.lengths)])
        moff = np.concatenate([[0], np.cumsum(self.masked_counts)])
        for i, record_id in enumerate(self.record_ids):
            a, b, c, d = off[i], off[i + 1], moff[i], moff[i + 1]
            row = {"input_ids": self.input_ids[a:b], "token_type_ids": self.token_type_ids[a:b],
                   "special_tokens_mask": self.special_tokens_mask[a:b], "word_ids": self.word_ids[a:b],
                   "masked_lm_positions": self.masked_lm_positions[c:d], "masked_lm_labels": self.masked_lm_labels[c:d]}
            if self.labels is not None:
                row[label_name or "label"] = int(self.labels[i])
            yield record_id, row


class InstanceBuilder:
    """Builds the instances of one bucket of documents and tallies their statistics."""

    def __init__(self, cfg: InstanceConfig, seed: int, on_pair=None):
        """on_pair(doc, a, b, label, b_source_doc or None): an audit hook (the tests use it)."""
        self.cfg, self.seed, self.on_pair = cfg, seed, on_pair
        self.stats: Counter = Counter()

    def build(self, docs: list[TokenizedDocument]) -> InstanceBatch | None:
        """All instances of these documents (None if there are none); the builder's randomness for
        masking is seeded by the bucket's first key, so it too is fixed by the input and the seed."""
        cfg = self.cfg
        docs = sorted(docs, key=lambda d: d.key)
        if cfg.mode != "electra":  # ELECTRA cuts a long sentence at the maximum, as its script does
            docs = [TokenizedDocument(d.key, d.doc_id, split_long(d.sentences, cfg.content_tokens, self.stats))
                    for d in docs]  # new Documents: the caller's stay as they were
        record_ids, labels = [], []
        pairs = cfg.mode in LABELS
        if pairs:
            assembled = self._pairs(docs, record_ids, labels)
        elif cfg.mode == "electra":
            assembled = self._electra(docs, record_ids)
        else:
            assembled = assemble(self._packed(docs, record_ids), cfg.cls_id, cfg.sep_id)
        if not record_ids:
            return None
        ids, types, special, words, lengths = assembled
        masked = mask_batch(ids, special, words, lengths, rng_for(self.seed, docs[0].key, "mask"), cfg.masking)
        batch = InstanceBatch(record_ids, lengths, masked.input_ids, types, special.astype(np.uint8), words,
                              np.array(labels, dtype=np.int8) if pairs else None, masked.counts, masked.positions,
                              masked.labels)
        self._tally(batch, masked)
        return batch

    def _pairs(self, docs, record_ids, labels):
        """NSP / SOP pairs of every copy, assembled. The bucket's sentences are laid end to end in one
        token array once; pairs are ranges of it. One Generator per copy of the bucket, seeded by the
        bucket's first key, so the pairs are fixed by the input and the seed."""
        cfg, n = self.cfg, len(docs)
        sentences = [s for doc in docs for s in doc.sentences]
        starts = [0, *accumulate(len(s[0]) for s in sentences)]
        first = [0, *accumulate(len(doc.sentences) for doc in docs)]  # doc d is sentences first[d]..first[d+1]-1
        empty = np.zeros(0, dtype=np.int64)
        ids = np.concatenate([s[0] for s in sentences]) if sentences else empty
        words = np.concatenate([s[1] for s in sentences]) if sentences else empty
        produced, forced_random, same_document = np.zeros(n, dtype=bool), 0, 0
        ranges: list[int] = []
        for copy in range(cfg.dupe_factor):
            draws = Draws(rng_for(self.seed, docs[0].key, copy, "pairs"))
            for d, doc in enumerate(docs):
                def random_segment(target, draws, d=d):
                    if n < 2:
                        return None
                    other = draws.below(n - 1)
                    other += other >= d  # uniform over the other documents of the bucket
                    return (*random_run(starts, first[other], first[other + 1], target, draws), other)

                pairs = sentence_pairs(starts, first[d], first[d + 1], cfg.mode, cfg.content_tokens,
                                       cfg.short_seq_prob, draws, random_segment)
                prefix, k = f"{doc.doc_id}/{copy}/", -1
                for k, (a0, a1, b0, b1, label, source, forced) in enumerate(pairs):
                    forced_random += forced
                    same_document += source == d
                    if self.on_pair:
                        self.on_pair(doc, (ids[a0:a1], words[a0:a1]), (ids[b0:b1], words[b0:b1]), label,
                                     None if source is None else docs[source])
                    record_ids.append(prefix + str(k))
                    ranges += (a0, a1, b0, b1)
                    labels.append(label)
                produced[d] |= k >= 0
        self.stats["forced_random"] += forced_random
        self.stats["random_from_same_document"] += same_document
        self._count_documents(produced)
        ranges = np.array(ranges, dtype=np.int64).reshape(-1, 2)
        return assemble_ranges(ids, words, ranges[:, 0], ranges[:, 1], np.full(len(record_ids), 2, dtype=np.int64),
                               cfg.cls_id, cfg.sep_id)

    def _electra(self, docs, record_ids):
        """ELECTRA's examples of every copy, assembled: the bucket's sentences lie end to end once, an
        example's segments are gathered from it (a segment's sentences need not be adjacent)."""
        cfg, stats = self.cfg, self.stats
        sentences = [s for doc in docs for s in doc.sentences]
        ends = list(accumulate(len(s[0]) for s in sentences))
        bounds = list(zip([0, *ends[:-1]], ends))
        first = [0, *accumulate(len(doc.sentences) for doc in docs)]
        documents = [bounds[first[d]:first[d + 1]] for d in range(len(docs))]
        empty = np.zeros(0, dtype=np.int64)
        ids = np.concatenate([s[0] for s in sentences]) if sentences else empty
        words = np.concatenate([s[1] for s in sentences]) if sentences else empty
        produced = np.zeros(len(docs), dtype=bool)
        ranges, segment_tokens, n_parts = [], [], []
        for copy in range(cfg.dupe_factor):
            draws = Draws(rng_for(self.seed, docs[0].key, copy, "electra"))
            count = [0] * len(docs)
            for ex in electra_examples(documents, cfg.max_seq_length, draws.chance,
                                       lambda a, b: a + draws.below(b - a + 1)):
                record_ids.append(f"{docs[ex.document].doc_id}/{copy}/{count[ex.document]}")
                count[ex.document] += 1
                produced[ex.document] = True
                n_first = sum(b - a for a, b in ex.first)
                ranges += ex.first + ex.second
                segment_tokens.append(n_first)
                if ex.second:
                    segment_tokens.append(sum(b - a for a, b in ex.second))
                n_parts.append(1 + bool(ex.second))
                stats["random_target"] += ex.random_target
                stats["single_segment_draws"] += ex.single_draw
                stats["cut_tokens"] += ex.cut_tokens
                stats[f"first_segment_tokens={n_first}" if ex.second else "one_segment"] += 1
        self._count_documents(produced)
        # the gathered token array: each segment's ranges laid end to end, one part per segment
        ranges = np.array(ranges, dtype=np.int64).reshape(-1, 2)
        lengths = ranges[:, 1] - ranges[:, 0]
        order = np.repeat(ranges[:, 0] - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
        part_end = np.cumsum(np.array(segment_tokens, dtype=np.int64))
        return assemble_ranges(ids[order], words[order], part_end - segment_tokens, part_end,
                               np.array(n_parts, dtype=np.int64), cfg.cls_id, cfg.sep_id)

    def _packed(self, docs, record_ids):
        cfg = self.cfg
        blocks = pack_sentences([d.sentences for d in docs], cfg.content_tokens, cfg.mode == "full-sentences",
                                cfg.sep_id)
        self._count_documents(np.array([any(len(s[0]) for s in d.sentences) for d in docs], dtype=bool))
        name = docs[0].doc_id if docs else ""
        parts = []
        for copy in range(cfg.dupe_factor):
            for k, block in enumerate(blocks):
                record_ids.append(f"{name}/{copy}/{k}")
                parts.append([block])
        return parts

    def _count_documents(self, produced: np.ndarray):
        self.stats["kept"] += int(produced.sum())
        self.stats["filtered:no_instance"] += int((~produced).sum())

    def _tally(self, batch: InstanceBatch, masked):
        stats = self.stats
        stats["instances"] += len(batch.lengths)
        stats["instance_tokens"] += int(batch.lengths.sum())  # not "tokens": the tokenizer counts its own
        for length, count in zip(*np.unique(batch.lengths, return_counts=True)):
            stats[f"length={length}"] += int(count)
        stats["masked"] += len(masked.positions)
        stats["maskable"] += int(len(batch.special_tokens_mask) - batch.special_tokens_mask.sum())
        for name, kind in (("mask", MASK), ("random", RANDOM), ("kept", KEEP)):
            stats[f"shown_{name}"] += int((masked.shown_as == kind).sum())
        for w, count in zip(*np.unique(np.asarray(masked.unit_words, dtype=np.int64), return_counts=True)):
            stats[f"unit_words={w}"] += int(count)
        if batch.labels is not None:
            for label, count in zip(*np.unique(batch.labels, return_counts=True)):
                stats[f"label={label}"] += int(count)


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
    masked, tokens = totals.get("masked", 0), totals.get("instance_tokens", 0)
    out = {
        "instances": instances,
        "tokens": tokens,
        "tokens_per_instance": {"mean": round(tokens / instances, 3), "p50": p50, "p90": p90,
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
    if "one_segment" in totals or any(k.startswith("first_segment_tokens=") for k in totals):
        out["electra"] = electra_statistics(totals, instances)
    for key in ("sentences_split", "forced_random", "random_from_same_document"):
        if key in totals:
            out[key] = totals[key]
    return out
