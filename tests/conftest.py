from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "corpora"
DATA = Path(__file__).resolve().parent / "data"


def run_cli(*args, ok=True):
    """Runs the corpusforge CLI in-process; asserts success (or failure with ok=False)."""
    from corpusforge.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def build_documents(output, *inputs, args=()):
    return run_cli("build", "documents", *[x for i in inputs for x in ("--input", i)], "--output", output, *args)


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory):
    """The documents dataset built from the bundled sample corpus (built once per test session)."""
    out = tmp_path_factory.mktemp("built") / "documents"
    build_documents(out, SAMPLE)
    return out


VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"  # samples/vocab/README.md


@pytest.fixture(scope="session")
def sample_tokenized(tmp_path_factory, sample_dataset):
    """The sample documents tokenized with bert-base-chinese's vocab.txt and jieba-rs (built once)."""
    out = tmp_path_factory.mktemp("built") / "tokenized"
    run_cli("build", "tokenized", "--input", sample_dataset, "--tokenizer", VOCAB, "--output", out)
    return out


@pytest.fixture(scope="session")
def sample_documents(sample_tokenized):
    """The tokenized sample as objective Documents (numpy sentences), keyed as the pipeline keys them."""
    import pyarrow as pa

    from corpusforge.beam.instances import table_documents
    from corpusforge.beam.sink import KEY, seeded_key
    from corpusforge.dataset import load_table

    table = load_table(str(sample_tokenized))
    keys = [seeded_key(12345, d) for d in table.column("doc_id").to_pylist()]
    return table_documents(table.append_column(KEY, pa.array(keys, pa.binary())))


def build_pretraining(tmp_path_factory, tokenized, name, *args):
    out = tmp_path_factory.mktemp("built") / name
    run_cli("build", "pretraining", "--input", tokenized, "--output", out, *args)
    return out


@pytest.fixture(scope="session")
def sample_nsp64(tmp_path_factory, sample_tokenized):
    """BERT NSP instances of the sample (64 tokens, static token masking): small enough for CPU training tests."""
    return build_pretraining(tmp_path_factory, sample_tokenized, "nsp64", "--mode", "nsp", "--max-seq-length", "64",
                             "--max-predictions-per-seq", "10")


@pytest.fixture(scope="session")
def sample_full64(tmp_path_factory, sample_tokenized):
    """RoBERTa FULL-SENTENCES blocks of the sample (64 tokens), unmasked: the trainer masks dynamically."""
    return build_pretraining(tmp_path_factory, sample_tokenized, "full64", "--mode", "full-sentences", "--masking",
                             "none", "--max-seq-length", "64", "--max-predictions-per-seq", "10")
