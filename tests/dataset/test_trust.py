"""A dataset directory is untrusted input: crafted manifests never make a reader leave the dataset, open a
FIFO, or import a module; `verify` checks everything the manifest promises. All on real built datasets."""
import json
import os
import shutil
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from corpusforge.dataset.reader import DatasetError, load_table, read_manifest, verify_dataset
from corpusforge.torch.data import NotPretrainingData, PretrainingDataset
from tests.conftest import DATA, SAMPLE, build_documents, run_cli

SHARD = "data-00000-of-00001.arrow"


@contextmanager
def unblocked(directory, seconds=15):
    """Fails the test instead of hanging it: a reader that opened a FIFO blocks until a writer comes, so
    after `seconds` the FIFOs in the directory get writers that close at once (the reader sees EOF)."""
    hung, done = [], threading.Event()

    def release():
        while not done.wait(seconds if not hung else 0.5):
            for fifo in (p for p in Path(directory).rglob("*") if p.is_fifo()):
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                    hung.append(fifo.name)
                except OSError:  # no reader is waiting on it
                    pass

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        assert not hung, f"a reader opened the FIFO {hung[0]} and blocked on it"


def copy_of(dataset, tmp_path, name="copy"):
    out = tmp_path / name
    shutil.copytree(dataset, out, symlinks=True)
    return out


def edit_manifest(directory, change):
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def outside_copy(dataset, tmp_path):
    """The dataset's real shard, outside it: a reader that follows a name there reads it without complaint."""
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(dataset / SHARD, outside / SHARD)
    return outside / SHARD


def one_sentence(result):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def crafted(dataset, tmp_path, how):
    """A copy of the dataset whose manifest names its one shard in a hostile way; returns (dir, expected text)."""
    d = copy_of(dataset, tmp_path)
    target = outside_copy(dataset, tmp_path)
    if how == "dotdot":
        edit_manifest(d, lambda m: m["shards"][0].update(file=f"../outside/{SHARD}"))
        return d, f"names the file '../outside/{SHARD}', which is not a relative path inside the dataset"
    if how == "absolute":
        edit_manifest(d, lambda m: m["shards"][0].update(file=str(target)))
        return d, f"names the file '{target}', which is not a relative path inside the dataset"
    if how == "etc_passwd":
        edit_manifest(d, lambda m: m["shards"][0].update(file="../../etc/passwd"))
        return d, "names the file '../../etc/passwd', which is not a relative path inside the dataset"
    os.remove(d / SHARD)
    if how == "symlink":
        os.symlink(target, d / SHARD)
        return d, f"{d / SHARD} points outside the dataset (to {target})"
    if how == "fifo":
        os.mkfifo(d / SHARD)
        return d, f"{d / SHARD} is not a regular file"
    raise ValueError(how)


HOSTILE = ["dotdot", "absolute", "etc_passwd", "symlink", "fifo"]


@pytest.mark.parametrize("how", HOSTILE)
def test_load_table_refuses_names_outside_the_dataset(sample_dataset, tmp_path, how):
    d, message = crafted(sample_dataset, tmp_path, how)
    with unblocked(d), pytest.raises(DatasetError) as e:
        load_table(str(d))
    assert message in str(e.value)


@pytest.mark.parametrize("how", HOSTILE)
@pytest.mark.parametrize("command", ["inspect", "verify"])
def test_inspect_and_verify_refuse_names_outside_the_dataset(sample_dataset, tmp_path, how, command):
    d, message = crafted(sample_dataset, tmp_path, how)
    with unblocked(d):
        result = run_cli(command, d, ok=False)
    if command == "verify" and how in ("symlink", "fifo"):  # a name verify can check: reported with the rest
        assert result.exit_code == 1 and f"MISMATCH {message}" in result.output and "Traceback" not in result.output
    else:
        assert message in one_sentence(result)


@pytest.mark.parametrize("how", HOSTILE)
def test_a_pipeline_refuses_an_input_dataset_naming_files_outside_it(sample_dataset, tmp_path, how):
    d, message = crafted(sample_dataset, tmp_path, how)
    with unblocked(d):
        result = run_cli("build", "ngrams", "-i", d, "--order", 2, "-o", tmp_path / "ngrams", ok=False)
    assert message in one_sentence(result)
    assert not (tmp_path / "ngrams").exists()


@pytest.mark.parametrize("how", HOSTILE)
def test_the_torch_dataset_refuses_names_outside_the_dataset(sample_nsp64, tmp_path, how):
    d, message = crafted(sample_nsp64, tmp_path, how)
    with unblocked(d), pytest.raises(NotPretrainingData) as e:
        PretrainingDataset(str(d))[0]
    assert message in str(e.value)
    with unblocked(d):  # and the trainer says it in one sentence, before any training
        result = run_cli("train", "bert", "--data", d, "--out", tmp_path / "run", "--preset", "tiny", "--quiet",
                         ok=False)
    assert message in one_sentence(result)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """A GloVe co-occurrence matrix of real text."""
    out = tmp_path_factory.mktemp("matrix") / "matrix"
    run_cli("build", "cooccurrence", "-i", DATA / "glove" / "corpus.txt", "--format", "pretokenized", "--vocab",
            DATA / "glove" / "vocab.txt", "-o", out)
    return out


@pytest.mark.parametrize("how", ["dotdot", "symlink", "fifo"])
def test_export_and_train_glove_refuse_matrix_shards_outside_the_dataset(matrix, tmp_path, how):
    d, message = crafted(matrix, tmp_path, how)
    with unblocked(d):
        exported = run_cli("export", "cooccurrence", d, "-o", tmp_path / "m.bin", ok=False)
        trained = run_cli("train", "glove", "-i", d, "-o", tmp_path / "vectors", "--epochs", "1", ok=False)
    assert message in one_sentence(exported) and message in one_sentence(trained)
    assert not (tmp_path / "m.bin").exists() and not (tmp_path / "vectors").exists()


def test_the_untouched_copies_read_fine(sample_dataset, sample_nsp64, tmp_path):
    """The crafted copies differ from a good dataset only in the name: the refusals above are the checks'."""
    assert load_table(str(copy_of(sample_dataset, tmp_path, "docs"))).num_rows == read_manifest(sample_dataset)["rows"]
    assert verify_dataset(str(copy_of(sample_dataset, tmp_path, "docs2"))) == []
    assert len(PretrainingDataset(str(copy_of(sample_nsp64, tmp_path, "nsp")))) == read_manifest(sample_nsp64)["rows"]


# -- verify checks everything the manifest promises -------------------------------------------------------------


@pytest.mark.parametrize("field, message", [
    ("kind", "its manifest.json has kind None"),
    ("schema_version", "its manifest.json has no schema_version"),
    ("corpusforge_version", "its manifest.json has no corpusforge_version"),
    ("rows", "its manifest.json has no row count (rows)"),
    ("shards", "its manifest.json has no shard list (shards)"),
    ("shards.file", "its manifest.json names the file None"),
    ("shards.rows", "its manifest.json lists a shard without file, rows and sha256"),
    ("shards.sha256", "its manifest.json lists a shard without file, rows and sha256"),
])
def test_verify_and_inspect_refuse_a_manifest_without_required_fields(sample_dataset, tmp_path, field, message):
    d = copy_of(sample_dataset, tmp_path)

    def drop(m):
        if "." in field:
            del m["shards"][0][field.split(".")[1]]
        else:
            del m[field]

    edit_manifest(d, drop)
    for command in ("verify", "inspect"):
        assert f"Error: {d} is not a corpusforge dataset: {message}" in one_sentence(run_cli(command, d, ok=False))


def test_verify_refuses_a_manifest_that_is_not_an_object_or_not_json(sample_dataset, tmp_path):
    d = copy_of(sample_dataset, tmp_path)
    (d / "manifest.json").write_text("[1, 2]")
    assert one_sentence(run_cli("verify", d, ok=False)) == \
        f"Error: {d} is not a corpusforge dataset: its manifest.json is not a JSON object"
    (d / "manifest.json").write_text('{"kind": "documents",')
    assert "is not a corpusforge dataset: its manifest.json is not JSON" in one_sentence(run_cli("verify", d, ok=False))
    (d / "manifest.json").write_text("[" * 100_000)
    assert "is not a corpusforge dataset: its manifest.json is nested too deeply" in one_sentence(run_cli("inspect", d, ok=False))


@pytest.fixture(scope="module")
def with_rejects(tmp_path_factory):
    """A documents dataset with rejects: 20 real wiki2019zh records and 2 malformed lines."""
    root = tmp_path_factory.mktemp("rejects")
    wiki = (SAMPLE / "wiki_zh" / "AA" / "wiki_00").read_bytes().splitlines(keepends=True)
    (root / "wiki.json").write_bytes(b"".join(wiki[:10] + [b'{"id": "1", "text": \n'] + wiki[10:20] + [b"{]\n"]))
    out = root / "docs"
    build_documents(out, root / "wiki.json")
    manifest = read_manifest(out)
    assert manifest["input"]["rejected"] == 2 and verify_dataset(str(out)) == []
    return out


def mismatches(d):
    result = run_cli("verify", d, ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    return [line.removeprefix("MISMATCH ") for line in result.output.splitlines() if line.startswith("MISMATCH")]


def test_verify_checks_rejects_against_their_sha256(with_rejects, tmp_path):
    d = copy_of(with_rejects, tmp_path)
    name = read_manifest(d)["rejects"]["files"][0]
    lines = (d / name).read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[0])
    record["excerpt"] = "edited after the build"  # same number of records: only the checksum can tell
    (d / name).write_text(json.dumps(record) + "\n" + "".join(lines[1:]), encoding="utf-8")
    (problem,) = mismatches(d)
    recorded = read_manifest(d)["rejects"]["sha256"][0]
    assert problem.startswith(f"{name}: sha256 ") and problem.endswith(f"!= manifest {recorded}")


def test_verify_reports_files_the_manifest_does_not_name(with_rejects, tmp_path):
    d = copy_of(with_rejects, tmp_path)
    shutil.copy(d / SHARD, d / "data-00001-of-00002.arrow")  # a stray shard of some other build
    (d / "rejects" / "more.jsonl").write_text("")
    os.symlink("/etc/passwd", d / "passwd")
    assert mismatches(d) == [f"{n}: in the dataset directory but not named by the manifest"
                             for n in ("data-00001-of-00002.arrow", "passwd", "rejects/more.jsonl")]


def test_verify_checks_state_json_and_dataset_info_against_the_shards(sample_dataset, tmp_path):
    d = copy_of(sample_dataset, tmp_path)
    state = json.loads((d / "state.json").read_text())
    state["_data_files"].append({"filename": "data-00001-of-00001.arrow"})
    (d / "state.json").write_text(json.dumps(state))
    info = json.loads((d / "dataset_info.json").read_text())
    info["features"]["title"]["dtype"] = "int64"
    (d / "dataset_info.json").write_text(json.dumps(info))
    assert mismatches(d) == [f"state.json: _data_files do not list the manifest's shards ['{SHARD}']",
                             "dataset_info.json: its features do not match the shards' schema"]
    os.remove(d / "state.json")
    os.remove(d / "dataset_info.json")
    assert mismatches(d) == [f"{d}/state.json is missing", f"{d}/dataset_info.json is missing"]


def test_verify_fails_a_fifo_shard_without_reading_it(sample_dataset, tmp_path):
    d = copy_of(sample_dataset, tmp_path)
    os.remove(d / SHARD)
    os.mkfifo(d / SHARD)
    with unblocked(d):
        assert mismatches(d) == [f"{d / SHARD} is not a regular file"]


# -- no module named in a manifest is imported ----------------------------------------------------------------


@pytest.fixture
def marker_module(tmp_path, monkeypatch):
    """A segmenter module on sys.path whose import writes a marker file (it segments into characters)."""
    marker = tmp_path / "imported"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "cf_marker_seg.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n"
        "class Seg:\n"
        "    name = 'cf_marker_seg'\n"
        "    def fingerprint(self):\n"
        "        return {'name': self.name}\n"
        "    def spans(self, text):\n"
        "        return [(i, i + 1) for i, c in enumerate(text) if not c.isspace()]\n")
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    yield marker
    sys.modules.pop("cf_marker_seg", None)


@pytest.fixture(scope="module")
def char_lm(tmp_path_factory):
    """Character n-gram counts of real news text and their modified Kneser-Ney LM."""
    root = tmp_path_factory.mktemp("lm")
    run_cli("build", "ngrams", "-i", DATA / "lm" / "news_small.txt", "--units", "chars", "--order", 2, "-o",
            root / "counts")
    run_cli("build", "lm", "-i", root / "counts", "-o", root / "lm", "--discount-fallback")
    return root


def claim_custom_segmenter(directory):
    edit_manifest(directory, lambda m: m["params"].update(units="words", segmenter="cf_marker_seg:Seg"))


def test_eval_lm_never_imports_a_segmenter_named_by_the_manifest(char_lm, marker_module, tmp_path):
    heldout = DATA / "lm" / "news_heldout.txt"
    reference = run_cli("eval", "lm", char_lm / "lm", heldout).output.splitlines()[1:]
    model = copy_of(char_lm / "lm", tmp_path, "lm")
    claim_custom_segmenter(model)
    refused = one_sentence(run_cli("eval", "lm", model, heldout, ok=False))
    assert refused == ("Error: the dataset was segmented with the custom segmenter cf_marker_seg:Seg, which "
                       "corpusforge does not import from a manifest; pass --segmenter cf_marker_seg:Seg to use it")
    assert not marker_module.exists() and "cf_marker_seg" not in sys.modules
    # named on this run's command line it is the user's own code: it runs, and segments as the counts were made
    given = run_cli("eval", "lm", model, heldout, "--segmenter", "cf_marker_seg:Seg").output.splitlines()[1:]
    assert marker_module.exists() and given == reference
    other = run_cli("eval", "lm", model, heldout, "--segmenter", "jieba-rs", ok=False)
    assert "segmented with cf_marker_seg:Seg, not jieba-rs" in one_sentence(other)
    # a bare ARPA file has no manifest: the text is segmented as --segmenter says
    bare = run_cli("eval", "lm", char_lm / "lm" / "model.arpa", heldout, "--segmenter", "chars").output
    assert bare.splitlines()[1:] == reference


def test_build_lm_heldout_never_imports_a_segmenter_named_by_the_counts(char_lm, marker_module, tmp_path):
    counts = copy_of(char_lm / "counts", tmp_path, "counts")
    claim_custom_segmenter(counts)
    result = run_cli("build", "lm", "-i", counts, "-s", "jelinek-mercer", "--heldout", DATA / "lm" / "news_heldout.txt",
                     "-o", tmp_path / "jm", ok=False)
    assert "pass --segmenter cf_marker_seg:Seg to use it" in one_sentence(result)
    assert not marker_module.exists() and not (tmp_path / "jm").exists()
