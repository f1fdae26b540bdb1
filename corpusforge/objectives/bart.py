"""BART's denoising (Lewis et al. 2020): text infilling and sentence permutation, as fairseq's
denoising_dataset.py with BART's settings (mask 0.3, span-poisson, replace-length 1, no random tokens).

Each document's sentences are packed into blocks of at most max_seq_length - 2 tokens (fairseq's
complete_doc blocks; a longer sentence is cut into pieces), framed BOS ... EOS. labels is the block;
input_ids is the block with its sentences in a random order (--permute-sentences, fairseq's
permute_sentences at p = 1) and text infilling: ceil(0.3 x its tokens) are masked in spans whose
lengths are drawn from Poisson(lambda) (fairseq's truncated table) until the budget is reached, the
last one cut to fit; each span becomes one mask token and each zero-length draw inserts one.

One departure from fairseq, on purpose: fairseq draws span starts independently, so spans overlap and
merge and only about 27% of the tokens end up masked at lambda 3; here the spans are placed without
overlap, uniformly at random, so the masked share is BART's stated 30% and every span keeps its length.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from corpusforge.objectives.instances import TokenizedDocument, rng_for, split_long


def poisson_table(lam: float) -> np.ndarray:
    """fairseq's span-length distribution: Poisson(lam) probabilities of 0, 1, ... up to the first below 1e-7."""
    ps, power, factorial = [], 1.0, 1.0
    for k in range(128):
        ps.append(math.exp(-lam) * power / factorial)
        power, factorial = power * lam, factorial * (k + 1)
        if ps[-1] < 1e-7:
            break
    ps = np.array(ps)
    return ps / ps.sum()


def span_lengths(budget: int, table: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Span lengths drawn until they cover the budget, the last cut to fit (zeros are insertions)."""
    lengths = rng.choice(len(table), size=budget, p=table)
    while lengths.sum() < budget:
        lengths = np.concatenate([lengths, rng.choice(len(table), size=budget, p=table)])
    cum = np.cumsum(lengths)
    last = int(np.searchsorted(cum, budget))  # the first draw that reaches the budget
    lengths = lengths[:last + 1].copy()
    lengths[last] = budget - (cum[last - 1] if last else 0)
    return lengths


def infill(block: np.ndarray, mask_ratio: float, table: np.ndarray, mask_id: int, rng: np.random.Generator):
    """Text infilling of BOS block EOS -> (noised ids with BOS/EOS, the span lengths, insertions)."""
    budget = math.ceil(len(block) * mask_ratio)
    lengths = span_lengths(budget, table, rng) if budget else np.zeros(0, np.int64)
    inserts = int((lengths == 0).sum())
    spans = rng.permutation(lengths[lengths > 0])  # the cut last span anywhere
    kept = len(block) - int(spans.sum())
    # kept tokens and spans in a uniformly random order: the spans never overlap
    is_span = np.zeros(kept + len(spans), dtype=bool)
    is_span[rng.choice(len(is_span), size=len(spans), replace=False)] = True
    consumed = np.ones(len(is_span), dtype=np.int64)
    consumed[is_span] = spans
    first = np.cumsum(consumed) - consumed
    out = np.where(is_span, mask_id, block[np.minimum(first, len(block) - 1)]).astype(block.dtype)
    if inserts:  # fairseq's add_insertion_noise: masks at random places between BOS and EOS
        at = np.sort(rng.choice(len(out) + inserts, size=inserts, replace=False))
        out = np.insert(out, at - np.arange(inserts), mask_id)
    return out, spans, inserts


@dataclass(frozen=True)
class BartConfig:
    max_seq_length: int = 512
    mask_ratio: float = 0.3
    poisson_lambda: float = 3.0
    permute_sentences: bool = False
    bos_id: int | None = None
    eos_id: int | None = None
    mask_id: int | None = None
    dupe_factor: int = 1
    mode: str = "bart"

    def __post_init__(self):
        if None in (self.bos_id, self.eos_id, self.mask_id):
            raise ValueError("BART needs the vocabulary's BOS, EOS and mask tokens ([CLS]/<s>, [SEP]/</s>, "
                             "[MASK]/<mask>)")


@dataclass
class BartBatch:
    record_ids: list
    input_ids: np.ndarray
    input_lengths: np.ndarray
    labels: np.ndarray
    label_lengths: np.ndarray

    def table(self, schema: pa.Schema, keys: list) -> pa.Table:
        def lists(values, lengths, name):
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
            return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, schema.field(name).type.value_type))

        return pa.table([lists(self.input_ids, self.input_lengths, "input_ids"),
                         lists(self.labels, self.label_lengths, "labels"), pa.array(keys, pa.binary())],
                        schema=schema)


def pack(sentences: list, limit: int) -> list[list]:
    """Consecutive sentences, as many as fit in limit tokens per block."""
    blocks, current, length = [], [], 0
    for ids in sentences:
        if current and length + len(ids) > limit:
            blocks.append(current)
            current, length = [], 0
        current.append(ids)
        length += len(ids)
    return blocks + ([current] if current else [])


class BartBuilder:
    """BART examples of one bucket's documents, with their statistics (InstanceBuilder's interface)."""

    def __init__(self, cfg: BartConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.stats: Counter = Counter()
        self.table = poisson_table(cfg.poisson_lambda)

    def build(self, docs: list[TokenizedDocument]) -> BartBatch | None:
        cfg, stats = self.cfg, self.stats
        record_ids, inputs, labels = [], [], []
        for doc in sorted(docs, key=lambda d: d.key):
            sentences = [ids for ids, _ in split_long(doc.sentences, cfg.max_seq_length - 2, stats) if len(ids)]
            if not sentences:
                stats["filtered:no_instance"] += 1
                continue
            stats["kept"] += 1
            dtype = sentences[0].dtype
            bos, eos = np.array([cfg.bos_id], dtype), np.array([cfg.eos_id], dtype)
            for copy in range(cfg.dupe_factor):
                rng = rng_for(self.seed, doc.key, copy, "bart")
                for k, block in enumerate(pack(sentences, cfg.max_seq_length - 2)):
                    order = rng.permutation(len(block)) if cfg.permute_sentences else range(len(block))
                    noised, spans, inserts = infill(np.concatenate([block[i] for i in order]), cfg.mask_ratio,
                                                    self.table, cfg.mask_id, rng)
                    inputs.append(np.concatenate([bos, noised, eos]))
                    labels.append(np.concatenate([bos, *block, eos]))
                    record_ids.append(f"{doc.doc_id}/{copy}/{k}")
                    self._tally(len(labels[-1]), len(inputs[-1]), spans, inserts)
        if not record_ids:
            return None
        return BartBatch(record_ids, np.concatenate(inputs), np.array([len(i) for i in inputs]),
                         np.concatenate(labels), np.array([len(t) for t in labels]))

    def _tally(self, target_length: int, input_length: int, spans: np.ndarray, inserts: int):
        stats = self.stats
        stats["instances"] += 1
        stats["instance_tokens"] += target_length
        stats["input_tokens"] += input_length
        stats["masked_tokens"] += int(spans.sum())
        stats["spans"] += len(spans)
        stats["inserts"] += inserts
        for n, count in zip(*np.unique(spans, return_counts=True)):
            stats[f"span_length={n}"] += int(count)


def bart_statistics(totals: dict, max_seq_length: int) -> dict:
    """The manifest's summary of a bart dataset, from the tallies of BartBuilder."""
    examples = totals.get("instances", 0)
    if not examples:
        return {"examples": 0}
    tokens, spans = totals.get("instance_tokens", 0), totals.get("spans", 0)
    histogram = {int(k.split("=")[1]): v for k, v in totals.items() if k.startswith("span_length=")}
    return {
        "examples": examples,
        "target_tokens": tokens,
        "masked_share": round(totals.get("masked_tokens", 0) / (tokens - 2 * examples), 4),  # BOS/EOS never
        "spans_per_example": round(spans / examples, 3),
        "inserted_masks_per_example": round(totals.get("inserts", 0) / examples, 3),
        "input_tokens_per_example": round(totals.get("input_tokens", 0) / examples, 3),
        "target_tokens_per_example": round(tokens / examples, 3),
        "span_lengths": {str(k): histogram[k] for k in sorted(histogram)},
    }
