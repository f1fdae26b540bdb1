"""Beam glue for word2vec's training corpus (the subsampling itself is corpusforge.objectives.word2vec).

One pipeline (build_word2vec): the vocabulary step shared with cooccurrence (cooccurrence.build_vocabulary:
segmented chunks, TMP/vocab.txt), then EncodeSequences: each chunk's segments -> in-vocabulary ids -> subsampled,
one row per segment and copy, keyed by a seeded hash of (segment key, copy) -> WriteDataset's shards.
"""
from __future__ import annotations

import hashlib

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems

from corpusforge.beam.cooccurrence import VOCAB_FILE, build_vocabulary, read_chunk, read_vocab_file, vocab_lut
from corpusforge.beam.counting import COUNTS, CountingDoFn
from corpusforge.beam.sink import KEY, WriteDataset, seeded_key
from corpusforge.objectives import word2vec as w2v

SEQUENCES_SCHEMA = pa.schema([pa.field("ids", pa.list_(pa.int32()), nullable=False)])


class EncodeSequences(CountingDoFn):
    """A segments chunk -> rows {"ids": the segment's subsampled vocabulary ids} for each copy; empty segments
    (nothing kept) are counted, not written."""

    def __init__(self, vocab_path: str, sample: float, copies: int, seed: int):
        self.vocab_path, self.sample, self.copies, self.seed = vocab_path, sample, copies, seed

    def setup(self):
        self.index = None

    def process(self, path, layout):
        if self.index is None:  # once per worker: the file is written earlier in this pipeline (layout follows it)
            vocab = read_vocab_file(self.vocab_path)
            self.index = {w: i for i, (w, _) in enumerate(vocab)}
            self.keep = w2v.keep_probabilities([c for _, c in vocab], self.sample)
        dictionary, codes, lengths, keys = read_chunk(path, keys=True)
        ids = vocab_lut(self.index, dictionary)[codes]
        for key, seg in zip(keys, np.split(ids, np.cumsum(lengths)[:-1])):
            seg = seg[seg >= 0]
            self.count("tokens_in_vocab", len(seg))
            for copy in range(self.copies):
                kept = w2v.subsample(seg, self.keep, self.seed, key, copy)
                if not len(kept):
                    self.count("empty_sequences")
                    continue
                self.count("sequence_tokens", len(kept))
                yield {"ids": kept.astype(np.int32).tolist(), KEY: seeded_key(self.seed, f"{key}\0{copy}")}


def dataset_counts(counts: dict) -> dict:
    """A bundle's counts as the manifest takes them: every segmented document is kept (its rows may be empty after
    subsampling; they are counted as empty_sequences)."""
    out = dict(counts)
    if "documents" in out:
        out["kept"] = out["documents"]
    return out


def vocab_entry(layout, tmp: str) -> dict:
    """The manifest's entry of TMP/vocab.txt, with what a trainer needs before reading it (size, total count)."""
    with FileSystems.open(f"{tmp}/{VOCAB_FILE}") as f:
        data = f.read()
    return {"file": VOCAB_FILE, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "words": layout["vocab_size"], "total_count": sum(c for _, c in read_vocab_file(f"{tmp}/{VOCAB_FILE}"))}


def build_word2vec(pipeline, docs: dict, spec, tmp: str, output: str, num_shards: int, min_count: int,
                   max_vocab: int, sample: float, copies: int, seed: int, params: dict, extra: dict):
    """Document rows -> build_vocabulary -> EncodeSequences -> WriteDataset (shards, vocab.txt, manifest)."""
    segmented, layout = build_vocabulary(pipeline, docs, spec, tmp, num_shards, min_count, max_vocab, None)
    encoded = (segmented.chunks
               | "SpreadChunks" >> beam.Reshuffle()
               | "EncodeSequences" >> beam.ParDo(EncodeSequences(f"{tmp}/{VOCAB_FILE}", sample, copies, seed),
                                                 pvalue.AsSingleton(layout)).with_outputs(COUNTS, main="rows"))
    counts = ((docs["counts"], segmented[COUNTS], encoded[COUNTS])
              | "AllCounts" >> beam.Flatten()
              | "DatasetCounts" >> beam.Map(dataset_counts))
    files = layout | "VocabEntry" >> beam.Map(vocab_entry, tmp)
    return {"rows": encoded.rows, "rejects": docs["rejects"], "counts": counts, "files": files} | "Write" >> \
        WriteDataset(output, "word2vec", SEQUENCES_SCHEMA, num_shards, params, extra=extra, rows_are_records=False,
                     tmp=tmp)
