"""export megatron: megatron-core's own reader opens the files and returns our token ids; its own writer
makes the same bytes."""
import warnings

import numpy as np
import pytest

from corpusforge.dataset import load_table
from tests.conftest import ROOT, SAMPLE, run_cli

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
SEP = 102


@pytest.fixture(scope="module")
def megatron():
    with warnings.catch_warnings():  # "Transformer Engine and Apex are not installed": not needed to read data
        warnings.simplefilter("ignore")
        from megatron.core.datasets import indexed_dataset
    return indexed_dataset


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    out = tmp_path_factory.mktemp("megatron") / "tokenized"
    run_cli("build", "tokenized", "--input", SAMPLE / "wiki_zh", "--input", SAMPLE / "plain", "--tokenizer", VOCAB,
            "--output", out)
    return out


def documents(tokenized) -> list[list[list[int]]]:
    return load_table(str(tokenized)).column("input_ids").to_pylist()


def export(dataset, prefix, *args, ok=True):
    return run_cli("export", "megatron", dataset, "-o", prefix, *args, ok=ok)


def megatron_builder_bytes(megatron, tmp_path, docs: list[list[list[int]]]) -> tuple[bytes, bytes]:
    """The same documents (each a list of sequences) written by megatron-core's IndexedDatasetBuilder."""

    builder = megatron.IndexedDatasetBuilder(str(tmp_path / "ref.bin"), dtype=np.uint16)
    for seqs in docs:
        builder.add_document(np.array([t for s in seqs for t in s], dtype=np.int64), [len(s) for s in seqs])
    builder.finalize(str(tmp_path / "ref.idx"))
    return (tmp_path / "ref.bin").read_bytes(), (tmp_path / "ref.idx").read_bytes()


def read_back(megatron, prefix) -> tuple[list[list[int]], list[int]]:
    ds = megatron.IndexedDataset(str(prefix))
    return [ds[i].tolist() for i in range(len(ds))], ds.document_indices.tolist()


def test_one_sequence_per_document(tmp_path, megatron, tokenized):
    result = export(tokenized, tmp_path / "wiki")
    docs = [[[t for s in doc for t in s]] for doc in documents(tokenized)]
    sequences, doc_index = read_back(megatron, tmp_path / "wiki")
    assert sequences == [d[0] for d in docs] and doc_index == list(range(len(docs) + 1))
    assert megatron.IndexedDataset(str(tmp_path / "wiki")).index.dtype == np.uint16
    assert ((tmp_path / "wiki.bin").read_bytes(), (tmp_path / "wiki.idx").read_bytes()) == \
        megatron_builder_bytes(megatron, tmp_path, docs)
    assert f"{len(docs)} sequences, {len(docs)} documents" in result.output


def test_sentences_with_end_of_document(tmp_path, megatron, tokenized):
    export(tokenized, tmp_path / "bert", "--split-sentences", "--append-eod")
    docs = [[list(s) for s in doc if s] for doc in documents(tokenized)]
    docs = [d[:-1] + [d[-1] + [SEP]] for d in docs if d]  # Megatron's --append-eod: on the last sentence
    sequences, doc_index = read_back(megatron, tmp_path / "bert")
    assert sequences == [s for d in docs for s in d]
    assert doc_index == [0, *np.cumsum([len(d) for d in docs]).tolist()]
    assert ((tmp_path / "bert.bin").read_bytes(), (tmp_path / "bert.idx").read_bytes()) == \
        megatron_builder_bytes(megatron, tmp_path, docs)


def test_causal_blocks(tmp_path, megatron, tokenized):
    run_cli("build", "pretraining", "--input", tokenized, "--output", tmp_path / "gpt", "--mode", "causal",
            "--max-seq-length", "256")
    export(tmp_path / "gpt", tmp_path / "gpt-megatron")
    blocks = load_table(str(tmp_path / "gpt")).column("input_ids").to_pylist()
    sequences, doc_index = read_back(megatron, tmp_path / "gpt-megatron")
    assert sequences == blocks and doc_index == list(range(len(blocks) + 1))
    assert sum(s.count(SEP) for s in sequences) == len(documents(tokenized))


def test_bad_input(tmp_path, tokenized):
    run_cli("build", "documents", "--input", SAMPLE / "plain", "--output", tmp_path / "documents")
    (tmp_path / "mine.idx").write_bytes(b"keep me")
    for args, message in [((tmp_path / "documents", tmp_path / "d"), "is a documents dataset; give a tokenized or causal"),
                          ((tmp_path, tmp_path / "d"), "is not a corpusforge dataset"),
                          ((tokenized, tmp_path / "mine"), "mine.idx already exists"),
                          ((tokenized, tmp_path / "no" / "such"), "does not exist"),
                          ((tokenized, tmp_path / "d", "--eos-token", "[SEP]"), "--eos-token goes with --append-eod"),
                          ((tokenized, tmp_path / "d", "--append-eod", "--eos-token", "<eod>"), "not in the vocabulary")]:
        result = export(*args, ok=False)
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert (tmp_path / "mine.idx").read_bytes() == b"keep me" and not list(tmp_path.glob("d.*"))
