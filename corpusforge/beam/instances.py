"""BuildInstances: tokenized documents -> pretraining instances, grouped into seeded random buckets.

NSP's random segment must come from another document, without any step holding the corpus:
every document goes to a bucket chosen by its seeded key (so a bucket is a random sample of the
corpus, never a file or a bundle), buckets travel as spill files (only their paths are shuffled,
as in the sink), and one task builds a bucket's instances, drawing random segments from the
other documents of the same bucket. RoBERTa's full-sentences packing crosses document boundaries
inside a bucket, in the bucket's seeded document order.
"""
from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics import Metrics

from corpusforge.beam.counting import COUNTS, CountingDoFn, ThroughputLog
from corpusforge.beam.read import read_unit
from corpusforge.beam.sink import (KEY, RowGather, SpillRows, fail_point, first_of_groups, open_arrow, seeded_key,
                                   shard_of, spill_path, write_spill)
from corpusforge.dataset.schema import tokenized_schema
from corpusforge.objectives.bart import BartBuilder, BartConfig
from corpusforge.objectives.bilm import BilmBuilder, BilmConfig
from corpusforge.objectives.causal import CausalBuilder, CausalConfig
from corpusforge.objectives.instances import InstanceBuilder, TokenizedDocument
from corpusforge.objectives.mass import MassBuilder, MassConfig
from corpusforge.objectives.stream import StreamBuilder, StreamConfig
from corpusforge.objectives.t5 import T5Builder, T5Config
from corpusforge.objectives.translation import TlmBuilder, TlmConfig, TranslationBuilder, TranslationConfig
from corpusforge.objectives.xlnet import XLNetBuilder, XLNetConfig

# configurations whose builders write their own tables (batch.table); any other is BERT-family instances
BUILDERS = {CausalConfig: CausalBuilder, BilmConfig: BilmBuilder, StreamConfig: StreamBuilder, T5Config: T5Builder,
            BartConfig: BartBuilder, MassConfig: MassBuilder, TranslationConfig: TranslationBuilder,
            TlmConfig: TlmBuilder, XLNetConfig: XLNetBuilder}


def table_documents(table: pa.Table) -> list[TokenizedDocument]:
    """A tokenized table (with _key) -> Documents whose sentences are numpy views, no per-token Python."""
    table = table.combine_chunks()
    ids, words = table.column("input_ids").chunk(0), table.column("word_ids").chunk(0)
    doc_offsets = ids.offsets.to_numpy()
    sentences = ids.values  # list<id> per sentence
    sent_offsets = sentences.offsets.to_numpy()
    flat_ids = sentences.values.to_numpy(zero_copy_only=False)
    flat_words = words.values.values.to_numpy(zero_copy_only=False)
    keys, doc_ids = table.column(KEY).to_pylist(), table.column("doc_id").to_pylist()
    sources = table.column("source").to_pylist()
    docs = []
    for d, (key, doc_id, source) in enumerate(zip(keys, doc_ids, sources)):
        bounds = sent_offsets[doc_offsets[d]:doc_offsets[d + 1] + 1]
        sentences = [(flat_ids[a:b], flat_words[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        docs.append(TokenizedDocument(key, doc_id, sentences, source))
    return docs


def shard_runs(table: pa.Table, shards: np.ndarray):
    """(shard, its rows in key order) for each shard present: one gather into (shard, key) order, then
    zero-copy slices. A shard's merge gathers from such sorted runs far faster than from unsorted pieces."""
    order = pc.sort_indices(table.column(KEY)).to_numpy()
    order = order[np.argsort(shards[order], kind="stable")]
    table, shards = RowGather(table).take(order), shards[order]
    bounds = np.flatnonzero(np.diff(shards)) + 1
    for start, end in zip([0, *bounds], [*bounds, len(shards)]):
        yield int(shards[start]), table.slice(start, end - start)


class SpillTokenizedShard(CountingDoFn):
    """A unit of a tokenized dataset shard (read.dataset_units) -> (bucket, spill path) pairs, Arrow to
    Arrow (rows are never Python objects)."""

    def __init__(self, spill_dir: str, num_buckets: int, seed: int):
        self.spill_dir, self.num_buckets, self.seed = spill_dir, num_buckets, seed

    def setup(self):
        self.progress = ThroughputLog("read", feeds_progress=True)

    def process(self, unit: tuple[str, int, int]):
        table = pa.Table.from_batches(list(read_unit(unit)))
        self.count("read", table.num_rows)
        self.progress.add(table.num_rows, done=table.num_rows)  # done: rows of the input datasets
        keys = [seeded_key(self.seed, doc_id) for doc_id in table.column("doc_id").to_pylist()]
        table = table.append_column(KEY, pa.array(keys, pa.binary()))
        buckets = np.array([shard_of(k, self.num_buckets) for k in keys])
        for bucket, part in shard_runs(table, buckets):
            out = spill_path(self.spill_dir, bucket)
            write_spill(out, part)
            fail_point("spill_tokenized_shard")
            yield bucket, out


def batch_table(batch, schema: pa.Schema, keys: list) -> pa.Table:
    """An InstanceBatch (flat arrays) -> an Arrow table of the pretraining schema plus _key, without
    a Python object per token."""
    def lists(values, lengths, name):
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, schema.field(name).type.value_type))

    columns = {
        "input_ids": lists(batch.input_ids, batch.lengths, "input_ids"),
        "token_type_ids": lists(batch.token_type_ids, batch.lengths, "token_type_ids"),
        "special_tokens_mask": lists(batch.special_tokens_mask, batch.lengths, "special_tokens_mask"),
        "word_ids": lists(batch.word_ids, batch.lengths, "word_ids"),
        "masked_lm_positions": lists(batch.masked_lm_positions, batch.masked_counts, "masked_lm_positions"),
        "masked_lm_labels": lists(batch.masked_lm_labels, batch.masked_counts, "masked_lm_labels"),
    }
    label = [f.name for f in schema if f.name.endswith("_label")]
    if label:
        columns[label[0]] = pa.array(batch.labels, pa.int8())
    columns[KEY] = pa.array(keys, pa.binary())
    return pa.table([columns[f.name] for f in schema], schema=schema)


class BuildBucket(CountingDoFn):
    """(bucket, spill paths) -> the bucket's instances, written straight to the output's spill
    files as (shard, path) pairs; the builder's tallies go to the counts."""

    def __init__(self, cfg, seed: int, dedup: bool, schema: pa.Schema, out_dir: str, num_shards: int, markers=None):
        """markers (resume.Markers): a bucket whose completion marker is intact is not built again: its
        recorded spills and counts are output instead."""
        self.cfg, self.seed, self.dedup, self.markers = cfg, seed, dedup, markers
        self.schema, self.out_dir, self.num_shards = schema.append(pa.field(KEY, pa.binary())), out_dir, num_shards

    def setup(self):
        self.progress = ThroughputLog("instances")

    def process(self, bucket_and_paths, *recorded):  # recorded: resume.RecordInputs's output, only for its order
        bucket, paths = bucket_and_paths
        paths = sorted(p for p in paths if p)
        if not paths:
            return
        done = self.markers and self.markers.read("buckets", bucket)
        if done:
            for key, n in done["counts"].items():
                self.count(key, n)
            for shard, path in done["spills"]:
                yield shard, f"{self.markers.tmp}/{path}"
            return
        counts, outputs = self._build(paths)
        for key, n in counts.items():
            self.count(key, n)
        for shard, path in outputs:
            yield shard, path
        if self.markers:
            relative = [(shard, path[len(self.markers.tmp) + 1:]) for shard, path in outputs]
            self.markers.write("buckets", bucket, [p for _, p in relative], spills=relative, counts=counts)

    def _build(self, paths: list[str]) -> tuple[dict, list]:
        """The bucket's instances in spill files: (counts, [(shard, path)])."""
        counts = {}
        table = pa.concat_tables([open_arrow(p) for p in paths], promote_options="permissive")
        Metrics.distribution("corpusforge", "bucket_bytes").update(table.nbytes)  # the largest bucket: memory
        table = table.take(pc.sort_indices(table.column(KEY)))
        if self.dedup:  # exact duplicates share their key's content-hash prefix and so meet here, adjacent
            keep = first_of_groups(table.column(KEY))
            if keep.false_count:
                counts["filtered:duplicate"] = keep.false_count
            table = table.filter(keep)
        own_table = type(self.cfg) in BUILDERS
        builder = BUILDERS.get(type(self.cfg), InstanceBuilder)(self.cfg, self.seed)
        batch = builder.build(table_documents(table))
        del table
        counts.update((key, int(n)) for key, n in builder.stats.items() if n)
        if batch is None:  # the bucket's spills stay: a retry reads them again (finish_dataset removes them)
            return counts, []
        keys = [seeded_key(self.seed, r) for r in batch.record_ids]
        instances = batch.table(self.schema, keys) if own_table else batch_table(batch, self.schema, keys)
        shards = np.array([shard_of(k, self.num_shards) for k in keys])
        outputs = []
        for shard, run in shard_runs(instances, shards):
            path = spill_path(self.out_dir, shard)
            write_spill(path, run)
            fail_point("build_bucket")
            outputs.append((shard, path))
        self.progress.add(builder.stats["instances"], builder.stats["instance_tokens"])
        return counts, outputs


class Built(NamedTuple):
    spills: beam.PCollection  # (shard, instance spill path) for WriteDataset(spilled=True)
    counts: list  # PCollections of count dicts
    inputs: beam.PCollection  # (bucket, tokenized spill path): the buckets' inputs


class BuildInstances(beam.PTransform):
    """Tokenized rows (dicts with _key), tokenized shard paths, or (bucket, spill path) pairs a resumed build
    reuses -> instances in spill files."""

    def __init__(self, cfg, seed: int, spill_dir: str, num_buckets: int, id_type: pa.DataType, from_shards: bool,
                 dedup: bool, schema: pa.Schema, out_dir: str, num_shards: int, markers=None, spilled: bool = False,
                 record=None):
        """Outputs a Built; markers: see BuildBucket; spilled: the input is (bucket, spill path) pairs;
        record(bucket inputs, [count PCollections]) -> a PCollection of one element that every bucket waits for
        (resume.record_inputs: its marker is written before any bucket is built)."""
        super().__init__()
        self.dedup, self.schema, self.out_dir, self.num_shards = dedup, schema, out_dir, num_shards
        self.cfg, self.seed, self.spill_dir, self.num_buckets = cfg, seed, spill_dir, num_buckets
        self.id_type, self.from_shards, self.markers, self.spilled = id_type, from_shards, markers, spilled
        self.record = record

    def expand(self, pcoll):
        spill_dir, n = self.spill_dir, self.num_buckets
        counts = []
        if self.spilled:
            spills = pcoll
        elif self.from_shards:
            spilled = pcoll | "SpillShards" >> beam.ParDo(SpillTokenizedShard(spill_dir, n, self.seed)).with_outputs(
                COUNTS, main="spills")
            spills = spilled.spills
            counts.append(spilled.counts)
        else:
            schema = tokenized_schema(self.id_type).append(pa.field(KEY, pa.binary()))
            spills = pcoll | "SpillDocuments" >> beam.ParDo(SpillRows(spill_dir, schema, n))
        build = BuildBucket(self.cfg, self.seed, self.dedup, self.schema, self.out_dir, self.num_shards, self.markers)
        after = [beam.pvalue.AsSingleton(self.record(spills, list(counts)))] if self.record else []
        built = (spills
                 | "GroupByBucket" >> beam.GroupByKey()
                 | "BuildBucket" >> beam.ParDo(build, *after).with_outputs(COUNTS, main="spills"))
        counts.append(built.counts)
        return Built(built.spills, counts, spills)


BUCKET_INPUTS = "bucket-inputs"  # the resume.RecordInputs marker of everything before the buckets
