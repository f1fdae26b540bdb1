"""Beam glue for GloVe co-occurrence counting (the counting itself is corpusforge.objectives.cooccurrence).

Two passes, like GloVe's vocab_count and cooccur:
1. CountUnigrams: document rows -> {unit: count} per bundle -> summed -> vocab.txt;
2. CountCooccurrences: document rows -> partial matrices aggregated inside the bundle (bounded by
   --memory-mb), spilled as sorted Arrow files per row range; only file names are shuffled; one
   MergeMatrixShard per row range sums its spills exactly (int64) and writes the shard sorted by (row, col).
Spill bytes are the data a distributed runner moves between the two steps: they are counted
("shuffle_bytes", also a Beam metric) and reported per input token.
"""
from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from corpusforge.beam.counting import COUNTS, CountingDoFn, MergeCounts, Progress, log
from corpusforge.beam.sink import GROUP_BYTES, KEY, REJECTS_SCHEMA, WriteShards, input_accounting, open_arrow, \
    reject_row, write_jsonl
from corpusforge.dataset.writer import commit, remove_tree, shard_name, write_bytes, write_metadata, write_shard
from corpusforge.objectives import cooccurrence as co

MATRIX_SCHEMA = pa.schema([pa.field("row", pa.int32(), nullable=False), pa.field("col", pa.int32(), nullable=False),
                           pa.field("value", pa.float64(), nullable=False)])
SPILL_SCHEMA = pa.schema([pa.field("key", pa.int64()), pa.field("units", pa.int64())])
MATRIX_BATCH_ROWS = 1 << 16  # rows per record batch in a matrix shard (fixed: shard bytes are reproducible)
VOCAB_FILE = "vocab.txt"


@dataclass(frozen=True)
class UnitSpec:
    """What a unit is: "words" (the segmenter's words), "chars", or "tokens" (whitespace-separated, as GloVe)."""

    kind: str = "words"
    segmenter: object = None
    windows: str = "document"  # or "sentence"

    def segments_fn(self):
        if self.kind == "tokens":
            units = co.glove_tokens
        else:
            getattr(self.segmenter, "load", lambda: None)()
            units = co.segmenter_units(self.segmenter)
        return lambda sentences: co.document_segments(sentences, units, self.windows)


class _FirstOfEqual(beam.CombineFn):
    """Equal documents (same content key) -> the one with the smallest key, and how many there were."""

    def create_accumulator(self):
        return None, 0

    def add_input(self, acc, row):
        best, n = acc
        return (row if best is None or row[KEY] < best[KEY] else best), n + 1

    def merge_accumulators(self, accs):
        best, n = None, 0
        for b, m in accs:
            if b is not None and (best is None or b[KEY] < best[KEY]):
                best = b
            n += m
        return best, n

    def extract_output(self, acc):
        return acc


class DropDuplicates(beam.PTransform):
    """Document rows keyed by content (--dedup) -> one row per content, and {"filtered:duplicate": n} counts."""

    def expand(self, rows):
        firsts = (rows
                  | "ByContent" >> beam.Map(lambda r: (r[KEY][:GROUP_BYTES], r))
                  | "FirstOfEqual" >> beam.CombinePerKey(_FirstOfEqual())
                  | "Values" >> beam.Values())
        kept = firsts | "Kept" >> beam.Map(lambda acc: acc[0])
        counts = (firsts
                  | "Duplicates" >> beam.Filter(lambda acc: acc[1] > 1)
                  | "DuplicateCounts" >> beam.Map(lambda acc: {"filtered:duplicate": acc[1] - 1}))
        return kept, counts


class CountUnigrams(beam.DoFn):
    """Document rows -> one {unit: count} dict per bundle (Zipf: few distinct units; one element, not one per unit,
    because Beam's per-element cost would dominate)."""

    def __init__(self, spec: UnitSpec):
        self.spec = spec

    def setup(self):
        self.segments = self.spec.segments_fn()
        self.progress = Progress("vocab")

    def start_bundle(self):
        self.counter = Counter()

    def process(self, row):
        for seg in self.segments(row["sentences"]):
            self.counter.update(seg)
        self.progress.add(1, sum(map(len, row["sentences"])))

    def finish_bundle(self):
        if self.counter:
            yield GlobalWindows.windowed_value(dict(self.counter))
        self.counter = Counter()


class SumCounts(beam.CombineFn):
    def create_accumulator(self):
        return Counter()

    def add_input(self, acc, counts):
        acc.update(counts)
        return acc

    def merge_accumulators(self, accs):
        accs = iter(accs)
        total = next(accs)
        for acc in accs:
            total.update(acc)
        return total

    def extract_output(self, acc):
        return acc


class WriteVocab(beam.DoFn):
    """All (unit, count) pairs at or above min_count -> DIR/vocab.txt; yields the vocabulary's summary."""

    def __init__(self, directory: str, min_count: int, max_vocab: int):
        self.directory, self.min_count, self.max_vocab = directory, min_count, max_vocab

    def process(self, counts):
        vocab = co.select_vocab(counts.items(), self.min_count, self.max_vocab)
        write_bytes(f"{self.directory}/{VOCAB_FILE}", co.format_vocab(vocab))
        yield {"vocab_size": len(vocab), "tokens": sum(counts.values()), "distinct_units": len(counts)}


def build_vocab(pipeline, rows, spec: UnitSpec, directory: str, min_count: int, max_vocab: int):
    """Document rows -> DIR/vocab.txt (GloVe's `word count` lines, most frequent first)."""
    return (rows
            | "CountUnigrams" >> beam.ParDo(CountUnigrams(spec))
            | "SumCounts" >> beam.CombineGlobally(SumCounts())
            | "WriteVocab" >> beam.ParDo(WriteVocab(directory, min_count, max_vocab)))


def read_vocab_file(path: str) -> list[tuple[str, int]]:
    with FileSystems.open(path) as f:
        return co.parse_vocab(f.read())


@dataclass(frozen=True)
class CountOptions:
    window: int = 10
    symmetric: bool = True
    distance_weighting: bool = True
    memory_bytes: int = 512 << 20


class CountCooccurrences(CountingDoFn):
    """Document rows -> (shard, spill path): partial matrices, aggregated in the bundle up to the memory bound."""

    def __init__(self, spec: UnitSpec, vocab_path: str, opts: CountOptions, bounds: list[int], spill_dir: str):
        self.spec, self.vocab_path, self.opts, self.bounds, self.spill_dir = spec, vocab_path, opts, bounds, spill_dir

    def setup(self):
        vocab = read_vocab_file(self.vocab_path)  # once per worker, not a side input
        self.index = {w: i for i, (w, _) in enumerate(vocab)}
        self.vocab_size = len(vocab)
        self.segments = self.spec.segments_fn()
        self.progress = Progress("cooccur")

    def start_bundle(self):
        super().start_bundle()
        # half the budget for the accumulator, half for a spill's orientation and split (transient copies)
        self.acc = co.PairAccumulator(self.vocab_size, self.opts.window, self.opts.distance_weighting,
                                      self.opts.memory_bytes // 2)

    def process(self, row):
        ids, pos, read = co.encode_segments(self.segments(row["sentences"]), self.index)
        self.count("documents")
        self.count("tokens", read)
        self.count("tokens_in_vocab", len(ids))
        self.acc.add(ids, pos)
        self.progress.add(1, sum(map(len, row["sentences"])))
        if self.acc.full:
            yield from self._spill()

    def finish_bundle(self):
        for shard_and_path in self._spill():
            yield GlobalWindows.windowed_value(shard_and_path)
        yield from super().finish_bundle()

    def _spill(self):
        keys, units = self.acc.drain()
        if not len(keys):
            return
        keys, units = co.oriented(keys, units, self.vocab_size, self.opts.symmetric)
        self.count("spills")
        for shard, k, v in co.split_by_rows(keys, units, self.vocab_size, self.bounds):
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, SPILL_SCHEMA) as writer:
                writer.write_table(pa.table([pa.array(k), pa.array(v)], schema=SPILL_SCHEMA))
            data = sink.getvalue()
            path = f"{self.spill_dir}/{shard:05d}-{uuid.uuid4().hex}.arrow"
            write_bytes(path, data.to_pybytes())
            self.count("shuffle_bytes", data.size)
            yield shard, path


class MergeMatrixShard(beam.DoFn):
    """(shard, spill paths) -> the shard's rows summed exactly, sorted by (row, col), written as one shard."""

    def __init__(self, tmp: str, num_shards: int, vocab_size: int, unit: int):
        self.tmp, self.num_shards, self.vocab_size, self.unit = tmp, num_shards, vocab_size, unit

    def process(self, shard_and_paths):
        shard, paths = shard_and_paths
        paths = sorted(p for p in paths if p)
        runs_k, runs_v = [], []
        for path in paths:
            table = open_arrow(path)
            runs_k.append(table.column("key").to_numpy())
            runs_v.append(table.column("units").to_numpy())
            if len(runs_k) >= 8:  # merge as they come: memory follows the shard's entries, not the spill count
                k, v = co.merge_runs(runs_k, runs_v)
                runs_k, runs_v = [k], [v]
        if runs_k:
            keys, units = co.merge_runs(runs_k, runs_v)
        else:
            keys, units = np.zeros(0, np.int64), np.zeros(0, np.int64)
        info = write_shard(self._batches(keys, units), MATRIX_SCHEMA,
                           f"{self.tmp}/{shard_name(shard, self.num_shards)}")
        if paths:
            FileSystems.delete(paths)
        yield {**info, "weight_units": int(units.sum(dtype=np.int64)) if len(units) else 0}

    def _batches(self, keys, units):
        for a in range(0, len(keys), MATRIX_BATCH_ROWS):
            rows, cols = np.divmod(keys[a:a + MATRIX_BATCH_ROWS], self.vocab_size)
            yield pa.record_batch([pa.array(rows.astype(np.int32)), pa.array(cols.astype(np.int32)),
                                   pa.array(co.values_of(units[a:a + MATRIX_BATCH_ROWS], self.unit))],
                                  schema=MATRIX_SCHEMA)


class FinalizeMatrix(beam.DoFn):
    """Checks the accounting, writes manifest.json (nnz, total weight, shuffle bytes) and makes OUT appear."""

    def __init__(self, tmp: str, output: str, params: dict, extra: dict):
        self.tmp, self.output, self.params, self.extra = tmp, output, params, extra

    def process(self, _, shards, rejects, counts):
        shards = sorted(shards, key=lambda s: s["file"])
        weight_units = sum(s.pop("weight_units") for s in shards)
        accounting = input_accounting(counts, counts.get("documents", 0), 0)
        if accounting["rejected"] != sum(r["rows"] for r in rejects):
            raise RuntimeError(f"{accounting['rejected']} records rejected but {rejects} written")
        remove_tree(f"{self.tmp}/_spill")
        remove_tree(f"{self.tmp}/_spill_rejects")
        unit = self.extra["weight_unit"]
        tokens = counts.get("tokens", 0)
        totals = {"documents": counts.get("documents", 0), "tokens": tokens,
                  "tokens_in_vocab": counts.get("tokens_in_vocab", 0), "spills": counts.get("spills", 0),
                  "shuffle_bytes": counts.get("shuffle_bytes", 0),
                  "shuffle_bytes_per_token": round(counts.get("shuffle_bytes", 0) / max(tokens, 1), 3)}
        with FileSystems.open(f"{self.tmp}/{VOCAB_FILE}") as f:
            vocab_bytes = f.read()
        extra = {**self.extra, "nnz": sum(s["rows"] for s in shards), "total_weight": weight_units / unit,
                 "total_weight_units": weight_units, "totals": totals,
                 "files": [{"file": VOCAB_FILE, "bytes": len(vocab_bytes),
                            "sha256": hashlib.sha256(vocab_bytes).hexdigest()}]}
        manifest = write_metadata(self.tmp, kind="cooccurrence", schema=MATRIX_SCHEMA, shards=shards,
                                  input_counts=accounting, params=self.params, extra=extra,
                                  rejects={"files": [r["file"] for r in rejects], "rows": accounting["rejected"],
                                           "sha256": [r["sha256"] for r in rejects]})
        commit(self.tmp, self.output)
        log.info("wrote %s: %d nonzero entries in %d shards", self.output, manifest["rows"], len(shards))
        yield manifest


def build_matrix(pipeline, docs: dict, spec: UnitSpec, opts: CountOptions, tmp: str, output: str,
                 vocab_size: int, bounds: list[int], params: dict, extra: dict):
    """Document rows -> CountCooccurrences -> spills per row range -> MergeMatrixShard -> FinalizeMatrix."""
    num_shards = len(bounds) - 1
    unit = co.weight_unit(opts.window, opts.distance_weighting)
    counted = docs["rows"] | "CountCooccurrences" >> beam.ParDo(
        CountCooccurrences(spec, f"{tmp}/{VOCAB_FILE}", opts, bounds, f"{tmp}/_spill")).with_outputs(
        COUNTS, main="spills")
    every = pipeline | "EveryShard" >> beam.Create([(k, None) for k in range(num_shards)])
    shards = ((counted.spills, every)
              | "AllSpills" >> beam.Flatten()
              | "GroupByRowRange" >> beam.GroupByKey()
              | "MergeMatrixShard" >> beam.ParDo(MergeMatrixShard(tmp, num_shards, vocab_size, unit)))
    rejects = (docs["rejects"]
               | "RejectRows" >> beam.Map(reject_row)
               | "WriteRejects" >> WriteShards(f"{tmp}/_spill_rejects", REJECTS_SCHEMA, 1,
                                               lambda batches, schema, k: write_jsonl(
                                                   batches, f"{tmp}/rejects/rejects.jsonl")))
    counts = ((docs["counts"], counted[COUNTS])
              | "AllCounts" >> beam.Flatten()
              | "MergeCounts" >> beam.CombineGlobally(MergeCounts()))
    extra = {**extra, "weight_unit": unit}
    return (pipeline
            | "Start" >> beam.Create([None])
            | "Finalize" >> beam.ParDo(FinalizeMatrix(tmp, output, params, extra), pvalue.AsList(shards),
                                       pvalue.AsList(rejects), pvalue.AsSingleton(counts)))
