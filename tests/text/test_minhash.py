"""MinHash signatures and LSH bands on real text, against brute-force shingle sets and exact Jaccard."""
import json
import math
import re

import numpy as np
import pytest

from corpusforge.text import normalize_text, split_sentences
from corpusforge.text.minhash import MinHasher, agreement, candidate_probability, shingles
from tests.conftest import SAMPLE


def _texts(path, field):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)[field] for line in f]


NEWS = _texts(SAMPLE / "news2016zh" / "news2016zh_train.json", "content")
WIKI = _texts(SAMPLE / "wiki_zh" / "AA" / "wiki_00", "text")
CHINESE = [t for t in NEWS + WIKI if re.search("[\u4e00-\u9fff]", t)]
ENGLISH = [t for t in NEWS if not re.search("[\u4e00-\u9fff]", t)]


def brute_shingles(text, n=5):
    """The definition, written out: lower-case, drop whitespace/punctuation/symbols; CJK text by
    characters, other text by words; every n-gram (the whole text if shorter)."""
    text = text.lower()
    cjk = len(re.findall("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]", text))
    if cjk >= 0.5 * len(re.sub(r"\s", "", text)):
        units = list(re.sub(r"[\W_]+", "", text))
        return {"".join(units[i:i + n]) for i in range(max(1, len(units) - n + 1))} if units else set()
    units = re.findall(r"[^\W_]+", text)
    return {" ".join(units[i:i + n]) for i in range(max(1, len(units) - n + 1))} if units else set()


def jaccard(a, b):
    return len(a & b) / len(a | b)


def test_shingles_of_real_text():
    assert len(CHINESE) > 150 and len(ENGLISH) == 39
    for text in CHINESE + ENGLISH:
        assert set(shingles(text)) == brute_shingles(text)


def test_case_whitespace_and_punctuation_do_not_change_the_shingles():
    text = CHINESE[0]
    noisy = text.replace("，", ", ").replace("。", ". ").replace("（", " (")
    assert noisy != text
    hasher = MinHasher()
    assert shingles(noisy) == shingles(text) and np.array_equal(hasher.signature(noisy), hasher.signature(text))
    english = ENGLISH[0]
    assert shingles(english.upper().replace(",", " ;")) == shingles(english)
    assert set(shingles(text[1:])) == set(shingles(text)) - {shingles(text)[0]}


def test_short_and_empty_texts():
    assert shingles("中国") == ["中国"] and shingles("New York") == ["new york"]
    assert shingles("，。 ...") == []
    assert MinHasher().signature("，。 ...") is None


def _edited_pairs():
    """(a, b) pairs of real documents and copies with k of their sentences deleted."""
    pairs = []
    for text in CHINESE + ENGLISH:
        sentences = split_sentences(normalize_text(text))
        if len(sentences) < 8:
            continue
        for k in (1, 2, len(sentences) // 4, len(sentences) // 2):
            pairs.append(("".join(sentences), "".join(sentences[:2] + sentences[2 + k:])))
    return pairs


def test_signature_agreement_estimates_the_exact_jaccard():
    hasher = MinHasher()
    errors, outside = [], 0
    pairs = _edited_pairs()
    assert len(pairs) > 300
    for a, b in pairs:
        j = jaccard(brute_shingles(a), brute_shingles(b))
        est = agreement(hasher.signature(a), hasher.signature(b))
        errors.append(est - j)
        outside += abs(est - j) > 3 * math.sqrt(j * (1 - j) / 128) + 1 / 128
    assert abs(np.mean(errors)) < 0.01  # unbiased
    assert np.sqrt(np.mean(np.square(errors))) < 0.05  # about sqrt(J(1-J)/128)
    assert outside <= 0.01 * len(pairs)


@pytest.mark.parametrize("j", [0.5, 0.8, 0.9])
def test_band_collisions_follow_the_s_curve(j):
    # 600 pairs of random shingle sets of exact Jaccard j; the share sharing a band is the curve's value
    hasher, rng = MinHasher(), np.random.default_rng(7)
    union, hits = 1000, 0
    shared = round(j * union)
    only = (union - shared) // 2
    for _ in range(600):
        x = [str(v) for v in rng.choice(1 << 32, size=shared + 2 * only, replace=False)]
        a, b = x[:shared + only], x[:shared] + x[shared + only:]
        hits += bool(set(hasher.bands_of(hasher.signature_of(a))) & set(hasher.bands_of(hasher.signature_of(b))))
    exact = shared / (shared + 2 * only)
    p = candidate_probability(exact, 18, 7)
    assert abs(hits / 600 - p) <= 3 * math.sqrt(p * (1 - p) / 600) + 0.005
    if j >= 0.8:
        assert hits / 600 >= 0.95


def test_default_curve_meets_the_targets():
    assert candidate_probability(0.8, 18, 7) >= 0.95 and candidate_probability(0.5, 18, 7) < 0.15
    assert candidate_probability(0.8, 16, 8) < 0.95  # why not 16 x 8: it misses 5% of the pairs at 0.8


def test_bad_parameters():
    with pytest.raises(ValueError, match="bands"):
        MinHasher(num_perm=16, bands=17)
    with pytest.raises(ValueError, match="shingle"):
        MinHasher(shingle="bytes")
