"""The Python API: corpusforge.build() makes the CLI's datasets byte for byte, with the CLI's defaults, and fails
with the CLI's sentences as typed exceptions."""
import os
import subprocess
import sys

import pytest

import corpusforge
from tests.conftest import ROOT, SAMPLE, VOCAB, run_cli


def tree_bytes(path):
    """Every file of a dataset (shards, manifest, HF metadata, rejects) by relative path."""
    found = {}
    for root, _, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            found[os.path.relpath(full, path)] = open(full, "rb").read()
    return found


def cli_error(*args):
    """(exit code, stderr lines) of the real console entry point."""
    proc = subprocess.run([sys.executable, "-m", "corpusforge.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT)
    return proc.returncode, proc.stderr.splitlines()


def test_import_is_light():
    """`import corpusforge` and reaching corpusforge.build import neither Apache Beam nor torch."""
    code = ("import sys, corpusforge; corpusforge.build; corpusforge.BuildError; corpusforge.EmptyBuild; "
            "print(sorted(m for m in ('apache_beam', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_documents_equal_the_cli_build(tmp_path, sample_dataset):
    """sample_dataset is `corpusforge build documents --input samples/corpora --output ...` at the defaults."""
    built = corpusforge.build("documents", inputs=str(SAMPLE), output=tmp_path / "docs")
    assert isinstance(built, corpusforge.Dataset) and built.path == str(tmp_path / "docs")
    assert tree_bytes(built.path) == tree_bytes(sample_dataset)
    assert built.kind == "documents" and built.rows == built.manifest["rows"] > 1000
    hf = built.to_datasets()
    table = built.to_table()
    assert hf.num_rows == table.num_rows == built.rows
    assert hf[0] == table.slice(0, 1).to_pylist()[0] and hf.column_names == table.column_names


def test_tokenized_equals_the_cli_build(tmp_path, sample_dataset, sample_tokenized):
    """The option's long name (tokenizer=) and its parameter name both work; a Dataset is a valid input."""
    docs = corpusforge.open_dataset(sample_dataset)
    built = corpusforge.build("tokenized", input=docs, tokenizer=VOCAB, output=str(tmp_path / "tok"))
    assert tree_bytes(built.path) == tree_bytes(sample_tokenized)


@pytest.mark.parametrize("cli_args, options", [
    ([], {}),  # every default, as the CLI has it (--mode nsp, --max-seq-length 128, --masking token, ...)
    (["--mode", "sop", "--masking", "wwm", "--max-seq-length", "64", "--dupe-factor", "2", "--seed", "7",
      "--num-shards", "2"],
     {"mode": "sop", "masking": "wwm", "max_seq_length": 64, "dupe_factor": 2, "seed": 7, "num_shards": 2}),
])
def test_pretraining_equals_the_cli_build(tmp_path, sample_tokenized, cli_args, options):
    run_cli("build", "pretraining", "--input", sample_tokenized, "--output", tmp_path / "cli", *cli_args)
    built = corpusforge.build("pretraining", inputs=[sample_tokenized], output=tmp_path / "api",
                              beam_args=["--direct_num_workers=1"] if options else (), **options)
    cli = tree_bytes(tmp_path / "cli")
    assert [k for k in cli if k.endswith(".arrow")] and tree_bytes(built.path) == cli
    assert built.manifest["params"]["mode"] == options.get("mode", "nsp")


def test_an_existing_output_raises_output_exists_with_the_cli_sentence(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(corpusforge.OutputExists) as e:
        corpusforge.build("documents", inputs=SAMPLE / "wiki_zh", output=tmp_path / "out")
    assert str(e.value) == f"output {tmp_path / 'out'} already exists; pass --overwrite to replace it"
    code, err = cli_error("build", "documents", "-i", SAMPLE / "wiki_zh", "-o", tmp_path / "out")
    assert code == 1 and f"Error: {e.value}" in err
    assert isinstance(e.value, corpusforge.BuildError) and os.listdir(tmp_path / "out") == []


@pytest.mark.parametrize("kind, options, error, sentence", [
    ("documents", {"inputs": "no/such/corpus.json"}, corpusforge.BadInput,
     "input path no/such/corpus.json does not exist or matches no files"),
    ("pretraining", {"inputs": str(SAMPLE), "tokenizer": str(VOCAB), "max_seq_length": 4}, corpusforge.BadOption,
     "Invalid value for '--max-seq-length': 4 is not in the range 8<=x<=65535."),
    ("documents", {"inputs": str(SAMPLE), "min_chars": 50, "max_chars": 10}, corpusforge.BadOption,
     "--min-chars 50 is larger than --max-chars 10"),
    ("tokenized", {"inputs": str(SAMPLE)}, corpusforge.BadOption, "Missing option '--tokenizer' / '-t'."),
    ("documents", {"inputs": str(SAMPLE), "format": "xml"}, corpusforge.BadOption, "Invalid value for '--format'"),
    ("pretraining", {"inputs": str(SAMPLE)}, corpusforge.BuildError,
     "documents or raw input needs --tokenizer (or give a tokenized dataset)"),
])
def test_a_bad_call_raises_the_typed_error_with_the_cli_sentence(tmp_path, kind, options, error, sentence):
    out = tmp_path / "out"
    with pytest.raises(error) as e:
        corpusforge.build(kind, output=out, **options)
    assert str(e.value).startswith(sentence)
    flags = []
    for key, value in options.items():
        flags += [f"--{ {'inputs': 'input'}.get(key, key).replace('_', '-')}", value]
    code, err = cli_error("build", kind, *flags, "-o", out)
    assert code != 0 and any(line.endswith(str(e.value)) for line in err), err
    assert not out.exists()


def test_a_build_that_keeps_nothing_raises_empty_build(tmp_path):
    """Raised in a Beam worker, it reaches the caller as corpusforge.EmptyBuild with the CLI's sentence."""
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(corpusforge.EmptyBuild) as e:
        corpusforge.build("documents", inputs=tmp_path / "empty.txt", output=tmp_path / "out")
    assert str(e.value) == ("nothing to write: the input holds no records; check --input (empty files?), or pass "
                            "--allow-empty to write an empty dataset")
    assert not (tmp_path / "out").exists()
    code, err = cli_error("build", "documents", "-i", tmp_path / "empty.txt", "-o", tmp_path / "out")
    assert code == 1 and f"Error: {e.value}" in err
    empty = corpusforge.build("documents", inputs=tmp_path / "empty.txt", output=tmp_path / "out", allow_empty=True)
    assert empty.rows == 0 and empty.to_datasets().num_rows == 0


def test_an_unknown_option_raises_type_error_naming_it(tmp_path):
    with pytest.raises(TypeError, match=r"unexpected option 'max_seq_len'; did you mean 'max_seq_length'\?"):
        corpusforge.build("pretraining", inputs=SAMPLE, output=tmp_path / "out", max_seq_len=64)
    with pytest.raises(TypeError, match=r"unexpected option 'runner'"):
        corpusforge.build("documents", inputs=SAMPLE, output=tmp_path / "out", runner="DirectRunner")
    with pytest.raises(TypeError, match=r"'seed' takes one value, not a list"):
        corpusforge.build("documents", inputs=SAMPLE, output=tmp_path / "out", seed=[1, 2])
    with pytest.raises(TypeError, match=r"two values for 'inputs'"):
        corpusforge.build("documents", inputs=SAMPLE, input=SAMPLE, output=tmp_path / "out")
    with pytest.raises(ValueError) as e:
        corpusforge.build("pretrain", inputs=SAMPLE, output=tmp_path / "out")
    assert str(e.value).endswith(f"'pretrain' is not one of {', '.join(corpusforge.kinds())}")
    assert {"documents", "tokenized", "pretraining", "vocab", "lm"} <= set(corpusforge.kinds())
    assert not (tmp_path / "out").exists()


def test_open_dataset_of_a_non_dataset_is_bad_input(tmp_path):
    with pytest.raises(corpusforge.BadInput, match="is not a corpusforge dataset"):
        corpusforge.open_dataset(tmp_path)


def test_a_missing_extra_is_its_pip_line(tmp_path, monkeypatch):
    import corpusforge.extras

    monkeypatch.setattr(corpusforge.extras, "installed", lambda module: module != "matplotlib")
    with pytest.raises(corpusforge.MissingExtra) as e:
        corpusforge.build("stats", inputs=SAMPLE, output=tmp_path / "out")
    assert str(e.value) == "corpusforge build stats needs matplotlib: pip install 'corpusforge[plots]'"
