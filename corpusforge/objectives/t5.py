"""T5 span corruption (Raffel et al. 2020), as the T5 code's span_corruption preprocessor does it.

Copy c of a bucket is its documents in an order drawn from (seed, the bucket's first key, c), laid
end to end with no separator (T5's reduce_concat_tokens) and cut into raw blocks of raw_length
tokens (split_tokens); only a bucket copy's last block is shorter (kept, so no token is lost). Each
block gets random_spans_noise_mask: round(length * noise_density) noise tokens in
round(noise / mean_noise_span_length) spans, the noise and non-noise span lengths each a uniformly
random segmentation into non-empty parts, interleaved starting with non-noise (so the block ends in
noise). Sentinel i marks the i-th span:

    input_ids  the non-noise tokens, each noise span replaced by its sentinel, then EOS
    labels     each sentinel followed by its noise span, then EOS

raw_length is the largest block whose inputs fit max_seq_length (random_spans_helper); with T5's
settings the inputs are exactly max_seq_length (512 inputs: 568 raw tokens, 114 targets).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from corpusforge.objectives.instances import TokenizedDocument, rng_for

# sentinel names, in order of preference: T5's <extra_id_N> (SentencePiece control pieces of `build vocab
# -m unigram --extra-ids`, or T5 tokenizers' added tokens), else BERT's reserved [unusedN] slots; the
# i-th sentinel is the one numbered i-th in ascending N
SENTINEL_NAMES = (re.compile(r"<extra_id_(\d+)>"), re.compile(r"\[unused(\d+)\]"))


def sentinel_ids(vocab: dict) -> list[int]:
    """The vocabulary's sentinel ids, first span's first ([] when it has none)."""
    for pattern in SENTINEL_NAMES:
        numbered = sorted((int(m.group(1)), i) for t, i in vocab.items() if (m := pattern.fullmatch(t)))
        if numbered:
            return [i for _, i in numbered]
    return []


def span_counts(length: int, noise_density: float, mean_noise_span_length: float) -> tuple[int, int]:
    """(noise tokens, noise spans) of random_spans_noise_mask for a block of this length, its guards included
    (at least one noise and one non-noise token, at least one span, a length of at least 2)."""
    length = max(length, 2)
    noise = min(max(int(round(length * noise_density)), 1), length - 1)
    return noise, max(int(round(noise / mean_noise_span_length)), 1)


def t5_lengths(max_seq_length: int, noise_density: float, mean_noise_span_length: float) -> tuple[int, int, int]:
    """(raw block length, inputs length, targets length), EOS included: random_spans_helper with one sentinel
    per span on either side, counted as the mask counts them."""
    def lengths(raw):
        noise, spans = span_counts(raw, noise_density, mean_noise_span_length)
        return raw - noise + spans + 1, noise + spans + 1

    raw = 1
    while lengths(raw + 1)[0] <= max_seq_length:  # the inputs never shrink as the block grows
        raw += 1
    return (raw, *lengths(raw))


def random_segmentation(num_items: int, num_segments: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """count random partitions of num_items into num_segments non-empty parts, (count, num_segments) lengths:
    T5's _random_segmentation (a shuffled indicator of segment starts over the num_items - 1 gaps)."""
    gaps = np.arange(num_items - 1) < num_segments - 1
    first = np.ones((count, num_items), dtype=bool)
    first[:, 1:] = rng.permuted(np.broadcast_to(gaps, (count, num_items - 1)), axis=1)
    starts = np.flatnonzero(first)  # row r starts at r * num_items, where row r - 1's last segment ends
    return np.diff(np.append(starts, count * num_items)).reshape(count, num_segments)


def random_spans_noise_mask(length: int, noise_density: float, mean_noise_span_length: float,
                            rng: np.random.Generator, count: int = 1) -> np.ndarray:
    """(count, length) noise masks: T5's random_spans_noise_mask (random_roll off, its default)."""
    padded = max(length, 2)
    noise, spans = span_counts(length, noise_density, mean_noise_span_length)
    noise_lengths = random_segmentation(noise, spans, rng, count)
    nonnoise_lengths = random_segmentation(padded - noise, spans, rng, count)
    interleaved = np.stack([nonnoise_lengths, noise_lengths], axis=2).reshape(-1)
    span_number = np.repeat(np.tile(np.arange(2 * spans), count), interleaved)
    return (span_number % 2 == 1).reshape(count, padded)[:, :length]


def replace_spans(tokens: np.ndarray, mask: np.ndarray, lengths: np.ndarray, sentinels: np.ndarray, eos: int):
    """T5's noise_span_to_unique_sentinel over blocks of these lengths laid end to end: each run of masked
    tokens of a block becomes that block's next sentinel, and each block gets EOS. (flat ids, lengths)."""
    starts = np.cumsum(lengths) - lengths
    block = np.repeat(np.arange(len(lengths)), lengths)
    prev = np.empty_like(mask)
    prev[1:] = mask[:-1]
    prev[starts] = False  # a block's first token follows nothing
    first = mask & ~prev
    count = np.cumsum(first)
    nth = count - (count[starts] - first[starts])[block] - 1  # the span's number inside its block
    ids = np.where(first, sentinels[np.maximum(nth, 0)], tokens)
    keep = ~(mask & prev)
    kept = np.bincount(block[keep], minlength=len(lengths))
    return np.insert(ids[keep], np.cumsum(kept), np.array(eos, ids.dtype)), kept + 1


@dataclass(frozen=True)
class T5Config:
    max_seq_length: int = 512
    noise_density: float = 0.15
    mean_noise_span_length: float = 3.0
    eos_id: int | None = None
    sentinel_ids: tuple = field(default=(), repr=False)
    dupe_factor: int = 1
    mode: str = "t5"

    def __post_init__(self):
        if self.eos_id is None:
            raise ValueError("span corruption needs the tokenizer's end-of-sequence id")
        raw, inputs, _ = self.lengths
        if inputs != self.max_seq_length:
            raise ValueError(f"no raw block gives exactly {self.max_seq_length} inputs at noise density "
                             f"{self.noise_density} and mean span length {self.mean_noise_span_length}; "
                             f"choose another --max-seq-length")
        spans = span_counts(raw, self.noise_density, self.mean_noise_span_length)[1]
        if spans > len(self.sentinel_ids):
            raise ValueError(f"a block of {self.max_seq_length} inputs has {spans} noise spans, but the vocabulary "
                             f"has {len(self.sentinel_ids)} sentinel tokens (<extra_id_N> or [unusedN]); train one "
                             f"with `corpusforge build vocab -m unigram --extra-ids {max(100, spans)}`")
        if self.eos_id in self.sentinel_ids[:spans]:
            raise ValueError(f"the end-of-sequence id {self.eos_id} is one of the sentinel tokens; pass another "
                             f"--eos-token")

    @cached_property
    def lengths(self) -> tuple[int, int, int]:
        """(raw block length, inputs length, targets length) of a full block."""
        return t5_lengths(self.max_seq_length, self.noise_density, self.mean_noise_span_length)


@dataclass
class T5Batch:
    """The examples of one bucket, columnar: flat ids and per-example lengths."""

    record_ids: list
    input_ids: np.ndarray
    input_lengths: np.ndarray
    labels: np.ndarray
    label_lengths: np.ndarray

    def table(self, schema: pa.Schema, keys: list) -> pa.Table:
        """The Arrow table of the t5 schema plus the row keys (schema's last field)."""
        def lists(values, lengths, name):
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
            return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, schema.field(name).type.value_type))

        return pa.table([lists(self.input_ids, self.input_lengths, "input_ids"),
                         lists(self.labels, self.label_lengths, "labels"), pa.array(keys, pa.binary())],
                        schema=schema)


class T5Builder:
    """Builds the span-corruption examples of one bucket of documents and tallies their statistics
    (InstanceBuilder's interface, so the bucket machinery runs either)."""

    def __init__(self, cfg: T5Config, seed: int):
        self.cfg, self.seed = cfg, seed
        self.stats: Counter = Counter()

    def build(self, docs: list[TokenizedDocument]) -> T5Batch | None:
        cfg = self.cfg
        docs = sorted(docs, key=lambda d: d.key)
        texts = [np.concatenate([s[0] for s in d.sentences]) if d.sentences else np.zeros(0, np.int64) for d in docs]
        kept = [t for t in texts if len(t)]
        self.stats["kept"] += len(kept)
        self.stats["filtered:no_instance"] += len(texts) - len(kept)
        if not kept:
            return None
        dtype = np.result_type(*(t.dtype for t in kept))
        sentinels = np.array(cfg.sentinel_ids, dtype=dtype)
        raw_length = cfg.lengths[0]
        record_ids, parts = [], []
        for copy in range(cfg.dupe_factor):
            order = rng_for(self.seed, docs[0].key, copy, "order").permutation(len(kept))
            stream = np.concatenate([kept[i] for i in order])
            lengths = np.minimum(raw_length, len(stream) - np.arange(0, len(stream), raw_length))
            rng = rng_for(self.seed, docs[0].key, copy, "noise")
            full = int((lengths == raw_length).sum())
            masks = [random_spans_noise_mask(raw_length, cfg.noise_density, cfg.mean_noise_span_length, rng,
                                             full).reshape(-1)]
            if full < len(lengths):  # the copy's last, shorter block
                masks.append(random_spans_noise_mask(int(lengths[-1]), cfg.noise_density,
                                                     cfg.mean_noise_span_length, rng)[0])
            mask = np.concatenate(masks)
            parts.append((*replace_spans(stream, mask, lengths, sentinels, cfg.eos_id),
                          *replace_spans(stream, ~mask, lengths, sentinels, cfg.eos_id)))
            self._tally(lengths, mask)
            record_ids += [f"{docs[0].doc_id}/{copy}/{k}" for k in range(len(lengths))]
        inputs, input_lengths, labels, label_lengths = (np.concatenate(p) for p in zip(*parts))
        return T5Batch(record_ids, inputs, input_lengths, labels, label_lengths)

    def _tally(self, lengths: np.ndarray, mask: np.ndarray):
        stats = self.stats
        starts = np.cumsum(lengths) - lengths
        span_starts = mask.copy()
        span_starts[1:] &= ~mask[:-1]
        span_starts[starts] = mask[starts]
        stats["instances"] += len(lengths)
        stats["instance_tokens"] += int(lengths.sum())  # raw tokens
        stats["full_blocks"] += int((lengths == self.cfg.lengths[0]).sum())
        stats["noise_tokens"] += int(mask.sum())
        stats["noise_spans"] += int(span_starts.sum())


def t5_statistics(totals: dict, max_seq_length: int) -> dict:
    """The manifest's summary of a t5 dataset, from the tallies of T5Builder."""
    examples = totals.get("instances", 0)
    if not examples:
        return {"examples": 0}
    raw, noise, spans = totals.get("instance_tokens", 0), totals.get("noise_tokens", 0), totals.get("noise_spans", 0)
    return {
        "examples": examples,
        "raw_tokens": raw,
        "full_block_share": round(totals.get("full_blocks", 0) / examples, 4),
        "noise_share": round(noise / raw, 4),
        "spans_per_example": round(spans / examples, 3),
        "mean_span_length": round(noise / spans, 3) if spans else 0.0,
        # inputs: the non-noise tokens, a sentinel per span, EOS; targets: a sentinel per span, the noise, EOS
        "input_tokens_per_example": round((raw - noise + spans) / examples + 1, 3),
        "target_tokens_per_example": round((noise + spans) / examples + 1, 3),
    }
