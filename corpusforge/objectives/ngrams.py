"""Exact n-gram counting, vectorised: token lists -> (order, ngram, count) Arrow tables.

Sentences are counted as KenLM's lmplz and SRILM's ngram-count count them: `<s> w1 ... wk </s>`,
every window of 1..N tokens inside that (so `<s>` is a unigram once per sentence and `</s>` ends
every sentence); an empty sentence counts nothing. An n-gram is its tokens joined by one space.

No Python object is made per n-gram occurrence: a batch of sentences becomes one flat array of
token ids (dictionary-encoded by Arrow), the windows of each order are columns of that array, and
Arrow's hash aggregation (`group_by`) counts them; strings are rebuilt only for the distinct
n-grams of the batch. Partial tables of many batches combine with `merge_counts` (same
hash aggregation on the n-gram string), which is what the Beam pipeline does per worker and then
per output shard.
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
    lengths = np.asarray(lengths, dtype=np.int64)
    lengths = lengths[lengths > 0]
    if not len(lengths):
        return empty_counts()
    encoded = pa.array(tokens, pa.string()).dictionary_encode()
    words = encoded.dictionary
    ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    bos, eos = len(words), len(words) + 1
    vocab = pa.concat_arrays([words, pa.array([BOS, EOS], pa.string())])
    # padded sequence: sentence i occupies [start_i, start_i + len_i + 2)
    padded_len = lengths + 2
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(padded_len[:-1], out=starts[1:])
    total = int(padded_len.sum())
    seq = np.empty(total, dtype=np.int32)
    is_boundary = np.zeros(total, dtype=bool)
    is_boundary[starts] = True
    is_boundary[starts + padded_len - 1] = True
    seq[starts] = bos
    seq[starts + padded_len - 1] = eos
    seq[~is_boundary] = ids
    # position p can start an n-gram of order n when p + n <= end of its sentence
    sentence_end = np.repeat(starts + padded_len, padded_len)
    room = sentence_end - np.arange(total)
    parts = []
    for n in range(1, order + 1):
        begin = np.nonzero(room >= n)[0]
        columns = {f"w{j}": seq[begin + j] for j in range(n)}
        keys = list(columns)
        grouped = pa.table(columns).group_by(keys, use_threads=False).aggregate([([], "count_all")])
        text = pc.take(vocab, grouped.column("w0"))
        if n > 1:
            text = pc.binary_join_element_wise(*[pc.take(vocab, grouped.column(k)) for k in keys], " ")
        counts = grouped.column("count_all").cast(pa.int64())
        parts.append(pa.table([pa.array(np.full(len(grouped), n, np.uint8)), text, counts], schema=COUNTS_SCHEMA))
    return pa.concat_tables(parts).combine_chunks()


def merge_counts(tables: list[pa.Table]) -> pa.Table:
    """Sums the counts of equal (order, n-gram) across partial tables."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return empty_counts()
    if len(tables) == 1:
        return tables[0]
    table = pa.concat_tables(tables)
    summed = table.group_by(["order", "ngram"], use_threads=False).aggregate([("count", "sum")])
    return pa.table([summed.column("order"), summed.column("ngram"), summed.column("count_sum")],
                    schema=COUNTS_SCHEMA)


def sort_counts(table: pa.Table) -> pa.Table:
    """By order, then n-gram (byte order of the UTF-8 text, which is code point order)."""
    if not table.num_rows:
        return table
    return table.take(pc.sort_indices(table, [("order", "ascending"), ("ngram", "ascending")]))


def ngram_hash(table: pa.Table) -> np.ndarray:
    """A stable 64-bit hash of every (order, n-gram) row, vectorised over the string buffer.

    Used to draw a content-defined sample of distinct n-grams (the same on any worker count). Its
    values are fixed (range boundaries, hence shard contents, depend on them): every byte b at
    position p of the string adds b * ((p * K1) | 1) + p, mod 2**64; then order and length are mixed
    in and splitmix64's finaliser is applied.
    """
    strings = table.column("ngram").combine_chunks()
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.chunk(0) if strings.num_chunks else pa.array([], pa.string())
    n = len(strings)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32, count=n + 1, offset=strings.offset * 4).astype(np.int64)
    data = np.frombuffer(strings.buffers()[2], dtype=np.uint8) if strings.buffers()[2] else np.zeros(0, np.uint8)
    lengths = np.diff(offsets).astype(np.uint64)
    # sum_p b_p * ((p * K1) | 1) + p over a string's bytes (p: position in the string); since K1 is
    # odd, (p * K1) | 1 = p * K1 + [p even], so the sum is K1 * sum(b_p * p) + sum(b_p, p even) + L(L-1)/2:
    # three prefix sums over the bytes, taken HASH_CHUNK_BYTES at a time so the temporaries stay in cache.
    weighted = np.zeros(n, np.uint64)  # sum b_p * p
    even = np.zeros(n, np.uint64)  # sum of the bytes at even p
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
            s_b = cb[end] - cb[start]
            weighted[first:last] = cbi[end] - cbi[start] - start.astype(np.uint64) * s_b
            s_e = ce[end] - ce[start]
            even[first:last] = np.where(start % 2 == 0, s_e, s_b - s_e)
            first = last
        h = np.uint64(K1) * weighted + even + lengths * (lengths - np.uint64(1)) // np.uint64(2)
        h ^= table.column("order").to_numpy().astype(np.uint64) * np.uint64(K2)
        h ^= lengths << np.uint64(40)
        h ^= h >> np.uint64(30)
        h *= np.uint64(K2)
        h ^= h >> np.uint64(27)
        h *= np.uint64(K3)
        h ^= h >> np.uint64(31)
    return h


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
