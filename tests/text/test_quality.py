"""Quality rules: every measure equals datatrove's GopherRepetitionFilter / GopherQualityFilter /
FineWebQualityFilter on the real sample text (Chinese wiki and news, English news and BERT's sample),
pinned by running datatrove's filter just below and just above our value."""
import json

import pytest

from corpusforge.text import normalize_text, split_sentences
from corpusforge.text.quality import (CJK_DOCUMENT_RATIO, LINE_ENDINGS, PRESETS, RULES, QualityFilter, measure,
                                      parse_quality, words_of)
from corpusforge.text.normalize import cjk_ratio
from tests.conftest import SAMPLE

datatrove = pytest.importorskip("datatrove")  # the [test] extra installs it
from datatrove.data import Document  # noqa: E402
from datatrove.pipeline.filters import gopher_quality_filter as dq  # noqa: E402
from datatrove.pipeline.filters import gopher_repetition_filter as dr  # noqa: E402
from datatrove.pipeline.filters import fineweb_quality_filter as df  # noqa: E402


def sample_texts():
    """(name, normalized text) of real documents, as build documents normalizes them by default."""
    out = []
    for path, field in [("wiki_zh/AA/wiki_00", "text"), ("news2016zh/news2016zh_train.json", "content"),
                        ("webtext2019zh/web_text_zh_valid.json", "content")]:
        with open(SAMPLE / path, encoding="utf-8") as f:
            lines = f.readlines()[:150]
        out += [(f"{path}:{i}", normalize_text(json.loads(line)[field], form="none")) for i, line in enumerate(lines)]
    with open(SAMPLE / "plain/bert_sample_text.txt", encoding="utf-8") as f:
        out += [(f"plain:{i}", normalize_text(d, form="none")) for i, d in enumerate(f.read().split("\n\n"))]
    return [(n, t) for n, t in out if t.strip()]


TEXTS = sample_texts()


@pytest.fixture(autouse=True)
def datatrove_words(monkeypatch):
    """datatrove's formulas over our words: its word tokenizers (spaCy, NLTK) need models or data we do not
    install, and the words are ours by design (CJK characters are words)."""
    monkeypatch.setattr(dr, "split_into_words", lambda text, language=None: words_of(text))
    monkeypatch.setattr(dq, "split_into_words", lambda text, language=None: words_of(text))
    monkeypatch.setattr(df, "split_into_words", lambda text, language=None: words_of(text))
    # the symbol set is ours too (Unicode punctuation, symbols and controls), datatrove's is a fixed list
    import unicodedata

    class Symbols:
        def __contains__(self, ch):
            return unicodedata.category(ch)[0] in "PSC"

    monkeypatch.setattr(dq, "PUNCTUATION_SET", Symbols())


ORIGINAL_GET_N_GRAMS = dr.get_n_grams


def cjk_n_grams(words, n):  # our one adaptation for CJK documents: a character n-gram has no spaces in it
    return ["".join(words[i:i + n]) for i in range(len(words) - n + 1)]


OFF_REP = dict(dup_line_frac=None, dup_para_frac=None, dup_line_char_frac=None, dup_para_char_frac=None,
               top_n_grams=(), dup_n_grams=())
OFF_QUAL = dict(min_doc_words=None, max_doc_words=None, min_avg_word_length=None, max_avg_word_length=None,
                max_symbol_word_ratio=None, max_bullet_lines_ratio=None, max_ellipsis_lines_ratio=None,
                max_non_alpha_words_ratio=None, min_stop_words=None)


def reference(name: str, threshold: float):
    """(datatrove filter with only the rule `name` on at `threshold`, the reason it gives)."""
    if name.startswith("top_"):
        n = int(name.split("_")[1])
        return dr.GopherRepetitionFilter(**{**OFF_REP, "top_n_grams": ((n, threshold),)}), f"top_{n}_gram"
    if name.startswith("dup_") and name.endswith("_gram_frac"):
        n = int(name.split("_")[1])
        return dr.GopherRepetitionFilter(**{**OFF_REP, "dup_n_grams": ((n, threshold),)}), f"duplicated_{n}_n_grams"
    if name.startswith("dup_"):
        return dr.GopherRepetitionFilter(**{**OFF_REP, name: threshold}), name
    if name == "line_punct_frac":
        return df.FineWebQualityFilter(line_punct_thr=threshold, stop_chars=LINE_ENDINGS, short_line_thr=2.0,
                                       char_duplicates_ratio=2.0, new_line_ratio=1e9), "line_punct_ratio"
    option, reason = {
        "min_words": ("min_doc_words", "gopher_short_doc"), "max_words": ("max_doc_words", "gopher_long_doc"),
        "min_mean_word_length": ("min_avg_word_length", "gopher_below_avg_threshold"),
        "max_mean_word_length": ("max_avg_word_length", "gopher_above_avg_threshold"),
        "hash_word_ratio": ("max_symbol_word_ratio", "gopher_too_many_hashes"),
        "ellipsis_word_ratio": ("max_symbol_word_ratio", "gopher_too_many_ellipsis"),
        "bullet_lines_frac": ("max_bullet_lines_ratio", "gopher_too_many_bullets"),
        "ellipsis_lines_frac": ("max_ellipsis_lines_ratio", "gopher_too_many_end_ellipsis"),
        "alpha_words_frac": ("max_non_alpha_words_ratio", "gopher_below_alpha_threshold"),
        "stop_words": ("min_stop_words", "gopher_enough_stop_words"),
    }[name]
    return dq.GopherQualityFilter(**{**OFF_QUAL, option: threshold}), reason


def verdict(f, text):
    result = f.filter(Document(text=text, id="x"))
    return None if result is True else result[1]


COMPARED = [n for n in RULES if n != "mean_sentence_words"]  # datatrove has no sentence-length rule


@pytest.mark.parametrize("name", COMPARED)
def test_each_measure_equals_datatrove_on_the_sample_text(name, monkeypatch):
    rule, checked = RULES[name], 0
    for doc, text in TEXTS:
        cjk = cjk_ratio(text) >= CJK_DOCUMENT_RATIO
        monkeypatch.setattr(dr, "get_n_grams", cjk_n_grams if cjk else ORIGINAL_GET_N_GRAMS)
        value = measure(text, names=[name])[name]
        eps = 1e-9 * max(1.0, abs(value))
        below, above = value - eps, value + eps
        f, reason = reference(name, above)
        assert (verdict(f, text) == reason) == (rule.bound == "min"), (doc, name, value)
        if below > 0:  # datatrove reads a threshold of 0 as "off"
            f, _ = reference(name, below)
            got = verdict(f, text)
            if name == "ellipsis_word_ratio" and got == "gopher_too_many_hashes":
                continue  # the same datatrove option checks '#' first
            assert (got == reason) == (rule.bound == "max"), (doc, name, value, got)
        checked += 1
    assert checked >= (10 if name == "ellipsis_word_ratio" else 100), checked  # ellipses: 13 documents


def test_the_sample_has_documents_each_rule_would_remove_or_keep():
    """The comparison above has teeth: the sample's values spread on both sides of the Gopher defaults."""
    values = {n: [measure(t, names=[n])[n] for _, t in TEXTS] for n in PRESETS["gopher"]}
    breaks = {n for n, vs in values.items()
              if any(v > RULES[n].default if RULES[n].bound == "max" else v < RULES[n].default for v in vs)}
    assert {"min_words", "dup_5_gram_frac", "stop_words", "alpha_words_frac"} <= breaks, breaks


def test_words_are_cjk_characters_and_latin_words():
    assert words_of("BBC报道：iPhone 6很好…") == ["BBC", "报", "道", "：", "iPhone", "6", "很", "好", "…"]


def test_repeated_lines_and_ngrams_on_a_real_article_made_repetitive():
    """An article whose first paragraph is repeated 3 times breaks the duplicate-paragraph rule by
    exactly the counts a person reads off it."""
    _, text = next((n, t) for n, t in TEXTS if n.startswith("wiki") and "\n\n" in t)
    paragraphs = text.split("\n\n")
    doubled = "\n\n".join(paragraphs + [paragraphs[0]] * 3)
    v = measure(doubled, names=["dup_para_frac", "dup_para_char_frac"])
    assert v["dup_para_frac"] == 3 / (len(paragraphs) + 3)
    assert v["dup_para_char_frac"] == 3 * len(paragraphs[0]) / len(doubled)
    qf = parse_quality("dup_para_frac", ("dup_para_frac=0.1",))
    assert qf.reason(doubled) == "dup_para_frac" and qf.reason(text) is None


def test_cjk_documents_skip_the_english_word_rules():
    _, text = next((n, t) for n, t in TEXTS if n.startswith("wiki") and len(t) > 500)
    v = measure(text, names=["min_mean_word_length", "stop_words"])
    assert v["min_mean_word_length"] < 3 and v["stop_words"] == 0  # both would reject every Chinese document
    assert QualityFilter((("min_mean_word_length", 3.0), ("stop_words", 2.0))).reason(text) is None


def test_mean_sentence_words_counts_the_split_sentences():
    text = "短句。This is a longer sentence here."
    sentences = split_sentences(text)
    assert sentences == ["短句。", "This is a longer sentence here."]  # 3 words (短 句 。) and 7 (6 and the period)
    assert measure(text, sentences, ["mean_sentence_words"]) == {"mean_sentence_words": 5.0}
    at = parse_quality("mean_sentence_words", ("mean_sentence_words=5",))
    above = parse_quality("mean_sentence_words", ("mean_sentence_words=5.5",))
    assert at.reason(text, sentences) is None and above.reason(text, sentences) == "mean_sentence_words"


def test_presets_and_thresholds():
    assert [n for n, _ in parse_quality("gopher").rules] == list(PRESETS["gopher"])
    assert dict(parse_quality("gopher", ("dup_line_frac=0.5",)).rules)["dup_line_frac"] == 0.5
    assert parse_quality("").rules == ()
    for spec, overrides, words in [("gopherr", (), "neither a quality rule nor a preset"),
                                   ("gopher", ("dup_line_frac",), "is not RULE=VALUE"),
                                   ("gopher", ("dup_line_frac=x",), "is not a number"),
                                   ("gopher", ("line_punct_frac=0.2",), "that --quality does not turn on"),
                                   ("gopher", ("dup_line_frac=nan",), "must be a number >= 0")]:
        with pytest.raises(ValueError, match=words):
            parse_quality(spec, overrides)


@pytest.mark.parametrize("text", ["", "\n\n\n", "#" * 10_000, "…" * 5000, "\x00\x01", "a\n\n" * 5000, "中" * 100_000])
def test_hostile_text_gives_a_verdict(text):
    qf = parse_quality("gopher,line_punct_frac,mean_sentence_words")
    assert qf.reason(text, split_sentences(text)) in (None, *RULES)
