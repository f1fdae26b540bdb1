"""build pretraining --mode bilm end to end on the sample corpus: every sentence once, ELMo char ids, statistics,
determinism, bad input."""
import json
import shutil
from collections import Counter

import numpy as np
import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from tests.conftest import ROOT, SAMPLE, run_cli
from tests.objectives.test_bilm import allennlp_char_ids

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
CLS, SEP, PAD = 101, 102, 0


def build(out, source, *args, ok=True):
    return run_cli("build", "pretraining", "--input", source, "--output", out, "--mode", "bilm", *args, ok=ok)


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("data-*.arrow"))}


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    out = tmp_path_factory.mktemp("bilm") / "tokenized"
    run_cli("build", "tokenized", "--input", SAMPLE, "--tokenizer", VOCAB, "--output", out)
    return out


@pytest.fixture(scope="module")
def bilm(tmp_path_factory, tokenized):
    out = tmp_path_factory.mktemp("bilm") / "bilm"
    build(out, tokenized, "--num-shards", "2")
    return out


def test_every_sentence_once_with_its_words(bilm, tokenized):
    """Brute-force recount: the tokenized dataset's sentences, cut into pieces of 126 tokens, with their words
    renumbered from 0, are the rows between [CLS] and [SEP], each once (default --max-seq-length 128)."""
    assert verify_dataset(str(bilm)) == []
    manifest = json.loads((bilm / "manifest.json").read_text())
    table = load_table(str(bilm))
    assert manifest["kind"] == "bilm" and manifest["params"]["masking"] == "none"
    assert table.column_names == ["input_ids", "next_ids", "previous_ids", "word_ids", "char_ids"]
    expected = Counter()
    source = load_table(str(tokenized))
    for doc, words in zip(source.column("input_ids").to_pylist(), source.column("word_ids").to_pylist()):
        for ids, wids in zip(doc, words):
            for a in range(0, len(ids), 126):
                piece = wids[a:a + 126]
                expected[(tuple(ids[a:a + 126]), tuple(w - piece[0] for w in piece))] += 1
    rows = table.column("input_ids").to_pylist()
    got = Counter((tuple(r[1:-1]), tuple(w[1:-1])) for r, w in zip(rows, table.column("word_ids").to_pylist()))
    assert got == expected and all(r[0] == CLS and r[-1] == SEP for r in rows)
    for ids, nxt, prev in zip(rows, table.column("next_ids").to_pylist(), table.column("previous_ids").to_pylist()):
        assert nxt == ids[1:] + [PAD] and prev == [PAD] + ids[:-1]
    assert manifest["input"]["read"] == json.loads((tokenized / "manifest.json").read_text())["rows"]


def test_char_ids_spell_the_vocabulary(bilm):
    """Every token's 50 character ids are AllenNLP's for its vocab.txt line (read here, WordPiece's ## dropped)."""
    lines = VOCAB.read_text(encoding="utf-8").split("\n")
    spell = {i: allennlp_char_ids(t[2:] if t.startswith("##") and len(t) > 2 else t) for i, t in enumerate(lines)}
    spell[CLS], spell[SEP] = allennlp_char_ids("<S>"), allennlp_char_ids("</S>")  # BOS / EOS by position
    table = load_table(str(bilm)).slice(0, 2000)
    for ids, chars in zip(table.column("input_ids").to_pylist(), table.column("char_ids").to_pylist()):
        assert chars == [spell[i] for i in ids]


def test_statistics_recounted_from_the_shards(bilm):
    stats = json.loads((bilm / "manifest.json").read_text())["statistics"]
    lengths = np.array([len(r) for r in load_table(str(bilm)).column("input_ids").to_pylist()])
    assert {k: v for k, v in stats.items() if k != "sentences_split"} == {
        "sentences": len(lengths), "tokens": int(lengths.sum()),
        "tokens_per_sentence": {"mean": round(lengths.mean(), 3),
                                "p50": int(np.quantile(lengths, 0.5, method="inverted_cdf")),
                                "max": int(lengths.max())}}
    assert stats["sentences_split"] > 0 and run_cli("inspect", bilm, "--stats").output.startswith("sentences:")


def test_the_same_with_two_workers_and_replaced(tmp_path, bilm, tokenized):
    out = tmp_path / "two"
    build(out, tokenized, "--num-shards", "2", *TWO_WORKERS)
    assert shard_bytes(out) == shard_bytes(bilm)
    assert "kind bilm" in run_cli("inspect", out).output
    build(out, tokenized, "--num-shards", "2", "--overwrite")  # provably ours: replaced
    assert shard_bytes(out) == shard_bytes(bilm)


@pytest.mark.parametrize("args, message", [
    (("--masking", "wwm"), "--mode bilm takes no masking"),
    (("--eos-token", "[SEP]"), "--eos-token applies to --mode causal and stream only"),
    (("--num-streams", "4"), "--num-streams applies to --mode stream only"),
    (("--no-cross-document",), "--no-cross-document applies to --mode causal only"),
])
def test_bad_arguments_fail_fast(tmp_path, tokenized, args, message):
    result = build(tmp_path / "x", tokenized, *args, ok=False)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_a_missing_tokenizer_file_is_one_sentence(tmp_path):
    """The character ids need the vocabulary's spelling: once the tokenized dataset's vocab file is gone, say so."""
    vocab = tmp_path / "vocab.txt"
    shutil.copy(VOCAB, vocab)
    run_cli("build", "tokenized", "--input", SAMPLE / "plain", "--tokenizer", vocab, "--output", tmp_path / "tok")
    vocab.unlink()
    result = build(tmp_path / "x", tmp_path / "tok", ok=False)
    assert result.exit_code == 1 and "cannot be spelled as ELMo character ids" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()


def test_from_raw_text_with_a_tokenizer(tmp_path, bilm):
    """Raw text tokenized in the same job gives the rows a tokenized dataset of it gives."""
    out = tmp_path / "raw"
    build(out, SAMPLE / "plain", "--tokenizer", VOCAB)
    rows = load_table(str(out)).column("input_ids").to_pylist()
    run_cli("build", "tokenized", "--input", SAMPLE / "plain", "--tokenizer", VOCAB, "--output", tmp_path / "tok")
    build(tmp_path / "via", tmp_path / "tok")
    assert sorted(rows) == sorted(load_table(str(tmp_path / "via")).column("input_ids").to_pylist())
    assert json.loads((out / "manifest.json").read_text())["input"]["kept"] == 3 and len(rows) > 3
