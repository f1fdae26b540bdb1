import dataclasses

import pytest

from corpusforge.text import FILTER_REASONS, DocumentFilter, normalize_text, split_sentences


@pytest.fixture(scope="module")
def wiki_sentences(wiki):
    return split_sentences(normalize_text(wiki["100026"]))  # 沼鹿: 32 sentences, 708 characters


def test_default_keeps_a_real_article(wiki_sentences):
    assert len(wiki_sentences) == 32 and sum(map(len, wiki_sentences)) == 708
    assert DocumentFilter().reason(wiki_sentences) is None


def test_too_short(wiki_sentences):
    assert DocumentFilter().reason(["沼鹿"]) == "too_short"  # a title alone: 2 < 10 characters
    assert DocumentFilter().reason([]) == "too_short"
    assert DocumentFilter(min_chars=709).reason(wiki_sentences) == "too_short"
    assert DocumentFilter(min_chars=708).reason(wiki_sentences) is None


def test_too_long(wiki_sentences):
    assert DocumentFilter(max_chars=707).reason(wiki_sentences) == "too_long"
    assert DocumentFilter(max_chars=708).reason(wiki_sentences) is None


def test_too_few_sentences(wiki_sentences, webtext):
    sentences = split_sentences(normalize_text(webtext["1295"]))
    assert len(sentences) == 2
    assert DocumentFilter(min_sentences=3).reason(sentences) == "too_few_sentences"
    assert DocumentFilter(min_sentences=2).reason(sentences) is None
    assert DocumentFilter(min_sentences=33).reason(wiki_sentences) == "too_few_sentences"


def test_low_cjk_ratio(wiki_sentences, news, bert_docs):
    chinese_only = DocumentFilter(min_cjk_ratio=0.5)
    assert chinese_only.reason(wiki_sentences) is None
    assert chinese_only.reason(bert_docs[1]) == "low_cjk_ratio"
    assert chinese_only.reason(split_sentences(news["63903007"])) == "low_cjk_ratio"
    # the default (0.0) keeps English
    assert DocumentFilter().reason(bert_docs[1]) is None


def test_first_failing_check_wins():
    f = DocumentFilter(min_chars=10, min_sentences=2, min_cjk_ratio=0.5)
    assert f.reason(["Gold, surely!"]) == "too_few_sentences"  # long enough, 1 sentence
    assert f.reason(["Gold!"]) == "too_short"
    assert f.reason(["Gold, surely!", "Cass was superstitious."]) == "low_cjk_ratio"
    assert FILTER_REASONS == ("too_short", "too_long", "too_few_sentences", "low_cjk_ratio")


def test_bad_thresholds_fail_fast():
    with pytest.raises(ValueError, match="max_chars"):
        DocumentFilter(min_chars=100, max_chars=10)
    with pytest.raises(ValueError, match="min_cjk_ratio"):
        DocumentFilter(min_cjk_ratio=1.5)
    with pytest.raises(ValueError, match="negative"):
        DocumentFilter(min_sentences=-1)


def test_frozen_and_hashable():
    f = DocumentFilter()
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.min_chars = 0
    assert f == DocumentFilter() and hash(f) == hash(DocumentFilter())
