"""Bring-your-own tokenizer files: BERT WordPiece must equal Google BERT's tokenization."""
import json
import pickle

import pytest

from corpusforge.sources.files import expand_inputs
from corpusforge.sources.formats import Document, ReadOptions, plan_splits, read_split
from corpusforge.text import normalize_text, split_sentences
from corpusforge.tokenization.tokenizer import TextTokenizer, TokenizerError
from tests.conftest import SAMPLE, VOCAB



def sample_texts():
    opts = ReadOptions()
    for f in expand_inputs([str(SAMPLE)]):
        for split in plan_splits(f, opts):
            for doc in read_split(split, opts):
                if isinstance(doc, Document):
                    yield doc.text


@pytest.fixture(scope="module")
def sentences():
    raw = list(sample_texts())
    prepared = [s for text in raw for s in split_sentences(normalize_text(text))]
    raw_lines = [line for text in raw[::5] for line in text.split("\n") if line.strip()]  # un-normalised
    return prepared[:4000] + raw_lines[:1000]


@pytest.fixture(scope="module")
def bert():
    return TextTokenizer(str(VOCAB))


def test_bert_chinese_vocab_is_the_released_one(bert):
    assert bert.vocab_size == 21128 and bert.kind == "wordpiece"
    assert bert.special_ids == {"cls": 101, "sep": 102, "unk": 100, "pad": 0, "mask": 103}
    assert bert.vocab["我"] == 2769 and bert.id_dtype.__name__ == "uint16"


def test_wordpiece_equals_bert_reference_tokenizer(bert, sentences):
    """transformers' slow BertTokenizer (a port of Google's tokenization.py) is the reference."""
    from transformers import BertTokenizer

    reference = BertTokenizer(vocab=str(VOCAB), do_lower_case=True)
    assert len(reference.vocab) == 21128  # transformers 5 ignores vocab_file=; make sure the vocab loaded
    assert len(sentences) >= 4000
    ours = bert.encode(sentences)
    mismatches = [s for s, (ids, _) in zip(sentences, ours) if ids != reference.encode(s, add_special_tokens=False)]
    assert mismatches == []
    unk = sum(ids.count(100) for ids, _ in ours)
    assert 0 < unk < sum(len(ids) for ids, _ in ours) * 0.01  # real text hits [UNK] rarely, but it does


def test_offsets_point_at_the_token_text(bert):
    text = "QDII今年来大幅跑输A股基金, unbelievable results!"
    [(ids, offsets)] = bert.encode([text])
    pieces = [bert.impl.id_to_token(i) for i in ids]
    for piece, (start, end) in zip(pieces, offsets):
        assert text[start:end].lower() == piece.removeprefix("##") or piece == "[UNK]"


def test_tokenizer_json_and_sentencepiece(tmp_path, sentences):
    from tokenizers import ByteLevelBPETokenizer
    import sentencepiece as spm

    corpus = [s for s in sentences[:3000]]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=800, min_frequency=2, show_progress=False)
    bpe.save(str(tmp_path / "tokenizer.json"))
    tok = TextTokenizer(str(tmp_path / "tokenizer.json"))
    [(ids, offsets)] = tok.encode([corpus[0]])
    assert tok.kind == "tokenizers" and ids == bpe.encode(corpus[0]).ids
    (tmp_path / "corpus.txt").write_text("\n".join(corpus), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(tmp_path / "corpus.txt"), model_prefix=str(tmp_path / "spm"),
                                   vocab_size=4000, model_type="unigram", character_coverage=0.9995,
                                   num_threads=1, minloglevel=2)
    sp = TextTokenizer(str(tmp_path / "spm.model"))
    ref = spm.SentencePieceProcessor(model_file=str(tmp_path / "spm.model"))
    for s in corpus[:200]:
        [(ids, offsets)] = sp.encode([s])
        assert ids == ref.encode(s)
        assert all(0 <= a <= b <= len(s) for a, b in offsets)
    assert sp.vocab_size == 4000
    # encode_flat maps SentencePiece's byte offsets to characters for the whole batch: the same as encode
    batch = corpus[:200] + ["", " ", "😀 emoji 中文 ", "Ａ１ fullwidth", "a\u0301b", "\u200d中"]
    ids, starts, counts = sp.encode_flat(batch)
    pairs = sp.encode(batch)
    assert ids.tolist() == [i for p in pairs for i in p[0]] and counts.tolist() == [len(p[0]) for p in pairs]
    assert starts.tolist() == [a for p in pairs for a, _ in p[1]]
    for t in (sp, tok):  # the ids alone (no offsets) are the same ids
        ids, counts = t.encode_ids_flat(corpus[:200])
        assert ids.tolist() == t.encode_flat(corpus[:200])[0].tolist()
        assert counts.tolist() == [len(t.encode([s])[0][0]) for s in corpus[:200]]
    assert [len(x) for x in sp.encode_ids_flat([])] == [0, 0]


def test_pickles_without_the_library_object(bert):
    bert.encode(["预热"])
    clone = pickle.loads(pickle.dumps(bert))
    assert "impl" not in clone.__dict__
    assert clone.encode(["我爱北京"]) == bert.encode(["我爱北京"])


def test_bad_tokenizer_files_fail_with_one_sentence(tmp_path):
    with pytest.raises(TokenizerError, match="cannot be read"):
        TextTokenizer(str(tmp_path / "missing.txt"))
    (tmp_path / "vocab.txt").write_text("a\nb\n")
    with pytest.raises(TokenizerError, match="no \\[UNK\\]"):
        TextTokenizer(str(tmp_path / "vocab.txt"))
    (tmp_path / "bad.json").write_text(json.dumps({"not": "a tokenizer"}))
    with pytest.raises(TokenizerError, match="cannot be loaded"):
        TextTokenizer(str(tmp_path / "bad.json"))
    with pytest.raises(TokenizerError, match="is not a vocab.txt"):
        TextTokenizer(str(tmp_path / "model.bin"))
