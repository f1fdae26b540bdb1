"""Beam glue for counting: documents -> exact counts in shards sorted by (order, n-gram).

1. CountNgrams / CountWords (per worker): sentences -> units -> vectorised partial counts
   (corpusforge.objectives.ngrams), spilled as sorted Arrow files when a size bound is reached;
   hot n-grams (的, "the", "<s> 的") are summed inside the worker before anything is shuffled, and
   only spill file names travel. CountNgrams counts windows (the N tokens at each position) as word
   ids of a worker vocabulary (its spills are ids plus a vocabulary file); CountWords (`build stats`,
   corpusforge.beam.wordstats: its counter and its merge path), strings.
2. A content-defined sample of distinct windows / n-grams (the k smallest stable hashes, a combiner
   that never holds more than 2k) gives num_shards - 1 range boundaries: the same on any worker count.
3. Windows: the spills' vocabularies are united into one sorted global vocabulary. Every spill is cut
   at the boundaries (it is sorted: a binary search per boundary) and gets, once, the map of its word
   ids onto global ids. One task per range merges its slices as integers, sorts them in token order
   and derives every order's n-grams from adjacent windows; a prefix of the range's upper boundary
   also gets the counts of the windows past the boundary that start with it (SplitWindows' "fix").
   Each range writes one piece per order; one step plans the shards as equal shares of the pieces'
   rows in (order, range) order (one pass over the pieces), and each shard is written on its own
   (CountNgrams.write_ranges; CountWords has its own).
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

from corpusforge.beam.counting import COUNTS, CountingDoFn, MergeCounts, ThroughputLog
from corpusforge.beam.resume import record_inputs
from corpusforge.beam.sink import WriteRejects, fail_point, finish_dataset, input_accounting, open_arrow, \
    spill_path, write_spill
from corpusforge.dataset.writer import BATCH_ROWS, shard_name, write_shard
from corpusforge.objectives.ngrams import BOS, COUNT_OF_COUNTS_MAX, COUNTS_SCHEMA, EOS, RESERVED, _order_runs, \
    count_of_counts, count_windows, id_ngram_strings, merge_id_counts, ngram_hash, token_ranks, window_hash, \
    window_sort_indices, windows_to_ngrams

BATCH_TOKENS = 1_600_000  # tokens per vectorised counting call (~1.5 M distinct windows: about one spill)
BATCH_CHARS = 6_000_000  # characters of presegmented text per counting call (~1.6 M jieba words with their spaces)
SPILL_ROWS = 1_000_000  # distinct rows a worker holds before it writes a sorted spill file
SAMPLE_PER_SHARD = 256  # sampled distinct n-grams per output shard, for the range boundaries
RESERVED_TOKENS = pa.array(sorted(RESERVED), pa.string())


@dataclass(frozen=True)
class Units:
    """How a sentence becomes tokens: a segmenter's words (presegmented: split on whitespace) or characters."""

    segmenter: object  # corpusforge.tokenization.segment segmenter, picklable

    def split(self, sentence: str) -> list[str]:
        if self.segmenter.name == "presegmented":
            return sentence.split()
        words = [sentence[a:b] for a, b in self.segmenter.spans(sentence)]
        # an n-gram is its tokens joined by spaces, so a token holds none: a (custom) segmenter's word
        # with whitespace inside counts as its parts
        return " ".join(words).split() if " " in sentence or not sentence.isprintable() else words


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
        self.progress = ThroughputLog("count")

    def start_bundle(self):
        super().start_bundle()
        self.partials, self.partial_rows = [], 0
        self.tokens, self.lengths, self.texts, self.text_chars = [], [], [], 0

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

    def write_ranges(self, spills, samples, every, tmp: str, num_shards: int, max_order: int,
                     min_counts: list[int] | None, markers=None):
        """This counter's merge path: spill records (+ the sample, every range index) -> shard manifest entries;
        markers (resume.Markers): merges whose completion markers are intact are reused, not run again."""
        raise NotImplementedError

    def merge(self, tables: list[pa.Table]) -> pa.Table:
        return merge_tables(tables, self.schema)

    def add_partial(self):
        if self.lengths or self.texts:
            table = self.count_batch()
            self.tokens, self.lengths, self.texts, self.text_chars = [], [], [], 0
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
        path = spill_path(self.spill_dir)
        write_spill(path, table)
        fail_point("count_partials")
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
    """Document rows -> spill records of the distinct windows (count_windows) of every sentence.

    A window is the `order` tokens at a position of `<s> w1 .. wk </s>` (fewer at the end); its
    first n tokens are that position's n-gram, so the windows carry the counts of every order in
    about a third of the rows. Counting runs on word ids of a worker vocabulary (a dict, emptied
    after every spill); a spill file holds the windows in token order (window_sort_indices) and
    names its vocabulary file. Strings are made only for the sample and, in MergeWindows, for the
    n-grams written.
    """

    def __init__(self, units: Units, order: int, spill_dir: str, sample_size: int):
        super().__init__(units, spill_dir, sample_size)
        self.order = order

    def start_bundle(self):
        super().start_bundle()
        self.vocab, self.merged = {BOS: 0, EOS: 1}, False

    def process(self, row):
        self.count("kept")
        if self.units.segmenter.name == "presegmented":  # Arrow splits the batch's text (split_texts)
            self.texts.extend(row["sentences"])
            chars = sum(map(len, row["sentences"]))
            self.text_chars += chars
            self.progress.add(1, chars)
            if self.text_chars >= BATCH_CHARS:
                yield from self.add_partial()
            return
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

    def write_ranges(self, spills, samples, every, tmp: str, num_shards: int, max_order: int,
                     min_counts: list[int] | None, markers=None):
        """Windows ranged in token order (SplitWindows), each range's n-grams of every order (MergeWindows), the
        shards cut as equal shares of the pieces (plan_shards, WriteCountShards)."""
        boundaries = samples | "Boundaries" >> beam.Map(window_boundaries, num_shards)
        global_vocab = spills | "GlobalVocab" >> beam.CombineGlobally(UnionVocab(f"{tmp}/_spill/vocab.arrow"))
        slices = spills | "SplitSpills" >> beam.ParDo(SplitWindows(), beam.pvalue.AsSingleton(boundaries),
                                                      beam.pvalue.AsSingleton(global_vocab))
        ranges = ((slices, every)
                  | "AllSlices" >> beam.Flatten()
                  | "GroupByRange" >> beam.GroupByKey()
                  | "MergeRanges" >> beam.ParDo(MergeWindows(tmp, max_order, min_counts, markers),
                                                beam.pvalue.AsSingleton(boundaries),
                                                beam.pvalue.AsSingleton(global_vocab)))
        return (ranges
                | "AllRanges" >> beam.combiners.ToList()
                | "PlanShards" >> beam.FlatMap(plan_shards, num_shards)
                | "SpreadShards" >> beam.Reshuffle()
                | "WriteShards" >> beam.ParDo(WriteCountShards(tmp, num_shards, max_order, markers)))

    def split_texts(self) -> tuple[pa.Array, np.ndarray]:
        """The batch's sentences split on whitespace by Arrow (the same characters as str.split; checked
        for every code point in the tests), empty and reserved tokens dropped: (tokens, per-sentence lengths)."""
        # "x" last: Arrow's whitespace finder (pyarrow 25) decodes one code point past a string that ends in
        # whitespace; past the buffer's end that byte is garbage and, when invalid UTF-8, the tail stays unsplit
        lists = pc.utf8_split_whitespace(pa.array(self.texts + ["x"], pa.string())).slice(0, len(self.texts))
        offsets = lists.offsets.to_numpy()
        flat = lists.flatten()
        reserved = pc.is_in(flat, value_set=RESERVED_TOKENS).to_numpy(zero_copy_only=False)
        drop = reserved | (pc.binary_length(flat).to_numpy(zero_copy_only=False) == 0)  # around runs of spaces
        lengths = np.diff(offsets)
        if drop.any():
            dropped = np.concatenate([[0], np.cumsum(drop)])
            lengths = lengths - (dropped[offsets[1:]] - dropped[offsets[:-1]])
            flat = flat.filter(pa.array(~drop))
            if reserved.any():
                self.count("reserved_tokens_dropped", int(reserved.sum()))
        sentences = int(np.count_nonzero(lengths))
        self.count("sentences", sentences)
        if len(lengths) > sentences:
            self.count("empty_sentences", len(lengths) - sentences)
        self.count("tokens", int(lengths.sum()))
        return flat, lengths

    def count_batch(self):
        if self.texts:
            tokens, self.lengths = self.split_texts()
        else:
            tokens = pa.array(self.tokens, pa.string())
        encoded = tokens.dictionary_encode()  # distinct words of the batch
        vocab = self.vocab
        local = np.fromiter((vocab.setdefault(w, len(vocab)) for w in encoded.dictionary.to_pylist()), np.uint32,
                            len(encoded.dictionary))
        ids = local[encoded.indices.to_numpy(zero_copy_only=False)]
        ranks = token_ranks(pa.array(list(vocab), pa.string()))
        return count_windows(ids, self.lengths, self.order, vocab[BOS], vocab[EOS], ranks)  # in token order

    def merge(self, tables):
        self.merged = self.merged or len(tables) > 1  # hash aggregation loses count_windows' token order
        return merge_id_counts(tables)

    def spill(self):
        table = self.merge(self.partials)
        vocab = pa.array(list(self.vocab), pa.string())
        merged, self.merged = self.merged, False
        self.partials, self.partial_rows, self.vocab = [], 0, {BOS: 0, EOS: 1}
        if merged:
            table = table.take(pa.array(window_sort_indices(table, token_ranks(vocab)))).combine_chunks()
        hashes = window_hash(table, vocab)
        name = spill_path(self.spill_dir).removesuffix(".arrow")
        write_spill(f"{name}.arrow", table)
        fail_point("count_partials")
        write_spill(f"{name}.vocab.arrow", pa.table({"word": vocab}))
        k = min(self.sample_size, len(hashes))
        pick = np.sort(np.argpartition(hashes, k - 1)[:k]) if k else np.zeros(0, np.int64)
        picked = table.take(pa.array(pick))
        sample = sorted(zip(hashes[pick].tolist(), picked.column("order").to_pylist(),
                            id_ngram_strings(picked, vocab).to_pylist()))
        return {"path": f"{name}.arrow", "vocab": f"{name}.vocab.arrow", "rows": table.num_rows, "sample": sample}


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


def range_stats(table: pa.Table, max_order: int, min_counts: list[int] | None) -> tuple[pa.Table, dict]:
    """Count-of-counts and distinct n-grams per order of a range's rows, then --min-count applied."""
    orders = table.column("order").to_numpy(zero_copy_only=False)
    counts = table.column("count").to_numpy(zero_copy_only=False)
    info = {"count_of_counts": count_of_counts(orders, counts, max_order).tolist(),
            "unique_by_order": np.bincount(orders, minlength=max_order + 1)[1:].tolist()}
    if min_counts and any(m > 1 for m in min_counts):
        table = table.filter(pa.array(counts >= np.asarray([0] + min_counts)[orders]))
    info["kept_by_order"] = np.bincount(table.column("order").to_numpy(zero_copy_only=False),
                                        minlength=max_order + 1)[1:].tolist()
    return table.combine_chunks(), info


# -- windows (CountNgrams): ranges of windows in token order, every order derived inside its range --------

def window_boundaries(sample: list, num_ranges: int) -> list[tuple[str, ...]]:
    """num_ranges - 1 window cut points (token tuples) at the quantiles of the sample, sorted and distinct."""
    keys = sorted({tuple(g.split(" ")) for _, _, g in sample})
    return sorted({keys[len(keys) * i // num_ranges] for i in range(1, num_ranges)}) if keys else []


class _Rows:
    """A spill of windows as a sequence of token tuples (the first `n` tokens, when given): for bisect."""

    def __init__(self, table: pa.Table, words: list[str], n: int | None = None):
        self.lengths = table.column("order").to_numpy(zero_copy_only=False)
        self.columns = [table.column(f"w{j}").to_numpy(zero_copy_only=False) for j in range(table.num_columns - 2)]
        self.words, self.n = words, n

    def prefixes(self, n: int) -> "_Rows":
        """The same rows as their first n tokens (sharing the arrays)."""
        view = object.__new__(_Rows)
        view.lengths, view.columns, view.words, view.n = self.lengths, self.columns, self.words, n
        return view

    def __len__(self):
        return len(self.lengths)

    def __getitem__(self, i):
        n = int(self.lengths[i]) if self.n is None else min(self.n, int(self.lengths[i]))
        return tuple(self.words[self.columns[j][i]] for j in range(n))


class SplitWindows(beam.DoFn):
    """A spill of windows -> per range: ("slice", path, start, stop, global-id map path), and ("fix", n, count).

    Range k holds the windows in [b_k, b_k+1). A prefix p of b_k+1 that is >= b_k belongs to range k,
    but windows starting with p also lie in the ranges after it: their count is the fix of range k
    for order len(p) (this spill's part: one binary search and one sum), and the ranges after it
    drop p. The spill's map of its word ids onto the global vocabulary is written once, here."""

    def process(self, spill, boundaries, global_vocab):
        boundaries = [tuple(b) for b in boundaries]
        table, vocab = open_arrow(spill["path"]), _vocab(spill["vocab"])
        to_global = spill["path"].removesuffix(".arrow") + ".global.arrow"
        write_spill(to_global, pa.table({"id": pc.index_in(vocab, value_set=_vocab(global_vocab)).cast(pa.uint32())}))
        fail_point("split_windows")
        words = vocab.to_pylist()
        rows = _Rows(table, words)
        cuts = [0] + [bisect.bisect_left(rows, b) for b in boundaries] + [table.num_rows]
        for k in range(len(cuts) - 1):
            if cuts[k + 1] > cuts[k]:
                yield k, ("slice", spill["path"], cuts[k], cuts[k + 1], to_global)
        sums = np.concatenate([[0], np.cumsum(table.column("count").to_numpy(zero_copy_only=False))])
        for k, upper in enumerate(boundaries):  # range k ends where boundary `upper` begins
            lower = boundaries[k - 1] if k else None
            for n in range(1, len(upper)):
                prefix = upper[:n]
                if lower is not None and prefix < lower:
                    continue  # a prefix of the range's lower bound too: it belongs to an earlier range
                stop = bisect.bisect_right(rows.prefixes(n), prefix, lo=cuts[k + 1])
                if stop > cuts[k + 1]:
                    yield k, ("fix", n, int(sums[stop] - sums[cuts[k + 1]]))


def _global_ids(words: tuple[str, ...], vocab: list[str]) -> list[int]:
    """Ids of a boundary's words in the sorted global vocabulary (byte order is Python's str order)."""
    return [bisect.bisect_left(vocab, w) for w in words]


class MergeWindows(beam.DoFn):
    """(range index, slices and fixes) -> per order, the range's n-grams with exact counts, in token order,
    written as one piece file each (WriteCountShards cuts the shards from them)."""

    def __init__(self, tmp: str, max_order: int, min_counts: list[int] | None, markers=None):
        """markers (resume.Markers): a range whose completion marker is intact is not merged again."""
        self.tmp, self.max_order, self.min_counts, self.markers = tmp, max_order, min_counts, markers
        self._vocab = (None, None, None, None)

    def global_vocab(self, path):
        if self._vocab[0] != path:
            vocab = _vocab(path) if path else pa.array([], pa.string())
            self._vocab = (path, vocab, token_ranks(vocab), vocab.to_pylist())
        return self._vocab[1:]

    def process(self, range_and_items, boundaries, global_vocab):
        k, items = range_and_items
        done = self.markers and self.markers.read_output("ranges", k)
        if done:
            yield done
            return
        boundaries = [tuple(b) for b in boundaries]
        vocab, ranks, words = self.global_vocab(global_vocab)
        order = self.max_order
        slices = sorted(i for i in items if i and i[0] == "slice")
        fixes = np.zeros(order + 1, np.int64)
        for _, n, count in (i for i in items if i and i[0] == "fix"):
            fixes[n] += count
        mapped = []
        for _, path, start, stop, to_global in slices:
            part, ids = open_arrow(path).slice(start, stop - start), open_arrow(to_global).column("id").to_numpy()
            lengths = part.column("order").to_numpy(zero_copy_only=False)
            columns = [part.column("order")]
            for j in range(order):  # ids past a window's length stay 0, so equal windows group together
                w = ids.take(part.column(f"w{j}").to_numpy(zero_copy_only=False).astype(np.intp))
                columns.append(pa.array(w if (lengths > j).all() else np.where(lengths > j, w, 0).astype(np.uint32)))
            mapped.append(pa.table(columns + [part.column("count")], schema=part.schema))
        windows = merge_id_counts(mapped)
        if windows is not None:
            windows = windows.take(pa.array(window_sort_indices(windows, ranks))).combine_chunks()
        lower = _global_ids(boundaries[k - 1], words) if k else []
        upper = _global_ids(boundaries[k], words) if k < len(boundaries) else []
        per_order = windows_to_ngrams(windows, order) if windows is not None else \
            [([np.zeros(0, np.uint32)] * n, np.zeros(0, np.int64)) for n in range(1, order + 1)]
        tables = []
        for n, (columns, counts) in enumerate(per_order, 1):
            if n < len(lower) and len(counts) and all(c[0] == w for c, w in zip(columns, lower)):
                columns, counts = [c[1:] for c in columns], counts[1:]  # a prefix of the lower bound: an earlier range's
            if fixes[n]:  # the range's last n-gram of this order, or one more after it
                if len(counts) and all(c[-1] == w for c, w in zip(columns, upper)):
                    counts = counts.copy()
                    counts[-1] += fixes[n]
                else:
                    columns = [np.append(c, np.uint32(w)) for c, w in zip(columns, upper)]
                    counts = np.append(counts, fixes[n])
            texts = [pc.take(vocab, pa.array(c, pa.uint32())) for c in columns]
            grams = pc.binary_join_element_wise(*texts, " ") if n > 1 else texts[0]
            tables.append(pa.table([pa.array(np.full(len(counts), n, np.uint8)), grams, pa.array(counts, pa.int64())],
                                   schema=COUNTS_SCHEMA))
        table, stats = range_stats(pa.concat_tables(tables), order, self.min_counts)
        pieces = []
        for n, start, stop in _order_runs(table.column("order").to_numpy(zero_copy_only=False)):
            path = f"{self.tmp}/_spill/piece-{n:02d}-{k:05d}.arrow"
            write_spill(path, table.slice(start, stop - start))
            fail_point("merge_windows")
            pieces.append({"order": n, "range": k, "path": path, "rows": stop - start})
        if self.markers:
            self.markers.write_output("ranges", k, {"pieces": pieces, **stats})
        yield {"pieces": pieces, **stats}


def plan_shards(ranges: list[dict], num_shards: int):
    """All ranges' pieces -> (shard, [(path, start, stop)], totals or None) per shard: equal shares of the
    rows in (order, range) order, which is (order, n-gram) order. One pass over the pieces; shard 0
    carries the ranges' totals for the manifest."""
    pieces = sorted((p for r in ranges for p in r["pieces"]), key=lambda p: (p["order"], p["range"]))
    total = sum(p["rows"] for p in pieces)
    totals = {key: np.sum([r[key] for r in ranges], axis=0).tolist()
              for key in ("count_of_counts", "unique_by_order", "kept_by_order")}
    at, i = 0, 0
    for shard in range(num_shards):
        first, end = total * shard // num_shards, total * (shard + 1) // num_shards
        slices = []
        while i < len(pieces) and at + pieces[i]["rows"] <= first:  # pieces wholly before this shard
            at += pieces[i]["rows"]
            i += 1
        j, start = i, at
        while j < len(pieces) and start < end:
            lo, hi = max(first, start), min(end, start + pieces[j]["rows"])
            if lo < hi:
                slices.append((pieces[j]["path"], lo - start, hi - start))
            start += pieces[j]["rows"]
            j += 1
        yield shard, slices, totals if shard == 0 else None


class WriteCountShards(beam.DoFn):
    """(shard, slices of pieces, totals) -> that shard, written; its manifest entry with the totals (zeros but
    on shard 0)."""

    def __init__(self, tmp: str, num_shards: int, max_order: int, markers=None):
        """markers (resume.Markers): a shard whose completion marker is intact is not written again."""
        self.tmp, self.num_shards, self.max_order, self.markers = tmp, num_shards, max_order, markers

    def process(self, plan):
        shard, slices, totals = plan
        done = self.markers and self.markers.read_output("shards", shard)
        if done:
            yield done
            return
        batches = [b for path, start, stop in slices
                   for b in open_arrow(path).slice(start, stop - start).combine_chunks().to_batches(BATCH_ROWS)]
        info = write_shard(batches, COUNTS_SCHEMA, f"{self.tmp}/{shard_name(shard, self.num_shards)}")
        fail_point("write_count_shards")
        zeros = {"count_of_counts": np.zeros((self.max_order, COUNT_OF_COUNTS_MAX), np.int64).tolist(),
                 "unique_by_order": [0] * self.max_order, "kept_by_order": [0] * self.max_order}
        info = {**info, **(totals or zeros)}
        if self.markers:
            self.markers.write_output("shards", shard, info)
        yield info


class FinalizeCounts(beam.DoFn):
    """Checks the accounting, writes manifest (with count-of-counts and totals) and makes the output appear."""

    def __init__(self, tmp, output, kind, schema, params, extra, max_order):
        self.tmp, self.output, self.kind, self.schema = tmp, output, kind, schema
        self.params, self.extra, self.max_order = params, extra, max_order

    def process(self, _, shards, rejects, counts):
        shards = sorted((dict(s) for s in shards), key=lambda s: s["file"])  # copies: a retry gets the same input
        coc = np.sum([s.pop("count_of_counts") for s in shards], axis=0).tolist()
        unique = np.sum([s.pop("unique_by_order") for s in shards], axis=0).tolist()
        kept_rows = np.sum([s.pop("kept_by_order") for s in shards], axis=0).tolist()
        counts = dict(counts)
        kept = counts.pop("kept", 0)
        accounting = input_accounting(counts, kept, 0)
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
        yield finish_dataset(self.tmp, self.output, kind=self.kind, schema=self.schema, shards=shards,
                             accounting=accounting, rejects=rejects, params=self.params, extra=extra)


COUNT_INPUTS = "count-inputs"  # the resume.RecordInputs marker of every counting spill, the counts and the rejects


class WriteCounts(beam.PTransform):
    """{"rows": document rows, "rejects", "counts"} -> OUTPUT/ with count shards sorted by (order, ngram); or
    {"spills": spill records a killed build recorded (resume.reused_inputs), "rejects", "counts"}: the counting is
    not run again."""

    def __init__(self, counter: SpillingCounter, output: str, kind: str, num_shards: int, params: dict,
                 max_order: int, min_counts: list[int] | None = None, extra: dict | None = None,
                 tmp: str | None = None, markers=None):
        """tmp: the temporary directory (default: a new one); markers (resume.Markers): the counting's spills, the
        merged ranges, the shards and the rejects are recorded, and those whose markers are intact reused."""
        super().__init__()
        self.counter, self.output, self.kind, self.num_shards = counter, output.rstrip("/"), kind, num_shards
        self.params, self.max_order, self.min_counts, self.extra = params, max_order, min_counts, extra
        parent, _, name = self.output.rpartition("/")
        suffix = f".{name}.incomplete-{uuid.uuid4().hex[:8]}"
        self.tmp = tmp or (f"{parent}/{suffix}" if parent else suffix)
        self.counter.spill_dir, self.markers = f"{self.tmp}/_spill", markers

    def expand(self, inputs):
        tmp, n, schema = self.tmp, self.num_shards, self.counter.schema
        pipeline = inputs["rejects"].pipeline
        if "spills" in inputs:
            spills, counts = inputs["spills"], [inputs["counts"]]
        else:
            counted = inputs["rows"] | "CountPartials" >> beam.ParDo(self.counter).with_outputs(COUNTS, main="spills")
            spills, counts = counted.spills, [inputs["counts"], counted.counts]
            if self.markers:
                record_inputs(pipeline, self.markers, COUNT_INPUTS, spills, counts, inputs["rejects"])
        samples = (spills
                   | "Samples" >> beam.Map(lambda s: s["sample"])
                   | "SmallestHashes" >> beam.CombineGlobally(SmallestHashes(SAMPLE_PER_SHARD * n)))
        every = pipeline | "EveryRange" >> beam.Create([(k, None) for k in range(n)])
        shards = self.counter.write_ranges(spills, samples, every, tmp, n, self.max_order, self.min_counts,
                                           self.markers)
        rejects = inputs["rejects"] | "WriteRejects" >> WriteRejects(tmp, self.markers)
        counts = (tuple(counts)
                  | "AllCounts" >> beam.Flatten()
                  | "MergeCounts" >> beam.CombineGlobally(MergeCounts()))
        finalize = FinalizeCounts(tmp, self.output, self.kind, schema, self.params, self.extra, self.max_order)
        return (pipeline
                | "Start" >> beam.Create([None])
                | "Finalize" >> beam.ParDo(finalize, beam.pvalue.AsList(shards), beam.pvalue.AsList(rejects),
                                           beam.pvalue.AsSingleton(counts)))
