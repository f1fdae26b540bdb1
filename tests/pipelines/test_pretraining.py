"""build pretraining end to end on the sample corpus: dataset contract, statistics, determinism, bad arguments."""
import json

import numpy as np
import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from tests.conftest import SAMPLE, VOCAB, run_cli

TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")


def build(out, source, *args, ok=True):
    return run_cli("build", "pretraining", "--input", source, "--output", out, *args, ok=ok)


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("data-*.arrow"))}


@pytest.fixture(scope="module")
def nsp(tmp_path_factory, sample_tokenized):
    out = tmp_path_factory.mktemp("pretraining") / "nsp"
    build(out, sample_tokenized, "--dupe-factor", "2", "--num-shards", "3")
    return out


def test_nsp_dataset_contract_and_statistics(nsp, sample_tokenized):
    assert verify_dataset(str(nsp)) == []
    manifest = json.loads((nsp / "manifest.json").read_text())
    table = load_table(str(nsp))
    assert table.column_names == ["input_ids", "token_type_ids", "special_tokens_mask", "word_ids",
                                  "next_sentence_label", "masked_lm_positions", "masked_lm_labels"]
    assert str(table.schema.field("input_ids").type) == "list<item: uint16>"
    stats = manifest["statistics"]
    assert stats["instances"] == table.num_rows == manifest["rows"]
    assert stats["label_share"]["1"] == pytest.approx(0.5, abs=0.03)
    assert stats["shown_as"]["mask"] == pytest.approx(0.8, abs=0.02)
    assert stats["tokens_per_instance"]["p90"] == 128
    tokenized = json.loads((sample_tokenized / "manifest.json").read_text())
    # every tokenized document is accounted for, and the tokenizer's fingerprint travels on
    assert manifest["input"]["read"] == tokenized["rows"] == manifest["input"]["kept"] + manifest["input"]["filtered"]
    assert manifest["tokenizer"] == tokenized["tokenizer"]
    lengths = np.array([len(x) for x in table.column("input_ids").to_pylist()])
    assert lengths.max() <= 128
    # the seeded shuffle spreads one document's copies and pairs across shards
    assert len(manifest["shards"]) == 3 and min(s["rows"] for s in manifest["shards"]) > 0.25 * table.num_rows


def test_inspect_stats(nsp):
    result = run_cli("inspect", nsp, "--stats")
    assert "label_share" in result.output and "masked_per_instance" in result.output


def test_the_same_with_two_workers(tmp_path, nsp, sample_tokenized):
    build(tmp_path / "two", sample_tokenized, "--dupe-factor", "2", "--num-shards", "3", *TWO_WORKERS)
    assert shard_bytes(tmp_path / "two") == shard_bytes(nsp)


def test_512_from_the_same_tokenized_dataset(tmp_path, sample_tokenized):
    build(tmp_path / "long", sample_tokenized, "--max-seq-length", "512", "--mode", "sop", "--masking", "wwm",
          "--max-predictions-per-seq", "80")
    table = load_table(str(tmp_path / "long"))
    lengths = np.array([len(x) for x in table.column("input_ids").to_pylist()])
    assert lengths.max() == 512 and (lengths > 128).mean() > 0.3
    stats = json.loads((tmp_path / "long" / "manifest.json").read_text())["statistics"]
    assert stats["masked_share_of_maskable"] == pytest.approx(0.15, abs=0.01)


def test_from_raw_text_with_a_tokenizer(tmp_path):
    out = tmp_path / "raw"
    result = build(out, SAMPLE / "wiki_zh", "--tokenizer", VOCAB, "--mode", "full-sentences", "--masking", "span")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["mode"] == "full-sentences" and "sentence_order_label" not in manifest["schema"]
    assert manifest["statistics"]["unit_words"]["mean"] > 2
    assert manifest["input"]["read"] == manifest["input"]["kept"]
    assert "read" in result.output


@pytest.mark.parametrize("args, message", [
    (("--tokenizer", VOCAB), "brings its own tokenizer"),
    (("--mode", "mlm"), "Invalid value for '--mode'"),
    (("--max-seq-length", "4"), "Invalid value for '--max-seq-length'"),
])
def test_bad_arguments_fail_fast(tmp_path, sample_tokenized, args, message):
    result = build(tmp_path / "x", sample_tokenized, *args, ok=False)
    assert result.exit_code != 0 and message in result.output
    assert not (tmp_path / "x").exists()


def test_documents_input_needs_a_tokenizer(tmp_path, sample_dataset):
    result = build(tmp_path / "x", sample_dataset, ok=False)
    assert result.exit_code == 1 and "needs --tokenizer" in result.output
