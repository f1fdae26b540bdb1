"""Word segmenters: spans on real sentences, jieba-rs against jieba, user dictionaries, pickling, laziness."""
import pickle
import subprocess
import sys
import threading

import pytest

from corpusforge.tokenization.segment import (
    DEFAULT_SEGMENTER, SEGMENTERS, CharSegmenter, JiebaRsSegmenter, JiebaSegmenter, PresegmentedSegmenter,
    Segmenter, SegmenterError, align_words, get_segmenter)
from tests.conftest import DATA, ROOT

SENTENCES = [line.split("\t", 1)[1] for line in
             (DATA / "tokenization" / "segment_sentences.txt").read_text(encoding="utf-8").splitlines()]
# measured on all 70,868 Chinese sentences of shared/corpora (benchmarks/bench_segment.py): jieba-rs
# returns 99.9999% of jieba's word spans and segments 99.9986% of sentences identically
MIN_SPAN_AGREEMENT, MIN_SENTENCE_AGREEMENT = 0.999, 0.97


def sentence_with(prefix: str) -> str:
    [sentence] = [s for s in SENTENCES if s.startswith(prefix)]
    return sentence


def words(segmenter, text):
    return [text[s:e] for s, e in segmenter.spans(text)]


@pytest.fixture(scope="module")
def jieba():
    return get_segmenter("jieba")


@pytest.fixture(scope="module")
def fast():
    return get_segmenter("jieba-rs")


@pytest.fixture
def user_dict(tmp_path):
    path = tmp_path / "user_dict.txt"
    # jieba's format: word [freq] [tag]; jieba alone cuts 中|超和亚冠 and 下于|乐才 in the sentence below
    path.write_text("中超\n亚冠 5 n\n于乐 nr\n", encoding="utf-8")
    return str(path)


def test_fixture_is_real_chinese_text():
    assert len(SENTENCES) == 46 and all(len(s) >= 15 for s in SENTENCES)
    assert sum(" " in s for s in SENTENCES) >= 3  # Latin words between spaces


@pytest.mark.parametrize("name", SEGMENTERS)
def test_spans_cover_every_non_space_character_in_order(name):
    segmenter = get_segmenter(name)
    assert isinstance(segmenter, Segmenter)
    texts = SENTENCES + [" ".join(SENTENCES[:3]), "  开头和结尾有空格\t ", "", "   "]
    for text in texts:
        spans = segmenter.spans(text)
        assert all(isinstance(s, int) and isinstance(e, int) for s, e in spans)
        assert all(0 <= s < e <= len(text) for s, e in spans), text
        assert all(e1 <= s2 for (_, e1), (s2, _) in zip(spans, spans[1:])), text  # ordered, no overlap
        covered = {i for s, e in spans for i in range(s, e)}
        assert covered >= {i for i, ch in enumerate(text) if not ch.isspace()}, text
        assert not any(text[s:e].isspace() for s, e in spans)


@pytest.mark.parametrize("name", ["jieba", "jieba-rs"])
@pytest.mark.parametrize("prefix, word", [("为中国在冬奥会史上", "中国"), ("为做好北京南站公共交通", "北京"),
                                          ("在中國方面,法國在第二次鴉片戰爭", "中國"), ("周恩來畢業於南開中學", "共產主義小組"),
                                          ("斯巴鲁的车最多也就2.0T", "斯巴鲁"), ("斯巴鲁的车最多也就2.0T", "发动机"),
                                          ("这就是三元催化", "热胀冷缩"), ("此外,英国国内经权力下放", "Minister")])
def test_known_words_are_one_span(name, prefix, word):
    assert word in words(get_segmenter(name), sentence_with(prefix))


def test_jieba_rs_agrees_with_jieba(jieba, fast):
    same_spans = total = same_sentences = 0
    for text in SENTENCES:
        a, b = jieba.spans(text), fast.spans(text)
        same_spans += len(set(a) & set(b))
        total += len(a)
        same_sentences += a == b
    assert same_spans / total >= MIN_SPAN_AGREEMENT
    assert same_sentences / len(SENTENCES) >= MIN_SENTENCE_AGREEMENT


def test_jieba_rs_without_the_hmm_rule_would_differ_on_non_chinese_runs(jieba, fast):
    """rjieba keeps 1-2, 2.0T, CX-5 whole; jieba's HMM cuts them (what JiebaRsSegmenter corrects)."""
    raw = fast.load()
    differ = [s for s in SENTENCES if raw.cut(s) != [w for w in words(jieba, s)] and " " not in s]
    assert len(differ) >= 10
    text = sentence_with("共同点是都强调操控性")
    assert "CX-5" in raw.cut(text)
    assert words(fast, text) == words(jieba, text) and "CX" in words(fast, text)


def test_hmm_off_agrees_exactly():
    jieba, fast = get_segmenter("jieba", hmm=False), get_segmenter("jieba-rs", hmm=False)
    assert all(jieba.spans(s) == fast.spans(s) for s in SENTENCES)
    assert jieba.fingerprint() != get_segmenter("jieba").fingerprint()


@pytest.mark.parametrize("name", ["jieba", "jieba-rs"])
def test_user_dictionary_changes_a_real_sentence(name, user_dict):
    text = sentence_with("2010年河南建业要在中超和亚冠")
    plain = words(get_segmenter(name), text)
    assert "中超" not in plain and "于乐" not in plain and "超和亚冠" in plain
    with_dict = words(get_segmenter(name, user_dict=user_dict), text)
    assert {"中超", "和", "亚冠", "于乐"} <= set(with_dict)
    # outside the two stretches the user words touch, the segmentation is unchanged
    touched = [(text.index(w), text.index(w) + len(w)) for w in ("中超和亚冠", "下于乐才", "于乐为")]

    def outside(segmenter):
        return [sp for sp in segmenter.spans(text) if not any(sp[0] < e and s < sp[1] for s, e in touched)]
    assert outside(get_segmenter(name, user_dict=user_dict)) == outside(get_segmenter(name))


def test_user_dictionary_same_in_both_implementations(user_dict):
    jieba, fast = get_segmenter("jieba", user_dict=user_dict), get_segmenter("jieba-rs", user_dict=user_dict)
    assert all(jieba.spans(s) == fast.spans(s) for s in SENTENCES)
    # a user dictionary does not leak into segmenters without it (each has its own loaded dictionary)
    assert "中超" not in words(get_segmenter("jieba"), sentence_with("2010年河南建业"))


def test_bad_user_dictionary_fails_fast(tmp_path):
    with pytest.raises(SegmenterError, match="cannot be read"):
        get_segmenter("jieba", user_dict=str(tmp_path / "missing.txt"))
    (tmp_path / "gbk.txt").write_bytes("中超\n".encode("gbk"))
    with pytest.raises(SegmenterError, match="not UTF-8"):
        get_segmenter("jieba-rs", user_dict=str(tmp_path / "gbk.txt"))
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(SegmenterError, match="no words"):
        get_segmenter("jieba", user_dict=str(tmp_path / "empty.txt"))
    with pytest.raises(SegmenterError, match="jieba segmenters"):
        get_segmenter("chars", user_dict=str(tmp_path / "gbk.txt"))


def test_missing_library_fails_fast_with_the_install_line():
    class Uninstalled(JiebaRsSegmenter):
        module = "no_such_jieba_binding"

    with pytest.raises(SegmenterError, match="pip install rjieba"):
        Uninstalled()


def test_fingerprint_follows_what_decides_the_output(tmp_path, user_dict):
    prints = {get_segmenter(n).fingerprint() for n in SEGMENTERS}
    assert len(prints) == len(SEGMENTERS) and all(len(p) == 64 for p in prints)
    with_dict = get_segmenter("jieba-rs", user_dict=user_dict)
    assert with_dict.fingerprint() != get_segmenter("jieba-rs").fingerprint()
    assert pickle.loads(pickle.dumps(with_dict)).fingerprint() == with_dict.fingerprint()
    other = tmp_path / "other.txt"
    other.write_text("中超 10\n", encoding="utf-8")
    assert get_segmenter("jieba-rs", user_dict=str(other)).fingerprint() != with_dict.fingerprint()
    assert get_segmenter("jieba-rs", user_dict=user_dict).fingerprint() == with_dict.fingerprint()


@pytest.mark.parametrize("name", ["jieba", "jieba-rs"])
def test_pickle_round_trip_loads_lazily_once_per_process(name, user_dict):
    from apache_beam.internal import pickler

    segmenter = get_segmenter(name, user_dict=user_dict)
    assert segmenter._impl is None  # nothing loaded at construction
    expected = [segmenter.spans(s) for s in SENTENCES]
    for copy in (pickle.loads(pickle.dumps(segmenter)), pickler.loads(pickler.dumps(segmenter))):
        assert copy._impl is None and copy.user_dict == user_dict
        assert [copy.spans(s) for s in SENTENCES] == expected
    # DoFn threads each unpickle a copy: they share one loaded dictionary
    copies = [pickle.loads(pickle.dumps(segmenter)) for _ in range(8)]
    loaded = []
    threads = [threading.Thread(target=lambda c=c: loaded.append(c.load())) for c in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loaded) == 8 and all(impl is segmenter.load() for impl in loaded)


def test_fresh_process_loads_on_first_use_without_network(fast):
    """Construction imports neither library; the first spans() loads it; nothing opens a socket or
    runs a command (jieba's dictionary ships in its package; its paddle mode would pip-install)."""
    code = r"""
import pickle, sys
def guard(event, args):
    if event.startswith(("socket.", "urllib.", "subprocess.", "os.system", "os.exec", "os.posix_spawn")):
        raise RuntimeError("segmenter tried " + event)
sys.addaudithook(guard)
from corpusforge.tokenization.segment import get_segmenter
segs = [get_segmenter("jieba"), get_segmenter("jieba-rs")]
assert "jieba" not in sys.modules and "rjieba" not in sys.modules
segs = pickle.loads(pickle.dumps(segs))
text = sys.stdin.read()
print(repr([s.spans(text) for s in segs]))
"""
    text = sentence_with("斯巴鲁的车最多也就2.0T")
    out = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == repr([fast.spans(text), fast.spans(text)])


def test_presegmented_gives_exactly_the_given_words(jieba):
    for text in SENTENCES:
        given = [w for w in words(jieba, text) if not w.isspace()]  # any segmenter's output, e.g. LTP's
        joined = " ".join(given)
        assert words(PresegmentedSegmenter(), joined) == given
        assert align_words(text, given) == jieba.spans(text)


def test_align_words_rejects_words_that_are_not_the_text():
    assert align_words("北京 是 首都", ["北京", " ", "是", "首都"]) == [(0, 2), (3, 4), (5, 7)]
    with pytest.raises(SegmenterError, match="not the text"):
        align_words("北京是首都", ["北京", "市"])
    with pytest.raises(SegmenterError, match="before the text does"):
        align_words("北京是首都", ["北京", "是"])


def test_chars_makes_every_character_a_word():
    text = sentence_with("當時摩德林學院的校長")
    assert words(CharSegmenter(), text) == [ch for ch in text if not ch.isspace()]


class TwoCharSegmenter:
    """A user's own segmenter: two characters a word (stands for LTP or any other word list)."""

    name = "two-chars"

    def fingerprint(self) -> str:
        return "two-chars-v1"

    def spans(self, text):
        compact = "".join(text.split())
        return align_words(text, [compact[i:i + 2] for i in range(0, len(compact), 2)])


class NotASegmenter:
    name = "nothing"


def test_get_segmenter_names_and_user_classes():
    assert DEFAULT_SEGMENTER in SEGMENTERS
    assert type(get_segmenter("jieba")) is JiebaSegmenter and type(get_segmenter("jieba-rs")) is JiebaRsSegmenter
    assert type(get_segmenter("chars")) is CharSegmenter
    own = get_segmenter("tests.tokenization.test_segment:TwoCharSegmenter")
    assert words(own, "北京是中国的首都") == ["北京", "是中", "国的", "首都"]
    with pytest.raises(SegmenterError, match="unknown segmenter"):
        get_segmenter("ltp")
    with pytest.raises(SegmenterError, match="cannot be imported"):
        get_segmenter("tests.tokenization.test_segment:Missing")
    with pytest.raises(SegmenterError, match="cannot be imported"):
        get_segmenter("no_such_module_here:Segmenter")
    with pytest.raises(SegmenterError, match="needs a name, fingerprint"):
        get_segmenter("tests.tokenization.test_segment:NotASegmenter")
    with pytest.raises(SegmenterError, match="cannot be built"):  # takes no user_dict
        get_segmenter("tests.tokenization.test_segment:TwoCharSegmenter", user_dict="x.txt")
