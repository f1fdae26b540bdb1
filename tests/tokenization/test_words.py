"""word_ids: the tokens of one word are consecutive and share one index (whole-word masking)."""
import pytest

from corpusforge.dataset.reader import load_table, read_manifest, verify_dataset
from corpusforge.text import normalize_text, split_sentences
from corpusforge.tokenization.segment import get_segmenter
from corpusforge.tokenization.tokenizer import TextTokenizer
from corpusforge.tokenization.words import token_words, tokenize_documents
from tests.conftest import SAMPLE, run_cli
from tests.tokenization.test_tokenizer import VOCAB, sample_texts


@pytest.fixture(scope="module")
def bert():
    return TextTokenizer(str(VOCAB))


@pytest.fixture(scope="module")
def jieba():
    return get_segmenter("jieba")


@pytest.fixture(scope="module")
def chinese_sentences():
    texts = [t for t in sample_texts() if sum("\u4e00" <= c <= "\u9fff" for c in t) > len(t) / 2]
    return [s for t in texts[:150] for s in split_sentences(normalize_text(t))][:1500]


def test_token_words_by_start_offset():
    spans = [(0, 2), (2, 3), (4, 9)]
    assert list(token_words([(0, 1), (1, 2), (2, 3), (4, 6), (6, 9)], spans)) == [0, 0, 1, 2, 2]
    assert list(token_words([(3, 4)], spans)) == [1]  # a token in the gap belongs to the word before


def test_every_multi_character_word_maps_to_consecutive_tokens(bert, jieba, chinese_sentences):
    checked = grouped = 0
    for sentence in chinese_sentences:
        [(ids, offsets)] = bert.encode([sentence])
        [words] = tokenize_documents([[sentence]], bert, jieba)[0][1:]
        words = list(words[0])
        assert len(words) == len(ids)
        # no run is interrupted: once a word index is left, it never comes back
        assert words == sorted(words)
        for start, end in jieba.spans(sentence):
            inside = [w for (a, _), w in zip(offsets, words) if start <= a < end]
            if end - start > 1 and len(inside) > 1:
                checked += 1
                assert len(set(inside)) == 1, (sentence, sentence[start:end])
        grouped += len(set(words)) < len(words)
    assert checked > 2000
    # a character-level vocab still gets word groups, not one word per character
    assert grouped > len(chinese_sentences) * 0.9


def test_unk_keeps_its_word(bert, jieba):
    sentence = "这是㐂字测试"  # 㐂 is not in bert-base-chinese's vocab
    [(ids, _)] = bert.encode([sentence])
    assert 100 in ids
    [words] = tokenize_documents([[sentence]], bert, jieba)[0][1]
    assert len(words) == len(ids) and list(words) == sorted(words)


def test_word_ids_count_up_through_the_document(bert, jieba):
    [(ids, words)] = tokenize_documents([["北京是中国的首都。", "上海是一座城市。"]], bert, jieba)
    assert words[1][0] == words[0][-1] + 1


def test_build_tokenized_from_raw_and_from_documents(tmp_path):
    docs = tmp_path / "docs"
    run_cli("build", "documents", "-i", SAMPLE / "wiki_zh", "-o", docs)
    a, b = tmp_path / "from_docs", tmp_path / "from_raw"
    run_cli("build", "tokenized", "-i", docs, "-t", VOCAB, "-o", a)
    run_cli("build", "tokenized", "-i", SAMPLE / "wiki_zh", "-t", VOCAB, "-o", b)
    m = read_manifest(str(a))
    assert m["kind"] == "tokenized" and m["rows"] == read_manifest(str(docs))["rows"] == 180
    assert m["tokenizer"]["vocab_size"] == 21128 and len(m["tokenizer"]["sha256"]) == 64
    assert m["totals"]["tokens"] > 100_000 and verify_dataset(str(a)) == []
    table = load_table(str(a))
    assert str(table.schema.field("input_ids").type) == "list<item: list<item: uint16>>"
    assert (a / "data-00000-of-00001.arrow").read_bytes() == (b / "data-00000-of-00001.arrow").read_bytes()
    first = table.to_pylist()[0]
    assert [len(s) for s in first["input_ids"]] == [len(s) for s in first["word_ids"]]


def test_without_a_segmenter_the_same_ids_and_word_ids_zero(bert, jieba, chinese_sentences):
    docs = [chinese_sentences[i:i + 7] for i in range(0, 300, 7)] + [[]]
    with_words, without = tokenize_documents(docs, bert, jieba), tokenize_documents(docs, bert, None)
    assert len(without) == len(docs) and without[-1] == ([], [])
    for (ids, words), (ids0, words0) in zip(with_words, without):
        assert [a.tolist() for a in ids] == [a.tolist() for a in ids0]
        assert [len(w) for w in words] == [len(w) for w in words0] and not any(w.any() for w in words0)
