"""build pretraining --mode stream end to end on the sample corpus: each stream contiguous, every document once per
copy, statistics, determinism, bad input."""
import json
from collections import defaultdict

import numpy as np
import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from tests.conftest import ROOT, SAMPLE, run_cli

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
SEP = 102
STREAMS = 3


def build(out, source, *args, ok=True):
    return run_cli("build", "pretraining", "--input", source, "--output", out, "--mode", "stream", *args, ok=ok)


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("data-*.arrow"))}


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    out = tmp_path_factory.mktemp("stream") / "tokenized"
    run_cli("build", "tokenized", "--input", SAMPLE, "--tokenizer", VOCAB, "--output", out)
    return out


@pytest.fixture(scope="module")
def stream(tmp_path_factory, tokenized):
    out = tmp_path_factory.mktemp("stream") / "stream"
    build(out, tokenized, "--num-streams", str(STREAMS), "--dupe-factor", "2", "--num-shards", "2")
    return out


def streams_of(out) -> dict:
    """stream_id -> its segments in segment_index order, read back from the shards (rows come shuffled)."""
    table = load_table(str(out))
    segments = defaultdict(dict)
    for ids, sid, k in zip(*(table.column(c).to_pylist() for c in ("input_ids", "stream_id", "segment_index"))):
        assert k not in segments[sid]
        segments[sid][k] = ids
    return {sid: [segs[k] for k in range(len(segs))] for sid, segs in segments.items()}  # KeyError: a gap


def test_streams_are_contiguous_and_hold_every_document_once_per_copy(stream, tokenized):
    """Brute-force recount from the tokenized dataset: the streams of each (bucket, copy) group, concatenated in
    stream order, are whole documents each ended by [SEP]; over the groups of one copy every document appears once."""
    assert verify_dataset(str(stream)) == []
    manifest = json.loads((stream / "manifest.json").read_text())
    assert manifest["kind"] == "stream" and manifest["params"]["num_streams"] == STREAMS
    assert manifest["params"]["eos_id"] == SEP
    streams = streams_of(stream)
    groups = defaultdict(list)
    for sid in sorted(streams):
        segments = streams[sid]
        assert all(len(s) == 128 for s in segments[:-1]) and 0 < len(segments[-1]) <= 128
        groups[sid // STREAMS].append((sid % STREAMS, [t for s in segments for t in s]))
    docs = [tuple(t for sentence in doc for t in sentence)
            for doc in load_table(str(tokenized)).column("input_ids").to_pylist()]
    per_copy = defaultdict(list)
    for group, members in groups.items():
        assert [i for i, _ in members] == list(range(len(members)))
        lengths = [len(text) for _, text in members]
        assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)
        text = np.array([t for _, part in members for t in part])
        assert text[-1] == SEP
        per_copy[group % 2] += [tuple(d[:-1].tolist()) for d in np.split(text, np.flatnonzero(text == SEP) + 1)[:-1]]
    assert sorted(per_copy[0]) == sorted(per_copy[1]) == sorted(d for d in docs if d)
    assert len(groups) == 2 * manifest["params"]["buckets"]


def test_statistics_recounted_from_the_shards(stream):
    stats = json.loads((stream / "manifest.json").read_text())["statistics"]
    lengths = np.array([len(r) for r in load_table(str(stream)).column("input_ids").to_pylist()])
    streams = len(streams_of(stream))
    assert stats == {"segments": len(lengths), "streams": streams, "tokens": int(lengths.sum()),
                     "tokens_per_stream": round(lengths.sum() / streams, 3),
                     "full_segment_share": round(float((lengths == 128).mean()), 4)}
    assert run_cli("inspect", stream, "--stats").output.startswith("segments:")


def test_the_same_with_two_workers(tmp_path, stream, tokenized):
    build(tmp_path / "two", tokenized, "--num-streams", str(STREAMS), "--dupe-factor", "2", "--num-shards", "2",
          *TWO_WORKERS)
    assert shard_bytes(tmp_path / "two") == shard_bytes(stream)


@pytest.mark.parametrize("args, message", [
    (("--masking", "span"), "--mode stream takes no masking"),
    (("--no-cross-document",), "--no-cross-document applies to --mode causal only"),
    (("--num-streams", "0"), "Invalid value for '--num-streams'"),
    (("--eos-token", "<eos>"), "is not in the vocabulary"),
])
def test_bad_arguments_fail_fast(tmp_path, tokenized, args, message):
    result = build(tmp_path / "x", tokenized, *args, ok=False)
    assert result.exit_code in (1, 2) and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_from_raw_text_with_a_tokenizer(tmp_path):
    """Raw text tokenized in the same job: its three documents, [SEP]-ended, in the streams of the buckets' groups."""
    out = tmp_path / "raw"
    build(out, SAMPLE / "plain", "--tokenizer", VOCAB, "--num-streams", "4", "--max-seq-length", "16")
    streams = streams_of(out)
    groups = defaultdict(list)
    for sid in sorted(streams):
        groups[sid // 4] += [t for s in streams[sid] for t in s]
    assert all(text[-1] == SEP for text in groups.values()) and sum(t.count(SEP) for t in groups.values()) == 3
    assert len(streams) == 4 * len(groups) and json.loads((out / "manifest.json").read_text())["input"]["kept"] == 3
