"""BuildInstances: tokenized documents -> pretraining instances, grouped into seeded random buckets.

NSP's random segment must come from another document, without any step holding the corpus:
every document goes to a bucket chosen by its seeded key (so a bucket is a random sample of the
corpus, never a file or a bundle), buckets travel as spill files (only their paths are shuffled,
as in the sink), and one task builds a bucket's instances, drawing random segments from the
other documents of the same bucket. RoBERTa's full-sentences packing crosses document boundaries
inside a bucket, in the bucket's seeded document order.
"""
from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems

from corpusforge.beam.counting import COUNTS, CountingDoFn, Progress
from corpusforge.beam.sink import GROUP_BYTES, KEY, SpillRows, open_arrow, seeded_key, shard_of
from corpusforge.dataset.schema import tokenized_schema
from corpusforge.dataset.writer import write_bytes
from corpusforge.objectives.instances import Document, InstanceBuilder


def table_documents(table: pa.Table) -> list[Document]:
    """A tokenized table (with _key) -> Documents whose sentences are numpy views, no per-token Python."""
    table = table.combine_chunks()
    ids, words = table.column("input_ids").chunk(0), table.column("word_ids").chunk(0)
    doc_offsets = ids.offsets.to_numpy()
    sentences = ids.values  # list<id> per sentence
    sent_offsets = sentences.offsets.to_numpy()
    flat_ids = sentences.values.to_numpy(zero_copy_only=False)
    flat_words = words.values.values.to_numpy(zero_copy_only=False)
    keys, doc_ids = table.column(KEY).to_pylist(), table.column("doc_id").to_pylist()
    docs = []
    for d, (key, doc_id) in enumerate(zip(keys, doc_ids)):
        bounds = sent_offsets[doc_offsets[d]:doc_offsets[d + 1] + 1]
        docs.append(Document(key, doc_id, [(flat_ids[a:b], flat_words[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]))
    return docs


class SpillTokenizedShard(CountingDoFn):
    """A tokenized dataset shard -> (bucket, spill path) pairs, Arrow to Arrow (rows are never Python objects)."""

    def __init__(self, spill_dir: str, num_buckets: int, seed: int):
        self.spill_dir, self.num_buckets, self.seed = spill_dir, num_buckets, seed

    def process(self, path: str):
        import uuid

        with FileSystems.open(path) as f:
            table = pa.ipc.open_stream(f).read_all()
        self.count("read", table.num_rows)
        keys = [seeded_key(self.seed, doc_id) for doc_id in table.column("doc_id").to_pylist()]
        table = table.append_column(KEY, pa.array(keys, pa.binary()))
        buckets = np.array([shard_of(k, self.num_buckets) for k in keys])
        for bucket in np.unique(buckets):
            part = table.filter(pa.array(buckets == bucket))
            out = f"{self.spill_dir}/{bucket:05d}-{uuid.uuid4().hex}.arrow"
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, part.schema) as writer:
                writer.write_table(part)
            write_bytes(out, sink.getvalue().to_pybytes())
            yield int(bucket), out


class BuildBucket(CountingDoFn):
    """(bucket, spill paths) -> instance rows (with _key); the builder's tallies go to the counts."""

    def __init__(self, cfg, seed: int, dedup: bool):
        self.cfg, self.seed, self.dedup = cfg, seed, dedup

    def setup(self):
        self.progress = Progress("instances")

    def process(self, bucket_and_paths):
        _, paths = bucket_and_paths
        paths = sorted(p for p in paths if p)
        if not paths:
            return
        table = pa.concat_tables([open_arrow(p) for p in paths], promote_options="permissive")
        table = table.take(pc.sort_indices(table.column(KEY)))
        if self.dedup:  # exact duplicates share their key's content-hash prefix and so meet here, adjacent
            groups = [k[:GROUP_BYTES] for k in table.column(KEY).to_pylist()]
            keep = [True] + [groups[i] != groups[i - 1] for i in range(1, len(groups))]
            self.count("filtered:duplicate", len(keep) - sum(keep))
            table = table.filter(pa.array(keep))
        builder = InstanceBuilder(self.cfg, self.seed)
        for record_id, row in builder.build(table_documents(table)):
            row[KEY] = seeded_key(self.seed, record_id)
            yield row
        for key, n in builder.stats.items():
            if n:
                self.count(key, int(n))
        self.progress.add(builder.stats["instances"], builder.stats["tokens"])
        del table
        FileSystems.delete(paths)


class BuildInstances(beam.PTransform):
    """Tokenized rows (dicts with _key) or tokenized shard paths -> instance rows; counts under "counts"."""

    def __init__(self, cfg, seed: int, spill_dir: str, num_buckets: int, id_type: pa.DataType, from_shards: bool,
                 dedup: bool = False):
        super().__init__()
        self.dedup = dedup
        self.cfg, self.seed, self.spill_dir, self.num_buckets = cfg, seed, spill_dir, num_buckets
        self.id_type, self.from_shards = id_type, from_shards

    def expand(self, pcoll):
        spill_dir, n = self.spill_dir, self.num_buckets
        counts = []
        if self.from_shards:
            spilled = pcoll | "SpillShards" >> beam.ParDo(SpillTokenizedShard(spill_dir, n, self.seed)).with_outputs(
                COUNTS, main="spills")
            spills = spilled.spills
            counts.append(spilled.counts)
        else:
            schema = tokenized_schema(self.id_type).append(pa.field(KEY, pa.binary()))
            spills = pcoll | "SpillDocuments" >> beam.ParDo(SpillRows(spill_dir, schema, n))
        built = (spills
                 | "GroupByBucket" >> beam.GroupByKey()
                 | "BuildBucket" >> beam.ParDo(BuildBucket(self.cfg, self.seed, self.dedup)).with_outputs(COUNTS, main="rows"))
        counts.append(built.counts)
        return built.rows, counts
