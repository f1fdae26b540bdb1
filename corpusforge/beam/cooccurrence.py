"""Beam glue for GloVe co-occurrence counting (the counting itself is corpusforge.objectives.cooccurrence).

One pipeline (build_cooccurrence) with GloVe's vocab_count and cooccur as two steps; the text is read and
segmented once:
1. SegmentDocuments: document rows -> their units, written as dictionary-encoded Arrow chunks, and
   {unit: count} per bundle -> summed -> vocab.txt and its layout (size, row ranges: vocab_layout), the side
   input of step 2; rejects and input counts are written here too;
2. CountCooccurrences: the chunks -> partial matrices aggregated inside the bundle (bounded by
   --memory-mb), spilled as sorted Arrow files per merge range (each shard's row range cut into a few, so a
   job of few shards still merges on every worker); only file names are shuffled; one MergeMatrixRange per
   range merges its spills as sorted streams (memory: a batch per spill, not the range) and sums them
   exactly (int64); one WriteMatrixShard per shard writes its ranges' pieces in order, sorted by (row, col).
Spill bytes are the data a distributed runner moves between the two steps: they are counted as Beam metrics
(spill_bytes, spill_files; not in the manifest, which must not depend on the bundles) and reported per input byte.
"""
from __future__ import annotations

import ctypes
import hashlib
import re
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from corpusforge.beam.counting import COUNTS, CountingDoFn, MergeCounts, ThroughputLog
from corpusforge.beam.resume import Reused, record_inputs
from corpusforge.beam.sink import (WriteRejects, committed, fail_point, finish_dataset, input_accounting, open_arrow,
                                   spill_path)
from corpusforge.dataset.writer import shard_name, write_bytes, write_shard
from corpusforge.objectives import cooccurrence as co

MATRIX_SCHEMA = pa.schema([pa.field("row", pa.int32(), nullable=False), pa.field("col", pa.int32(), nullable=False),
                           pa.field("value", pa.float64(), nullable=False)])
SPILL_SCHEMA = pa.schema([pa.field("key", pa.int64()), pa.field("units", pa.int64())])
SPILL_BATCH_ROWS = 1 << 15  # rows per record batch in a spill: what a streaming merge holds per spill
MERGE_FAN_IN = 64  # spills merged at once; more are merged in rounds (open files and batch memory stay bounded)
# "segment": each segment's stable key (doc_id and its index in the document), for builders that draw per segment
CHUNK_SCHEMA = pa.schema([pa.field("units", pa.list_(pa.dictionary(pa.int32(), pa.string()))),
                          pa.field("segment", pa.string())])
CHUNK_UNITS = 1 << 17  # units per segments chunk: enough to amortise a chunk, small enough to spread over workers
UNIGRAMS = "unigrams"
SEGMENTS_SUMMARY = "_segments/summary.json"
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


def keep_freed_memory() -> None:
    """Counting and merging allocate and free arrays of tens of MB per batch. glibc hands every such array back
    to the kernel and maps the next one afresh, page-faulting on each 4 KB page, which slowed
    counting markedly (BENCHMARKS.md). Keep freed memory in the heap for reuse instead (what is live stays within --memory-mb either
    way). glibc only; elsewhere a no-op."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: arrays up to 1 GiB come from the heap
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: do not give the heap's free top back after each batch
    except (OSError, AttributeError):
        pass


class SegmentDocuments(CountingDoFn):
    """Document rows -> their window segments' units, written in chunks of CHUNK_UNITS (one list of units per
    segment, dictionary-encoded Arrow), so the counting pass reads ids' worth of data instead of reading, normalising
    and segmenting the text again; per bundle one {unit: count} dict on the UNIGRAMS output (Zipf: few distinct
    units; one element, not one per unit, because Beam's per-element cost would dominate)."""

    def __init__(self, spec: UnitSpec, chunk_dir: str):
        self.spec, self.chunk_dir = spec, chunk_dir

    def setup(self):
        self.segments = self.spec.segments_fn()
        self.progress = ThroughputLog("segment")

    def start_bundle(self):
        super().start_bundle()
        self.units, self.lengths, self.keys, self.unigrams = [], [], [], []

    def process(self, row):
        for n, seg in enumerate(self.segments(row["sentences"])):
            self.units.extend(seg)
            self.lengths.append(len(seg))
            self.keys.append(f"{row['doc_id']}\0{n}")
        self.count("documents")
        self.progress.add(1, sum(map(len, row["sentences"])))
        if len(self.units) >= CHUNK_UNITS:
            yield self._write_chunk()

    def finish_bundle(self):
        if self.lengths:
            yield GlobalWindows.windowed_value(self._write_chunk())
        if self.unigrams:
            counts = self._sum_unigrams()
            yield pvalue.TaggedOutput(UNIGRAMS, GlobalWindows.windowed_value(
                dict(zip(counts["unit"].to_pylist(), counts["count"].to_pylist()))))
        self.unigrams = []
        yield from super().finish_bundle()

    def _sum_unigrams(self) -> pa.Table:
        """The chunks' (unit, count) tables summed into one (in Arrow: a Python dict update per distinct unit
        and chunk took a tenth of this pass)."""
        summed = pa.concat_tables(self.unigrams).group_by("unit").aggregate([("count", "sum")])
        self.unigrams = [pa.table({"unit": summed["unit"], "count": summed["count_sum"]})]
        return self.unigrams[0]

    def _write_chunk(self) -> str:
        units = pa.array(self.units, pa.string()).dictionary_encode()
        counts = np.bincount(units.indices.to_numpy(), minlength=len(units.dictionary))
        self.unigrams.append(pa.table({"unit": units.dictionary, "count": counts}))
        if len(self.unigrams) >= 64:
            self._sum_unigrams()
        offsets = np.zeros(len(self.lengths) + 1, dtype=np.int32)
        np.cumsum(self.lengths, out=offsets[1:])
        data = _ipc_bytes(pa.table([pa.ListArray.from_arrays(pa.array(offsets), units), pa.array(self.keys, pa.string())],
                                   schema=CHUNK_SCHEMA))
        path = spill_path(self.chunk_dir)
        write_bytes(path, data)
        fail_point("segment_documents")
        self.count("tokens", len(self.units))
        # how big the chunks are depends on the bundles: a Beam metric, never a count the manifest could take in
        Metrics.counter("corpusforge", "segment_bytes").inc(len(data))
        self.units, self.lengths, self.keys = [], [], []
        return path


def read_chunk(path: str, keys: bool = False) -> tuple:
    """A segments chunk -> (its dictionary of units, each unit's code into it, each segment's length[, each
    segment's key])."""
    table = open_arrow(path)
    column = table.column("units").combine_chunks()
    units = column.values
    out = (units.dictionary, units.indices.to_numpy(), np.diff(column.offsets.to_numpy()))
    return out + (table.column("segment").to_pylist(),) if keys else out


def vocab_lut(index: dict, dictionary: pa.Array) -> np.ndarray:
    """A chunk's dictionary -> vocabulary id per code (-1 out of vocabulary). One lookup per distinct unit (a
    dict: Arrow's index_in would hash the whole vocabulary again for every chunk)."""
    get = index.get
    return np.array([get(u, -1) for u in dictionary.to_pylist()], dtype=np.int64)


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


class EmptyVocabulary(ValueError):
    """No unit reaches --min-count; the launcher finds the message (empty_vocabulary_message) in whatever the
    runner raises and makes it its one-sentence error."""

    TEXT = "no unit occurs at least {} times in the input; lower --min-count"


def empty_vocabulary_message(error: BaseException) -> str | None:
    found = re.search(re.escape(EmptyVocabulary.TEXT).replace(r"\{\}", r"\d+"), str(error))
    return found.group(0) if found else None


def vocab_layout(counts: list[int], num_shards: int) -> dict:
    """What the counting steps need of the vocabulary, a side input: its size, the shards' row ranges (balanced by
    unigram count) and the merge ranges inside them."""
    bounds = co.row_bounds(counts, num_shards)
    return {"vocab_size": len(counts), "bounds": bounds, "ranges": co.merge_bounds(counts, bounds)}


class WriteVocab(beam.DoFn):
    """All (unit, count) pairs -> DIR/vocab.txt of those at or above min_count; yields the vocabulary's layout."""

    def __init__(self, directory: str, min_count: int, max_vocab: int, num_shards: int):
        self.directory, self.min_count, self.max_vocab, self.num_shards = directory, min_count, max_vocab, num_shards

    def process(self, counts):
        vocab = co.select_vocab(counts.items(), self.min_count, self.max_vocab)
        if not vocab:
            raise EmptyVocabulary(EmptyVocabulary.TEXT.format(self.min_count))
        write_bytes(f"{self.directory}/{VOCAB_FILE}", co.format_vocab(vocab))
        fail_point("write_vocab")
        yield vocab_layout([c for _, c in vocab], self.num_shards)


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
    """Segments chunks -> (merge range, spill path): partial matrices, aggregated in the bundle up to the memory
    bound; the vocabulary's layout (vocab_layout) is the side input."""

    def __init__(self, vocab_path: str, opts: CountOptions, spill_dir: str):
        self.vocab_path, self.opts, self.spill_dir = vocab_path, opts, spill_dir

    def setup(self):
        keep_freed_memory()
        self.index = None

    def start_bundle(self):
        super().start_bundle()
        self.acc = None

    def process(self, path, layout):
        if self.index is None:  # once per worker, on first use: the file is written earlier in this pipeline
            self.index = {w: i for i, (w, _) in enumerate(read_vocab_file(self.vocab_path))}
        if self.acc is None:
            self.vocab_size, self.ranges = layout["vocab_size"], layout["ranges"]
            # half the budget for the accumulator, half for a spill's split and serialisation (transient copies)
            self.acc = co.PairAccumulator(self.vocab_size, self.opts.window, self.opts.distance_weighting,
                                          self.opts.memory_bytes // 2, symmetric=self.opts.symmetric)
        dictionary, codes, lengths = read_chunk(path)
        ids, pos = co.encode_codes(codes, lengths, vocab_lut(self.index, dictionary))
        self.count("tokens_in_vocab", len(ids))
        cuts = co.segment_cuts(pos, self.acc.batch_tokens)  # pieces the accumulator's bound allows
        for a, b in zip(cuts, cuts[1:]):
            self.acc.add(ids[a:b], pos[a:b])
            if self.acc.full:
                yield from self._spill()

    def finish_bundle(self):
        for shard_and_path in self._spill():
            yield GlobalWindows.windowed_value(shard_and_path)
        yield from super().finish_bundle()

    def _spill(self):
        if self.acc is None:  # a bundle without chunks
            return
        keys, units = self.acc.drain()
        if not len(keys):
            return
        for shard, k, v in co.split_by_rows(keys, units, self.vocab_size, self.ranges):
            path = spill_path(self.spill_dir, shard)
            # Beam metrics, not the manifest: how much spills depends on the bundles, so on the runner
            Metrics.counter("corpusforge", "spill_bytes").inc(write_spill(path, k, v))
            Metrics.counter("corpusforge", "spill_files").inc()
            fail_point("count_cooccurrences")
            yield shard, path


class _CountingFile:
    """A writable file that counts the bytes passing through."""

    def __init__(self, f):
        self.f, self.bytes, self.closed = f, 0, False

    def write(self, data) -> int:
        self.bytes += memoryview(data).nbytes
        return self.f.write(data)

    def flush(self):
        pass


def write_spill(path: str, keys: np.ndarray, units: np.ndarray) -> int:
    """Sorted (key, units) entries -> a spill file in batches of SPILL_BATCH_ROWS, so it can be merged as a stream;
    returns its size. Streamed into the file: building the bytes in memory first cost as much as the counting."""
    with FileSystems.create(path) as f:
        out = _CountingFile(f)
        with pa.ipc.new_stream(pa.PythonFile(out, mode="w"), SPILL_SCHEMA) as writer:
            writer.write_table(pa.table([pa.array(keys), pa.array(units)], schema=SPILL_SCHEMA),
                               max_chunksize=SPILL_BATCH_ROWS)
    return out.bytes


def read_spill(path: str):
    """A spill file -> its (keys, units) batches, one at a time."""
    with FileSystems.open(path) as f:
        for batch in pa.ipc.open_stream(f):
            yield batch.column(0).to_numpy(), batch.column(1).to_numpy()


def rebatched(chunks, rows: int):
    """(keys, units) chunks of any sizes -> chunks of exactly `rows` entries (the last one fewer)."""
    held_k, held_v, held = [], [], 0
    for k, v in chunks:
        held_k.append(k)
        held_v.append(v)
        held += len(k)
        if held >= rows:
            k, v = np.concatenate(held_k), np.concatenate(held_v)
            full = len(k) - len(k) % rows
            for a in range(0, full, rows):
                yield k[a:a + rows], v[a:a + rows]
            held_k, held_v, held = [k[full:]], [v[full:]], len(k) - full
    if held:
        yield np.concatenate(held_k), np.concatenate(held_v)


class MergeMatrixRange(beam.DoFn):
    """(merge range, spill paths) -> (shard, (range, piece)): the range's entries summed exactly, in key order, in
    one piece file.

    The spills are sorted: they are merged as streams (merge_streams), a batch of each at a time, so memory
    follows the number of spills merged at once (MERGE_FAN_IN), not the range's size; more spills than that are
    first merged in rounds into larger spills."""

    def __init__(self, tmp: str, per_shard: int, markers=None):
        """markers (resume.Markers): a range whose completion marker is intact is not merged again."""
        self.tmp, self.per_shard, self.markers = tmp, per_shard, markers

    def setup(self):
        keep_freed_memory()

    def process(self, range_and_paths):
        rng, paths = range_and_paths
        done = self.markers and self.markers.read_output("ranges", rng)
        if done:
            yield done
            return
        paths, rounds = sorted(paths), 0
        while len(paths) > 1:  # a round's files are named by (range, round, group): a retry rewrites the same files
            merged = []
            for a in range(0, len(paths), MERGE_FAN_IN):
                path = f"{self.tmp}/_spill/merged-{rng:05d}-{rounds:02d}-{a // MERGE_FAN_IN:05d}.arrow"
                merged.append(self._merge_to_spill(paths[a:a + MERGE_FAN_IN], path))
                fail_point("merge_matrix_range")
            paths, rounds = merged, rounds + 1
        if self.markers:
            self.markers.write_output("ranges", rng, (rng // self.per_shard, (rng, paths[0])))
        yield rng // self.per_shard, (rng, paths[0])

    def _merge_to_spill(self, paths: list[str], path: str) -> str:
        with FileSystems.create(path) as f, pa.ipc.new_stream(pa.PythonFile(f, mode="w"), SPILL_SCHEMA) as writer:
            for k, v in rebatched(co.merge_streams([read_spill(p) for p in paths]), SPILL_BATCH_ROWS):
                writer.write_batch(pa.record_batch([pa.array(k), pa.array(v)], schema=SPILL_SCHEMA))
        return path


class WriteMatrixShard(beam.DoFn):
    """(shard, its ranges' pieces) -> the shard: the pieces in range order (so in (row, col) order), read as
    streams and written in batches of MATRIX_BATCH_ROWS, whatever the ranges' sizes."""

    def __init__(self, tmp: str, num_shards: int, unit: int, markers=None):
        """markers (resume.Markers): a shard whose completion marker is intact is not written again."""
        self.tmp, self.num_shards, self.unit, self.markers = tmp, num_shards, unit, markers

    def process(self, shard_and_pieces, layout):
        shard, pieces = shard_and_pieces
        done = self.markers and self.markers.read_output("shards", shard)
        if done:
            yield done
            return
        self.vocab_size = layout["vocab_size"]
        paths = [path for _, path in sorted(p for p in pieces if p)]
        self.weight_units = 0
        chunks = (chunk for path in paths for chunk in read_spill(path))
        info = write_shard(self._batches(rebatched(chunks, MATRIX_BATCH_ROWS)), MATRIX_SCHEMA,
                           f"{self.tmp}/{shard_name(shard, self.num_shards)}")
        fail_point("write_matrix_shard")
        info = {**info, "weight_units": self.weight_units}
        if self.markers:
            self.markers.write_output("shards", shard, info)
        yield info

    def _batches(self, chunks):
        for keys, units in chunks:
            self.weight_units += int(units.sum(dtype=np.int64))
            rows, cols = np.divmod(keys, self.vocab_size)
            yield pa.record_batch([pa.array(rows.astype(np.int32)), pa.array(cols.astype(np.int32)),
                                   pa.array(co.values_of(units, self.unit))], schema=MATRIX_SCHEMA)


class FinalizeMatrix(beam.DoFn):
    """Checks the accounting, writes manifest.json (nnz, total weight, tokens, vocab.txt) and makes OUT appear."""

    def __init__(self, tmp: str, output: str, params: dict, extra: dict, unit: int):
        self.tmp, self.output, self.params, self.extra = tmp, output, params, extra
        self.unit = unit

    def process(self, _, shards, rejects, counts, layout):
        shards = sorted((dict(s) for s in shards), key=lambda s: s["file"])  # copies: a retry gets the same input
        done = committed(self.tmp, self.output, shards)  # a retry after the rename: TMP/vocab.txt is in OUT now
        if done is not None:
            yield done
            return
        bounds = layout["bounds"]
        extra = {**self.extra, "vocab_size": layout["vocab_size"],
                 "row_ranges": [[bounds[k], bounds[k + 1]] for k in range(len(bounds) - 1)],
                 "weight_unit": self.unit}
        weight_units = sum(s.pop("weight_units") for s in shards)
        accounting = input_accounting(counts, counts.get("documents", 0), 0)
        tokens = counts.get("tokens", 0)
        totals = {"documents": counts.get("documents", 0), "tokens": tokens,
                  "tokens_in_vocab": counts.get("tokens_in_vocab", 0)}
        with FileSystems.open(f"{self.tmp}/{VOCAB_FILE}") as f:
            vocab_bytes = f.read()
        extra = {**extra, "nnz": sum(s["rows"] for s in shards), "total_weight": weight_units / self.unit,
                 "total_weight_units": weight_units, "totals": totals,
                 "files": [{"file": VOCAB_FILE, "bytes": len(vocab_bytes),
                            "sha256": hashlib.sha256(vocab_bytes).hexdigest()}]}
        yield finish_dataset(self.tmp, self.output, kind="cooccurrence", schema=MATRIX_SCHEMA, shards=shards,
                             accounting=accounting, rejects=rejects, params=self.params, extra=extra,
                             rows="nonzero entries")


def build_vocabulary(pipeline, docs: dict, spec: UnitSpec, tmp: str, num_shards: int, min_count: int,
                     max_vocab: int, vocab: list | None):
    """GloVe's vocab_count, the step every vocabulary-based builder (cooccurrence, word2vec) shares: document rows
    -> SegmentDocuments (units in chunks under TMP/_segments, unigram counts) -> TMP/vocab.txt (not with a given
    `vocab`, already copied there). Returns (the segmented outputs, the vocabulary's layout as a PCollection of
    one element, which follows TMP/vocab.txt's writing)."""
    segmented = docs["rows"] | "SegmentDocuments" >> beam.ParDo(
        SegmentDocuments(spec, f"{tmp}/_segments")).with_outputs(UNIGRAMS, COUNTS, main="chunks")
    if vocab is None:
        layout = (segmented[UNIGRAMS]
                  | "SumCounts" >> beam.CombineGlobally(MergeCounts())
                  | "WriteVocab" >> beam.ParDo(WriteVocab(tmp, min_count, max_vocab, num_shards)))
    else:
        layout = pipeline | "GivenVocab" >> beam.Create([vocab_layout([c for _, c in vocab], num_shards)])
    return segmented, layout


MATRIX_INPUTS = "matrix-inputs"  # the resume.RecordInputs marker of the counting's spills, vocabulary, counts, rejects


def build_cooccurrence(pipeline, docs, spec: UnitSpec, opts: CountOptions, tmp: str, output: str,
                       num_shards: int, min_count: int, max_vocab: int, vocab: list | None, params: dict,
                       extra: dict, markers=None):
    """One pipeline, GloVe's vocab_count then cooccur: document rows -> SegmentDocuments (units in chunks, unigram
    counts) -> TMP/vocab.txt (not with a given `vocab`, already copied there) and its layout, a side input ->
    CountCooccurrences -> spills per merge range -> MergeMatrixRange -> pieces per shard -> WriteMatrixShard ->
    FinalizeMatrix. docs: {"rows", "rejects", "counts"}, or a resume.Reused of MATRIX_INPUTS (what a killed build
    recorded once it had counted everything: the merges start at once). markers (resume.Markers): the counting's
    outputs, the merged ranges, the shards and the rejects are recorded, and those whose markers are intact reused."""
    if isinstance(docs, Reused):
        layout = pvalue.AsSingleton(pipeline | "RecordedLayout" >> beam.Create([docs.extra]))
        spills, counts, rejects_in = docs.records, [docs.counts], docs.rejects
    else:
        segmented, layout = build_vocabulary(pipeline, docs, spec, tmp, num_shards, min_count, max_vocab, vocab)
        layout = pvalue.AsSingleton(layout)
        counted = (segmented.chunks
                   | "SpreadChunks" >> beam.Reshuffle()  # break fusion: every worker counts a share of the chunks
                   | "CountCooccurrences" >> beam.ParDo(
                       CountCooccurrences(f"{tmp}/{VOCAB_FILE}", opts, f"{tmp}/_spill"), layout).with_outputs(
                       COUNTS, main="spills"))
        spills, counts, rejects_in = counted.spills, [docs["counts"], segmented[COUNTS], counted[COUNTS]], docs["rejects"]
        if markers:
            record_inputs(pipeline, markers, MATRIX_INPUTS, spills, counts, rejects_in, layout,
                          files=(f"{tmp}/{VOCAB_FILE}",))
    rejects = rejects_in | "WriteRejects" >> WriteRejects(tmp, markers)
    unit = co.weight_unit(opts.window, opts.distance_weighting)
    every = pipeline | "EveryShard" >> beam.Create([(k, None) for k in range(num_shards)])
    pieces = (spills
              | "GroupByMergeRange" >> beam.GroupByKey()
              | "MergeMatrixRange" >> beam.ParDo(MergeMatrixRange(tmp, co.ranges_per_shard(num_shards), markers)))
    shards = ((pieces, every)
              | "AllPieces" >> beam.Flatten()
              | "GroupByShard" >> beam.GroupByKey()
              | "WriteMatrixShard" >> beam.ParDo(WriteMatrixShard(tmp, num_shards, unit, markers), layout))
    counts = (tuple(counts)
              | "AllCounts" >> beam.Flatten()
              | "MergeCounts" >> beam.CombineGlobally(MergeCounts()))
    return (pipeline
            | "Start" >> beam.Create([None])
            | "Finalize" >> beam.ParDo(FinalizeMatrix(tmp, output, params, extra, unit), pvalue.AsList(shards),
                                       pvalue.AsList(rejects), pvalue.AsSingleton(counts), layout))
