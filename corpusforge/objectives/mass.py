"""MASS's masked sequence to sequence (Song et al. 2019), as microsoft/MASS masks a segment.

Each document's sentences are packed into segments of at most max_seq_length - 1 tokens (BART's
packing; a longer sentence is cut into pieces), then EOS. A segment of length L gets one contiguous
fragment of k = max(1, round(mask_ratio x L)) tokens (MASS's mask_interval, word_mass 0.5) starting where
MASS's mask_start puts it: with probability 0.2 at the segment's first position, 0.2 at its last possible
one (L - k: the fragment ends with the EOS), else uniformly among the others, [0, L - k). Then:

    input_ids             the segment, the fragment's tokens shown 80/10/10 as mask / random / themselves
                          (MASS's mask_word)
    decoder_input_ids     the fragment shifted right: the token before it (BOS at the segment's start),
                          then the fragment but its last token
    labels                the fragment
    decoder_position_ids  the fragment's positions in the segment, start .. start + k - 1

MASS feeds its decoder the fragment alone with these positions, not a full-length input whose other
positions are masked, to save about half the decoder's work; the full-length form is recoverable from these
columns (a mask everywhere but decoder_position_ids).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from corpusforge.objectives.bart import pack
from corpusforge.objectives.instances import TokenizedDocument, rng_for, split_long

FIRST, LAST = 0.2, 0.2  # MASS's mask_start: p >= 0.8 the first position, 0.6 <= p < 0.8 the last


def fragment(length: int, mask_ratio: float, rng: np.random.Generator) -> tuple[int, int]:
    """(start, length) of the fragment of a segment of this length (at least 2)."""
    k = max(1, int(round(length * mask_ratio)))
    last = length - k
    p = rng.random()
    if p >= 1 - FIRST:
        return 0, k
    if p >= 1 - FIRST - LAST:
        return last, k
    return int(rng.integers(0, max(last, 1))), k


@dataclass(frozen=True)
class MassConfig:
    max_seq_length: int = 512
    mask_ratio: float = 0.5
    bos_id: int | None = None
    eos_id: int | None = None
    mask_id: int | None = None
    random_ids: np.ndarray | None = field(default=None, repr=False, compare=False)  # random replacements
    dupe_factor: int = 1
    mode: str = "mass"

    def __post_init__(self):
        if None in (self.bos_id, self.eos_id, self.mask_id) or self.random_ids is None or not len(self.random_ids):
            raise ValueError("MASS needs the vocabulary's BOS, EOS and mask tokens ([CLS]/<s>, [SEP]/</s>, "
                             "[MASK]/<mask>) and tokens besides them")
        if not 0 < self.mask_ratio < 1:
            raise ValueError(f"the fragment's share {self.mask_ratio} must lie strictly between 0 and 1")


@dataclass
class ListBatch:
    """Examples of one bucket, columnar: per list column its flat values and per-example lengths, per scalar
    column a list; batch.table(schema, keys) is the Arrow table (schema's last field: the row keys)."""

    record_ids: list
    lists: dict  # column -> (flat values, lengths)
    scalars: dict = field(default_factory=dict)  # column -> values

    def table(self, schema: pa.Schema, keys: list) -> pa.Table:
        columns = []
        for f in schema:
            if f.name in self.lists:
                values, lengths = self.lists[f.name]
                offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
                columns.append(pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, f.type.value_type)))
            elif f.name in self.scalars:
                columns.append(pa.array(self.scalars[f.name], f.type))
            else:
                columns.append(pa.array(keys, pa.binary()))
        return pa.table(columns, schema=schema)


def list_batch(record_ids: list, rows: dict, scalars: dict | None = None) -> ListBatch:
    """A ListBatch from per-example arrays: rows maps a column to its list of arrays."""
    return ListBatch(record_ids, {name: (np.concatenate(parts), np.array([len(p) for p in parts]))
                                  for name, parts in rows.items()}, scalars or {})


class MassBuilder:
    """MASS examples of one bucket's documents, with their statistics (InstanceBuilder's interface)."""

    def __init__(self, cfg: MassConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.stats: Counter = Counter()

    def build(self, docs: list[TokenizedDocument]) -> ListBatch | None:
        cfg, stats = self.cfg, self.stats
        record_ids, rows = [], {"input_ids": [], "decoder_input_ids": [], "labels": [], "decoder_position_ids": []}
        for doc in sorted(docs, key=lambda d: d.key):
            sentences = [ids for ids, _ in split_long(doc.sentences, cfg.max_seq_length - 1, stats) if len(ids)]
            if not sentences:
                stats["filtered:no_instance"] += 1
                continue
            stats["kept"] += 1
            dtype = sentences[0].dtype
            bos, eos = np.array([cfg.bos_id], dtype), np.array([cfg.eos_id], dtype)
            for copy in range(cfg.dupe_factor):
                rng = rng_for(self.seed, doc.key, copy, "mass")
                for k, block in enumerate(pack(sentences, cfg.max_seq_length - 1)):
                    segment = np.concatenate([*block, eos])
                    start, n = fragment(len(segment), cfg.mask_ratio, rng)
                    end = start + n
                    shown = rng.random(n)
                    inputs = segment.copy()
                    inputs[start:end][shown < 0.8] = cfg.mask_id
                    randoms = np.flatnonzero((shown >= 0.8) & (shown < 0.9))
                    inputs[start + randoms] = cfg.random_ids[rng.integers(len(cfg.random_ids), size=len(randoms))]
                    rows["input_ids"].append(inputs)
                    rows["decoder_input_ids"].append(np.concatenate([bos, segment[:-1]])[start:end])
                    rows["labels"].append(segment[start:end])
                    rows["decoder_position_ids"].append(np.arange(start, end, dtype=np.int32))
                    record_ids.append(f"{doc.doc_id}/{copy}/{k}")
                    self._tally(len(segment), start, n, shown)
        return list_batch(record_ids, rows) if record_ids else None

    def _tally(self, length: int, start: int, n: int, shown: np.ndarray):
        stats = self.stats
        stats["instances"] += 1
        stats["instance_tokens"] += length
        stats["fragment_tokens"] += n
        stats["starts_first"] += start == 0
        stats["starts_last"] += start == length - n
        stats["shown_mask"] += int((shown < 0.8).sum())
        stats["shown_random"] += int(((shown >= 0.8) & (shown < 0.9)).sum())


def mass_statistics(totals: dict, max_seq_length: int) -> dict:
    """The manifest's summary of a mass dataset, from the tallies of MassBuilder."""
    examples = totals.get("instances", 0)
    if not examples:
        return {"examples": 0}
    tokens, fragment_tokens = totals.get("instance_tokens", 0), totals.get("fragment_tokens", 0)
    return {
        "examples": examples,
        "segment_tokens": tokens,
        "fragment_share": round(fragment_tokens / tokens, 4),
        "input_tokens_per_example": round(tokens / examples, 3),
        "target_tokens_per_example": round(fragment_tokens / examples, 3),
        "starts_first_share": round(totals.get("starts_first", 0) / examples, 4),
        "starts_last_share": round(totals.get("starts_last", 0) / examples, 4),
        "shown_as_mask_share": round(totals.get("shown_mask", 0) / fragment_tokens, 4),
        "shown_as_random_share": round(totals.get("shown_random", 0) / fragment_tokens, 4),
    }
