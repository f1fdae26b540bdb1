from collections import Counter

import numpy as np
import pyarrow as pa

from corpusforge.objectives.ngrams import count_ngrams, count_of_counts, merge_counts, ngram_hash, sort_counts
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
