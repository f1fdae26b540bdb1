"""GPT causal-LM packing: a bucket's documents, each followed by an end-of-document token, cut into blocks.

cross_document (the default, GPT-2 / Megatron / run_clm's group_texts): copy c of a bucket is its
documents in an order drawn from (seed, the bucket's first key, c), laid end to end as one token
stream `doc EOS doc EOS ...` and cut into blocks of exactly max_seq_length tokens; only the bucket
copy's last block is shorter (it is kept, so no token is lost). Without cross_document each document
`doc EOS` is cut on its own and its short last block is kept with its length; nothing is padded.

document_boundaries of a block: the positions p > 0 where a document starts inside it (the token
after an EOS), where a trainer resets attention and position ids (Megatron's reset_attention_mask /
reset_position_ids). Labels are the inputs; the trainer shifts them.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from corpusforge.objectives.instances import TokenizedDocument, rng_for

# the end-of-document token where a vocabulary has one, in this order (GPT-2 / Llama 3, Llama 2 / T5 /
# SentencePiece, others); else [SEP] (the `sep` role) ends a document
EOS_NAMES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "[EOS]")


def resolve_eos(requested: str | None, vocab: dict | None, special: dict, vocab_size: int) -> int:
    """The EOS id: --eos-token as an id or a token of the vocabulary, else the first of EOS_NAMES the
    vocabulary has, else its [SEP]. vocab is None when the tokenizer file is not at hand (then only
    an id can be given). Raises ValueError with one sentence."""
    if requested is not None and requested.isdigit():
        if int(requested) >= vocab_size:
            raise ValueError(f"--eos-token {requested} is not an id of the vocabulary (it has {vocab_size} entries)")
        return int(requested)
    if vocab is None:
        raise ValueError("the tokenizer file named in the tokenized dataset's manifest is missing or changed, so "
                         "the EOS token cannot be looked up; pass --eos-token with its id")
    if requested is not None:
        if requested not in vocab:
            raise ValueError(f"--eos-token {requested!r} is not in the vocabulary")
        return vocab[requested]
    for name in EOS_NAMES:
        if name in vocab:
            return vocab[name]
    if "sep" in special:
        return special["sep"]
    raise ValueError("the vocabulary has no end-of-document token (" + ", ".join(EOS_NAMES) + " or [SEP]); "
                     "pass --eos-token")


@dataclass(frozen=True)
class CausalConfig:
    max_seq_length: int = 1024
    eos_id: int | None = None
    cross_document: bool = True
    dupe_factor: int = 1
    mode: str = "causal"

    def __post_init__(self):
        if self.eos_id is None:
            raise ValueError("causal blocks need the tokenizer's end-of-document id")
        if self.max_seq_length < 2:
            raise ValueError(f"max_seq_length {self.max_seq_length} is too short (at least 2)")


@dataclass
class CausalBatch:
    """The blocks of one bucket, columnar: flat arrays and per-block lengths."""

    record_ids: list
    lengths: np.ndarray
    input_ids: np.ndarray
    boundary_counts: np.ndarray
    document_boundaries: np.ndarray

    def rows(self):
        off, boff = np.cumsum(self.lengths) - self.lengths, np.cumsum(self.boundary_counts) - self.boundary_counts
        for i, record_id in enumerate(self.record_ids):
            yield record_id, {"input_ids": self.input_ids[off[i]:off[i] + self.lengths[i]],
                              "document_boundaries": self.document_boundaries[boff[i]:boff[i] + self.boundary_counts[i]]}

    def table(self, schema: pa.Schema, keys: list) -> pa.Table:
        """The Arrow table of the causal schema plus the row keys (schema's last field)."""
        def lists(values, lengths, name):
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
            return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, schema.field(name).type.value_type))

        return pa.table([lists(self.input_ids, self.lengths, "input_ids"),
                         lists(self.document_boundaries, self.boundary_counts, "document_boundaries"),
                         pa.array(keys, pa.binary())], schema=schema)


def cut_blocks(doc_lengths: np.ndarray, block: int, cross_document: bool):
    """Blocks of a stream of documents of these lengths (EOS included) laid end to end:
    (block starts in the stream, block lengths, boundary positions inside blocks, boundaries per block)."""
    total = int(doc_lengths.sum())
    doc_starts = np.cumsum(doc_lengths) - doc_lengths
    if cross_document:
        starts = np.arange(0, total, block, dtype=np.int64)
        lengths = np.minimum(block, total - starts)
        inner = doc_starts[(doc_starts % block) != 0]  # a document starting a block is no boundary
        which = inner // block
        return starts, lengths, (inner % block).astype(np.int32), np.bincount(which, minlength=len(starts))
    per_doc = -(-doc_lengths // block)  # ceil
    first = np.repeat(doc_starts, per_doc)
    k = np.arange(int(per_doc.sum())) - np.repeat(np.cumsum(per_doc) - per_doc, per_doc)  # block number in its doc
    starts = first + k * block
    lengths = np.minimum(block, np.repeat(doc_starts + doc_lengths, per_doc) - starts)
    return starts, lengths, np.zeros(0, dtype=np.int32), np.zeros(len(starts), dtype=np.int64)


class CausalBuilder:
    """Builds the blocks of one bucket of documents and tallies their statistics (InstanceBuilder's
    interface, so the bucket machinery runs either)."""

    def __init__(self, cfg: CausalConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.stats: Counter = Counter()

    def build(self, docs: list[TokenizedDocument]) -> CausalBatch | None:
        cfg = self.cfg
        docs = sorted(docs, key=lambda d: d.key)
        texts = [np.concatenate([s[0] for s in d.sentences]) if d.sentences else np.zeros(0, np.int64) for d in docs]
        kept = [t for t in texts if len(t)]  # an empty document gives no block (not even an EOS)
        self.stats["kept"] += len(kept)
        self.stats["filtered:no_instance"] += len(texts) - len(kept)
        if not kept:
            return None
        dtype = np.result_type(*(t.dtype for t in kept))
        eos = np.array([cfg.eos_id], dtype=dtype)
        name = docs[0].doc_id
        record_ids, ids, lengths, counts, bounds = [], [], [], [], []
        for copy in range(cfg.dupe_factor):
            order = rng_for(self.seed, docs[0].key, copy, "order").permutation(len(kept))
            stream = np.concatenate([part for i in order for part in (kept[i], eos)])
            doc_lengths = np.fromiter((len(kept[i]) + 1 for i in order), dtype=np.int64, count=len(kept))
            starts, block_lengths, inner, per_block = cut_blocks(doc_lengths, cfg.max_seq_length, cfg.cross_document)
            ids.append(stream)  # the blocks tile the stream in order: the stream is their concatenation
            lengths.append(block_lengths)
            counts.append(per_block)
            bounds.append(inner)
            record_ids += [f"{name}/{copy}/{k}" for k in range(len(starts))]
        batch = CausalBatch(record_ids, np.concatenate(lengths), np.concatenate(ids), np.concatenate(counts),
                            np.concatenate(bounds))
        self._tally(batch)
        return batch

    def _tally(self, batch: CausalBatch):
        stats = self.stats
        stats["instances"] += len(batch.lengths)
        stats["instance_tokens"] += int(batch.lengths.sum())
        stats["full_blocks"] += int((batch.lengths == self.cfg.max_seq_length).sum())
        for n, count in zip(*np.unique(batch.boundary_counts + 1, return_counts=True)):
            stats[f"documents_per_block={n}"] += int(count)


def causal_statistics(totals: dict, max_seq_length: int) -> dict:
    """The manifest's summary of a causal dataset, from the tallies of CausalBuilder."""
    blocks = totals.get("instances", 0)
    if not blocks:
        return {"blocks": 0}
    per_block = {int(k.split("=")[1]): v for k, v in totals.items() if k.startswith("documents_per_block=")}
    tokens = totals.get("instance_tokens", 0)
    cum, p50 = 0, None
    for k in sorted(per_block):
        cum += per_block[k]
        if p50 is None and cum >= 0.5 * blocks:
            p50 = k
    return {
        "blocks": blocks,
        "tokens": tokens,
        "tokens_per_block": round(tokens / blocks, 3),
        "full_block_share": round(totals.get("full_blocks", 0) / blocks, 4),
        "documents_per_block": {"mean": round(sum(k * v for k, v in per_block.items()) / blocks, 3),
                                "p50": p50, "max": max(per_block)},
    }
