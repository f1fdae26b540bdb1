from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.objectives.ngrams import count_ngram_ids, count_ngram_prefixes, count_ngrams, count_of_counts, \
    id_counts_to_strings, id_ngram_hash, id_sort_indices, merge_counts, merge_id_counts, ngram_hash, prefix_ngram_hash, \
    prefix_sort_indices, sort_counts
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


def test_id_counts_sort_and_hash_like_the_text():
    """Counting, merging, sorting and hashing on word ids give what the joined strings give, also for
    words that are prefixes of others followed by a byte below " " (which sort after "a b")."""
    words = ["a", "ab", "a\x01", "的", "中国", "é", "xyz" * 10, "b", "a!", "\x1b", "<s>", "</s>"]
    vocab, rng = pa.array(words), np.random.default_rng(3)
    lengths = rng.integers(0, 12, 400)
    ids = rng.integers(0, len(words) - 2, int(lengths.sum())).astype(np.uint32)
    bos, eos = len(words) - 2, len(words) - 1
    table = count_ngram_ids(ids, lengths, 5, bos, eos)
    text = id_counts_to_strings(table, vocab)
    assert as_counter(text) == as_counter(count_ngrams([words[i] for i in ids], lengths, 5))
    assert id_ngram_hash(table, vocab).tolist() == ngram_hash(text).tolist()
    ordered = text.take(pa.array(id_sort_indices(table, vocab)))
    expected = sort_counts(text)
    assert ordered.column("ngram").to_pylist() == expected.column("ngram").to_pylist()
    assert ordered.column("order").to_pylist() == expected.column("order").to_pylist()
    cut, half = int(lengths[:200].sum()), 200
    parts = [count_ngram_ids(ids[:cut], lengths[:half], 5, bos, eos), count_ngram_ids(ids[cut:], lengths[half:], 5, bos, eos)]
    assert as_counter(id_counts_to_strings(merge_id_counts(parts), vocab)) == as_counter(text)


def test_prefix_rows_hash_and_sort_like_the_text():
    """count_ngram_prefixes gives each row the row of its first n - 1 words; hashing and sorting one
    step per row from them give what the text gives, and the sort declines words holding bytes <= " "."""
    rng = np.random.default_rng(5)
    lengths = rng.integers(0, 12, 400)
    for words in (["a", "ab", "b!", "的", "中国", "é", "xyz" * 10, "b", "a!", "~", "<s>", "</s>"],
                  ["a", "ab", "a\x01", "的", "a b", "\x1b", "<s>", "</s>"]):
        vocab, bos, eos = pa.array(words), len(words) - 2, len(words) - 1
        ids = rng.integers(0, len(words) - 2, int(lengths.sum())).astype(np.uint32)
        table, prefix = count_ngram_prefixes(ids, lengths, 5, bos, eos)
        assert table.equals(count_ngram_ids(ids, lengths, 5, bos, eos))
        text = id_counts_to_strings(table, vocab)
        grams, orders = text.column("ngram").to_pylist(), text.column("order").to_pylist()
        for row, (order, gram) in enumerate(zip(orders, grams)):
            last = words[table.column(f"w{order - 1}")[row].as_py()]
            assert prefix[row] == -1 if order == 1 else (orders[prefix[row]], f"{grams[prefix[row]]} {last}") == (order - 1, gram)
        assert prefix_ngram_hash(table, prefix, vocab).tolist() == ngram_hash(text).tolist()
        order = prefix_sort_indices(table, prefix, vocab)
        if "a\x01" in words:
            assert order is None
        else:
            assert order.tolist() == id_sort_indices(table, vocab).tolist()


def test_id_slices_whose_words_hold_spaces_merge_as_text():
    """A custom segmenter's word may contain a space: ("a b", "c") and ("a", "b c") are then one n-gram
    "a b c" of the output, so slices from different vocabularies must merge on the text, once."""
    from corpusforge.beam.ngrams import merge_id_slices

    sentences = [["a b", "c"], ["a", "b c"], ["a", "b", "c"]]
    parts, vocabs = [], []
    for sentence in sentences:
        vocab = ["<s>", "</s>", *dict.fromkeys(sentence)]
        ids = np.array([vocab.index(w) for w in sentence], np.uint32)
        parts.append(count_ngram_ids(ids, np.array([len(sentence)]), 3, 0, 1))
        vocabs.append(pa.array(vocab, pa.string()))
    union = pc.unique(pa.chunked_array(vocabs))
    maps = [pc.index_in(v, value_set=union).to_numpy().astype(np.uint32) for v in vocabs]
    merged = merge_id_slices(parts, maps, union)
    keys = list(zip(merged.column("order").to_pylist(), merged.column("ngram").to_pylist()))
    assert len(keys) == len(set(keys))  # one row per n-gram
    assert as_counter(merged) == naive_counts(sentences, 3)
    assert as_counter(merged)[(2, "a b c")] == 2 and keys == sorted(keys, key=lambda k: (k[0], k[1].encode()))
