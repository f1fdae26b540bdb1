"""Transformer-XL streams: a bucket's text as parallel contiguous token streams, cut into segments.

kimiyoung/transformer-xl's data_utils.py (LMOrderedIterator) lays a corpus out for segment recurrence
by "batchify": the token stream is cut into bsz contiguous pieces, column i of every batch is the next
bptt tokens of piece i, so the memory carried from one segment to the next is that piece's own past.
Here copy c of a bucket is its documents in the seeded order of causal.py (`doc EOS doc EOS ...`),
cut into num_streams contiguous streams of equal length (the first `total % num_streams` are one token
longer: data_utils.py drops that remainder, here no token is lost), and each stream into consecutive
segments of max_seq_length tokens (its last one shorter). A row is one segment with its stream_id and
segment_index; stream i's segments in segment_index order concatenate to stream i.

stream_id = (bucket * dupe_factor + copy) * num_streams + i: unique in the dataset, and
stream_id // num_streams names the group of streams a trainer reads side by side (its batch columns
stream_id % num_streams), resetting memory when the group changes. Targets are the next tokens across
segment borders (the target of a segment's last token is the next segment's first, as in data_utils.py).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from corpusforge.objectives.causal import CausalConfig
from corpusforge.objectives.instances import TokenizedDocument, rng_for


@dataclass(frozen=True)
class StreamConfig:
    max_seq_length: int = 128
    num_streams: int = 16
    num_buckets: int = 1  # the pipeline's buckets: a bucket's number is shard_of(its first key, num_buckets)
    eos_id: int | None = None
    dupe_factor: int = 1
    mode: str = "stream"

    def __post_init__(self):
        CausalConfig(max_seq_length=self.max_seq_length, eos_id=self.eos_id)  # the same checks
        if self.num_streams < 1:
            raise ValueError(f"num_streams {self.num_streams} must be at least 1")


@dataclass
class StreamBatch:
    record_ids: list
    lengths: np.ndarray
    input_ids: np.ndarray
    stream_ids: np.ndarray
    segment_index: np.ndarray

    def table(self, schema: pa.Schema, keys: list) -> pa.Table:
        offsets = np.concatenate([[0], np.cumsum(self.lengths)]).astype(np.int32)
        ids = pa.ListArray.from_arrays(pa.array(offsets),
                                       pa.array(self.input_ids, schema.field("input_ids").type.value_type))
        return pa.table([ids, pa.array(self.stream_ids, pa.int64()), pa.array(self.segment_index, pa.int32()),
                         pa.array(keys, pa.binary())], schema=schema)


def cut_streams(total: int, num_streams: int, segment: int):
    """Segments of a stream of `total` tokens split into num_streams contiguous streams of equal length
    (+-1): (segment starts in the stream, lengths, stream number, segment index in its stream)."""
    sizes = np.full(num_streams, total // num_streams, dtype=np.int64)
    sizes[:total % num_streams] += 1
    stream_starts = np.cumsum(sizes) - sizes
    per_stream = -(-sizes // segment)  # ceil; an empty stream has no segment
    stream = np.repeat(np.arange(num_streams), per_stream)
    index = np.arange(int(per_stream.sum())) - np.repeat(np.cumsum(per_stream) - per_stream, per_stream)
    starts = stream_starts[stream] + index * segment
    lengths = np.minimum(segment, stream_starts[stream] + sizes[stream] - starts)
    return starts, lengths, stream, index


class StreamBuilder:
    """The segments of one bucket of documents, with their tallies (InstanceBuilder's interface)."""

    def __init__(self, cfg: StreamConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.stats: Counter = Counter()

    def build(self, docs: list[TokenizedDocument]) -> StreamBatch | None:
        cfg = self.cfg
        docs = sorted(docs, key=lambda d: d.key)
        texts = [np.concatenate([s[0] for s in d.sentences]) if d.sentences else np.zeros(0, np.int64) for d in docs]
        kept = [t for t in texts if len(t)]
        self.stats["kept"] += len(kept)
        self.stats["filtered:no_instance"] += len(texts) - len(kept)
        if not kept:
            return None
        eos = np.array([cfg.eos_id], dtype=np.result_type(*(t.dtype for t in kept)))
        bucket = int.from_bytes(docs[0].key[:8], "big") % cfg.num_buckets  # its bucket, as beam.sink.shard_of
        record_ids, ids, lengths, stream_ids, index = [], [], [], [], []
        for copy in range(cfg.dupe_factor):
            order = rng_for(self.seed, docs[0].key, copy, "order").permutation(len(kept))  # causal's order
            text = np.concatenate([part for i in order for part in (kept[i], eos)])
            starts, seg_lengths, stream, seg_index = cut_streams(len(text), cfg.num_streams, cfg.max_seq_length)
            ids.append(text)  # the segments tile the text in order: it is their concatenation
            lengths.append(seg_lengths)
            stream_ids.append((bucket * cfg.dupe_factor + copy) * cfg.num_streams + stream)
            index.append(seg_index)
            record_ids += [f"{docs[0].doc_id}/{copy}/{s}/{k}" for s, k in zip(stream, seg_index)]
        batch = StreamBatch(record_ids, np.concatenate(lengths), np.concatenate(ids), np.concatenate(stream_ids),
                            np.concatenate(index))
        self.stats["instances"] += len(batch.lengths)
        self.stats["instance_tokens"] += int(batch.lengths.sum())
        self.stats["full_segments"] += int((batch.lengths == cfg.max_seq_length).sum())
        self.stats["streams"] += len(np.unique(batch.stream_ids))
        return batch


def stream_statistics(totals: dict, max_seq_length: int) -> dict:
    """The manifest's summary of a stream dataset, from the tallies of StreamBuilder."""
    segments = totals.get("instances", 0)
    if not segments:
        return {"segments": 0}
    tokens, streams = totals.get("instance_tokens", 0), totals.get("streams", 0)
    return {"segments": segments, "streams": streams, "tokens": tokens,
            "tokens_per_stream": round(tokens / streams, 3),
            "full_segment_share": round(totals.get("full_segments", 0) / segments, 4)}
