"""export tfrecord (Google BERT's / ALBERT's run_pretraining.py input) and export parquet, read back with the other
tools' own readers: the `tfrecord` package (its own Example proto) with Google's CRC-32C, TensorFlow where it is
installed, pyarrow.parquet and datasets.load_dataset("parquet")."""
import glob
import importlib.util
import json
import os
import struct
import subprocess
import sys

import pytest

import corpusforge
from corpusforge.dataset.reader import load_table
from tests.conftest import ROOT, build_pretraining, run_cli

FEATURES = {"input_ids": "int", "input_mask": "int", "segment_ids": "int", "token_boundary": "int",
            "masked_lm_positions": "int", "masked_lm_ids": "int", "masked_lm_weights": "float",
            "next_sentence_labels": "int"}


@pytest.fixture(scope="module")
def sample_sop64(tmp_path_factory, sample_tokenized):
    return build_pretraining(tmp_path_factory, sample_tokenized, "sop64", "--mode", "sop", "--masking", "wwm",
                             "--max-seq-length", "64", "--max-predictions-per-seq", "10", "--num-shards", "2")


def google_example(row, max_seq_length, max_predictions, label):
    """write_instance_to_example_files' padding (google-research/bert create_pretraining_data.py), and ALBERT's
    token_boundary, 1 on specials and word starts, with the words of our segmenter (word_ids)."""
    input_ids = list(row["input_ids"])
    input_mask = [1] * len(input_ids)
    segment_ids = list(row["token_type_ids"])
    token_boundary = [1 if special or i == 0 or row["word_ids"][i] != row["word_ids"][i - 1] else 0
                      for i, special in enumerate(row["special_tokens_mask"])]
    while len(input_ids) < max_seq_length:
        input_ids.append(0)
        input_mask.append(0)
        segment_ids.append(0)
        token_boundary.append(0)
    masked_lm_positions = list(row["masked_lm_positions"])
    masked_lm_ids = list(row["masked_lm_labels"])
    masked_lm_weights = [1.0] * len(masked_lm_ids)
    while len(masked_lm_positions) < max_predictions:
        masked_lm_positions.append(0)
        masked_lm_ids.append(0)
        masked_lm_weights.append(0.0)
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids,
            "token_boundary": token_boundary, "masked_lm_positions": masked_lm_positions,
            "masked_lm_ids": masked_lm_ids, "masked_lm_weights": masked_lm_weights,
            "next_sentence_labels": [row[label]]}


def framed_records(path):
    """The records of a TFRecord file, each CRC checked with Google's CRC-32C (google-crc32c) and TensorFlow's
    mask (tensorflow/core/lib/hash/crc32c.h)."""
    import google_crc32c

    def masked(data):
        crc = int.from_bytes(google_crc32c.Checksum(data).digest(), "big")
        return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)

    data, at, records = open(path, "rb").read(), 0, []
    while at < len(data):
        length = data[at:at + 8]
        assert data[at + 8:at + 12] == masked(length)
        n = struct.unpack("<Q", length)[0]
        record = data[at + 12:at + 12 + n]
        assert data[at + 12 + n:at + 16 + n] == masked(record)
        records.append(record)
        at += 16 + n
    return records


def read_tfrecord_dir(directory):
    from tfrecord.reader import tfrecord_loader

    rows = []
    for path in sorted(glob.glob(f"{directory}/*.tfrecord")):
        assert framed_records(path)
        rows += [{k: v.tolist() for k, v in r.items()} for r in tfrecord_loader(path, None, FEATURES)]
    return rows


@pytest.mark.parametrize("fixture, label", [("sample_nsp64", "next_sentence_label"),
                                            ("sample_sop64", "sentence_order_label")])
def test_tfrecord_holds_google_bert_examples_padded_as_google_pads(tmp_path, request, fixture, label):
    dataset = request.getfixturevalue(fixture)
    out = run_cli("export", "tfrecord", dataset, "-o", tmp_path / "tf").output
    manifest = json.loads((dataset / "manifest.json").read_text())
    shards = [s["file"].replace(".arrow", ".tfrecord") for s in manifest["shards"]]
    assert sorted(os.listdir(tmp_path / "tf")) == shards
    assert "--max_seq_length=64 --max_predictions_per_seq=10" in out
    rows = load_table(str(dataset)).to_pylist()
    got = read_tfrecord_dir(tmp_path / "tf")
    assert len(got) == len(rows) == manifest["rows"] > 500
    assert got == [google_example(r, 64, 10, label) for r in rows]
    assert {r["next_sentence_labels"][0] for r in got} == {0, 1}


def test_tfrecord_bytes_are_the_same_in_every_process(tmp_path, sample_sop64):
    """protobuf orders a map field differently in each process; the export's bytes must not depend on it."""
    corpusforge.export("tfrecord", sample_sop64, output=tmp_path / "api")
    subprocess.run([sys.executable, "-m", "corpusforge.cli", "export", "tfrecord", str(sample_sop64), "-o",
                    str(tmp_path / "cli")], cwd=ROOT, check=True, capture_output=True)
    names = sorted(os.listdir(tmp_path / "api"))
    assert names == sorted(os.listdir(tmp_path / "cli")) and len(names) == 2
    for name in names:
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()


TF_PARSE = """
import glob, json, sys
import tensorflow as tf
import corpusforge
dataset, directory, length, predictions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
corpusforge.export("tfrecord", dataset, output=directory)  # in a process that imported TensorFlow first
# run_pretraining.py's input_fn_builder (google-research/bert; ALBERT's adds token_boundary)
name_to_features = {
    "input_ids": tf.io.FixedLenFeature([length], tf.int64),
    "input_mask": tf.io.FixedLenFeature([length], tf.int64),
    "segment_ids": tf.io.FixedLenFeature([length], tf.int64),
    "token_boundary": tf.io.FixedLenFeature([length], tf.int64),
    "masked_lm_positions": tf.io.FixedLenFeature([predictions], tf.int64),
    "masked_lm_ids": tf.io.FixedLenFeature([predictions], tf.int64),
    "masked_lm_weights": tf.io.FixedLenFeature([predictions], tf.float32),
    "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
}
files = sorted(glob.glob(directory + "/*.tfrecord"))
rows = [{k: v.numpy().tolist() for k, v in tf.io.parse_single_example(r, name_to_features).items()}
        for r in tf.data.TFRecordDataset(files)]
print(json.dumps(rows))
"""


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                    reason="TensorFlow is not installed (pip install 'corpusforge[tf]')")
def test_tensorflow_parses_the_records_as_run_pretraining_does(tmp_path, sample_nsp64):
    # a process of its own: this one has imported the tfrecord package, whose Example proto TensorFlow's clashes with
    proc = subprocess.run([sys.executable, "-c", TF_PARSE, str(sample_nsp64), str(tmp_path / "tf"), "64", "10"],
                          capture_output=True, text=True, check=True, cwd=ROOT,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    rows = json.loads(proc.stdout.splitlines()[-1])
    expected = [google_example(r, 64, 10, "next_sentence_label") for r in load_table(str(sample_nsp64)).to_pylist()]
    assert rows == expected


def test_tfrecord_refuses_what_run_pretraining_cannot_train_on(tmp_path, sample_tokenized, sample_full64):
    with pytest.raises(corpusforge.BadInput, match="is a tokenized dataset; export tfrecord takes a pretraining"):
        corpusforge.export("tfrecord", sample_tokenized, output=tmp_path / "a")
    with pytest.raises(corpusforge.BadInput, match="--mode full-sentences, which has no sentence-pair label"):
        corpusforge.export("tfrecord", sample_full64, output=tmp_path / "b")
    with pytest.raises(corpusforge.BadInput, match="is not a corpusforge dataset"):
        corpusforge.export("tfrecord", tmp_path, output=tmp_path / "c")
    assert sorted(os.listdir(tmp_path)) == []


def test_an_export_replaces_only_an_export(tmp_path, sample_nsp64):
    out = tmp_path / "tf"
    corpusforge.export("tfrecord", sample_nsp64, output=out)
    first = {p: (out / p).read_bytes() for p in os.listdir(out)}
    with pytest.raises(corpusforge.OutputExists, match="already exists; pass --overwrite"):
        corpusforge.export("tfrecord", sample_nsp64, output=out)
    corpusforge.export("tfrecord", sample_nsp64, output=out, overwrite=True)
    assert {p: (out / p).read_bytes() for p in os.listdir(out)} == first
    (out / "notes.txt").write_text("mine")
    result = run_cli("export", "tfrecord", sample_nsp64, "-o", out, "--overwrite", ok=False)
    assert result.exit_code == 1 and "holds notes.txt, which an export does not write; refusing" in result.output
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["tf"]  # no temporary directory or lock file left


@pytest.mark.parametrize("fixture", ["sample_dataset", "sample_tokenized", "sample_nsp64"])
def test_parquet_reads_back_the_same_rows(tmp_path, request, fixture, monkeypatch):
    import datasets
    import pyarrow.parquet as pq

    dataset = request.getfixturevalue(fixture)
    out = run_cli("export", "parquet", dataset, "-o", tmp_path / "pq").output
    table = load_table(str(dataset))
    assert f"wrote {tmp_path / 'pq'}: {table.num_rows} rows" in out
    files = sorted(glob.glob(f"{tmp_path / 'pq'}/*.parquet"))
    assert len(files) == len(json.loads((dataset / "manifest.json").read_text())["shards"])
    back = pq.read_table(files[0]) if len(files) == 1 else pq.ParquetDataset(files).read()
    assert back.schema.remove_metadata() == table.schema.remove_metadata()  # uint16 ids stay uint16
    assert back.to_pylist() == table.to_pylist()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "cache"))
    assert hf.num_rows == table.num_rows
    assert hf.to_list() == table.to_pylist() == corpusforge.open_dataset(dataset).to_datasets().to_list()


def test_parquet_of_a_vocabulary_is_one_sentence(tmp_path, sample_dataset):
    vocab = corpusforge.build("vocab", inputs=sample_dataset, model="wordpiece", vocab_size=6000,
                              output=tmp_path / "vocab")
    assert vocab.kind == "vocab" and vocab.rows is None
    with pytest.raises(corpusforge.BadInput, match=r"is a vocab dataset, made of files \(vocab.txt, "):
        corpusforge.export("parquet", vocab, output=tmp_path / "pq")
    assert not (tmp_path / "pq").exists()
