"""build tokenized keeps the ids a model was pretrained with: its default normalisation changes no
character the vocabulary holds, so the ids equal transformers' BertTokenizer on the raw text."""
import unicodedata

import pytest

from corpusforge.dataset import load_table
from corpusforge.sources.files import expand_inputs
from corpusforge.sources.formats import Document, ReadOptions, plan_splits, read_split
from tests.conftest import ROOT, SAMPLE, run_cli

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"


def raw_documents():
    """doc_id -> the raw text as the reader hands it over (fields only, no cleaning)."""
    opts = ReadOptions()
    return {doc.doc_id: doc.text for f in expand_inputs([str(SAMPLE)]) for split in plan_splits(f, opts)
            for doc in read_split(split, opts) if isinstance(doc, Document)}


def flat_ids(out):
    return {r["doc_id"]: [i for s in r["input_ids"] for i in s]
            for r in load_table(str(out)).select(["doc_id", "input_ids"]).to_pylist()}


@pytest.fixture(scope="module")
def reference():
    from transformers import BertTokenizer

    bert = BertTokenizer(vocab=str(VOCAB), do_lower_case=True)
    assert len(bert.vocab) == 21128  # transformers 5 ignores vocab_file=; make sure the vocab loaded
    assert bert.vocab["，"] == 8024 and bert.vocab[","] == 117
    return bert


def test_default_build_gives_bert_tokenizer_ids_on_raw_text(tmp_path, reference):
    out = tmp_path / "tok"
    run_cli("build", "tokenized", "-i", SAMPLE, "-t", VOCAB, "-o", out)
    ours, raw = flat_ids(out), raw_documents()
    assert len(ours) > 1800
    # BertTokenizer drops control and format characters itself (its _clean_text), the cleaning
    # corpusforge documents, so its ids on the raw text are the reference
    wrong = [d for d, ids in ours.items() if ids != reference.encode(raw[d], add_special_tokens=False)]
    assert wrong == []
    counts = {i: sum(ids.count(i) for ids in ours.values()) for i in (8024, 8038, 8043, 117)}
    assert counts[8024] > 10_000 and counts[8038] > 100 and counts[8043] > 100  # ， ： ？ kept


def test_recipe_through_documents_keeps_full_width_punctuation(tmp_path):
    docs, tok = tmp_path / "docs", tmp_path / "tok"
    run_cli("build", "documents", "-i", SAMPLE / "news2016zh", "-o", docs)
    run_cli("build", "tokenized", "-i", docs, "-t", VOCAB, "-o", tok)
    direct = tmp_path / "direct"
    run_cli("build", "tokenized", "-i", SAMPLE / "news2016zh", "-t", VOCAB, "-o", direct)
    assert flat_ids(tok) == flat_ids(direct)
    assert any(8024 in ids for ids in flat_ids(tok).values())


def test_nfkc_asked_for_warns_about_the_characters_it_rewrites(tmp_path):
    text = tmp_path / "a.txt"
    text.write_text("他说：你好，世界？是的！这是一个足够长的句子。\n", encoding="utf-8")
    result = run_cli("build", "tokenized", "-i", text, "-t", VOCAB, "-o", tmp_path / "tok", "--normalize", "NFKC")
    held = [t for t in VOCAB.read_text(encoding="utf-8").split("\n") if len(t) == 1
            and unicodedata.normalize("NFKC", t) != t]
    assert f"rewrites {len(held)} characters this vocabulary holds (！ ＂ ＃ ＄ ％ ＆ ...)" in result.output
    ids = flat_ids(tmp_path / "tok")
    assert 117 in next(iter(ids.values())) and 8024 not in next(iter(ids.values()))  # what NFKC does, as asked
    result = run_cli("build", "tokenized", "-i", text, "-t", VOCAB, "-o", tmp_path / "plain")
    assert "warning" not in result.output
