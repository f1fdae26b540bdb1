"""export hf writes the tokenizer in its own kind (vocab.txt / BertTokenizer, spiece.model / AlbertTokenizer,
tokenizer.json / PreTrainedTokenizerFast) with a tokenizer_config.json naming its special tokens:
AutoTokenizer.from_pretrained(export) encodes the shared wiki text to the ids our tokenized dataset holds,
and transformers' fill-mask pipeline runs on the exported model."""
import json

import pytest
import torch

from corpusforge.dataset.reader import load_table
from corpusforge.tokenization import train as vocab_train
from tests.conftest import DATA, VOCAB, run_cli
from corpusforge.trainers.encoder import Encoder, EncoderConfig
from corpusforge.trainers.hf import save_hf

WIKI = DATA / "text" / "wiki_zh_sample.jsonl"


@pytest.fixture(scope="module")
def wiki_documents(tmp_path_factory):
    out = tmp_path_factory.mktemp("wiki") / "docs"
    run_cli("build", "documents", "-i", WIKI, "-o", out)
    return out


def vocabulary(kind, tmp_path):
    if kind == "wordpiece":
        return VOCAB
    sentences = [line.replace(" ", "") for line in (DATA / "lm" / "news_train.txt").read_text(encoding="utf-8").splitlines()]
    if kind == "unigram":
        vocab_train.train_unigram(sentences, str(tmp_path), vocab_size=4000)
        return tmp_path / "spiece.model"
    vocab_train.train_bpe(sentences, str(tmp_path), vocab_size=3000)
    return tmp_path / "tokenizer.json"


@pytest.mark.parametrize("kind,file,cls", [("wordpiece", "vocab.txt", "BertTokenizer"),
                                           ("unigram", "spiece.model", "AlbertTokenizer"),
                                           ("bpe", "tokenizer.json", "PreTrainedTokenizerFast")])
def test_exported_tokenizer_loads_and_encodes_as_the_dataset(wiki_documents, tmp_path, kind, file, cls):
    from transformers import AutoTokenizer, pipeline

    vocab = vocabulary(kind, tmp_path / "vocab")
    tokenized = tmp_path / "tokenized"
    run_cli("build", "tokenized", "-i", wiki_documents, "-t", vocab, "-o", tokenized)
    manifest = json.loads((tokenized / "manifest.json").read_text())
    special, size = manifest["special_ids"], manifest["tokenizer"]["vocab_size"]
    torch.manual_seed(0)
    c = EncoderConfig.preset("tiny", size)
    export = tmp_path / "hf"
    save_hf(export, c, Encoder(c).eval().state_dict(), special, str(vocab))
    config = json.loads((export / "tokenizer_config.json").read_text())
    assert (export / file).read_bytes() == vocab.read_bytes() and config["tokenizer_class"] == cls
    assert config["mask_token"] is not None

    tok = AutoTokenizer.from_pretrained(str(export))
    assert len(tok) == size and tok.mask_token_id == special["mask"] and tok.pad_token_id == special["pad"]
    docs = {r["doc_id"]: r["sentences"] for r in load_table(str(wiki_documents)).to_pylist()}
    for row in load_table(str(tokenized)).to_pylist():
        sentences = docs[row["doc_id"]]
        assert tok(sentences, add_special_tokens=False)["input_ids"] == row["input_ids"]
    filled = pipeline("fill-mask", model=str(export), tokenizer=tok)(f"北京是中国的{tok.mask_token}。", top_k=3)
    assert len(filled) == 3 and all(0 <= f["token"] < size for f in filled)
