"""Exact n-gram counting, vectorised: token lists -> (order, ngram, count) Arrow tables.

Sentences are counted as KenLM's lmplz and SRILM's ngram-count count them: `<s> w1 ... wk </s>`,
every window of 1..N tokens inside that (so `<s>` is a unigram once per sentence and `</s>` ends
every sentence); an empty sentence counts nothing. An n-gram is its tokens joined by one space.

No Python object is made per n-gram occurrence: a batch of sentences becomes one flat array of
word ids, the windows of each order are columns of that array, and Arrow's hash aggregation
(`group_by`) counts them (count_ngram_ids). The Beam pipeline keeps the counts as ids: partial
tables merge on the id columns (merge_id_counts), sort in text order from word ranks
(id_sort_indices) and hash as their text would (id_ngram_hash); the text is joined only for the
rows written (id_counts_to_strings). count_ngrams / merge_counts / sort_counts / ngram_hash are
the same on string tables.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
RESERVED = frozenset((BOS, EOS, UNK))
COUNTS_SCHEMA = pa.schema([pa.field("order", pa.uint8()), pa.field("ngram", pa.string()),
                           pa.field("count", pa.int64())])
MAX_ORDER = 10
K1, K2, K3 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # ngram_hash's multipliers
HASH_CHUNK_BYTES = 1 << 18  # ngram_hash works through the string bytes this many at a time (cache-sized)
COUNT_OF_COUNTS_MAX = 10  # n_r is kept for r = 1..10 (Good-Turing / Katz use up to r = k + 1 = 6)


def empty_counts() -> pa.Table:
    return COUNTS_SCHEMA.empty_table()


def count_ngrams(tokens: list[str], lengths: list[int] | np.ndarray, order: int) -> pa.Table:
    """Counts every 1..order-gram of the sentences given as flat `tokens` and per-sentence `lengths`.

    Each sentence is wrapped in <s> ... </s>; sentences of length 0 are skipped. Returns a table
    with COUNTS_SCHEMA, one row per distinct (order, n-gram), unsorted.
    """
    if not any(lengths):
        return empty_counts()
    encoded = pa.array(tokens, pa.string()).dictionary_encode()
    words = encoded.dictionary
    vocab = pa.concat_arrays([words, pa.array([BOS, EOS], pa.string())])
    ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.uint32)
    table = count_ngram_ids(ids, lengths, order, len(words), len(words) + 1)
    return id_counts_to_strings(table, vocab)


def id_columns(order: int) -> list[str]:
    return [f"w{j}" for j in range(order)]


def id_counts_schema(order: int) -> pa.Schema:
    """Counts keyed by word ids: order, w0 .. w{order-1} (uint32; 0 past the row's own order), count."""
    return pa.schema([pa.field("order", pa.uint8()), *(pa.field(c, pa.uint32()) for c in id_columns(order)),
                      pa.field("count", pa.int64())])


def count_ngram_ids(ids: np.ndarray, lengths: list[int] | np.ndarray, order: int, bos: int, eos: int) -> pa.Table:
    """count_ngrams on word ids (`bos` / `eos`: the ids of <s> / </s>): a table with id_counts_schema(order)."""
    return count_ngram_prefixes(ids, lengths, order, bos, eos)[0]


def count_ngram_prefixes(ids: np.ndarray, lengths: list[int] | np.ndarray, order: int, bos: int,
                         eos: int) -> tuple[pa.Table, np.ndarray]:
    """count_ngram_ids, and for every row the row of its first n - 1 words (-1 for a unigram).

    The rows come by order. Each order is one hash pass over one int64 key per window: the row
    number of its (n - 1)-word prefix among the (n - 1)-grams (known from the pass before) times the
    vocabulary size, plus its last word; the key's dictionary index is the window's row number.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    lengths = lengths[lengths > 0]
    if not len(lengths):
        return id_counts_schema(order).empty_table(), np.zeros(0, np.int64)
    # padded sequence: sentence i occupies [start_i, start_i + len_i + 2)
    padded_len = lengths + 2
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(padded_len[:-1], out=starts[1:])
    total = int(padded_len.sum())
    seq = np.empty(total, dtype=np.uint32)
    is_boundary = np.zeros(total, dtype=bool)
    is_boundary[starts] = True
    is_boundary[starts + padded_len - 1] = True
    seq[starts] = bos
    seq[starts + padded_len - 1] = eos
    seq[~is_boundary] = ids
    size = np.int64(int(seq.max()) + 1)
    # position p can start an n-gram of order n when p + n <= end of its sentence
    sentence_end = np.repeat(starts + padded_len, padded_len)
    room = sentence_end - np.arange(total)
    parts, prefixes, words, row_of = [], [], [], np.empty(total, np.int64)
    for n in range(1, order + 1):
        begin = np.nonzero(room >= n)[0]
        key = seq[begin + n - 1].astype(np.int64)
        if n > 1:
            key += row_of[begin] * size  # the windows of order n start where windows of order n - 1 do
        encoded = pc.dictionary_encode(pa.array(key))
        distinct = encoded.dictionary.to_numpy()
        row_of[begin] = codes = encoded.indices.to_numpy()
        counts = np.bincount(codes, minlength=len(distinct))
        prefix = distinct // size
        words = [w.take(prefix) for w in words] + [(distinct % size).astype(np.uint32)]
        first = sum(len(p) for p in parts[:-1])  # the first row of order n - 1
        prefixes.append(prefix + first if n > 1 else np.full(len(distinct), -1, np.int64))
        rows = len(distinct)
        columns = [pa.array(np.full(rows, n, np.uint8))] + [pa.array(w) for w in words]
        columns += [pa.array(np.zeros(rows, np.uint32)) for _ in range(n, order)]
        parts.append(pa.table(columns + [pa.array(counts)], schema=id_counts_schema(order)))
    return pa.concat_tables(parts).combine_chunks(), np.concatenate(prefixes)


def id_order(table: pa.Table) -> int:
    return len(table.schema) - 2


def merge_id_counts(tables: list[pa.Table]) -> pa.Table:
    """merge_counts for tables keyed by word ids of one vocabulary."""
    tables = [t for t in tables if t.num_rows]
    if len(tables) <= 1:
        return tables[0] if tables else None
    order = id_order(tables[0])
    keys = ["order", *id_columns(order)]
    summed = pa.concat_tables(tables).group_by(keys, use_threads=False).aggregate([("count", "sum")])
    return pa.table([summed.column(k) for k in keys] + [summed.column("count_sum")], schema=id_counts_schema(order))


def _ranks(strings: pa.Array) -> np.ndarray:
    rank = np.empty(len(strings), np.int64)
    rank[pc.sort_indices(strings).to_numpy()] = np.arange(len(strings))
    return rank


def _order_runs(orders: np.ndarray) -> list[tuple[int, int, int]]:
    """(order, start, stop) of every run of equal orders (one per order when the rows are sorted)."""
    cuts = [0, *(np.flatnonzero(np.diff(orders)) + 1).tolist(), len(orders)]
    return [(int(orders[a]), a, b) for a, b in zip(cuts[:-1], cuts[1:])]


def id_sort_indices(table: pa.Table, vocab: pa.Array) -> np.ndarray:
    """The row order of sort_counts (order, then n-gram text), computed from word ranks, not strings.

    With no space inside a word, comparing "a1 a2 .. an" with "b1 b2 .. bn" byte-wise is comparing
    the words in turn, except that a word followed by more words is compared with " " appended
    (so "a\x01" sorts after "a b"): all but the last word are ranked by word + " ", the last by
    the word. Per order, the ranks are packed into one uint64 key, most significant first; when it is
    full, it is replaced by its dense rank among the rows (one more argsort) and packing goes on.
    """
    orders = table.column("order").to_numpy(zero_copy_only=False)
    mid = _ranks(pc.binary_join_element_wise(vocab, pa.scalar(""), " ")).astype(np.uint64)
    last = _ranks(vocab).astype(np.uint64)
    bits = max(1, int(len(vocab)).bit_length())
    out = []
    for n in np.unique(orders).tolist():
        rows = np.flatnonzero(orders == n)
        key, used = np.zeros(len(rows), np.uint64), 0
        for j in range(n):
            ids = table.column(f"w{j}").to_numpy(zero_copy_only=False).take(rows).astype(np.intp)
            rank = (mid if j < n - 1 else last).take(ids)
            if used + bits > 64:  # the key is full: it becomes the dense rank of its value among the rows
                pick = np.argsort(key)
                new = np.ones(len(key), np.uint64)
                new[0] = 0
                np.not_equal(key[pick][1:], key[pick][:-1], out=new[1:], casting="unsafe")
                key[pick] = np.cumsum(new)
                used = max(1, len(rows).bit_length())
            key = (key << np.uint64(bits)) | rank
            used += bits
        out.append(rows[np.argsort(key)])  # distinct n-grams: no ties
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def id_ngram_strings(table: pa.Table, vocab: pa.Array) -> pa.Array:
    """The n-gram text of every row: its words joined by one space."""
    orders = table.column("order").to_numpy(zero_copy_only=False)
    parts = []
    for n, start, stop in _order_runs(orders):
        words = [pc.take(vocab, table.column(f"w{j}").slice(start, stop - start)) for j in range(n)]
        parts.append(pc.binary_join_element_wise(*words, " ") if n > 1 else words[0])
    chunks = [c for p in parts for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])]
    return pa.concat_arrays(chunks) if chunks else pa.array([], pa.string())


def id_counts_to_strings(table: pa.Table, vocab: pa.Array) -> pa.Table:
    return pa.table([table.column("order"), id_ngram_strings(table, vocab), table.column("count")],
                    schema=COUNTS_SCHEMA)


def merge_counts(tables: list[pa.Table]) -> pa.Table:
    """Sums the counts of equal (order, n-gram) across partial tables."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return empty_counts()
    return tables[0] if len(tables) == 1 else sum_counts(pa.concat_tables(tables))


def sum_counts(table: pa.Table) -> pa.Table:
    """One row per (order, n-gram), counts summed (a table whose rows may repeat an n-gram)."""
    summed = table.group_by(["order", "ngram"], use_threads=False).aggregate([("count", "sum")])
    return pa.table([summed.column("order"), summed.column("ngram"), summed.column("count_sum")],
                    schema=COUNTS_SCHEMA)


def sort_counts(table: pa.Table) -> pa.Table:
    """By order, then n-gram (byte order of the UTF-8 text, which is code point order)."""
    if not table.num_rows:
        return table
    return table.take(pc.sort_indices(table, [("order", "ascending"), ("ngram", "ascending")]))


def _strings(column) -> pa.Array:
    strings = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.chunk(0) if strings.num_chunks else pa.array([], pa.string())
    return strings


def _byte_sums(strings: pa.Array) -> tuple[np.ndarray, ...]:
    """Per string (uint64, wrapping): its length L, sum b_p, sum b_p * p and sum of b_p at even p
    (b_p: the byte at position p of the string), from prefix sums over cache-sized chunks."""
    n = len(strings)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=n + 1, offset=strings.offset * 4).astype(np.int64)
    data = np.frombuffer(strings.buffers()[2], dtype=np.uint8) if strings.buffers()[2] else np.zeros(0, np.uint8)
    total, weighted, even = (np.zeros(n, np.uint64) for _ in range(3))
    first = 0
    with np.errstate(over="ignore"):
        while first < n:
            last = int(np.searchsorted(offsets, offsets[first] + HASH_CHUNK_BYTES, side="right")) - 1
            last = min(max(last, first + 1), n)
            lo, hi = int(offsets[first]), int(offsets[last])
            b = data[lo:hi].astype(np.uint64)
            i = np.arange(hi - lo, dtype=np.uint64)
            cb, cbi, ce = (np.zeros(hi - lo + 1, np.uint64) for _ in range(3))  # prefix sums, 0 first
            np.cumsum(b, out=cb[1:])
            np.cumsum(b * i, out=cbi[1:])
            b[1::2] = 0
            np.cumsum(b, out=ce[1:])
            start, end = offsets[first:last] - lo, offsets[first + 1:last + 1] - lo
            total[first:last] = s_b = cb[end] - cb[start]
            weighted[first:last] = cbi[end] - cbi[start] - start.astype(np.uint64) * s_b
            s_e = ce[end] - ce[start]
            even[first:last] = np.where(start % 2 == 0, s_e, s_b - s_e)
            first = last
    return np.diff(offsets).astype(np.uint64), total, weighted, even


def _finish_hash(lengths, weighted, even, orders) -> np.ndarray:
    # sum_p b_p * ((p * K1) | 1) + p; since K1 is odd, (p * K1) | 1 = p * K1 + [p even], so this is
    # K1 * sum(b_p * p) + sum(b_p, p even) + L(L-1)/2
    with np.errstate(over="ignore"):
        h = np.uint64(K1) * weighted + even + lengths * (lengths - np.uint64(1)) // np.uint64(2)
        h ^= orders.astype(np.uint64) * np.uint64(K2)
        h ^= lengths << np.uint64(40)
        h ^= h >> np.uint64(30)
        h *= np.uint64(K2)
        h ^= h >> np.uint64(27)
        h *= np.uint64(K3)
        h ^= h >> np.uint64(31)
    return h


def ngram_hash(table: pa.Table) -> np.ndarray:
    """A stable 64-bit hash of every (order, n-gram) row, vectorised over the string buffer.

    Used to draw a content-defined sample of distinct n-grams (the same on any worker count). Its
    values are fixed (range boundaries, hence shard contents, depend on them): every byte b at
    position p of the string adds b * ((p * K1) | 1) + p, mod 2**64; then order and length are mixed
    in and splitmix64's finaliser is applied.
    """
    strings = _strings(table.column("ngram"))
    if not len(strings):
        return np.zeros(0, dtype=np.uint64)
    lengths, _, weighted, even = _byte_sums(strings)
    return _finish_hash(lengths, weighted, even, table.column("order").to_numpy())


def _hash_inputs(table: pa.Table, vocab: pa.Array):
    """Per-word byte sums of the vocabulary (length, total, weighted, even, odd), the rows' orders, and three
    zeroed per-row sums (length, weighted, even) for id_ngram_hash and prefix_ngram_hash to fill."""
    length, total, weighted, even = _byte_sums(_strings(vocab)) if len(vocab) else [np.zeros(0, np.uint64)] * 4
    orders = table.column("order").to_numpy(zero_copy_only=False)
    return (length, total, weighted, even, total - even), orders, tuple(np.zeros(len(orders), np.uint64) for _ in range(3))


def id_ngram_hash(table: pa.Table, vocab: pa.Array) -> np.ndarray:
    """ngram_hash of the rows' text, from per-word byte sums instead of the joined strings.

    A word at offset o of the n-gram adds o * sum(b) to sum(b_p * p), and its even-position bytes are
    its own even ones when o is even, else its odd ones; each space (byte 32) sits at o - 1.
    """
    (length, total, weighted, even, odd_bytes), orders, (h_len, h_weighted, h_even) = _hash_inputs(table, vocab)
    one, five = np.uint64(1), np.uint64(5)
    with np.errstate(over="ignore"):
        for n, start, stop in _order_runs(orders):
            at = np.zeros(stop - start, np.uint64)  # offset of word j in the n-gram text
            hw, he = h_weighted[start:stop], h_even[start:stop]  # views
            for j in range(n):
                w = table.column(f"w{j}").slice(start, stop - start).to_numpy(zero_copy_only=False).astype(np.intp)
                if j:
                    odd = (at & one).astype(bool)
                    hw += (at - one) << five  # the space (32) before word j, at offset at - 1
                    he += odd.astype(np.uint64) << five  # at - 1 is even when at is odd
                    hw += weighted.take(w) + at * total.take(w)
                    he += np.where(odd, odd_bytes.take(w), even.take(w))  # at odd: the word's odd bytes
                else:
                    hw += weighted.take(w)
                    he += even.take(w)
                at += length.take(w) + one
            h_len[start:stop] = at - one
    return _finish_hash(h_len, h_weighted, h_even, orders)


def prefix_ngram_hash(table: pa.Table, prefix: np.ndarray, vocab: pa.Array) -> np.ndarray:
    """id_ngram_hash, one step per row: a row's sums are its prefix row's (count_ngram_prefixes) plus
    a space and its last word at the prefix's length + 1."""
    (length, total, weighted, even, odd_bytes), orders, (h_len, h_weighted, h_even) = _hash_inputs(table, vocab)
    one, five = np.uint64(1), np.uint64(5)
    with np.errstate(over="ignore"):
        for n, start, stop in _order_runs(orders):
            w = table.column(f"w{n - 1}").slice(start, stop - start).to_numpy(zero_copy_only=False).astype(np.intp)
            if n == 1:
                h_len[start:stop], h_weighted[start:stop], h_even[start:stop] = length[w], weighted[w], even[w]
                continue
            q = prefix[start:stop]
            at = h_len.take(q) + one  # offset of the last word
            odd = (at & one).astype(bool)
            h_len[start:stop] = at + length.take(w)
            h_weighted[start:stop] = h_weighted.take(q) + ((at - one) << five) + weighted.take(w) + at * total.take(w)
            h_even[start:stop] = h_even.take(q) + (odd.astype(np.uint64) << five) + np.where(odd, odd_bytes.take(w),
                                                                                               even.take(w))
    return _finish_hash(h_len, h_weighted, h_even, orders)


def prefix_sort_indices(table: pa.Table, prefix: np.ndarray, vocab: pa.Array) -> np.ndarray | None:
    """id_sort_indices, one uint64 key per row: its prefix row's rank, then its last word's rank.

    Comparing n-grams of one order by their (n - 1)-word prefix first is text order only when no
    word is empty or holds a byte <= " " (with one, "a\x01 b" < "a c" though "a" < "a\x01"):
    then None (use id_sort_indices)."""
    strings = _strings(vocab)
    offsets = np.frombuffer(strings.buffers()[1], np.int32, len(strings) + 1, strings.offset * 4)
    data = np.frombuffer(strings.buffers()[2], np.uint8)[offsets[0]:offsets[-1]] if strings.buffers()[2] else []
    if (np.diff(offsets) == 0).any() or (np.asarray(data) <= 32).any():
        return None
    last = _ranks(vocab).astype(np.uint64)
    bits = np.uint64(max(1, int(len(vocab)).bit_length()))
    orders = table.column("order").to_numpy(zero_copy_only=False)
    rank, out = np.zeros(len(orders), np.uint64), []
    for n, start, stop in _order_runs(orders):
        key = last.take(table.column(f"w{n - 1}").slice(start, stop - start).to_numpy(zero_copy_only=False))
        if n > 1:
            key |= rank.take(prefix[start:stop]) << bits
        pick = np.argsort(key)  # distinct n-grams: no ties
        rank[start + pick] = np.arange(stop - start, dtype=np.uint64)
        out.append(start + pick)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def count_of_counts(orders: np.ndarray, counts: np.ndarray, max_order: int,
                    max_r: int = COUNT_OF_COUNTS_MAX) -> np.ndarray:
    """n_r per order: out[n - 1, r - 1] = number of distinct n-grams seen exactly r times (r <= max_r)."""
    out = np.zeros((max_order, max_r), dtype=np.int64)
    keep = (counts >= 1) & (counts <= max_r)
    np.add.at(out, (orders[keep].astype(np.int64) - 1, counts[keep] - 1), 1)
    return out


def parse_min_counts(spec: str | None, order: int) -> list[int]:
    """'1,1,2' -> minimum count per order (the last value repeats for higher orders)."""
    if not spec:
        return [1] * order
    try:
        values = [int(v) for v in spec.split(",")]
    except ValueError:
        raise ValueError(f"--min-count {spec!r} is not a comma-separated list of integers") from None
    if any(v < 1 for v in values):
        raise ValueError(f"--min-count {spec!r} has a value below 1")
    if len(values) > order:
        raise ValueError(f"--min-count {spec!r} gives {len(values)} values for order {order}")
    return values + [values[-1]] * (order - len(values))
