"""The merge's row gather (RowGather: equal to pyarrow's take on real pretraining and tokenized rows) and the
exact dedup of every pipeline (by sort in a merge or a bucket, by content key before counting)."""
import json
import shutil

import numpy as np
import pyarrow as pa
import pytest

from corpusforge.beam.sink import RowGather
from corpusforge.dataset import load_table
from tests.conftest import DATA, VOCAB, run_cli


@pytest.fixture(scope="module")
def instances(sample_nsp64):
    return load_table(str(sample_nsp64))


def test_equals_take_on_pretraining_rows(instances):
    order = np.random.default_rng(0).permutation(instances.num_rows)
    gather = RowGather(instances)
    assert gather.take(order).equals(instances.take(pa.array(order)))
    assert gather.take(order[:7]).equals(instances.take(pa.array(order[:7])))
    assert gather.take([]).equals(instances.take(pa.array([], pa.int64())))


def test_slices_chunks_and_repeats(instances):
    # spills are memory-mapped slices; a shard concatenates many of them into chunks
    parts = [instances.slice(5, 40), instances.slice(300, 1), instances.slice(77, 120)]
    table = pa.concat_tables(parts)
    assert table.column("input_ids").num_chunks == 3
    picks = np.array([160, 0, 0, 41, 40, 39, 100, 160])
    assert RowGather(table).take(picks).equals(table.combine_chunks().take(pa.array(picks)))
    assert RowGather(table.slice(30, 60)).take([59, 0, 3]).equals(table.slice(30, 60).take(pa.array([59, 0, 3])))
    # a list whose values array is itself a slice (its offset is not 0)
    values = pa.array(np.arange(20, dtype=np.uint16)).slice(3)
    shifted = pa.table({"ids": pa.ListArray.from_arrays(pa.array([0, 4, 4, 9], pa.int32()), values)})
    assert RowGather(shifted).take([2, 0, 1, 2]).equals(shifted.take(pa.array([2, 0, 1, 2])))


def test_other_columns_take_pyarrows_path(sample_tokenized):
    # nested lists (tokenized documents), strings, nulls and floats
    docs = load_table(str(sample_tokenized)).slice(0, 50)
    extra = pa.table({
        "with_nulls": pa.array([[1, 2], None, [3]] * 16 + [[4], []], pa.list_(pa.int32())),
        "null_values": pa.array([[1, None]] * 50, pa.list_(pa.int64())),
        "floats": pa.array([[float(i)] * (i % 4) for i in range(50)], pa.list_(pa.float32())),
    })
    table = pa.table({**{c: docs.column(c) for c in docs.column_names}, **{c: extra.column(c) for c in extra.column_names}})
    picks = np.random.default_rng(1).integers(0, 50, 80)
    assert RowGather(table).take(picks).equals(table.take(pa.array(picks)))


@pytest.mark.parametrize("args", [
    ("build", "ngrams", "--order", "3"),
    ("build", "cooccurrence", "--min-count", "1"),
    ("build", "pretraining", "--tokenizer", VOCAB, "--max-seq-length", "64"),
    ("build", "documents"),
], ids=["ngrams", "cooccurrence", "pretraining", "documents"])
def test_exact_dedup_drops_a_copied_file(tmp_path, args):
    """A copy of a real file under another name: with --dedup every copied document is filtered as a duplicate
    (as many as the file has lines) and the output is that of the corpus without the copy."""
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "text", corpus)
    run_cli(*args, "--input", corpus, "--dedup", "--output", tmp_path / "without")
    wiki = DATA / "text" / "wiki_zh_sample.jsonl"
    shutil.copy(wiki, corpus / "zz_copy.jsonl")  # of equal documents the smallest id stays: the original
    run_cli(*args, "--input", corpus, "--dedup", "--output", tmp_path / "with")
    arrow = sorted(p.name for p in (tmp_path / "without").iterdir() if p.suffix in (".arrow", ".txt"))
    assert arrow and [(tmp_path / "with" / n).read_bytes() for n in arrow] == \
        [(tmp_path / "without" / n).read_bytes() for n in arrow]
    without, with_copy = (json.loads((tmp_path / d / "manifest.json").read_text())["input"]
                          for d in ("without", "with"))
    copies = len(wiki.read_text().splitlines())
    assert with_copy["read"] == without["read"] + copies
    duplicates = [acc["filtered_by_reason"].get("duplicate", 0) for acc in (without, with_copy)]
    assert duplicates[1] == duplicates[0] + copies
