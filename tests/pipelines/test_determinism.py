"""Same inputs and seed -> byte-identical shards, whatever the worker count."""
import os

from corpusforge.dataset.reader import read_manifest
from tests.conftest import SAMPLE, build_documents

ARGS = ["--num-shards", "3"]


def shard_bytes(out):
    return {name: (out / name).read_bytes() for name in sorted(os.listdir(out)) if name.endswith(".arrow")}


def test_one_worker_and_two_processes_give_identical_shards(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    build_documents(one, SAMPLE, args=ARGS + ["--direct_num_workers=1"])
    build_documents(two, SAMPLE, args=ARGS + ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    a, b = shard_bytes(one), shard_bytes(two)
    assert list(a) == ["data-00000-of-00003.arrow", "data-00001-of-00003.arrow", "data-00002-of-00003.arrow"]
    assert a == b
    assert (one / "rejects" / "rejects.jsonl").read_bytes() == (two / "rejects" / "rejects.jsonl").read_bytes()
    assert read_manifest(str(one)) == read_manifest(str(two))


def test_the_seed_changes_the_order_not_the_content(tmp_path):
    from corpusforge.dataset.reader import load_table

    a, b = tmp_path / "a", tmp_path / "b"
    build_documents(a, SAMPLE / "wiki_zh", args=["--seed", "1"])
    build_documents(b, SAMPLE / "wiki_zh", args=["--seed", "2"])
    ta, tb = load_table(str(a)).to_pylist(), load_table(str(b)).to_pylist()
    assert [r["doc_id"] for r in ta] != [r["doc_id"] for r in tb]
    assert sorted(ta, key=lambda r: r["doc_id"]) == sorted(tb, key=lambda r: r["doc_id"])
