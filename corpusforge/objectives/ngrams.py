"""Exact n-gram counting, vectorised: token lists -> (order, ngram, count) Arrow tables.

Sentences are counted as KenLM's lmplz and SRILM's ngram-count count them: `<s> w1 ... wk </s>`,
every window of 1..N tokens inside that (so `<s>` is a unigram once per sentence and `</s>` ends
every sentence); an empty sentence counts nothing. An n-gram is its tokens joined by one space.

No Python object is made per n-gram occurrence: a batch of sentences becomes one flat array of
word ids, and Arrow's hash encoding counts its windows (count_ngram_ids: every order;
count_windows: the N tokens at each position, which carry every order in a third of the rows).
The Beam pipeline keeps windows as ids: partial tables merge on the id columns (merge_id_counts),
sort in token order from word ranks (window_sort_indices), hash by their tokens (window_hash), and
give every order's counts once sorted (windows_to_ngrams); the text is joined only for the rows
written (id_counts_to_strings). count_ngrams / merge_counts / sort_counts / ngram_hash are the same
on string tables.
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


def _padded(ids: np.ndarray, lengths: list[int] | np.ndarray, bos: int, eos: int):
    """Sentences as one id sequence `<s> w1 .. wk </s> <s> ...` (empty ones skipped) and, per position,
    how many positions are left in its sentence (>= 1)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    lengths = lengths[lengths > 0] + 2
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    total = int(lengths.sum())
    seq = np.empty(total, dtype=np.uint32)
    inner = np.ones(total, dtype=bool)
    inner[starts] = inner[starts + lengths - 1] = False
    seq[starts], seq[starts + lengths - 1], seq[inner] = bos, eos, ids
    return seq, np.repeat(starts + lengths, lengths) - np.arange(total)


def count_ngram_ids(ids: np.ndarray, lengths: list[int] | np.ndarray, order: int, bos: int, eos: int) -> pa.Table:
    """count_ngrams on word ids (`bos` / `eos`: the ids of <s> / </s>): a table with id_counts_schema(order).

    The rows come by order. Each order is one hash pass over one int64 key per window: the row
    number of its (n - 1)-word prefix among the (n - 1)-grams (known from the pass before) times the
    vocabulary size, plus its last word; the key's dictionary index is the window's row number.
    """
    if not any(lengths):
        return id_counts_schema(order).empty_table()
    seq, room = _padded(ids, lengths, bos, eos)
    size = np.int64(int(seq.max()) + 1)
    parts, words, row_of = [], [], np.empty(len(seq), np.int64)
    for n in range(1, order + 1):
        begin = np.nonzero(room >= n)[0]
        key = seq[begin + n - 1].astype(np.int64)
        if n > 1:
            key += row_of[begin] * size  # the windows of order n start where windows of order n - 1 do
        encoded = pc.dictionary_encode(pa.array(key))
        distinct = encoded.dictionary.to_numpy()
        row_of[begin] = codes = encoded.indices.to_numpy()
        words = [w.take(distinct // size) for w in words] + [(distinct % size).astype(np.uint32)]
        rows = len(distinct)
        columns = [pa.array(np.full(rows, n, np.uint8))] + [pa.array(w) for w in words]
        columns += [pa.array(np.zeros(rows, np.uint32)) for _ in range(n, order)]
        parts.append(pa.table(columns + [pa.array(np.bincount(codes, minlength=rows))], schema=id_counts_schema(order)))
    return pa.concat_tables(parts).combine_chunks()


def _dense(key: np.ndarray) -> np.ndarray:
    """Each key's dense rank among the distinct keys (a full packed key becomes a short one)."""
    pick = np.argsort(key)
    new = np.empty(len(key), np.uint64)
    new[:1] = 0
    np.not_equal(key[pick][1:], key[pick][:-1], out=new[1:], casting="unsafe")
    rank = np.empty(len(key), np.uint64)
    rank[pick] = np.cumsum(new)
    return rank


def _token_key(ranks_by_word, rows: int, vocab_size: int) -> np.ndarray:
    """One uint64 key per row that sorts as the rows' word ranks in turn (0 = past the row's end): the
    ranks are packed most significant first; when the key is full it becomes its dense rank."""
    bits = np.uint64(int(vocab_size + 1).bit_length())
    key, used = np.zeros(rows, np.uint64), 0
    for rank in ranks_by_word:
        if used + int(bits) > 64:
            key, used = _dense(key), max(1, rows.bit_length())
        key = (key << bits) | rank
        used += int(bits)
    return key


def count_windows(ids: np.ndarray, lengths: list[int] | np.ndarray, order: int, bos: int, eos: int,
                  ranks: np.ndarray | None = None) -> pa.Table:
    """The distinct windows of a batch and their counts: at every position of `<s> w1 .. wk </s>` the
    `order` tokens that start there, fewer where the sentence ends sooner (a table with
    id_counts_schema(order) whose `order` column is the window's length).

    Every n-gram occurrence is the first n tokens of exactly one window (the one at its position),
    so the windows carry the counts of every order in about a third of the rows (windows_to_ngrams
    recovers them). With the vocabulary's token_ranks the rows come in token order (as
    window_sort_indices sorts them), else in id order: one sort of the positions by their window's
    key (_token_key), then equal runs."""
    if not any(lengths):
        return id_counts_schema(order).empty_table()
    seq, room = _padded(ids, lengths, bos, eos)
    total = len(seq)
    length = np.minimum(room, order).astype(np.uint8)
    rank = seq.astype(np.uint64) + np.uint64(1) if ranks is None else ranks.take(seq)

    def word(j):  # the rank of each position's j-th window word; 0 past the window's end (shorter sorts first)
        r = np.zeros(total, np.uint64)
        r[:total - j] = rank[j:]
        r[length <= j] = 0
        return r

    key = _token_key((word(j) for j in range(order)), total, int(seq.max()) + 1 if ranks is None else len(ranks))
    pick = np.argsort(key)
    key = key[pick]
    new = np.empty(total, bool)
    new[:1] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    first = pick[starts]  # one position of each distinct window
    sizes = length[first]
    columns = [pa.array(sizes)]
    for j in range(order):
        w = seq.take(np.minimum(first + j, total - 1))
        columns.append(pa.array(np.where(sizes > j, w, 0).astype(np.uint32)))  # 0 past the row's length
    counts = np.diff(np.append(starts, total))
    return pa.table(columns + [pa.array(counts)], schema=id_counts_schema(order))


def token_ranks(vocab: pa.Array) -> np.ndarray:
    """Each word's rank in byte order, plus 1 (0 stands for "no word": a shorter window sorts first)."""
    return (_ranks(vocab) + 1).astype(np.uint64)


def window_sort_indices(table: pa.Table, ranks: np.ndarray) -> np.ndarray:
    """Rows (windows or n-grams of any length) in token order: word by word in byte order, a prefix
    before its extensions. This is the byte order of the joined text unless a word holds a byte
    below "!" (a control character). One sort of the rows' _token_key of their ranks (token_ranks)."""
    lengths = table.column("order").to_numpy(zero_copy_only=False)
    words = (np.where(lengths > j, ranks.take(table.column(f"w{j}").to_numpy(zero_copy_only=False)), 0).astype(np.uint64)
             for j in range(id_order(table)))
    return np.argsort(_token_key(words, table.num_rows, len(ranks)), kind="stable")


def window_hash(table: pa.Table, vocab: pa.Array) -> np.ndarray:
    """A stable 64-bit hash of every row's token sequence (its words' ngram_hash, folded in turn with
    splitmix64's multipliers), the same for one window in any vocabulary: the sample of distinct
    windows that gives the range boundaries."""
    words = ngram_hash(pa.table({"order": pa.array(np.ones(len(vocab), np.uint8)), "ngram": vocab}))
    lengths = table.column("order").to_numpy(zero_copy_only=False)
    h = lengths.astype(np.uint64) * np.uint64(K3)
    with np.errstate(over="ignore"):
        for j in range(id_order(table)):
            ids = table.column(f"w{j}").to_numpy(zero_copy_only=False)
            h = np.where(lengths > j, (h ^ words.take(ids)) * np.uint64(K1), h)
        h ^= h >> np.uint64(31)
        h *= np.uint64(K2)
        h ^= h >> np.uint64(29)
    return h


def windows_to_ngrams(table: pa.Table, order: int) -> list[tuple[list[np.ndarray], np.ndarray]]:
    """Windows in token order (equal windows summed) -> per order n = 1..order, the distinct n-grams
    in token order as n id columns, and their counts: the first n words of the windows of length
    >= n, whose equal runs are adjacent (token order sorts a prefix's extensions together)."""
    lengths = table.column("order").to_numpy(zero_copy_only=False)
    counts = table.column("count").to_numpy(zero_copy_only=False)
    columns = [table.column(f"w{j}").to_numpy(zero_copy_only=False) for j in range(order)]
    out = []
    for n in range(1, order + 1):
        rows = np.flatnonzero(lengths >= n)
        words = [c[rows] for c in columns[:n]]
        new = np.zeros(len(rows), bool)
        new[:1] = True
        for w in words:
            new[1:] |= w[1:] != w[:-1]
        starts = np.flatnonzero(new)
        out.append(([w[starts] for w in words], np.add.reduceat(counts[rows], starts) if len(rows) else
                    np.zeros(0, np.int64)))
    return out


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
