"""build pretraining --mode bart end to end on the sample corpus: targets are the documents, 30% masked,
determinism on two workers, bad input."""
import json
import re
from collections import Counter

import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from tests.conftest import ROOT, SAMPLE, run_cli

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
CLS, SEP, MASK = 101, 102, 103


def build(out, source, *args, ok=True):
    return run_cli("build", "pretraining", "--input", source, "--output", out, "--mode", "bart", *args, ok=ok)


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("data-*.arrow"))}


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    out = tmp_path_factory.mktemp("bart") / "tokenized"
    run_cli("build", "tokenized", "--input", SAMPLE, "--tokenizer", VOCAB, "--output", out)
    return out


@pytest.fixture(scope="module")
def bart(tmp_path_factory, tokenized):
    out = tmp_path_factory.mktemp("bart") / "bart"
    build(out, tokenized, "--dupe-factor", "2", "--num-shards", "2")
    return out


def test_targets_are_the_documents_and_30_percent_is_masked(bart, tokenized):
    m = json.loads((bart / "manifest.json").read_text())
    assert verify_dataset(str(bart)) == [] and m["kind"] == "bart" and m["params"]["mask_ratio"] == 0.3
    table = load_table(str(bart))
    assert table.column_names == ["input_ids", "labels"]
    rows = list(zip(table.column("input_ids").to_pylist(), table.column("labels").to_pylist()))
    docs = [[t for s in doc for t in s] for doc in load_table(str(tokenized)).column("input_ids").to_pylist()]
    # every token of every document twice (two copies), each block framed [CLS] ... [SEP] of at most 128
    assert Counter(t for _, labels in rows for t in labels[1:-1]) == Counter(
        {t: 2 * n for t, n in Counter(t for d in docs for t in d).items()})
    assert all(lab[0] == CLS and lab[-1] == SEP and len(lab) <= 128 for _, lab in rows)
    masked = sum(len(lab) - len(inp) + inp.count(MASK) for inp, lab in rows)
    assert abs(masked / sum(len(lab) - 2 for _, lab in rows) - 0.30) <= 0.01
    for inputs, labels in rows[:300]:  # brute force: runs of the target, each replaced by one [MASK]
        pattern = "".join("(.*?)" if t == MASK else re.escape(chr(0x4E00 + t)) for t in inputs)
        assert re.fullmatch(pattern, "".join(chr(0x4E00 + t) for t in labels), flags=re.S)
    assert m["statistics"]["masked_share"] == round(masked / sum(len(lab) - 2 for _, lab in rows), 4)


def test_the_same_with_two_workers(tmp_path, bart, tokenized):
    build(tmp_path / "two", tokenized, "--dupe-factor", "2", "--num-shards", "2", *TWO_WORKERS)
    assert shard_bytes(tmp_path / "two") == shard_bytes(bart)


@pytest.mark.parametrize("args, message", [
    (("--masking", "token"), "--mode bart takes no --masking"),
    (("--mask-ratio", "0"), "Invalid value for '--mask-ratio'"),
    (("--poisson-lambda", "-1"), "Invalid value for '--poisson-lambda'"),
])
def test_bad_arguments_fail_fast(tmp_path, tokenized, args, message):
    result = build(tmp_path / "x", tokenized, *args, ok=False)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_permute_sentences_is_for_bart(tmp_path, tokenized):
    result = run_cli("build", "pretraining", "--input", tokenized, "--output", tmp_path / "x", "--permute-sentences",
                     ok=False)
    assert result.exit_code == 1 and "--permute-sentences applies to --mode bart only" in result.output
