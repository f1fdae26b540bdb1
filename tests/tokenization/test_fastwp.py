"""FastWordPiece (the vocab.txt path of TextTokenizer.encode_flat) must return exactly what
tokenizers' own BertWordPieceTokenizer.encode_batch returns: the same ids and start offsets."""
import json
import pickle
import random

import numpy as np
import pytest

from corpusforge.text import normalize_text, split_sentences
from corpusforge.tokenization.fastwp import DROP, ISOLATED, SLOW, WORD
from corpusforge.tokenization.tokenizer import TextTokenizer
from tests.conftest import DATA, SAMPLE, VOCAB

OPTIONS = [dict(), dict(strip_accents=True), dict(strip_accents=False), dict(lowercase=False),
           dict(lowercase=False, strip_accents=True)]

ADVERSARIAL = [
    "", " ", "   ", "\t\n\r", "\u3000", "\x00", "\ufffd", "\u200d", "\u200b中", "a\u200db", "中\x00国", "ab\x00cd",
    "İstanbul", "İ", "ß", "STRASSE straße", "\uf900\uf901\ufa0e", "豈", "Ǆ ǅ ǆ", "ﬁﬂ ﬃ", "Ω Å K",
    "café cafe\u0301 CAFÉ", "e\u0301\u0302", "\u0301", "中\u0301国", "。\u0301", "a\u0308\u0323", "ą̃", "ﾃｽﾄ ｶﾞ",
    "ＡＢＣ１２３，。！？", "ａｂｃ１２ｄ", "Ⅻ ① ㈱ ㎏", "😀😀中😀abc😀", "👨\u200d👩\u200d👧", "𠀀𠀁𪚥 𝔘𝔫𝔦", "\U000e0001",
    "x" * 99, "x" * 100, "x" * 101, "中" + "y" * 150 + "国", "é" * 101, "a" * 60 + "é" * 60,
    "QDII今年来大幅跑输A股基金, unbelievable results!", "hello [SEP] world [sep] [CLS][MASK]x[PAD]",
    "[UNK]", "[unk]", "[ SEP ]", "<s></s>", "2019年3月，iPhone XS Max售价¥9,599元（约$1,400）。",
    "tab\there\nnew\rline\x0bvt\x0cff\x85nel\u2028ls\u2029ps", "\x7f\x80\x9f", "a\u00adb", "\u202eevil\u202c",
    "Ελληνικά ΣΊΣΥΦΟΣ", "Русский ТЕКСТ", "한국어 텍스트", "العربية", "हिन्दी", "ไทย", "ǰ̣", "ŉ",
    "，、；：“”‘’《》【】—…·", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "¡¿§¶", "\u2e3a\u2e3b", "\ufe10\ufe19",
    "\uffff\U0010ffff", "\ue000\U000f0000", "a\u0300" * 30, " 前后有空格 ", "中 文", "中\t\t文",
]
TRICKY = ("a", "Z", "é", "É", "İ", "ß", "中", "文", "豈", "\uf900", "。", "，", "!", "[", "]", "S", "E", "P", "s",
          "e", "p", " ", "\t", "\n", "\u3000", "\x00", "\u200d", "\u200b", "\ufffd", "\u0301", "\u0308", "1", "9",
          "😀", "𠀀", "ａ", "１", "Ω", "ǅ", "ﬁ", "\x85", "\u00ad", "-", "'", "x", "y", "ı", "Σ", "ς", "\x7f")


def reference(tok, sentences):
    """(ids, starts, counts) straight from the library."""
    encodings = tok.impl.encode_batch(sentences, add_special_tokens=False)
    ids = np.array([i for e in encodings for i in e.ids], dtype=np.int64)
    starts = np.array([s for e in encodings for s, _ in e.offsets], dtype=np.int64)
    return ids, starts, np.array([len(e.ids) for e in encodings], dtype=np.int64)


def assert_same(tok, sentences):
    assert tok._fast is not None  # the fast path is the one under test
    for lo in range(0, len(sentences), 2000):
        batch = sentences[lo:lo + 2000]
        ids, starts, counts = tok.encode_flat(batch)
        want_ids, want_starts, want_counts = reference(tok, batch)
        if not (np.array_equal(ids, want_ids) and np.array_equal(starts, want_starts)
                and np.array_equal(counts, want_counts)):
            for s in batch:  # name the first sentence that differs
                got, want = tok.encode_flat([s]), reference(tok, [s])
                assert [x.tolist() for x in got] == [x.tolist() for x in want], repr(s)
            raise AssertionError("batch differs, no single sentence does")
        assert ids.dtype == tok.id_dtype and starts.dtype == np.int64 and counts.dtype == np.int64


def fuzz(n=3000, seed=7):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.choice((0, 1, 2, 3, 5, 8, 20, 120))
        out.append("".join(rng.choice(TRICKY) for _ in range(k)))
    return out


def jsonl_texts(path):
    for line in path.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        yield d.get("text") or d.get("content") or d.get("desc") or ""


@pytest.fixture(scope="module", params=range(len(OPTIONS)), ids=lambda i: str(OPTIONS[i]) or "default")
def tok(request):
    return TextTokenizer(str(VOCAB), **OPTIONS[request.param])


def test_adversarial_strings(tok):
    assert_same(tok, ADVERSARIAL)
    for s in ADVERSARIAL:  # alone too: a batch of one, and at the start and end of a batch
        assert_same(tok, [s])
        assert_same(tok, [s, "中文abc", s])


def test_random_strings_of_tricky_characters(tok):
    assert_same(tok, fuzz())


def test_checked_in_text(tok):
    texts = [t for p in sorted((DATA / "text").glob("*.jsonl")) for t in jsonl_texts(p)]
    texts.append((DATA / "text" / "bert_sample_text.txt").read_text(encoding="utf-8"))
    lines = [line for t in texts for line in t.split("\n")]
    prepared = [s for t in texts for s in split_sentences(normalize_text(t))]
    assert len(lines) > 50 and len(prepared) > 300
    assert_same(tok, lines + prepared + (DATA / "tokenization" / "segment_sentences.txt").read_text().splitlines())


def test_every_line_of_the_sample_wiki_and_news_and_every_character_of_the_full_corpora():
    """Every line of samples/corpora's wiki_zh and news2016zh as found (un-normalised: fullwidth forms,
    controls, as read), plus real sentences that bring every other character of the full corpora."""
    tok = TextTokenizer(str(VOCAB))
    paths = sorted((SAMPLE / "wiki_zh").rglob("wiki_*")) + sorted((SAMPLE / "news2016zh").glob("*.json"))
    lines = [line for p in paths for t in jsonl_texts(p) for line in t.split("\n")]
    rare = list(jsonl_texts(DATA / "tokenization" / "wiki_news_rare_characters.jsonl"))
    assert len(lines) > 1500 and len(rare) > 1700
    assert len(set("".join(lines + rare))) == 7230  # the distinct characters of all 16 wiki and news files
    assert_same(tok, lines + rare)


def test_the_table_holds_what_the_fast_path_relies_on():
    tok = TextTokenizer(str(VOCAB))
    fast = tok._fast
    fast.encode_flat(["中文，English 1984 \u200d 。", "a combining mark \u0301 sends its sentence the slow way"])
    kind = {c: fast.kind[ord(c)] for c in "中文，。 Eng1\u0301\u200d"}
    assert kind == {"中": ISOLATED, "文": ISOLATED, "，": ISOLATED, "。": ISOLATED, " ": DROP, "E": WORD, "n": WORD,
                    "g": WORD, "1": WORD, "\u0301": SLOW, "\u200d": WORD}
    assert fast.ids[ord("我")] in (0, 2769)  # learnt on first sight only
    fast.encode_flat(["我"])
    assert fast.ids[ord("我")] == 2769 and "English" in fast.words and "1984" in fast.words
    assert "combining" not in fast.words and "mark" not in fast.words


def test_pickles_without_its_tables():
    tok = TextTokenizer(str(VOCAB))
    tok.encode_flat(["预热一下 warm up"])
    assert "_fast" in tok.__dict__
    blob = pickle.dumps(tok)
    plain = TextTokenizer(str(VOCAB))
    plain.fast = False
    plain.encode_flat(["预热一下 warm up"])
    assert len(blob) < len(pickle.dumps(plain)) + 100  # not 5 MB of tables or the word cache
    again = pickle.loads(blob)
    assert "_fast" not in again.__dict__
    assert [x.tolist() for x in again.encode_flat(["预热一下 warm up"])] == [x.tolist() for x in tok.encode_flat(["预热一下 warm up"])]


def test_slow_switch_gives_the_same():
    tok = TextTokenizer(str(VOCAB))
    sentences = ADVERSARIAL + fuzz(300, seed=3)
    fast = tok.encode_flat(sentences)
    tok.fast = False
    slow = tok.encode_flat(sentences)
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(fast, slow))


def test_a_full_word_cache_is_emptied_and_refilled(monkeypatch):
    import corpusforge.tokenization.fastwp as fastwp

    monkeypatch.setattr(fastwp, "MAX_CACHED_WORDS", 5)
    tok = TextTokenizer(str(VOCAB))
    sentences = ["alpha beta gamma", "delta 中 epsilon zeta eta theta alpha", "alpha beta"]
    for batch in (sentences[:1], sentences, sentences[1:]):
        assert_same(tok, batch)
        assert len(tok._fast.words) <= 8  # emptied when full, then this batch's distinct words (at most 8)


def test_a_lone_surrogate_fails_as_the_library_does():
    tok = TextTokenizer(str(VOCAB))
    for sentences in (["a\ud800b"], ["中文", "x\udfffy", "中"]):
        with pytest.raises(Exception) as library:
            tok.impl.encode_batch(sentences, add_special_tokens=False)
        with pytest.raises(type(library.value)):
            tok.encode_flat(sentences)
    assert_same(tok, ["中文", "fine again"])
