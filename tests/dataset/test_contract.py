"""The dataset on disk: Arrow IPC stream shards + manifest + HF metadata, complete or absent."""
import hashlib
import json
import os

import pyarrow as pa
import pytest

from corpusforge.dataset.reader import load_table, read_manifest, verify_dataset
from corpusforge.dataset.schema import DOCUMENTS
from tests.conftest import SAMPLE, build_documents, run_cli


def test_manifest_fields(sample_dataset):
    m = read_manifest(str(sample_dataset))
    assert m["kind"] == "documents" and m["schema_version"] == 1 and m["corpusforge_version"]
    assert isinstance(m["rows"], int) and m["rows"] == sum(s["rows"] for s in m["shards"]) > 1000
    for shard in m["shards"]:
        data = (sample_dataset / shard["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
    acc = m["input"]
    assert acc["read"] == acc["kept"] + acc["filtered"] + acc["rejected"]
    assert m["params"]["seed"] == 12345 and m["params"]["inputs"] == [str(SAMPLE)]
    assert {"min_chars", "dedup", "t2s", "normalize", "num_shards", "format"} <= m["params"].keys()


def test_shards_are_arrow_streams_with_the_documents_schema(sample_dataset):
    m = read_manifest(str(sample_dataset))
    assert [s["file"] for s in m["shards"]] == ["data-00000-of-00001.arrow"]
    with pa.OSFile(str(sample_dataset / "data-00000-of-00001.arrow")) as f:
        table = pa.ipc.open_stream(f).read_all()
    assert table.schema.equals(DOCUMENTS)
    assert table.num_rows == m["rows"]
    assert {r["source"] for r in table.to_pylist()} == {"wiki2019zh", "news2016zh", "webtext2019zh", "plain"}


def test_loads_unchanged_with_hugging_face_datasets(sample_dataset):
    import datasets

    ds = datasets.load_from_disk(str(sample_dataset))
    table = load_table(str(sample_dataset))
    assert ds.num_rows == table.num_rows
    assert ds.column_names == ["doc_id", "source", "title", "sentences"]
    assert ds[10] == table.slice(10, 1).to_pylist()[0]
    assert isinstance(ds[0]["sentences"], list)


def test_rows_are_a_seeded_shuffle_not_input_order(sample_dataset):
    ids = load_table(str(sample_dataset)).column("doc_id").to_pylist()
    sources = [i.split("/")[0] for i in ids[:50]]
    assert len(set(sources)) > 1  # input order would start with one file's records


def test_verify_detects_tampering(sample_dataset, tmp_path):
    assert verify_dataset(str(sample_dataset)) == []
    assert "OK" in run_cli("verify", sample_dataset).output
    copy = tmp_path / "copy"
    os.system(f"cp -r {sample_dataset} {copy}")
    shard = copy / "data-00000-of-00001.arrow"
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    result = run_cli("verify", copy, ok=False)
    assert result.exit_code == 1 and "sha256" in result.output
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["input"]["kept"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert any("accounting" in p for p in verify_dataset(str(copy)))


def test_inspect_prints_schema_rows_params_and_rows(sample_dataset):
    out = run_cli("inspect", sample_dataset, "--rows", "2").output
    assert "kind documents" in out and "sentences: list<item: string>" in out
    assert "seed: 12345" in out and out.count("--- row") == 2


def test_dataset_appears_only_when_complete(tmp_path, monkeypatch):
    """A failing build leaves neither the output nor its temporary directory behind."""
    import corpusforge.beam.sink as sink

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sink, "write_metadata", boom)
    out = tmp_path / "docs"
    with pytest.raises(RuntimeError, match="disk full"):
        build_documents(out, SAMPLE / "plain")
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_a_dataset(tmp_path):
    out = tmp_path / "docs"
    build_documents(out, SAMPLE / "plain")
    build_documents(out, SAMPLE / "wiki_zh", args=["--overwrite"])
    assert {r["source"] for r in load_table(str(out)).to_pylist()} == {"wiki2019zh"}
    assert sorted(os.listdir(tmp_path)) == ["docs"]
