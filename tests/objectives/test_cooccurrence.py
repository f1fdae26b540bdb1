"""GloVe co-occurrence counting on real text: equal to a brute-force count, exact whatever the batching."""
import json

import numpy as np
import pytest

from corpusforge.objectives import cooccurrence as co
from corpusforge.tokenization.segment import get_segmenter
from tests.conftest import DATA


@pytest.fixture(scope="module")
def wiki_sentences():
    """Sentences of the wiki sample (real Chinese text with some digits and Latin), one list per document."""
    from corpusforge.text import normalize_text, split_sentences

    docs = []
    for line in (DATA / "text" / "wiki_zh_sample.jsonl").read_text(encoding="utf-8").splitlines():
        docs.append(split_sentences(normalize_text(json.loads(line)["text"])))
    return docs


def count_all(segments_list, vocab_size, window, symmetric, weighting, index, memory_bytes=1 << 30, batch=1 << 18):
    """What the Beam step does: accumulate (both orientations as it goes when symmetric), drain when full,
    merge the drained runs exactly."""
    acc = co.PairAccumulator(vocab_size, window, weighting, memory_bytes, batch, symmetric=symmetric)
    runs = []
    for segments in segments_list:
        ids, pos, _ = co.encode_segments(segments, index)
        acc.add(ids, pos)
        if acc.full:
            runs.append(acc.drain())
    runs.append(acc.drain())
    k, v = co.merge_runs([r[0] for r in runs], [r[1] for r in runs])
    return (k, v), len(runs)


@pytest.mark.parametrize("window,symmetric,weighting,windows", [
    (10, True, True, "document"), (5, False, True, "document"), (3, True, False, "sentence"), (1, True, True, "sentence")])
def test_equals_brute_force_on_real_text(wiki_sentences, window, symmetric, weighting, windows):
    units = co.segmenter_units(get_segmenter("jieba-rs"))
    docs = [co.document_segments(s, units, windows) for s in wiki_sentences]
    counts = {}
    for segments in docs:
        for seg in segments:
            for u in seg:
                counts[u] = counts.get(u, 0) + 1
    vocab = co.select_vocab(counts.items(), min_count=2)
    index = {w: i for i, (w, _) in enumerate(vocab)}
    (keys, units_), spills = count_all(docs, len(vocab), window, symmetric, weighting, index,
                                       memory_bytes=16 << 10, batch=300)
    assert spills > 3  # the memory bound made it drain and merge several partial matrices
    # the reference: OOV removed first, then a Python loop over windows, as cooccur.c
    segs = [[index[u] for u in seg if u in index] for segments in docs for seg in segments]
    ref = co.cooccurrence_reference(segs, len(vocab), window, symmetric, weighting)
    rows, cols = np.divmod(keys, len(vocab))
    got = dict(zip(zip(rows.tolist(), cols.tolist()), co.values_of(units_, co.weight_unit(window, weighting)).tolist()))
    assert len(got) == len(ref) > 1000
    assert got.keys() == ref.keys()
    assert all(abs(got[k] - ref[k]) <= 1e-12 * ref[k] for k in ref)


def test_sums_are_exact_whatever_the_batching(wiki_sentences):
    units = co.segmenter_units(get_segmenter("chars"))
    docs = [co.document_segments(s, units, "document") for s in wiki_sentences]
    counts = {}
    for segments in docs:
        for u in segments[0]:
            counts[u] = counts.get(u, 0) + 1
    vocab = co.select_vocab(counts.items(), 1)
    index = {w: i for i, (w, _) in enumerate(vocab)}
    (k1, v1), _ = count_all(docs, len(vocab), 10, True, True, index)
    (k2, v2), n = count_all(docs[::-1], len(vocab), 10, True, True, index, memory_bytes=32 << 10, batch=97)
    assert n > 3
    assert np.array_equal(k1, k2) and np.array_equal(v1, v2)
    assert co.values_of(v1, 2520).tobytes() == co.values_of(v2, 2520).tobytes()


def test_coded_units_fed_in_pieces_equal_a_brute_force_count(wiki_sentences):
    """The Beam step counts from units coded per chunk (encode_codes) and feeds the accumulator in pieces cut
    at segment starts: the same entries as the window-by-window count of cooccur.c."""
    units = co.segmenter_units(get_segmenter("jieba-rs"))
    docs = [co.document_segments(s, units, "sentence") for s in wiki_sentences]
    flat = [u for segments in docs for seg in segments for u in seg]
    counts = {}
    for u in flat:
        counts[u] = counts.get(u, 0) + 1
    vocab = co.select_vocab(counts.items(), min_count=2)
    index = {w: i for i, (w, _) in enumerate(vocab)}
    dictionary = sorted(counts)
    code = {u: i for i, u in enumerate(dictionary)}
    lengths = np.array([len(seg) for segments in docs for seg in segments])
    lut = np.array([index.get(u, -1) for u in dictionary])
    ids, pos = co.encode_codes(np.array([code[u] for u in flat]), lengths, lut)
    ref_ids, ref_pos, _ = co.encode_segments([seg for segments in docs for seg in segments], index)
    assert np.array_equal(ids, ref_ids) and np.array_equal(pos, ref_pos)
    acc = co.PairAccumulator(len(vocab), 10, True, 64 << 10, 300, symmetric=True)
    runs = []
    cuts = co.segment_cuts(pos, acc.batch_tokens)
    assert len(cuts) > 10 and all(pos[c] == 0 for c in cuts[:-1])
    for a, b in zip(cuts, cuts[1:]):
        acc.add(ids[a:b], pos[a:b])
        if acc.full:
            runs.append(acc.drain())
    runs.append(acc.drain())
    assert len(runs) > 3
    k1, v1 = co.merge_runs([r[0] for r in runs], [r[1] for r in runs])
    segs = [[index[u] for u in seg if u in index] for segments in docs for seg in segments]
    ref = co.cooccurrence_reference(segs, len(vocab), 10, True, True)
    rows, cols = np.divmod(k1, len(vocab))
    got = dict(zip(zip(rows.tolist(), cols.tolist()), co.values_of(v1, co.weight_unit(10, True)).tolist()))
    assert got.keys() == ref.keys() and len(ref) > 1000
    assert all(abs(got[k] - ref[k]) <= 1e-12 * ref[k] for k in ref)
    streamed = list(co.merge_streams([[(k[a:a + 77], v[a:a + 77]) for a in range(0, len(k), 77)] for k, v in runs]))
    assert len(streamed) > 10
    assert np.array_equal(np.concatenate([k for k, _ in streamed]), k1)
    assert np.array_equal(np.concatenate([v for _, v in streamed]), v1)


def test_glove_tokens_read_lines_like_get_word():
    assert co.glove_tokens("  的\t是   在\t\t了  ") == ["的", "是", "在", "了"]
    assert co.glove_tokens("我们 的\r 车\r") == ["我们", "的", "车"]
    assert co.glove_tokens("a\rb") == ["ab"]
    assert co.glove_tokens("x\u3000y z") == ["x\u3000y", "z"]  # only spaces and tabs separate, as in GloVe
    long = "a" + "中" * 400  # 1201 bytes: cut at 999 without splitting a character
    assert co.glove_tokens(long) == ["a" + "中" * 332]
    assert co.glove_tokens("中" * 333) == ["中" * 333]  # exactly 999 bytes: kept whole


def test_vocabulary_order_is_vocab_counts():
    # equal counts: GloVe's scmp compares signed chars, so UTF-8 words sort before ASCII ones, and a word
    # sorts after its own extensions by multi-byte characters but before those by ASCII
    counts = [("b", 3), ("a", 3), ("中", 3), ("ab", 3), ("a中", 3), ("的", 9), ("x", 1), ("<unk>", 50)]
    assert [w for w, _ in co.select_vocab(counts, 2)] == ["的", "中", "a中", "a", "ab", "b"]
    assert [w for w, _ in co.select_vocab(counts, 1, max_vocab=2)] == ["的", "中"]


def test_vocab_file_round_trip_and_errors():
    vocab = [("的", 10), ("a b", 3), ("x", 1)]  # a word with a space survives (rpartition)
    assert co.parse_vocab(co.format_vocab(vocab)) == vocab
    with pytest.raises(ValueError, match="line 2"):
        co.parse_vocab("的 10\nbroken\n".encode())
    with pytest.raises(ValueError, match="twice"):
        co.parse_vocab("的 10\n的 3\n".encode())


def test_row_bounds_cover_every_row_in_order():
    counts = [1000, 500, 300, 100, 50, 20, 10, 5, 5, 5]
    for shards in (1, 2, 3, 7, 20):
        b = co.row_bounds(counts, shards)
        assert b[0] == 0 and b[-1] == len(counts) and len(b) == shards + 1
        assert all(x <= y for x, y in zip(b, b[1:]))
    assert co.row_bounds([], 3) == [0, 0, 0, 0]


def test_window_limits_and_units():
    assert co.weight_unit(10) == 2520 and co.weight_unit(22) == 232792560 and co.weight_unit(15, False) == 1
    with pytest.raises(ValueError):
        co.weight_unit(23)
    assert co.max_safe_tokens(10) > 10 ** 14 and co.max_safe_tokens(22) > 10 ** 9


def test_merge_ranges_cut_every_shard_and_keep_its_bounds():
    counts = sorted(np.random.default_rng(3).zipf(1.3, 5000).tolist(), reverse=True)
    for shards in (1, 3, 16, 40):
        bounds = co.row_bounds(counts, shards)
        ranges = co.merge_bounds(counts, bounds)
        per_shard = co.ranges_per_shard(shards)
        assert per_shard * shards >= co.MIN_MERGE_RANGES and len(ranges) == per_shard * shards + 1
        assert ranges[::per_shard] == bounds  # range r belongs to shard r // per_shard
        assert all(x <= y for x, y in zip(ranges, ranges[1:]))
    # a range's share of the unigram mass is balanced inside the shard, as the shards are (a range of one row
    # may hold more: a row is never cut)
    counts = [10 ** 6 // (i + 1) for i in range(5000)]
    ranges = co.merge_bounds(counts, co.row_bounds(counts, 1))
    share = sum(counts) / co.MIN_MERGE_RANGES
    assert all(sum(counts[a:b]) < 2 * share or b - a == 1 for a, b in zip(ranges, ranges[1:]))
