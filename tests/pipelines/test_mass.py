"""build pretraining --mode mass end to end on the sample corpus: segments recount the documents, fragment lengths,
manifest statistics, determinism on two workers, bad arguments."""
import json
from collections import Counter

import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from tests.conftest import ROOT, SAMPLE, run_cli

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
CLS, SEP, MASK = 101, 102, 103


def build(out, source, *args, ok=True):
    return run_cli("build", "pretraining", "--input", source, "--output", out, "--mode", "mass", *args, ok=ok)


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("data-*.arrow"))}


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    out = tmp_path_factory.mktemp("mass") / "tokenized"
    run_cli("build", "tokenized", "--input", SAMPLE, "--tokenizer", VOCAB, "--output", out)
    return out


@pytest.fixture(scope="module")
def mass(tmp_path_factory, tokenized):
    out = tmp_path_factory.mktemp("mass") / "mass"
    build(out, tokenized, "--dupe-factor", "2", "--num-shards", "2")
    return out


def test_segments_are_the_documents_and_half_is_the_fragment(mass, tokenized):
    m = json.loads((mass / "manifest.json").read_text())
    assert verify_dataset(str(mass)) == [] and m["kind"] == "mass" and m["params"]["mask_ratio"] == 0.5
    table = load_table(str(mass))
    assert table.column_names == ["input_ids", "decoder_input_ids", "labels", "decoder_position_ids"]
    rows = table.to_pylist()
    import datasets

    assert datasets.load_from_disk(str(mass)).to_list() == rows
    docs = [[t for s in doc for t in s] for doc in load_table(str(tokenized)).column("input_ids").to_pylist()]
    segments = Counter()
    for r in rows:
        inputs, labels, positions = r["input_ids"], r["labels"], r["decoder_position_ids"]
        start, k = positions[0], len(labels)
        assert k == max(1, round(0.5 * len(inputs))) and positions == list(range(start, start + k))
        segment = inputs[:start] + labels + inputs[start + k:]
        assert segment[-1] == SEP and len(segment) <= 128
        assert r["decoder_input_ids"] == ([CLS] + segment)[start:start + k]
        segments.update(segment[:-1])
    # every token of every document twice (two copies)
    assert segments == Counter({t: 2 * n for t, n in Counter(t for d in docs for t in d).items()})
    fragment = sum(len(r["labels"]) for r in rows) / sum(len(r["input_ids"]) for r in rows)
    s = m["statistics"]
    assert s["examples"] == len(rows) and s["fragment_share"] == round(fragment, 4)
    assert s["starts_last_share"] == round(sum(r["decoder_position_ids"][-1] == len(r["input_ids"]) - 1
                                               for r in rows) / len(rows), 4)
    assert m["input"]["read"] == m["input"]["kept"] + m["input"]["filtered"] + m["input"]["rejected"]


def test_the_same_with_two_workers(tmp_path, mass, tokenized):
    build(tmp_path / "two", tokenized, "--dupe-factor", "2", "--num-shards", "2", *TWO_WORKERS)
    assert shard_bytes(tmp_path / "two") == shard_bytes(mass)


@pytest.mark.parametrize("args, message", [
    (("--masking", "token"), "--mode mass takes no --masking"),
    (("--mask-ratio", "1"), "Invalid value for '--mask-ratio'"),
    (("--direction", "zh-en"), "--direction applies to --mode translation and tlm only"),
])
def test_bad_arguments_fail_fast(tmp_path, tokenized, args, message):
    result = build(tmp_path / "x", tokenized, *args, ok=False)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()
