"""Beam glue for `build stats`: documents -> unigram counts (with the first Heaps bucket of each word) and length
histograms, in shards sorted by token.

CountWords (per worker) counts strings and spills sorted Arrow files, as CountNgrams does (corpusforge.beam.ngrams:
the shared counter, sample, finalize and WriteCounts); its merge path is its own: the spills are cut at (order,
ngram) quantiles of a content-defined sample (SplitSpill) and one task per range merges its slices and writes its
shard (MergeRange).
"""
from __future__ import annotations

import bisect

import apache_beam as beam
import numpy as np
import pyarrow as pa

from corpusforge.beam.ngrams import BATCH_TOKENS, SpillingCounter, merge_tables, range_stats, sort_table
from corpusforge.beam.sink import KEY, fail_point, open_arrow
from corpusforge.dataset.writer import BATCH_ROWS, shard_name, write_shard

HEAPS_BUCKETS = 1024  # documents fall in these buckets by their seeded key (for the Heaps curve)
LENGTH_CAP = 4096  # length histograms: longer sentences / documents are counted at this length


STATS_SCHEMA = pa.schema([pa.field("order", pa.uint8()), pa.field("ngram", pa.string()),
                          pa.field("count", pa.int64()), pa.field("first", pa.int32())])


def heaps_bucket(key: bytes) -> int:
    """A document's bucket along the corpus: documents sorted by seeded key, cut into HEAPS_BUCKETS."""
    return int.from_bytes(key[:4], "big") * HEAPS_BUCKETS >> 32


class CountWords(SpillingCounter):
    """Document rows -> unigram counts with the first Heaps bucket each word occurs in, and length histograms.

    The histograms ride on the counts output as keys "len:<what>:<n>" and "heaps:<bucket>".
    """

    schema = STATS_SCHEMA

    def start_bundle(self):
        super().start_bundle()
        self.buckets = []

    def process(self, row):
        self.count("kept")
        bucket = heaps_bucket(row[KEY])
        doc_tokens = doc_chars = 0
        for sentence, units in zip(row["sentences"], self.sentence_tokens(row)):
            chars = sum(map(len, units))
            self.count(f"len:sentence_tokens:{min(len(units), LENGTH_CAP)}")
            self.count(f"len:sentence_chars:{min(chars, LENGTH_CAP)}")
            doc_tokens += len(units)
            doc_chars += chars
            if units:
                self.tokens.extend(units)
                self.lengths.append(len(units))
                self.buckets.append(bucket)
            self.count("sentences")
        self.count(f"len:document_tokens:{min(doc_tokens, LENGTH_CAP)}")
        self.count(f"len:document_chars:{min(doc_chars, LENGTH_CAP)}")
        self.count(f"heaps:{bucket}", doc_tokens)
        self.count("tokens", doc_tokens)
        self.count("characters", doc_chars)
        self.progress.add(1, doc_chars)
        if len(self.tokens) >= BATCH_TOKENS:
            yield from self.add_partial()

    def add_partial(self):
        out = super().add_partial()
        self.buckets = []
        return out

    def write_ranges(self, spills, samples, every, tmp: str, num_shards: int, max_order: int,
                     min_counts: list[int] | None, markers=None):
        """Unigram strings ranged by (order, ngram) quantiles of the sample (SplitSpill); one MergeRange per
        range merges its slices and writes its shard."""
        boundaries = samples | "Boundaries" >> beam.Map(range_boundaries, num_shards)
        slices = spills | "SplitSpills" >> beam.ParDo(SplitSpill(), beam.pvalue.AsSingleton(boundaries))
        return ((slices, every)
                | "AllSlices" >> beam.Flatten()
                | "GroupByRange" >> beam.GroupByKey()
                | "MergeRanges" >> beam.ParDo(MergeRange(tmp, num_shards, self.schema, max_order, min_counts,
                                                                markers)))

    def count_batch(self):
        first = np.repeat(np.asarray(self.buckets, np.int32), self.lengths)
        table = pa.table({"ngram": pa.array(self.tokens, pa.string()), "first": first})
        out = table.group_by(["ngram"], use_threads=False).aggregate([([], "count_all"), ("first", "min")])
        n = out.num_rows
        return pa.table([pa.array(np.ones(n, np.uint8)), out.column("ngram"), out.column("count_all").cast(pa.int64()),
                         out.column("first_min")], schema=STATS_SCHEMA)


def range_boundaries(sample: list, num_shards: int) -> list[tuple[int, str]]:
    """num_shards - 1 (order, ngram) cut points at the quantiles of the sample, sorted and distinct."""
    keys = sorted({(o, g) for _, o, g in sample})
    cuts = sorted({keys[len(keys) * i // num_shards] for i in range(1, num_shards)}) if keys else []
    return cuts


def _bisect(table: pa.Table, key: tuple[int, str]) -> int:
    orders, grams = table.column("order"), table.column("ngram")

    class View:
        def __len__(self):
            return table.num_rows

        def __getitem__(self, i):
            return orders[i].as_py(), grams[i].as_py()

    return bisect.bisect_left(View(), key)


class SplitSpill(beam.DoFn):
    """A sorted string spill -> (range index, (path, start, stop)) for every non-empty range."""

    def process(self, spill, boundaries):
        table = open_arrow(spill["path"])
        cuts = [0] + [_bisect(table, b) for b in boundaries] + [table.num_rows]
        for shard in range(len(cuts) - 1):
            if cuts[shard + 1] > cuts[shard]:
                yield shard, (spill["path"], cuts[shard], cuts[shard + 1])


class MergeRange(beam.DoFn):
    """(range index, slices of string spills) -> the shard of that range: exact counts, sorted, min counts applied."""

    def __init__(self, tmp: str, num_shards: int, schema: pa.Schema, max_order: int, min_counts: list[int] | None,
                 markers=None):
        """markers (resume.Markers): a shard whose completion marker is intact is not merged again."""
        self.tmp, self.num_shards, self.schema = tmp, num_shards, schema
        self.max_order, self.min_counts, self.markers = max_order, min_counts, markers

    def process(self, shard_and_slices):
        shard, slices = shard_and_slices
        done = self.markers and self.markers.read_output("shards", shard)
        if done:
            yield done
            return
        parts = [open_arrow(path).slice(start, stop - start) for path, start, stop in sorted(s for s in slices if s)]
        table = sort_table(merge_tables(parts, self.schema)) if parts else self.schema.empty_table()
        table, stats = range_stats(table, self.max_order, self.min_counts)
        batches = table.to_batches(max_chunksize=BATCH_ROWS) if table.num_rows else []
        info = write_shard(batches, self.schema, f"{self.tmp}/{shard_name(shard, self.num_shards)}")
        fail_point("merge_range")
        if self.markers:
            self.markers.write_output("shards", shard, {**info, **stats})
        yield {**info, **stats}
