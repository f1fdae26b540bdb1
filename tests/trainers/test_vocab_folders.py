"""`build vocab` folders and the `export hf` folder of a model trained on them open in transformers as they are:
for each vocabulary kind, AutoTokenizer.from_pretrained(folder) encodes the wiki text to the ids our tokenized
dataset holds, its special tokens are the manifest's, and transformers' fill-mask pipeline runs on the model
(trained 2 steps). A folder built before the unigram files were renamed (spm.model) still reads."""
import json
import shutil

import pytest

from corpusforge.dataset.reader import load_table
from tests.conftest import SAMPLE, run_cli

WIKI = SAMPLE / "wiki_zh"  # 180 articles of wiki2019zh (samples/corpora/README.md)
KINDS = {"wordpiece": ("6000", "vocab.txt", "BertTokenizer"),
         "bpe": ("3000", "tokenizer.json", "PreTrainedTokenizerFast"),
         "unigram": ("6000", "spiece.model", "AlbertTokenizer")}


@pytest.fixture(scope="module")
def wiki_documents(tmp_path_factory):
    out = tmp_path_factory.mktemp("wiki") / "docs"
    run_cli("build", "documents", "-i", WIKI, "-o", out)
    return out


def assert_encodes_as_the_dataset(tok, documents, tokenized):
    docs = {r["doc_id"]: r["sentences"] for r in load_table(str(documents)).to_pylist()}
    rows = load_table(str(tokenized)).to_pylist()
    assert len(rows) == len(docs) > 150
    for row in rows:
        assert tok(docs[row["doc_id"]], add_special_tokens=False)["input_ids"] == row["input_ids"]


@pytest.mark.parametrize("model", list(KINDS))
def test_vocab_folder_and_export_load_in_transformers(wiki_documents, tmp_path, model):
    from transformers import AutoTokenizer, pipeline

    _, file, cls = KINDS[model]
    vocab = tmp_path / "vocab"
    run_cli("build", "vocab", "-i", wiki_documents, "-m", model, "--vocab-size", KINDS[model][0], "-o", vocab)
    manifest = json.loads((vocab / "manifest.json").read_text())
    size = manifest["vocab_size"]  # what the sample supports (at most the size asked for)
    config = json.loads((vocab / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == cls and (vocab / file).is_file()
    assert {f["file"] for f in manifest["files"]} >= {file, "tokenizer_config.json", "special_tokens_map.json"}
    run_cli("verify", vocab)

    tokenized = tmp_path / "tokenized"
    run_cli("build", "tokenized", "-i", wiki_documents, "-t", vocab, "-o", tokenized)  # the folder, as -t
    special = json.loads((tokenized / "manifest.json").read_text())["special_ids"]
    assert special == {role: manifest["special_tokens"][config[f"{role}_token"]] for role in special}

    tok = AutoTokenizer.from_pretrained(str(vocab))
    assert len(tok) == size and tok.mask_token is not None
    assert (tok.mask_token_id, tok.pad_token_id, tok.unk_token_id) == (special["mask"], special["pad"], special["unk"])
    assert_encodes_as_the_dataset(tok, wiki_documents, tokenized)

    pretraining, run = tmp_path / "nsp", tmp_path / "run"
    run_cli("build", "pretraining", "-i", tokenized, "-o", pretraining, "--mode", "nsp", "--max-seq-length", "64",
            "--max-predictions-per-seq", "10")
    run_cli("train", "bert", "-i", pretraining, "-o", run, "--max-steps", "2", "--batch-size", "4", "--quiet")
    export = tmp_path / "export"
    run_cli("export", "hf", "-i", run / "checkpoint.pt", "-o", export)
    exported = AutoTokenizer.from_pretrained(str(export))
    assert len(exported) == size and exported.mask_token_id == special["mask"]
    assert_encodes_as_the_dataset(exported, wiki_documents, tokenized)
    fill = pipeline("fill-mask", model=str(export), tokenizer=exported)
    filled = fill(f"北京是中国的{exported.mask_token}。", top_k=3)
    assert len(filled) == 3 and all(0 <= f["token"] < size for f in filled)


def test_a_unigram_folder_built_with_the_old_file_names_still_reads(wiki_documents, tmp_path):
    new, old = tmp_path / "new", tmp_path / "old"
    run_cli("build", "vocab", "-i", wiki_documents, "-m", "unigram", "--vocab-size", "6000", "-o", new)
    old.mkdir()  # what build vocab wrote before: spm.model / spm.vocab, no tokenizer_config.json
    shutil.copyfile(new / "spiece.model", old / "spm.model")
    shutil.copyfile(new / "spiece.vocab", old / "spm.vocab")
    for vocab in (new, old):
        run_cli("build", "tokenized", "-i", wiki_documents, "-t", vocab, "-o", tmp_path / f"tok-{vocab.name}")
    rows = [load_table(str(tmp_path / f"tok-{v}")).column("input_ids").to_pylist() for v in ("new", "old")]
    assert rows[0] == rows[1]
    (tmp_path / "empty").mkdir()
    result = run_cli("build", "tokenized", "-i", wiki_documents, "-t", tmp_path / "empty", "-o", tmp_path / "x",
                     ok=False)
    assert "holds no tokenizer file" in result.output and "Traceback" not in result.output
