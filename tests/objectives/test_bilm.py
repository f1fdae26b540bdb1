"""ELMo bilm examples on real text: character ids as AllenNLP defines them, targets as its LanguageModel shifts."""
import json
import unicodedata

import numpy as np
import pyarrow as pa
import pytest

from corpusforge.beam.sink import seeded_key
from corpusforge.dataset.schema import bilm_schema
from corpusforge.objectives.bilm import BilmBuilder, BilmConfig, spellings
from corpusforge.objectives.instances import TokenizedDocument
from corpusforge.tokenization.tokenizer import TextTokenizer
from tests.conftest import ROOT, SAMPLE

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
CLS, SEP, PAD = 101, 102, 0


def uncased(text: str) -> str:
    """Google BERT's uncased normalisation (tokenization.py: lower(), _run_strip_accents): what the vocabulary spells."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


def allennlp_char_ids(word: str) -> list[int]:
    """AllenNLP's ELMoCharacterMapper.convert_word_to_char_ids, rewritten from its published source
    (allennlp/data/token_indexers/elmo_indexer.py): constants 256..260, then + 1 for masking."""
    max_word_length, bos, eos, bow, eow, pad = 50, 256, 257, 258, 259, 260
    if word in ("<S>", "</S>"):
        char_ids = [pad] * max_word_length
        char_ids[0], char_ids[1], char_ids[2] = bow, bos if word == "<S>" else eos, eow
    else:
        encoded = word.encode("utf-8", "ignore")[:max_word_length - 2]
        char_ids = [pad] * max_word_length
        char_ids[0] = bow
        for k, c in enumerate(encoded, start=1):
            char_ids[k] = c
        char_ids[len(encoded) + 1] = eow
    return [c + 1 for c in char_ids]


@pytest.fixture(scope="module")
def tokenizer():
    tok = TextTokenizer(str(VOCAB))
    assert tok.vocab_size == 21128 and tok.vocab["[CLS]"] == CLS and tok.vocab["我"] == 2769
    return tok


def config(tokenizer, spelled=None, **kw):
    return BilmConfig(bos_id=CLS, eos_id=SEP, pad_id=PAD, spellings=spelled or spellings(tokenizer), **kw)


def sample_sentences(tokenizer):
    """The plain sample (English, and Unicode) and wiki2019zh paragraphs: (text, ids, offsets) per sentence."""
    texts = [line for line in (SAMPLE / "plain" / "bert_sample_text.txt").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    for line in (SAMPLE / "wiki_zh" / "AA" / "wiki_00").read_text(encoding="utf-8").splitlines()[:20]:
        texts += [p for p in json.loads(line)["text"].split("\n") if p.strip()]
    return [(t, ids, offsets) for t, (ids, offsets) in zip(texts, tokenizer.encode(texts))]


def build(cfg, sentences):
    docs = [TokenizedDocument(seeded_key(3, f"d{n}"), f"d{n}",
                     [(np.array(ids, dtype=np.uint16), np.arange(len(ids), dtype=np.int32))])
            for n, (_, ids, _) in enumerate(sentences)]
    builder = BilmBuilder(cfg, seed=3)
    batch = builder.build(docs)
    keys = [seeded_key(3, r) for r in batch.record_ids]
    table = batch.table(bilm_schema().append(pa.field("_key", pa.binary())), keys)
    by_doc = {r.split("/")[0]: i for i, r in enumerate(batch.record_ids)}
    return table, by_doc, builder.stats


def test_char_ids_equal_allennlp_on_the_raw_text(tokenizer):
    """Each token's character ids equal AllenNLP's for the raw text the tokenizer offsets point at (normalised as
    the uncased vocabulary is), BOS/EOS its <S> / </S>: the route through the vocabulary spells every token right."""
    sentences = sample_sentences(tokenizer)
    table, by_doc, _ = build(config(tokenizer, max_seq_length=4096), sentences)  # no sentence is cut
    chars = table.column("char_ids").to_pylist()
    checked = 0
    for n, (text, ids, offsets) in enumerate(sentences):
        row = chars[by_doc[f"d{n}"]]
        assert len(row) == len(ids) + 2 and row[0] == allennlp_char_ids("<S>") and row[-1] == allennlp_char_ids("</S>")
        pieces = {}  # a character the vocabulary splits (Hangul into jamo): its tokens share one offset
        for token_id, (a, b), got in zip(ids, offsets, row[1:-1]):
            pieces.setdefault((a, b), []).append(bytes(c - 1 for c in got[1:got.index(260)]))
            if token_id == tokenizer.vocab["[UNK]"]:
                assert got == allennlp_char_ids("[UNK]")  # the raw text is unknown to the vocabulary
            elif offsets.count((a, b)) == 1:
                assert got == allennlp_char_ids(uncased(text[a:b])), text[a:b]
                checked += 1
        for (a, b), parts in pieces.items():
            if len(parts) > 1:
                assert b"".join(parts) == uncased(text[a:b]).encode()
    assert checked > 5000


def test_long_token_is_cut_at_48_bytes(tokenizer):
    """A token longer than 48 UTF-8 bytes (a 25-character Chinese title, 75 bytes) keeps its first 48, even inside
    a character, as AllenNLP's encode(...)[:48] does."""
    title = json.loads((SAMPLE / "wiki_zh" / "AA" / "wiki_00").read_text(encoding="utf-8").splitlines()[0])["text"]
    title = "".join(c for c in title if "\u4e00" <= c <= "\u9fff")[:25]
    assert len(title.encode()) == 75
    spelled = (b"[PAD]",) * 103 + (title[:17].encode(), title.encode())
    table, _, _ = build(config(tokenizer, spelled), [("", [103, 104], [])])
    row = table.column("char_ids").to_pylist()[0]
    assert row[1] == allennlp_char_ids(title[:17]) and row[2] == allennlp_char_ids(title)
    # 48 bytes + 1 between begin- (259) and end-of-word (260) fill all 50: no padding character (261) is left
    assert row[2] == [259, *(c + 1 for c in title.encode()[:48]), 260] and row[1][1:49] == row[2][1:49]


def test_targets_are_allennlp_language_model_shifts(tokenizer):
    """next_ids / previous_ids equal AllenNLP LanguageModel's forward_targets / backward_targets computed on the padded
    batch of input_ids (zeros, then targets[:, :-1] = ids[:, 1:] and targets[:, 1:] = ids[:, :-1])."""
    sentences = sample_sentences(tokenizer)
    table, _, stats = build(config(tokenizer, max_seq_length=64), sentences)
    ids = table.column("input_ids").to_pylist()
    width = max(map(len, ids))
    batch = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros_like(batch, dtype=bool)
    for i, row in enumerate(ids):
        batch[i, :len(row)], mask[i, :len(row)] = row, True
    forward, backward = np.zeros_like(batch), np.zeros_like(batch)
    forward[:, :-1], backward[:, 1:] = batch[:, 1:], batch[:, :-1]
    for name, ref in (("next_ids", forward), ("previous_ids", backward)):
        got = np.zeros_like(batch)
        for i, row in enumerate(table.column(name).to_pylist()):
            got[i, :len(row)] = row
        assert (got == ref * mask).all(), name
    # every sentence is [CLS] piece [SEP], pieces of at most 62 tokens that tile the sentence
    assert all(r[0] == CLS and r[-1] == SEP and len(r) <= 64 for r in ids)
    assert sum(len(r) - 2 for r in ids) == sum(len(s[1]) for s in sentences)
    assert stats["sentences_split"] == sum(len(s[1]) > 62 for s in sentences) > 0
    assert table.column("word_ids").to_pylist()[0][0] == -1


def test_a_vocabulary_without_pad_is_refused():
    with pytest.raises(ValueError, match=r"\[CLS\], \[SEP\] and \[PAD\]"):
        BilmConfig(bos_id=CLS, eos_id=SEP, pad_id=None, spellings=(b"a",))


def sample_texts():
    texts = [line for line in (SAMPLE / "plain" / "bert_sample_text.txt").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    for line in (SAMPLE / "wiki_zh" / "AA" / "wiki_00").read_text(encoding="utf-8").splitlines()[:30]:
        texts += [p for p in json.loads(line)["text"].split("\n") if p.strip()]
    return texts


def test_byte_level_bpe_tokens_spell_the_text_bytes(tmp_path):
    """corpusforge's own byte-level BPE (build vocab -m bpe): a sentence's tokens, spelled, are its UTF-8 bytes
    (pieces of a Chinese character included), as the tokenizer decodes back exactly."""
    from corpusforge.tokenization.train import train_bpe

    texts = sample_texts()
    train_bpe(texts, str(tmp_path), vocab_size=1200)
    tok = TextTokenizer(str(tmp_path / "tokenizer.json"))
    spelled = spellings(tok)
    assert spelled[tok.vocab["<s>"]] == b"<s>" and len(spelled) == tok.vocab_size
    pieces = 0
    for text, (ids, _) in zip(texts, tok.encode(texts)):
        assert b"".join(spelled[i] for i in ids) == text.encode()
        pieces += sum(1 for i in ids if not _utf8(spelled[i]))
    assert pieces > 0  # some tokens are a part of a character: spelled by their bytes, not a replacement char


def _utf8(b: bytes) -> bool:
    try:
        b.decode()
        return True
    except UnicodeDecodeError:
        return False


def test_sentencepiece_tokens_spell_its_decoding(tmp_path):
    """corpusforge's own ALBERT-style unigram model: a sentence's pieces, spelled ("▁" a space), are the text that
    SentencePiece itself decodes them to, after its dummy-prefix space."""
    import sentencepiece as spm

    from corpusforge.tokenization.train import train_unigram

    texts = sample_texts()
    train_unigram(texts, str(tmp_path), vocab_size=2000)
    tok = TextTokenizer(str(tmp_path / "spiece.model"))
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "spiece.model"))
    spelled = spellings(tok)
    assert spelled[tok.vocab["[CLS]"]] == b"[CLS]"
    checked = 0
    for text, (ids, _) in zip(texts, tok.encode(texts)):
        if tok.vocab["<unk>"] not in ids:
            assert b"".join(spelled[i] for i in ids).decode() == " " + sp.decode(ids)
            checked += 1
    assert checked > len(texts) // 2
