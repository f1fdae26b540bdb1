"""build pretraining --mode causal end to end on the sample corpus: exactness, statistics, determinism, bad input."""
import json
import shutil
from collections import Counter

import numpy as np
import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from tests.conftest import ROOT, SAMPLE, run_cli

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
SEP = 102


def build(out, source, *args, ok=True):
    return run_cli("build", "pretraining", "--input", source, "--output", out, "--mode", "causal", *args, ok=ok)


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("data-*.arrow"))}


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    out = tmp_path_factory.mktemp("causal") / "tokenized"
    run_cli("build", "tokenized", "--input", SAMPLE, "--tokenizer", VOCAB, "--output", out)
    return out


@pytest.fixture(scope="module")
def causal(tmp_path_factory, tokenized):
    out = tmp_path_factory.mktemp("causal") / "causal"
    build(out, tokenized, "--dupe-factor", "2", "--num-shards", "2")
    return out


def document_tokens(tokenized) -> Counter:
    """Brute-force recount: every token of every document of the tokenized dataset, and one EOS each."""
    counts = Counter()
    for doc in load_table(str(tokenized)).column("input_ids").to_pylist():
        tokens = [t for sentence in doc for t in sentence]
        if tokens:
            counts.update(tokens)
            counts[SEP] += 1
    return counts


def test_every_token_once_per_copy(causal, tokenized):
    assert verify_dataset(str(causal)) == []
    manifest = json.loads((causal / "manifest.json").read_text())
    table = load_table(str(causal))
    assert manifest["kind"] == "causal" and table.column_names == ["input_ids", "document_boundaries"]
    assert str(table.schema.field("input_ids").type) == "list<item: uint16>"
    assert manifest["params"]["eos_id"] == SEP and manifest["params"]["masking"] == "none"
    blocks = table.column("input_ids").to_pylist()
    once = document_tokens(tokenized)
    assert Counter(t for b in blocks for t in b) == Counter({t: 2 * n for t, n in once.items()})
    lengths = np.array([len(b) for b in blocks])
    # exactly 128 tokens, but the last block of each bucket's copy
    assert (lengths <= 128).all() and (lengths < 128).sum() <= manifest["params"]["buckets"] * 2
    for ids, bounds in zip(blocks, table.column("document_boundaries").to_pylist()):
        assert bounds == [p for p in range(1, len(ids)) if ids[p - 1] == SEP]
    tok = json.loads((tokenized / "manifest.json").read_text())
    assert manifest["input"]["read"] == tok["rows"] == manifest["input"]["kept"] + manifest["input"]["filtered"]


def test_statistics_recounted_from_the_shards(causal):
    stats = json.loads((causal / "manifest.json").read_text())["statistics"]
    table = load_table(str(causal))
    lengths = np.array([len(b) for b in table.column("input_ids").to_pylist()])
    docs = np.array([len(b) + 1 for b in table.column("document_boundaries").to_pylist()])
    assert stats == {"blocks": table.num_rows, "tokens": int(lengths.sum()), "tokens_per_block": round(lengths.mean(), 3),
                     "full_block_share": round(float((lengths == 128).mean()), 4),
                     "documents_per_block": {"mean": round(docs.mean(), 3),
                                             "p50": int(np.quantile(docs, 0.5, method="inverted_cdf")),
                                             "max": int(docs.max())}}
    assert stats["full_block_share"] > 0.99 and run_cli("inspect", causal, "--stats").output.startswith("blocks:")


def test_the_same_with_two_workers(tmp_path, causal, tokenized):
    build(tmp_path / "two", tokenized, "--dupe-factor", "2", "--num-shards", "2", *TWO_WORKERS)
    assert shard_bytes(tmp_path / "two") == shard_bytes(causal)


def test_a_causal_dataset_is_inspected_verified_and_replaced(tmp_path, causal, tokenized):
    out = tmp_path / "again"
    shutil.copytree(causal, out)
    assert "causal" in run_cli("inspect", out).output and verify_dataset(str(out)) == []
    build(out, tokenized, "--dupe-factor", "2", "--num-shards", "2", "--overwrite")  # provably ours: replaced
    assert shard_bytes(out) == shard_bytes(causal)


def test_no_cross_document(tmp_path, tokenized):
    out = tmp_path / "docs"
    build(out, tokenized, "--no-cross-document", "--max-seq-length", "512")
    table = load_table(str(out))
    blocks = table.column("input_ids").to_pylist()
    per_doc = [sum(len(s) for s in doc) for doc in load_table(str(tokenized)).column("input_ids").to_pylist()]
    assert len(blocks) == sum(-(-(n + 1) // 512) for n in per_doc if n)
    assert all(not b for b in table.column("document_boundaries").to_pylist())
    assert all(SEP not in b[:-1] and (len(b) == 512 or b[-1] == SEP) for b in blocks)
    assert Counter(t for b in blocks for t in b) == document_tokens(tokenized)


def test_eos_from_the_tokenizer_file_or_by_id(tmp_path):
    """A tokenized dataset's EOS is looked up in its tokenizer file; once that file is gone, only an id will do."""
    vocab = tmp_path / "vocab.txt"
    shutil.copy(VOCAB, vocab)
    run_cli("build", "tokenized", "--input", SAMPLE / "plain", "--tokenizer", vocab, "--output", tmp_path / "tok")
    build(tmp_path / "named", tmp_path / "tok", "--eos-token", "[unused1]")
    assert json.loads((tmp_path / "named" / "manifest.json").read_text())["params"]["eos_id"] == 1
    vocab.unlink()
    result = build(tmp_path / "x", tmp_path / "tok", ok=False)
    assert result.exit_code == 1 and "pass --eos-token with its id" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()
    build(tmp_path / "by-id", tmp_path / "tok", "--eos-token", "102", "--max-seq-length", "16")
    blocks = load_table(str(tmp_path / "by-id")).column("input_ids").to_pylist()
    assert sum(b.count(SEP) for b in blocks) == 3  # the sample's three documents


@pytest.mark.parametrize("args, message", [
    (("--masking", "token"), "--mode causal takes no masking"),
    (("--eos-token", "<|endoftext|>"), "is not in the vocabulary"),
    (("--eos-token", "99999"), "is not an id of the vocabulary"),
])
def test_bad_arguments_fail_fast(tmp_path, tokenized, args, message):
    result = build(tmp_path / "x", tokenized, *args, ok=False)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_causal_options_need_causal_mode(tmp_path, tokenized):
    result = run_cli("build", "pretraining", "--input", tokenized, "--output", tmp_path / "x", "--no-cross-document",
                     ok=False)
    assert result.exit_code == 1 and "apply to --mode causal only" in result.output


def test_from_raw_text_with_a_tokenizer(tmp_path):
    """Raw text tokenized in the same job: the EOS comes from the given vocabulary ([SEP]: it has no EOS)."""
    out = tmp_path / "raw"
    build(out, SAMPLE / "plain", "--tokenizer", VOCAB, "--max-seq-length", "32")
    manifest = json.loads((out / "manifest.json").read_text())
    blocks = load_table(str(out)).column("input_ids").to_pylist()
    assert manifest["params"]["eos_id"] == SEP and manifest["input"]["kept"] == 3
    assert sum(b.count(SEP) for b in blocks) == 3 and sum(map(len, blocks)) == manifest["statistics"]["tokens"]
