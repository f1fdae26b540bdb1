"""GloVe co-occurrence counting: a vocabulary from unigram counts, then X[i, j] over a window.

Pure numpy, no Beam: the pipeline (corpusforge.beam.cooccurrence) feeds documents in, spills the
partial matrices and merges them; everything about *what* is counted lives here.

What is counted is exactly what the reference tool (stanfordnlp/GloVe src/cooccur.c) counts:
- a unit stream per window segment (a line of pretokenized input, a document, or with
  ``windows="sentence"`` a sentence); out-of-vocabulary units are removed *before* windows are
  formed, so they do not take up window positions; windows never cross segments;
- for every in-vocabulary unit at position p and every earlier one at p - d (1 <= d <= window),
  the pair (earlier, later) gets 1/d (or 1 without distance weighting). Symmetric counting also
  adds (later, earlier); left-only counting keeps (earlier, later), which is cooccur.c's
  ``-symmetric 0`` (its row is the earlier word);
- the vocabulary is ordered by count, most frequent first, ties broken as vocab_count.c's
  ``scmp`` breaks them (byte-wise on *signed* chars, so UTF-8 multi-byte words sort before ASCII).

Exact accumulation: 1/d for d <= window is an integer number of units of 1/lcm(1..window)
(lcm(1..10) = 2520), so every partial count is an int64 and sums are exact and associative:
the result cannot depend on how documents were bundled or how many workers summed them. Each
value is converted to float64 once, at the end (``values_of``). This bounds the window at
MAX_WINDOW (lcm(1..22) = 232,792,560 still leaves 4e10 unit-weight co-occurrences per entry).

Keys: a pair (row, col) is the int64 ``row * vocab_size + col``; rows and cols are 0-based
vocabulary line numbers.
"""
from __future__ import annotations

import math
from functools import reduce

import numpy as np

MAX_WINDOW = 22  # lcm(1..22) fits the int64 fixed-point scheme with room for 4e10 unit counts per entry
GLOVE_MAX_TOKEN_BYTES = 999  # cooccur.c / vocab_count.c MAX_STRING_LENGTH - 1
UNK = "<unk>"  # glove.c's name for the unknown-word vector: never a vocabulary word


def weight_unit(window: int, distance_weighting: bool = True) -> int:
    """The fixed-point denominator: a contribution 1/d is weight_unit // d units (without weighting, 1 unit)."""
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"window {window} is outside 1..{MAX_WINDOW}")
    return reduce(math.lcm, range(1, window + 1), 1) if distance_weighting else 1


def max_safe_tokens(window: int, distance_weighting: bool = True) -> int:
    """Tokens up to which no int64 entry can overflow (each token adds < 2 * H(window) * unit to any entry)."""
    unit = weight_unit(window, distance_weighting)
    per_token = 2 * sum(unit // d for d in range(1, window + 1))
    return (2 ** 63 - 1) // per_token


# -- units -------------------------------------------------------------------------------


def glove_tokens(line: str) -> list[str]:
    """Tokens of a line as cooccur.c's get_word reads them: '\\r' dropped anywhere, split on spaces and tabs,
    tokens longer than 999 UTF-8 bytes cut at 999 bytes (never inside a character)."""
    if "\r" in line:
        line = line.replace("\r", "")
    tokens = line.replace("\t", " ").split(" ")
    out = [t for t in tokens if t]
    for i, t in enumerate(out):
        if len(t) > GLOVE_MAX_TOKEN_BYTES // 4:
            b = t.encode("utf-8")
            if len(b) >= GLOVE_MAX_TOKEN_BYTES:
                out[i] = b[:GLOVE_MAX_TOKEN_BYTES].decode("utf-8", "ignore")
    return out


def segmenter_units(segmenter):
    """units(sentence) -> the segmenter's words (jieba-rs words, characters, whitespace-separated runs)."""
    words = getattr(segmenter, "words", None)
    if words is not None:  # the jieba segmenters give the words themselves: no spans to build and slice by
        return words

    def units(sentence: str) -> list[str]:
        return [sentence[a:b] for a, b in segmenter.spans(sentence)]

    return units


def document_segments(sentences: list[str], units, windows: str) -> list[list[str]]:
    """A document's window segments: one (all sentences' units) or one per sentence."""
    if windows == "sentence":
        return [units(s) for s in sentences]
    return [[u for s in sentences for u in units(s)]]


# -- vocabulary ---------------------------------------------------------------------------


_FLIP_HIGH_BIT = bytes(b ^ 0x80 for b in range(256))


def glove_order_key(word: str) -> bytes:
    """Sort key equal to vocab_count.c's scmp on x86 (signed char): bytes >= 0x80 before ASCII, and a word
    before its extensions by ASCII but after its extensions by multi-byte characters."""
    return word.encode("utf-8").translate(_FLIP_HIGH_BIT) + b"\x80"


def select_vocab(counts, min_count: int = 1, max_vocab: int = 0) -> list[tuple[str, int]]:
    """(word, count) pairs -> the vocabulary: count >= min_count, most frequent first, ties broken as GloVe's
    vocab_count breaks them; with max_vocab the first max_vocab of that order (vocab_count cuts ties at the
    limit pseudo-randomly; here the cut is deterministic)."""
    kept = [(w, c) for w, c in counts if c >= min_count and w != UNK]
    kept.sort(key=lambda wc: (-wc[1], glove_order_key(wc[0])))
    return kept[:max_vocab] if max_vocab else kept


def format_vocab(vocab: list[tuple[str, int]]) -> bytes:
    return "".join(f"{w} {c}\n" for w, c in vocab).encode("utf-8")


def parse_vocab(data: bytes) -> list[tuple[str, int]]:
    """vocab.txt (``word count`` per line, GloVe's format) -> [(word, count)]; raises ValueError with the line."""
    vocab = []
    for n, line in enumerate(data.decode("utf-8").split("\n"), 1):
        if not line.strip():
            continue
        word, _, count = line.rstrip("\r").rpartition(" ")
        if not word or not count.isdigit():
            raise ValueError(f"line {n} is not 'word count': {line[:60]!r}")
        vocab.append((word, int(count)))
    words = [w for w, _ in vocab]
    if len(set(words)) != len(words):
        raise ValueError("it lists a word twice")
    return vocab


def row_bounds(counts: list[int], num_shards: int) -> list[int]:
    """Row ranges for the shards, [b[k], b[k+1]): balanced by unigram count (a row's co-occurrence mass is
    proportional to its word's count), at least one row per shard where there are enough rows."""
    n = len(counts)
    cum = np.cumsum(np.asarray(counts, dtype=np.float64))
    total = float(cum[-1]) if n else 0.0
    bounds = [0]
    for k in range(1, max(1, num_shards)):
        cut = int(np.searchsorted(cum, total * k / num_shards, side="left")) + 1 if n else 0
        bounds.append(min(n, max(cut, bounds[-1])))
    bounds.append(n)
    return bounds


MIN_MERGE_RANGES = 16  # merge ranges in all, at least: a job of few shards still spreads its merge over workers


def ranges_per_shard(num_shards: int) -> int:
    return max(1, -(-MIN_MERGE_RANGES // max(1, num_shards)))


def merge_bounds(counts: list[int], bounds: list[int]) -> list[int]:
    """The shards' row ranges cut into ranges_per_shard merge ranges each, balanced by unigram count inside the
    shard; every shard bound stays a range bound, so merge range r belongs to shard r // ranges_per_shard."""
    per_shard = ranges_per_shard(len(bounds) - 1)
    out = [0]
    for a, b in zip(bounds[:-1], bounds[1:]):
        out.extend(a + cut for cut in row_bounds(list(counts[a:b]), per_shard)[1:])
    return out


# -- counting ------------------------------------------------------------------------------


def encode_segments(segments, index: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """Unit segments -> (ids int64, position of each id inside its segment int32, units read).
    Out-of-vocabulary units are dropped first, so positions count in-vocabulary units only."""
    get = index.get
    ids_list, lengths, read = [], [], 0
    for seg in segments:
        read += len(seg)
        ids = [i for i in map(get, seg) if i is not None]
        ids_list.extend(ids)
        lengths.append(len(ids))
    ids = np.asarray(ids_list, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    pos = (np.arange(len(ids), dtype=np.int64) - starts).astype(np.int32)
    return ids, pos, read


def encode_codes(codes: np.ndarray, lengths: np.ndarray, lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """encode_segments for units already coded: codes into a chunk's own dictionary, the segments' lengths,
    and lut (dictionary code -> vocabulary id, -1 if out of vocabulary) -> (ids int64, positions int32)."""
    ids = lut[codes]
    keep = ids >= 0
    segment = np.repeat(np.arange(len(lengths)), lengths)
    kept = np.bincount(segment[keep], minlength=len(lengths))
    ids = ids[keep]
    starts = np.repeat(np.cumsum(kept) - kept, kept)
    return ids, (np.arange(len(ids), dtype=np.int64) - starts).astype(np.int32)


def segment_cuts(pos: np.ndarray, size: int) -> list[int]:
    """Where to cut a buffer of segments (positions from encode_*) into pieces of about `size` ids:
    only at segment starts, so no window is cut; a segment longer than `size` stays whole."""
    starts = np.flatnonzero(pos == 0)
    if len(pos) <= size or not len(starts):
        return [0, len(pos)]
    cuts = np.unique(starts[np.searchsorted(starts, np.arange(0, len(pos), size), side="right") - 1])
    return [int(c) for c in cuts] + [len(pos)]


def reduce_sorted(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys with repeats -> unique keys and summed int64 values."""
    if len(keys) == 0:
        return keys, values
    first = np.empty(len(keys), dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return keys[starts], np.add.reduceat(values, starts)


def reduce_pairs(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unsorted (key, value) -> sorted unique keys and summed values (exact: int64)."""
    order = np.argsort(keys, kind="stable")
    return reduce_sorted(keys[order], values[order])


DISTANCE_BITS = 5  # count_pairs sorts key << 5 | distance: distances 1..MAX_WINDOW (22) fit in 5 bits


def count_pairs(ids: np.ndarray, pos: np.ndarray, vocab_size: int, window: int,
                distance_weighting: bool = True, symmetric: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Co-occurrences of one buffer of segments: sorted unique keys, int64 units; directional (earlier, later),
    or with symmetric also (later, earlier) (a diagonal pair counts twice, as in cooccur.c).

    Every pair is one int64, its key shifted left by DISTANCE_BITS with its distance in the low bits, so a single
    np.sort of plain integers (no argsort, which is slower) groups equal keys; the weights follow from the
    distances."""
    unit = weight_unit(window, distance_weighting)
    # units of a pair at distance d (index d; 0 is never a distance)
    weights = np.array([0] + [unit // d if distance_weighting else 1 for d in range(1, 1 << DISTANCE_BITS)],
                       dtype=np.int64)
    pieces = []
    n = len(ids)
    for d in range(1, min(window, n - 1) + 1 if n > 1 else 1):
        mask = pos[d:] >= d
        earlier, later = ids[:-d][mask], ids[d:][mask]
        pieces.append(((earlier * vocab_size + later) << DISTANCE_BITS) | d)
        if symmetric:
            pieces.append(((later * vocab_size + earlier) << DISTANCE_BITS) | d)
    if not pieces:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tagged = np.sort(np.concatenate(pieces))
    units = weights[tagged & ((1 << DISTANCE_BITS) - 1)]
    return reduce_sorted(tagged >> DISTANCE_BITS, units)


def merge_runs(keys_list, values_list) -> tuple[np.ndarray, np.ndarray]:
    """Several sorted unique (keys, values) runs -> one; stable sort of the concatenation (timsort merges runs)."""
    if len(keys_list) == 1:
        return keys_list[0], values_list[0]
    keys = np.concatenate(keys_list)
    values = np.concatenate(values_list)
    return reduce_pairs(keys, values)


def merge_streams(streams):
    """Streams of sorted unique (keys, values) chunks (each stream in increasing key order) -> merged chunks in
    key order, values summed. Memory: about one chunk per stream, not the streams' total."""
    heads = []
    for stream in map(iter, streams):
        head = _next_chunk(stream)
        if head is not None:
            heads.append(head)
    while heads:
        # every entry up to the smallest last key of the chunks at hand is here already: merge and emit those
        bound = min(keys[-1] for keys, _, _ in heads)
        parts_k, parts_v, rest = [], [], []
        for keys, values, stream in heads:
            n = int(np.searchsorted(keys, bound, side="right"))
            parts_k.append(keys[:n])
            parts_v.append(values[:n])
            head = (keys[n:], values[n:], stream) if n < len(keys) else _next_chunk(stream)
            if head is not None:
                rest.append(head)
        heads = rest
        yield merge_runs(parts_k, parts_v)


def _next_chunk(stream):
    for keys, values in stream:
        if len(keys):
            return keys, values, stream
    return None


def values_of(units: np.ndarray, unit: int) -> np.ndarray:
    """int64 fixed-point sums -> float64 values (one rounding per entry)."""
    return units / np.float64(unit)


class PairAccumulator:
    """Partial aggregation with a memory bound: add segments, get sorted (key, units) runs when full.

    Segments are buffered until `batch_tokens` ids (fewer under a small bound), then counted into a sorted run; runs are merged
    when they pile up. `full` turns true when the held entries pass `memory_bytes` (16 bytes each, plus
    the transient buffers of a merge, about as much again): the caller then takes `drain()` and spills it.
    """

    ENTRY_BYTES = 16

    def __init__(self, vocab_size: int, window: int, distance_weighting: bool = True,
                 memory_bytes: int = 256 << 20, batch_tokens: int = 1 << 18, symmetric: bool = False):
        if vocab_size ** 2 << DISTANCE_BITS >= 1 << 63:
            raise ValueError(f"a vocabulary of {vocab_size} words is too large for int64 pair keys")
        self.vocab_size, self.window, self.weighting, self.symmetric = vocab_size, window, distance_weighting, symmetric
        self.max_entries = max(1 << 8, memory_bytes // (3 * self.ENTRY_BYTES))
        # a batch makes up to window (symmetric: 2 * window) entries per token, sorted with copies: keep it
        # inside the bound too
        self.batch_tokens = max(256, min(batch_tokens, self.max_entries // (window * (2 if symmetric else 1))))
        self._ids, self._pos, self._buffered = [], [], 0
        self._runs_k, self._runs_v, self._entries = [], [], 0

    def add(self, ids: np.ndarray, pos: np.ndarray) -> None:
        if len(ids) < 2:
            return
        self._ids.append(ids)
        self._pos.append(pos)
        self._buffered += len(ids)
        if self._buffered >= self.batch_tokens:
            self._count()

    @property
    def full(self) -> bool:
        return self._entries >= self.max_entries

    def _count(self) -> None:
        if not self._ids:
            return
        ids, pos = np.concatenate(self._ids), np.concatenate(self._pos)
        self._ids, self._pos, self._buffered = [], [], 0
        k, v = count_pairs(ids, pos, self.vocab_size, self.window, self.weighting, self.symmetric)
        self._runs_k.append(k)
        self._runs_v.append(v)
        self._entries += len(k)
        if len(self._runs_k) >= 8:
            self._merge()

    def _merge(self) -> None:
        k, v = merge_runs(self._runs_k, self._runs_v)
        self._runs_k, self._runs_v, self._entries = [k], [v], len(k)

    def drain(self) -> tuple[np.ndarray, np.ndarray]:
        """Everything held, as one sorted unique run (directional keys, or with symmetric both orientations);
        the accumulator is empty after."""
        self._count()
        if not self._runs_k:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        self._merge()
        k, v = self._runs_k[0], self._runs_v[0]
        self._runs_k, self._runs_v, self._entries = [], [], 0
        return k, v


def split_by_rows(keys: np.ndarray, values: np.ndarray, vocab_size: int, bounds: list[int]):
    """Sorted entries -> (shard, keys, values) for each shard's row range that holds any."""
    cuts = np.searchsorted(keys, np.asarray(bounds, dtype=np.int64) * vocab_size)
    for k in range(len(bounds) - 1):
        a, b = int(cuts[k]), int(cuts[k + 1])
        if b > a:
            yield k, keys[a:b], values[a:b]


def cooccurrence_reference(segments_ids, vocab_size: int, window: int, symmetric: bool = True,
                           distance_weighting: bool = True) -> dict:
    """Brute force, for tests: {(row, col): float} summed per pair in a Python loop, as cooccur.c does."""
    out: dict = {}
    for ids in segments_ids:
        for j, w2 in enumerate(ids):
            for k in range(max(0, j - window), j):
                w1, val = ids[k], (1.0 / (j - k) if distance_weighting else 1.0)
                out[(w1, w2)] = out.get((w1, w2), 0.0) + val
                if symmetric:
                    out[(w2, w1)] = out.get((w2, w1), 0.0) + val
    return out
