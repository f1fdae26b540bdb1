"""Beam glue for counting: documents -> exact counts in shards sorted by (order, n-gram).

1. CountNgrams / CountWords (per worker): sentences -> units -> vectorised partial counts
   (corpusforge.objectives.ngrams), combined in memory and spilled as sorted Arrow files when a
   size bound is reached; hot n-grams (的, "the", "<s> 的") are summed inside the worker before
   anything is shuffled, and only spill file names travel. CountNgrams counts, merges and sorts
   word ids of a worker vocabulary (its spills are ids plus a vocabulary file); CountWords, strings.
2. A content-defined sample of distinct n-grams (the k smallest stable hashes, a combiner that
   never holds more than 2k) gives num_shards - 1 range boundaries: the same on any worker count.
3. The spills' vocabularies are united into one sorted global vocabulary (a combiner that holds
   only the union). Every spill is cut at the boundaries (it is sorted: a binary search per
   boundary) and gets, once, the map of its word ids onto global ids; one task per range merges
   its slices (ids mapped to global ids), sums equal n-grams, sorts and writes the shard; n-gram
   strings are made here, once per row written. Concatenating the shards in name order gives every
   n-gram once, sorted by (order, n-gram).
4. Finalize checks the accounting, adds count-of-counts and totals to the manifest, and renames
   the temporary directory to the output.
"""
from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.transforms.window import GlobalWindows

from corpusforge.beam.counting import COUNTS, CountingDoFn, MergeCounts, Progress, log
from corpusforge.beam.sink import GROUP_BYTES, KEY, REJECTS_SCHEMA, WriteShards, input_accounting, open_arrow, write_spill, \
    reject_row, write_jsonl
from corpusforge.dataset.writer import BATCH_ROWS, commit, remove_tree, shard_name, write_metadata, \
    write_shard
from corpusforge.objectives.ngrams import BOS, COUNTS_SCHEMA, EOS, RESERVED, count_ngram_prefixes, count_of_counts, \
    id_counts_to_strings, id_ngram_hash, id_ngram_strings, id_sort_indices, merge_id_counts, ngram_hash, \
    prefix_ngram_hash, prefix_sort_indices, sum_counts

BATCH_TOKENS = 800_000  # tokens per vectorised counting call (~2.8 M distinct rows: about one spill)
SPILL_ROWS = 1_500_000  # distinct rows a worker holds before it writes a sorted spill file
SAMPLE_PER_SHARD = 256  # sampled distinct n-grams per output shard, for the range boundaries
HEAPS_BUCKETS = 1024  # documents fall in these buckets by their seeded key (for the Heaps curve)
LENGTH_CAP = 4096  # length histograms: longer sentences / documents are counted at this length


@dataclass(frozen=True)
class Units:
    """How a sentence becomes tokens: a segmenter's words (presegmented: split on whitespace) or characters."""

    segmenter: object  # corpusforge.tokenization.segment segmenter, picklable

    def split(self, sentence: str) -> list[str]:
        if self.segmenter.name == "presegmented":
            return sentence.split()
        return [sentence[a:b] for a, b in self.segmenter.spans(sentence)]


def merge_tables(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """Sums `count` (and takes the minimum of `first`, where present) of equal (order, ngram)."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return schema.empty_table()
    if len(tables) == 1:
        return tables[0]
    table = pa.concat_tables(tables)
    aggs = [("count", "sum")] + ([("first", "min")] if "first" in schema.names else [])
    out = table.group_by(["order", "ngram"], use_threads=False).aggregate(aggs)
    return pa.table([out.column(n if n in ("order", "ngram") else f"{n}_{dict(aggs)[n]}") for n in schema.names],
                    schema=schema)


def sort_table(table: pa.Table) -> pa.Table:
    if not table.num_rows:
        return table
    return table.take(pc.sort_indices(table, [("order", "ascending"), ("ngram", "ascending")])).combine_chunks()


class SpillingCounter(CountingDoFn):
    """Base of the counting DoFns: buffers partial tables, spills sorted files, emits spill records."""

    schema = COUNTS_SCHEMA

    def __init__(self, units: Units, spill_dir: str, sample_size: int):
        self.units, self.spill_dir, self.sample_size = units, spill_dir, sample_size

    def setup(self):
        self.progress = Progress("count")

    def start_bundle(self):
        super().start_bundle()
        self.partials, self.partial_rows = [], 0
        self.tokens, self.lengths = [], []

    def sentence_tokens(self, row) -> list[list[str]]:
        out = []
        for sentence in row["sentences"]:
            units = self.units.split(sentence)
            if not RESERVED.isdisjoint(units):  # one C-level set probe per token, not a Python generator
                kept = [u for u in units if u not in RESERVED]
                self.count("reserved_tokens_dropped", len(units) - len(kept))
                units = kept
            out.append(units)
        return out

    def count_batch(self):  # -> partial table of self.tokens / self.lengths
        raise NotImplementedError

    def merge(self, tables: list[pa.Table]) -> pa.Table:
        return merge_tables(tables, self.schema)

    def add_partial(self):
        if self.lengths:
            table = self.count_batch()
            self.tokens, self.lengths = [], []
            self.partials.append(table)
            self.partial_rows += table.num_rows
            if self.partial_rows >= SPILL_ROWS:
                merged = self.merge(self.partials)
                self.partials, self.partial_rows = [merged], merged.num_rows
                if merged.num_rows >= SPILL_ROWS // 2:  # still big after merging: spill it
                    return [self.spill()]
        return []

    def spill(self):
        table = sort_table(merge_tables(self.partials, self.schema))
        self.partials, self.partial_rows = [], 0
        path = f"{self.spill_dir}/{uuid.uuid4().hex}.arrow"
        write_spill(path, table)
        hashes = ngram_hash(table)
        k = min(self.sample_size, len(hashes))
        pick = np.argpartition(hashes, k - 1)[:k] if k else np.zeros(0, np.int64)
        orders = table.column("order").take(pa.array(pick)).to_pylist()
        grams = table.column("ngram").take(pa.array(pick)).to_pylist()
        sample = sorted(zip(hashes[pick].tolist(), orders, grams))
        return {"path": path, "rows": table.num_rows, "sample": sample}

    def finish_bundle(self):
        spills = self.add_partial()
        if self.partials:
            spills.append(self.spill())
        for s in spills:
            yield GlobalWindows.windowed_value(s)
        yield from super().finish_bundle()


class CountNgrams(SpillingCounter):
    """Document rows -> spill records of exact 1..order-gram counts (with <s> / </s>).

    Counting runs on word ids of a worker vocabulary (a dict, emptied after every spill), so the
    merges in memory and the sort before a spill compare integers; a spill file holds the ids
    sorted in text order (id_sort_indices) and names its vocabulary file. Strings are made only
    for the sample and, in MergeRange, for the rows written.
    """

    def __init__(self, units: Units, order: int, spill_dir: str, sample_size: int):
        super().__init__(units, spill_dir, sample_size)
        self.order = order

    def start_bundle(self):
        super().start_bundle()
        self.vocab, self.prefix = {BOS: 0, EOS: 1}, None

    def process(self, row):
        self.count("kept")
        n = 0
        for units in self.sentence_tokens(row):
            if units:
                self.tokens.extend(units)
                self.lengths.append(len(units))
                n += len(units)
                self.count("sentences")
            else:
                self.count("empty_sentences")
        self.count("tokens", n)
        self.progress.add(1, n)
        if len(self.tokens) >= BATCH_TOKENS:
            yield from self.add_partial()

    def count_batch(self):
        encoded = pa.array(self.tokens, pa.string()).dictionary_encode()  # distinct words of the batch
        vocab = self.vocab
        local = np.fromiter((vocab.setdefault(w, len(vocab)) for w in encoded.dictionary.to_pylist()), np.uint32,
                            len(encoded.dictionary))
        ids = local[encoded.indices.to_numpy(zero_copy_only=False)]
        table, prefix = count_ngram_prefixes(ids, self.lengths, self.order, vocab[BOS], vocab[EOS])
        self.prefix = None if self.partials else prefix  # valid while this table is the only partial
        return table

    def merge(self, tables):
        if len(tables) > 1:
            self.prefix = None
        return merge_id_counts(tables)

    def spill(self):
        table = self.merge(self.partials)
        vocab = pa.array(list(self.vocab), pa.string())
        prefix, self.prefix = self.prefix, None
        self.partials, self.partial_rows, self.vocab = [], 0, {BOS: 0, EOS: 1}
        # one step per row from the prefix rows of the counting; per word when the partials were merged
        hashes = id_ngram_hash(table, vocab) if prefix is None else prefix_ngram_hash(table, prefix, vocab)
        order = None if prefix is None else prefix_sort_indices(table, prefix, vocab)
        order = id_sort_indices(table, vocab) if order is None else order
        table, hashes = table.take(pa.array(order)).combine_chunks(), hashes[order]
        name = f"{self.spill_dir}/{uuid.uuid4().hex}"
        write_spill(f"{name}.arrow", table)
        write_spill(f"{name}.vocab.arrow", pa.table({"word": vocab}))
        k = min(self.sample_size, len(hashes))
        pick = np.sort(np.argpartition(hashes, k - 1)[:k]) if k else np.zeros(0, np.int64)  # sorted: one run per order
        picked = table.take(pa.array(pick))
        sample = sorted(zip(hashes[pick].tolist(), picked.column("order").to_pylist(),
                            id_ngram_strings(picked, vocab).to_pylist()))
        return {"path": f"{name}.arrow", "vocab": f"{name}.vocab.arrow", "rows": table.num_rows, "sample": sample}


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

    def count_batch(self):
        first = np.repeat(np.asarray(self.buckets, np.int32), self.lengths)
        table = pa.table({"ngram": pa.array(self.tokens, pa.string()), "first": first})
        out = table.group_by(["ngram"], use_threads=False).aggregate([([], "count_all"), ("first", "min")])
        n = out.num_rows
        return pa.table([pa.array(np.ones(n, np.uint8)), out.column("ngram"), out.column("count_all").cast(pa.int64()),
                         out.column("first_min")], schema=STATS_SCHEMA)


class SmallestHashes(beam.CombineFn):
    """The k distinct (hash, order, ngram) with the smallest hashes; holds at most 2k."""

    def __init__(self, k: int):
        self.k = k

    def create_accumulator(self):
        return []

    def _trim(self, items):
        return sorted(set(items))[: self.k]

    def add_input(self, acc, sample):
        acc.extend(tuple(s) for s in sample)
        return self._trim(acc) if len(acc) >= 2 * self.k else acc

    def merge_accumulators(self, accs):
        return self._trim([tuple(x) for acc in accs for x in acc])

    def extract_output(self, acc):
        return self._trim(acc)


def range_boundaries(sample: list, num_shards: int) -> list[tuple[int, str]]:
    """num_shards - 1 (order, ngram) cut points at the quantiles of the sample, sorted and distinct."""
    keys = sorted({(o, g) for _, o, g in sample})
    cuts = sorted({keys[len(keys) * i // num_shards] for i in range(1, num_shards)}) if keys else []
    return cuts


def _bisect(table: pa.Table, key: tuple[int, str], vocab: pa.Array | None = None) -> int:
    orders = table.column("order")
    # a spill of word ids: the text of the probed rows only (a binary search reads ~log2(rows) of them)
    grams = table.column("ngram") if vocab is None else _IdText(table, vocab)

    class View:
        def __len__(self):
            return table.num_rows

        def __getitem__(self, i):
            return orders[i].as_py(), grams[i].as_py()

    return bisect.bisect_left(View(), key)


class _IdText:
    def __init__(self, table, vocab):
        self.table, self.vocab = table, vocab

    def __getitem__(self, i):
        return id_ngram_strings(self.table.slice(i, 1), self.vocab)[0]


def _vocab(path: str) -> pa.Array:
    return open_arrow(path).column("word").combine_chunks()


class UnionVocab(beam.CombineFn):
    """Spill records -> the path of the sorted union of their vocabularies ("" when none has one)."""

    def __init__(self, path: str):
        self.path = path

    def create_accumulator(self):
        return pa.array([], pa.string())

    def add_input(self, acc, spill):
        return pc.unique(pa.concat_arrays([acc, _vocab(spill["vocab"])])) if spill.get("vocab") else acc

    def merge_accumulators(self, accs):
        return pc.unique(pa.concat_arrays(list(accs)))

    def extract_output(self, acc):
        if not len(acc):
            return ""
        write_spill(self.path, pa.table({"word": acc.take(pc.sort_indices(acc))}))
        return self.path


class SplitSpill(beam.DoFn):
    """A sorted spill -> (range index, (path, start, stop, global-id map path or "")) for every non-empty range.

    An id spill's map (its word id -> global id) is written once here, beside the spill."""

    def process(self, spill, boundaries, global_vocab):
        table = open_arrow(spill["path"])
        vocab = _vocab(spill["vocab"]) if spill.get("vocab") else None
        to_global = ""
        if vocab is not None:
            to_global = spill["path"].removesuffix(".arrow") + ".global.arrow"
            ids = pc.index_in(vocab, value_set=_vocab(global_vocab)).cast(pa.uint32())
            write_spill(to_global, pa.table({"id": ids}))
        cuts = [0] + [_bisect(table, b, vocab) for b in boundaries] + [table.num_rows]
        for shard in range(len(cuts) - 1):
            if cuts[shard + 1] > cuts[shard]:
                yield shard, (spill["path"], cuts[shard], cuts[shard + 1], to_global)


def merge_id_slices(parts: list[pa.Table], to_global: list[np.ndarray], vocab: pa.Array) -> pa.Table:
    """Slices of id spills (each with its map onto the global `vocab`) -> COUNTS_SCHEMA rows, summed and sorted.

    The ids are mapped onto global ids, then summed and sorted as integers. A word with a space
    inside (a custom segmenter's) would make different word tuples one text: then the rows are
    merged and sorted as text, as for the string spills.
    """
    mapped = []
    for part, to_union in zip(parts, to_global):
        orders = part.column("order").to_numpy(zero_copy_only=False)
        columns = [part.column("order")]
        for j in range(part.num_columns - 2):  # ids past a row's order stay 0, so equal n-grams group together
            ids = part.column(f"w{j}").to_numpy(zero_copy_only=False)
            if len(orders) < 2 or (orders[1:] >= orders[:-1]).all():  # a spill slice: rows of order > j are its tail
                first = int(np.searchsorted(orders, j + 1))
                ids = np.concatenate([np.zeros(first, np.uint32), to_union.take(ids[first:].astype(np.intp))])
            else:
                ids = np.where(orders > j, to_union.take(ids.astype(np.intp)), 0).astype(np.uint32)
            columns.append(pa.array(ids))
        mapped.append(pa.table(columns + [part.column("count")], schema=part.schema))
    table = merge_id_counts(mapped)
    if table is None:
        return COUNTS_SCHEMA.empty_table()
    if pc.any(pc.match_substring(vocab, " ")).as_py():  # equal texts from different id tuples: sum them
        return sort_table(sum_counts(id_counts_to_strings(table, vocab)))
    return id_counts_to_strings(table.take(pa.array(id_sort_indices(table, vocab))), vocab)


class MergeRange(beam.DoFn):
    """(range index, slices) -> the shard of that range: exact counts, sorted, min counts applied."""

    def __init__(self, tmp: str, num_shards: int, schema: pa.Schema, max_order: int, min_counts: list[int] | None):
        self.tmp, self.num_shards, self.schema = tmp, num_shards, schema
        self.max_order, self.min_counts = max_order, min_counts

    def process(self, shard_and_slices, global_vocab):
        shard, slices = shard_and_slices
        slices = sorted(s for s in slices if s)
        parts = [open_arrow(path).slice(start, stop - start) for path, start, stop, _ in slices]
        if any(to_global for *_, to_global in slices):
            maps = [open_arrow(m).column("id").to_numpy() for *_, m in slices]
            table = merge_id_slices(parts, maps, _vocab(global_vocab))
        else:
            table = sort_table(merge_tables(parts, self.schema)) if parts else self.schema.empty_table()
        orders = table.column("order").to_numpy(zero_copy_only=False)
        counts = table.column("count").to_numpy(zero_copy_only=False)
        coc = count_of_counts(orders, counts, self.max_order)
        unique = np.bincount(orders, minlength=self.max_order + 1)[1:]
        if self.min_counts and any(m > 1 for m in self.min_counts):
            minimum = np.asarray([0] + self.min_counts)[orders]
            table = table.filter(pa.array(counts >= minimum))
        table = table.combine_chunks()
        batches = table.to_batches(max_chunksize=BATCH_ROWS) if table.num_rows else []
        info = write_shard(batches, self.schema, f"{self.tmp}/{shard_name(shard, self.num_shards)}")
        info["kept_by_order"] = np.bincount(table.column("order").to_numpy(zero_copy_only=False),
                                            minlength=self.max_order + 1)[1:].tolist()
        info["unique_by_order"] = unique.tolist()
        info["count_of_counts"] = coc.tolist()
        yield info


class FinalizeCounts(beam.DoFn):
    """Checks the accounting, writes manifest (with count-of-counts and totals) and makes the output appear."""

    def __init__(self, tmp, output, kind, schema, params, extra, max_order):
        self.tmp, self.output, self.kind, self.schema = tmp, output, kind, schema
        self.params, self.extra, self.max_order = params, extra, max_order

    def process(self, _, shards, rejects, counts):
        shards = sorted(shards, key=lambda s: s["file"])
        coc = np.sum([s.pop("count_of_counts") for s in shards], axis=0).tolist()
        unique = np.sum([s.pop("unique_by_order") for s in shards], axis=0).tolist()
        kept_rows = np.sum([s.pop("kept_by_order") for s in shards], axis=0).tolist()
        counts = dict(counts)
        kept = counts.pop("kept", 0)
        accounting = input_accounting(counts, kept, 0)
        if accounting["rejected"] != sum(r["rows"] for r in rejects):
            raise RuntimeError(f"{accounting['rejected']} records rejected but {rejects} written")
        totals = {k: v for k, v in counts.items() if ":" not in k and k != "read"}
        histograms: dict = {}
        for key, value in counts.items():
            if key.startswith(("len:", "heaps:")):
                *path, last = key.split(":")
                node = histograms
                for p in path:
                    node = node.setdefault(p, {})
                node[last] = value
        orders = range(1, self.max_order + 1)
        extra = {**(self.extra or {}), "totals": totals,
                 "ngrams": {str(n): unique[n - 1] for n in orders},
                 "ngrams_written": {str(n): kept_rows[n - 1] for n in orders},
                 "count_of_counts": {str(n): {str(r + 1): v for r, v in enumerate(coc[n - 1]) if v}
                                     for n in orders}}
        if histograms:
            extra["histograms"] = {
                what: {name: dict(sorted(((int(k), v) for k, v in h.items())))
                       for name, h in sorted(group.items())} if what == "len" else
                dict(sorted((int(k), v) for k, v in group.items()))
                for what, group in histograms.items()}
        remove_tree(f"{self.tmp}/_spill")
        remove_tree(f"{self.tmp}/_spill_rejects")
        manifest = write_metadata(self.tmp, kind=self.kind, schema=self.schema, shards=shards,
                                  input_counts=accounting, params=self.params, extra=extra,
                                  rejects={"files": [r["file"] for r in rejects], "rows": accounting["rejected"],
                                           "sha256": [r["sha256"] for r in rejects]})
        commit(self.tmp, self.output)
        log.info("wrote %s: %d rows in %d shards", self.output, manifest["rows"], len(shards))
        yield manifest


class DropDuplicateDocuments(beam.PTransform):
    """Exact dedup before counting: of documents with equal content keys, the one with the smallest key stays."""

    def expand(self, rows):
        kept = (rows
                | "ByContent" >> beam.Map(lambda r: (r[KEY][:GROUP_BYTES], (r[KEY], r, 1)))
                | "KeepSmallest" >> beam.CombinePerKey(
                    lambda items: _smallest(items))
                | "Kept" >> beam.ParDo(_CountDuplicates()).with_outputs(COUNTS, main="rows"))
        return kept


def _smallest(items):
    best, n = None, 0
    for key, row, k in items:
        n += k
        if best is None or key < best[0]:
            best = (key, row)
    return (best[0], best[1], n) if best else None


class _CountDuplicates(CountingDoFn):
    def process(self, item):
        _, (_, row, n) = item
        if n > 1:
            # counted as read upstream: the dropped copies are filtered, the kept one is counted by the counter
            self.count("filtered:duplicate", n - 1)
        yield row


class WriteCounts(beam.PTransform):
    """{"rows": document rows, "rejects", "counts"} -> OUTPUT/ with count shards sorted by (order, ngram)."""

    def __init__(self, counter: SpillingCounter, output: str, kind: str, num_shards: int, params: dict,
                 max_order: int, min_counts: list[int] | None = None, extra: dict | None = None):
        super().__init__()
        self.counter, self.output, self.kind, self.num_shards = counter, output.rstrip("/"), kind, num_shards
        self.params, self.max_order, self.min_counts, self.extra = params, max_order, min_counts, extra
        parent, _, name = self.output.rpartition("/")
        suffix = f".{name}.incomplete-{uuid.uuid4().hex[:8]}"
        self.tmp = f"{parent}/{suffix}" if parent else suffix
        self.counter.spill_dir = f"{self.tmp}/_spill"

    def expand(self, inputs):
        tmp, n, schema = self.tmp, self.num_shards, self.counter.schema
        counted = inputs["rows"] | "CountPartials" >> beam.ParDo(self.counter).with_outputs(COUNTS, main="spills")
        spills = counted.spills
        boundaries = (spills
                      | "Samples" >> beam.Map(lambda s: s["sample"])
                      | "SmallestHashes" >> beam.CombineGlobally(SmallestHashes(SAMPLE_PER_SHARD * n))
                      | "Boundaries" >> beam.Map(range_boundaries, n))
        global_vocab = spills | "GlobalVocab" >> beam.CombineGlobally(UnionVocab(f"{tmp}/_spill/vocab.arrow"))
        slices = spills | "SplitSpills" >> beam.ParDo(SplitSpill(), beam.pvalue.AsSingleton(boundaries),
                                                      beam.pvalue.AsSingleton(global_vocab))
        every = inputs["rows"].pipeline | "EveryRange" >> beam.Create([(k, None) for k in range(n)])
        shards = ((slices, every)
                  | "AllSlices" >> beam.Flatten()
                  | "GroupByRange" >> beam.GroupByKey()
                  | "MergeRanges" >> beam.ParDo(MergeRange(tmp, n, schema, self.max_order, self.min_counts),
                                                beam.pvalue.AsSingleton(global_vocab)))
        rejects = (inputs["rejects"]
                   | "RejectRows" >> beam.Map(reject_row)
                   | "WriteRejects" >> WriteShards(f"{tmp}/_spill_rejects", REJECTS_SCHEMA, 1,
                                                   lambda batches, s, k: write_jsonl(batches, f"{tmp}/rejects/rejects.jsonl")))
        counts = ((inputs["counts"], counted.counts)
                  | "AllCounts" >> beam.Flatten()
                  | "MergeCounts" >> beam.CombineGlobally(MergeCounts()))
        finalize = FinalizeCounts(tmp, self.output, self.kind, schema, self.params, self.extra, self.max_order)
        return (inputs["rows"].pipeline
                | "Start" >> beam.Create([None])
                | "Finalize" >> beam.ParDo(finalize, beam.pvalue.AsList(shards), beam.pvalue.AsList(rejects),
                                           beam.pvalue.AsSingleton(counts)))
