import dataclasses
import unicodedata

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


def brute_force_reason(sentences, min_chars, max_chars, min_sentences, min_cjk_ratio):
    """The README's rules, recounted by Unicode character names: characters over the sentences, the CJK
    ratio over the non-whitespace ones, the first failed check wins."""
    text = "".join(sentences)
    visible = [c for c in text if not c.isspace()]
    ideographs = sum(unicodedata.name(c, "").startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))
                     for c in visible)
    checks = [("too_short", len(text) < min_chars), ("too_long", len(text) > max_chars),
              ("too_few_sentences", len(sentences) < min_sentences),
              ("low_cjk_ratio", min_cjk_ratio > 0 and (ideographs / len(visible) if visible else 0.0) < min_cjk_ratio)]
    return next((reason for reason, failed in checks if failed), None)


def test_reasons_equal_a_recount_on_every_real_document(all_texts):
    docs = [split_sentences(normalize_text(t)) for t in all_texts] + [[], [" "], ["\u3000\t"], ["中"], ["a", "中文"]]
    lengths = sorted(sum(map(len, d)) for d in docs)
    seen = set()
    for min_chars in (0, 10, lengths[len(lengths) // 4]):
        for max_chars in (lengths[len(lengths) // 2], 10 ** 6):
            for min_sentences in (0, 1, 3, 8):
                for min_cjk_ratio in (0.0, 0.3, 0.9):
                    f = DocumentFilter(min_chars, max(min_chars, max_chars), min_sentences, min_cjk_ratio)
                    for d in docs:
                        got = f.reason(d)
                        assert got == brute_force_reason(d, *dataclasses.astuple(f)), (d[:2], f)
                        seen.add(got)
    assert seen == {None, *FILTER_REASONS}
