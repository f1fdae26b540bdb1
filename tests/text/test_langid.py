"""Language identification (CLD2) on the sample news, whose train and valid files mix Chinese and
English articles: the reference is whether an article holds any CJK ideograph at all."""
import json
import re

from corpusforge.text import normalize_text
from corpusforge.text.langid import LanguageFilter, detect_language
from tests.conftest import SAMPLE


def _news():
    for path in sorted((SAMPLE / "news2016zh").iterdir()):
        with open(path, encoding="utf-8") as f:
            yield from (normalize_text(json.loads(line)["content"]) for line in f)


def test_every_sample_news_article_gets_its_language():
    labels = [(bool(re.search("[\u4e00-\u9fff]", t)), *detect_language(t)) for t in _news()]
    assert sum(not zh for zh, _, _ in labels) == 39 and len(labels) == 200
    assert all(code == ("zh" if zh else "en") and share >= 0.5 for zh, code, share in labels)


def test_filter_keeps_the_named_languages():
    zh_en, zh = LanguageFilter(("en", "zh")), LanguageFilter(("zh",))
    texts = list(_news())
    assert [zh_en.reason(t) for t in texts] == [None] * 200
    assert sum(zh.reason(t) == "wrong_language" for t in texts) == 39
    assert LanguageFilter().reason("bonjour") is None  # no languages named: no filter


def test_text_cld2_refuses_is_still_labelled():
    # CLD2 itself raises "invalid UTF-8" on noncharacters, DEL and C1 controls
    assert detect_language("\ufdd0\x7f\x85 这是一篇关于北京天气的新闻报道，今天北京的天气晴朗，气温适宜。")[0] == "zh"
    assert detect_language("") == ("un", 0.0)


WIKI_LINE = json.loads((SAMPLE / "wiki_zh" / "AA" / "wiki_00").read_text(encoding="utf-8").splitlines()[3])["text"]
ENGLISH = (SAMPLE / "plain" / "bert_sample_text.txt").read_text(encoding="utf-8").split("\n\n")[1].replace("\n", " ")


def test_paragraph_scope_keeps_the_wanted_paragraphs_and_labels_each_line():
    chinese = normalize_text(WIKI_LINE, form="none").split("\n\n")[-1]
    text = "\n".join([chinese, ENGLISH[:300], "2016", chinese[:200]])
    found = LanguageFilter(("zh",), 0.5, "paragraph").identify(text)
    # "2016" is too short for CLD2 to call: it takes the document's language (zh, most of the text) and stays
    assert found.text == "\n".join([chinese, "2016", chinese[:200]]) and found.reason is None
    assert found.paragraph_languages == ("zh", "zh", "zh") and found.language == "zh"
    english = LanguageFilter(("en",), 0.5, "paragraph").identify(text)
    assert english.text == ENGLISH[:300] and english.language == "en" and english.paragraph_languages == ("en",)
    whole = LanguageFilter(("zh",), 0.5, "document").identify(text)
    assert whole.text == text and whole.paragraph_languages == ("zh", "en", "zh", "zh") and whole.reason is None
    assert LanguageFilter(("fr",), 0.5, "paragraph").identify(text).reason == "wrong_language"
    mostly_english = "\n".join([chinese, ENGLISH, "2016"])  # now "2016" takes en, the document's language
    assert LanguageFilter(("zh",), 0.5, "paragraph").identify(mostly_english).text == chinese


def test_hostile_text_gets_a_label():
    for text in ["", "\n\n", "\ud800\x00" * 50, "\ufffe" * 1000, "字" * 200_000, "a\n" * 10_000]:
        found = LanguageFilter(("zh",), 0.5, "paragraph").identify(text)
        assert found.reason in (None, "wrong_language")
        assert len(found.paragraph_languages) == len(found.text.split("\n"))
