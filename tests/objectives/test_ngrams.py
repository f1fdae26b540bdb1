from collections import Counter

import numpy as np
import pyarrow as pa

from corpusforge.objectives.ngrams import count_ngram_ids, count_ngrams, count_of_counts, count_windows, \
    id_counts_to_strings, id_ngram_strings, merge_counts, merge_id_counts, ngram_hash, sort_counts, token_ranks, \
    window_hash, window_sort_indices, windows_to_ngrams
from tests.conftest import DATA

SEED_NOTES = ["BROWN READ HOLY BIBLE", "MARK READ A TEXT BOOK", "HE READ A BOOK BY DAVID"]


def naive_counts(sentences, order):
    counts = Counter()
    for s in sentences:
        words = ["<s>", *s, "</s>"]
        for n in range(1, order + 1):
            for i in range(len(words) - n + 1):
                counts[(n, " ".join(words[i:i + n]))] += 1
    return counts


def as_counter(table):
    return Counter({(o, g): c for o, g, c in zip(*(table.column(k).to_pylist() for k in ("order", "ngram", "count")))})


def real_sentences():
    lines = (DATA / "lm" / "news_medium.txt").read_text(encoding="utf-8").splitlines()
    return [line.split() for line in lines if line.strip()]


def test_counts_equal_a_plain_python_count_on_real_text():
    sentences = real_sentences() + [s.split() for s in SEED_NOTES] + [[]]
    table = count_ngrams([w for s in sentences for w in s], [len(s) for s in sentences], 4)
    assert as_counter(table) == naive_counts([s for s in sentences if s], 4)


def test_partial_counts_merge_to_the_whole():
    sentences = real_sentences()
    half = len(sentences) // 2
    parts = [count_ngrams([w for s in part for w in s], [len(s) for s in part], 3)
             for part in (sentences[:half], sentences[half:])]
    whole = count_ngrams([w for s in sentences for w in s], [len(s) for s in sentences], 3)
    assert as_counter(merge_counts(parts)) == as_counter(whole)
    ordered = sort_counts(whole)
    keys = list(zip(ordered.column("order").to_pylist(), ordered.column("ngram").to_pylist()))
    assert keys == sorted(keys)


def test_hash_is_stable_and_spread():
    table = count_ngrams([w for s in SEED_NOTES for w in s.split()], [4, 5, 6], 3)
    h = ngram_hash(table)
    assert len(set(h.tolist())) == table.num_rows
    assert ngram_hash(table.slice(3, 5)).tolist() == h[3:8].tolist()  # a row's hash does not depend on its table


def test_count_of_counts():
    coc = count_of_counts(np.array([1, 1, 1, 2, 2]), np.array([1, 1, 3, 1, 12]), 2, max_r=10)
    assert coc[0].tolist()[:3] == [2, 0, 1] and coc[1].tolist()[0] == 1 and coc[1].sum() == 1


def reference_hash(order, text):
    """ngram_hash's definition, one byte at a time (its values fix the range boundaries of every dataset)."""
    mask, data = (1 << 64) - 1, text.encode()
    h = sum(b * ((p * 0x9E3779B97F4A7C15 & mask) | 1) + p for p, b in enumerate(data)) & mask
    h ^= order * 0xBF58476D1CE4E5B9 & mask
    h ^= len(data) << 40
    for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB), (31, 1)):
        h ^= h >> shift
        h = h * mult & mask
    return h


def test_hash_equals_its_definition_on_any_chunking(monkeypatch):
    import corpusforge.objectives.ngrams as objective
    rng = np.random.default_rng(5)
    alphabet = ["a", "的", "中国", " ", "\x01", "é", "<s>", "xyz" * 40]
    texts = ["".join(rng.choice(alphabet, rng.integers(0, 9))) for _ in range(300)]
    table = pa.table({"order": pa.array(rng.integers(1, 6, len(texts)), pa.uint8()), "ngram": texts})
    expected = [reference_hash(o, t) for o, t in zip(table.column("order").to_pylist(), texts)]
    for chunk in (1, 7, 1 << 18):
        monkeypatch.setattr(objective, "HASH_CHUNK_BYTES", chunk)
        assert ngram_hash(table).tolist() == expected
        assert ngram_hash(table.slice(11, 40)).tolist() == expected[11:51]


def token_order(tokens):
    return tuple(t.encode() for t in tokens)


def test_windows_carry_every_order_and_sort_hash_by_tokens():
    """count_windows keeps one window per position; windows_to_ngrams of the windows in token order gives
    exactly every 1..5-gram, in token order, also for words that are prefixes of others followed by a
    byte below " " (where token order is not the byte order of the joined text); window_hash depends on
    the tokens only, not on the vocabulary's ids."""
    words = ["a", "ab", "a\x01", "的", "中国", "é", "xyz" * 10, "b", "a!", "\x1b", "<s>", "</s>"]
    vocab, rng = pa.array(words), np.random.default_rng(3)
    lengths = rng.integers(0, 12, 400)
    ids = rng.integers(0, len(words) - 2, int(lengths.sum())).astype(np.uint32)
    bos, eos = len(words) - 2, len(words) - 1
    windows = count_windows(ids, lengths, 5, bos, eos)
    positions = int((lengths[lengths > 0] + 2).sum())
    assert windows.column("count").to_numpy().sum() == positions  # one window per position
    assert windows.num_rows < count_ngram_ids(ids, lengths, 5, bos, eos).num_rows
    ordered = windows.take(pa.array(window_sort_indices(windows, token_ranks(vocab))))
    assert count_windows(ids, lengths, 5, bos, eos, token_ranks(vocab)).equals(ordered)  # counted in token order
    texts = id_ngram_strings(ordered, vocab).to_pylist()
    assert [token_order(t.split(" ")) for t in texts] == sorted(token_order(t.split(" ")) for t in texts)
    expected = naive_counts([[words[i] for i in ids[a:a + n]] for a, n in
                             zip(np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) if n], 5)
    derived = {}
    for n, (columns, counts) in enumerate(windows_to_ngrams(ordered, 5), 1):
        grams = [" ".join(words[c[i]] for c in columns) for i in range(len(counts))]
        assert [token_order(g.split(" ")) for g in grams] == sorted(token_order(g.split(" ")) for g in grams)
        derived.update({(n, g): int(c) for g, c in zip(grams, counts)})
    assert derived == dict(expected)
    # the same windows counted with another vocabulary (ids permuted) hash the same
    perm = rng.permutation(len(words)).astype(np.uint32)
    other = count_windows(perm[ids], lengths, 5, perm[bos], perm[eos])
    other_vocab = pa.array([words[i] for i in np.argsort(perm)])
    assert dict(zip(id_ngram_strings(other, other_vocab).to_pylist(), window_hash(other, other_vocab).tolist())) == \
        dict(zip(id_ngram_strings(windows, vocab).to_pylist(), window_hash(windows, vocab).tolist()))
    cut, half = int(lengths[:200].sum()), 200
    parts = [count_windows(ids[:cut], lengths[:half], 5, bos, eos), count_windows(ids[cut:], lengths[half:], 5, bos, eos)]
    assert as_counter(id_counts_to_strings(merge_id_counts(parts), vocab)) == as_counter(id_counts_to_strings(windows, vocab))


def test_a_segmenters_word_with_a_space_counts_as_its_parts():
    """An n-gram is its tokens joined by spaces, so a custom segmenter's word "a b" is two tokens: ("a b", "c"),
    ("a", "b c") and ("a", "b", "c") are one trigram, three times."""
    from corpusforge.beam.ngrams import Units

    class Spaced:
        name = "spaced"

        def spans(self, text):
            cut = min(3, len(text) - 1)
            return [(0, cut), (cut, len(text))]  # "a b" + " c", as a segmenter might cut

    units = Units(Spaced())
    assert units.split("a b c") == ["a", "b", "c"]
    assert units.split("中国人") == ["中国", "人"]  # no whitespace: the words as given
