"""Unsafe paths: nothing of the user's is deleted, one build holds an output at a time, and unusable
outputs fail with one sentence. Real sample text throughout; the reference is the files' own bytes
(sha256 of every file before and after) or a fresh build to another directory."""
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from corpusforge.dataset.reader import read_manifest, verify_dataset
from tests.conftest import ROOT, SAMPLE, build_documents, run_cli

PLAIN = SAMPLE / "plain"
WIKI = SAMPLE / "wiki_zh"


def tree_digest(path) -> dict:
    """Every file under `path` (or the file itself) -> its sha256."""
    path = str(path)
    if os.path.isfile(path):
        return {"": hashlib.sha256(open(path, "rb").read()).hexdigest()}
    return {os.path.relpath(os.path.join(root, n), path): hashlib.sha256(open(os.path.join(root, n), "rb").read())
            .hexdigest() for root, _, names in os.walk(path) for n in names}


def fails(output_text: str, *pieces) -> None:
    lines = [l for l in output_text.strip().splitlines() if l.startswith("Error:")]
    assert len(lines) == 1, output_text
    assert "Traceback" not in output_text
    for piece in pieces:
        assert piece in lines[0], output_text


def attempt(output, *inputs, args=()):
    """build documents, expected to fail."""
    return run_cli("build", "documents", *[x for i in inputs for x in ("--input", i)], "--output", output, *args,
                   ok=False)


def temporaries(parent) -> list[str]:
    return sorted(n for n in os.listdir(parent) if ".incomplete-" in n)


# --- 1. no user data is ever deleted ---------------------------------------------------------------

def test_input_inside_the_output_is_refused_and_the_corpus_is_intact(tmp_path):
    out = tmp_path / "out"
    build_documents(out, PLAIN)
    corpus = out / "corpus"  # the user put the corpus inside an old dataset, then rebuilds over it
    shutil.copytree(WIKI, corpus)
    before = tree_digest(out)
    result = attempt(out, corpus, args=("--overwrite",))
    assert result.exit_code != 0
    fails(result.output, f"input {corpus} is inside the output {out}")
    assert tree_digest(out) == before
    # the same through a symbolic link to the corpus (realpath decides) and for a file of it
    (tmp_path / "link").symlink_to(corpus)
    for given in (tmp_path / "link", corpus / "AA" / "wiki_00"):
        result = attempt(out, given, args=("--overwrite",))
        fails(result.output, "is inside the output")
    assert tree_digest(out) == before


def test_output_inside_the_input_is_refused_before_any_work(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(WIKI, corpus)
    before = tree_digest(corpus)
    for output in (corpus / "out", corpus / "AA" / "deeper" / "out"):
        result = attempt(output, corpus, args=("--overwrite",))
        fails(result.output, f"output {output} is inside the input {corpus}")
    # globs: `**` reaches the output; a one-level glob's files are checked (here: a file inside the output)
    fails(attempt(corpus / "out", f"{corpus}/**").output, f"output {corpus / 'out'} is inside the input {corpus}/**")
    shutil.copy(WIKI / "AA" / "wiki_00", tmp_path / "wiki_00")
    fails(attempt(corpus, f"{tmp_path}/wiki_0[0]", f"{corpus}/AA/wiki_0*", args=("--overwrite",)).output,
          f"input {corpus}/AA/wiki_00 is inside the output {corpus}")
    assert tree_digest(corpus) == before and sorted(os.listdir(corpus)) == ["AA"]
    # the same output with an input beside it is fine
    build_documents(tmp_path / "out", corpus)


def test_overwrite_refuses_a_directory_that_is_not_a_dataset(tmp_path):
    mine = tmp_path / "thesis"
    shutil.copytree(WIKI, mine)
    (mine / "manifest.json").write_text("my notes, not JSON")  # a manifest.json that is not corpusforge's
    before = tree_digest(mine)
    result = attempt(mine, PLAIN, args=("--overwrite",))
    fails(result.output, f"output {mine} is not a corpusforge dataset", "refusing to replace it")
    assert tree_digest(mine) == before
    # a JSON manifest of another tool, or one that lists nothing, is not a corpusforge dataset either
    for manifest in ({"kind": "model", "version": 3}, {"kind": "documents", "corpusforge_version": "0.3.1"}):
        (mine / "manifest.json").write_text(json.dumps(manifest))
        result = attempt(mine, PLAIN, args=("--overwrite",))
        fails(result.output, "is not a corpusforge dataset")
        assert (mine / "AA" / "wiki_00").read_bytes() == (WIKI / "AA" / "wiki_00").read_bytes()


def test_overwrite_refuses_a_dataset_holding_a_file_it_does_not_name(tmp_path):
    out = tmp_path / "out"
    build_documents(out, PLAIN)
    for extra in ("notes.txt", "rejects/my-labels.jsonl", "sub/dir/x"):
        (out / extra).parent.mkdir(parents=True, exist_ok=True)
        (out / extra).write_text("hand-made labels, not corpusforge's")
        before = tree_digest(out)
        result = attempt(out, PLAIN, args=("--overwrite",))
        fails(result.output, f"output {out} holds {extra.split('/')[0] if extra.startswith('sub') else extra}",
              "which its manifest does not name")
        assert tree_digest(out) == before
        shutil.rmtree(out / "sub", ignore_errors=True)
        (out / extra).unlink(missing_ok=True)
    # an empty directory or a symbolic link inside is foreign too (a link is never followed)
    (out / "empty").mkdir()
    fails(attempt(out, PLAIN, args=("--overwrite",)).output, "holds empty")
    (out / "empty").rmdir()
    (out / "link").symlink_to(WIKI)
    fails(attempt(out, PLAIN, args=("--overwrite",)).output, "holds link")
    assert (WIKI / "AA" / "wiki_00").exists()


def test_overwrite_refuses_a_file_and_a_symbolic_link(tmp_path):
    user_file = tmp_path / "wiki_00"
    shutil.copy(WIKI / "AA" / "wiki_00", user_file)
    fails(attempt(user_file, PLAIN, args=("--overwrite",)).output, "is not a directory")
    assert user_file.read_bytes() == (WIKI / "AA" / "wiki_00").read_bytes()
    real = tmp_path / "real"
    build_documents(real, PLAIN)
    before = tree_digest(real)
    link = tmp_path / "link"
    link.symlink_to(real)
    fails(attempt(link, WIKI, args=("--overwrite",)).output, f"output {link} is a symbolic link")
    assert link.is_symlink() and tree_digest(real) == before
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    fails(attempt(dangling, WIKI).output, "already exists; pass --overwrite")


def test_overwrite_replaces_a_real_dataset_with_exactly_a_fresh_build(tmp_path):
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    build_documents(out, PLAIN)
    build_documents(out, PLAIN, args=("--overwrite", "--seed", "7", "--min-chars", "30"))
    build_documents(fresh, PLAIN, args=("--seed", "7", "--min-chars", "30"))
    assert tree_digest(out) == tree_digest(fresh)
    assert read_manifest(out)["seed"] == 7 and verify_dataset(str(out)) == []
    assert temporaries(tmp_path) == []  # the old dataset went with the run's temporary data
    # the other kinds' own files are named in their manifests, so their outputs are replaceable too
    stats = tmp_path / "stats"
    run_cli("build", "stats", "-i", PLAIN, "-o", stats, "--units", "chars")
    assert {"report.md", "summary.json", "rank_frequency.png"} <= set(os.listdir(stats))
    run_cli("build", "stats", "-i", PLAIN, "-o", stats, "--units", "chars", "--zipf-ranks", "2:50", "--overwrite")
    assert read_manifest(stats)["params"]["zipf_ranks"] == [2, 50] and temporaries(tmp_path) == []


def test_a_dataset_changed_during_the_build_is_not_replaced_at_commit(tmp_path):
    """The rule is checked again where the new dataset replaces the old (corpusforge.dataset.writer.commit)."""
    from corpusforge.dataset.writer import UnsafeOutput, commit

    out = tmp_path / "out"
    build_documents(out, PLAIN)
    staged = tmp_path / ".out.incomplete-0123abcd"
    shutil.copytree(out, staged)
    (out / "added-meanwhile.txt").write_text("user data")
    with pytest.raises(UnsafeOutput, match="holds added-meanwhile.txt"):
        commit(str(staged), str(out))
    assert (out / "added-meanwhile.txt").read_text() == "user data"


def test_a_file_added_while_the_build_runs_stops_the_commit_with_one_sentence(tmp_path, monkeypatch):
    import corpusforge.beam.runner as common  # run_job imports make_pipeline from here when it runs

    out = tmp_path / "out"
    build_documents(out, PLAIN)
    before = tree_digest(out)
    make_pipeline = common.make_pipeline

    def user_adds_a_file(options):  # after the checks, before the pipeline's commit
        (out / "added-meanwhile.txt").write_text("user data")
        return make_pipeline(options)

    monkeypatch.setattr(common, "make_pipeline", user_adds_a_file)
    result = attempt(out, WIKI, args=("--overwrite",))
    fails(result.output, f"output {out} holds added-meanwhile.txt, which its manifest does not name")
    assert tree_digest(out) == {**before, "added-meanwhile.txt": hashlib.sha256(b"user data").hexdigest()}
    assert temporaries(tmp_path) == []


# --- 2. one build per output at a time ------------------------------------------------------------

SLOW_BUILD = """
import sys, time
import corpusforge.pipelines.beamjob as common
run_job, delay = common.run_job, float(sys.argv[1])
def slow(job, build):  # a build that is still running while the test tries a second one
    time.sleep(delay)
    return run_job(job, build)
common.run_job = slow
from corpusforge.cli import main
sys.argv = ["corpusforge", *sys.argv[2:]]
main()
"""


def held_locks() -> set:
    """Inodes with a FLOCK in the kernel's table (/proc/locks): what a lock holder holds, seen from outside."""
    # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's line has "->" before FLOCK and holds nothing
    held = re.compile(r"^\d+: FLOCK\s+\S+\s+\S+\s+\d+\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s")
    with open("/proc/locks") as f:
        return {int(m.group(1)) for line in f if (m := held.match(line))}


def test_a_second_build_to_the_same_output_fails_at_once(tmp_path):
    out = tmp_path / "out"
    build_documents(out, PLAIN)
    lock = tmp_path / ".out.lock"
    first = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, "3", "build", "documents", "-i", str(WIKI), "-o",
                              str(out), "--overwrite"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.stat().st_ino in held_locks()):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        stale = tmp_path / ".out.incomplete-feedc0de"  # as if the first run had written temporary data
        stale.mkdir()
        for args in ((), ("--overwrite",)):
            started = time.monotonic()
            result = attempt(out, PLAIN, args=args)
            assert time.monotonic() - started < 5
            fails(result.output, f"output {out} is being built by another corpusforge run")
            assert stale.is_dir()  # the refused build removed nothing of the running one's
        shutil.rmtree(stale, ignore_errors=True)  # (the first run removes it too when it ends)
    finally:
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert read_manifest(out)["params"]["inputs"] == [str(WIKI)] and verify_dataset(str(out)) == []
    assert temporaries(tmp_path) == [] and not lock.exists()  # a run that ends deletes its lock file
    build_documents(out, PLAIN, args=("--overwrite",))  # released when the first ended


def test_temporary_data_of_a_killed_run_is_removed_by_the_next_build(tmp_path):
    out = tmp_path / "out"
    # what `kill -9` of a launcher leaves: its temporary directory with spills and a partial shard, and
    # (killed inside commit) the old dataset moved aside
    killed = tmp_path / ".out.incomplete-5eed1234"
    shutil.copytree(WIKI, killed / "_spill" / "wiki")
    (killed / "data-00000-of-00001.arrow").write_bytes(b"ARROW1\0\0partial")
    shutil.copytree(WIKI, tmp_path / ".out.incomplete-5eed1234-replaced")
    # not this output's: another output's temporary data and user files that merely look alike
    others = [".out2.incomplete-5eed1234", ".out.incomplete-notes", "out.incomplete-5eed1234"]
    for name in others:
        (tmp_path / name).mkdir()
        (tmp_path / name / "keep.txt").write_text("not corpusforge's to delete")
    build_documents(out, PLAIN)
    assert sorted(temporaries(tmp_path)) == sorted(others) and verify_dataset(str(out)) == []


def test_a_failing_build_removes_only_its_own_temporary_data(tmp_path, monkeypatch):
    """Disk full while a shard is written: one sentence, no dataset, no temporary data of its own left;
    another output's running build keeps its temporary directory."""
    import corpusforge.dataset.writer as writer

    other = tmp_path / ".other.incomplete-0ddba11a"  # a build to another output, running beside this one
    shutil.copytree(WIKI, other)
    create = writer.create

    def full_disk(path):
        if path.endswith(".arrow") and "_spill" not in path:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return create(path)

    monkeypatch.setattr(writer, "create", full_disk)
    out = tmp_path / "out"
    result = attempt(out, WIKI)
    assert result.exit_code == 1
    fails(result.output, f"cannot write {out}: the disk is full (No space left on device)")
    assert not out.exists() and temporaries(tmp_path) == [other.name] and tree_digest(other) == tree_digest(WIKI)


# --- 6. one sentence, before any work -------------------------------------------------------------

def cli(*args):
    return subprocess.run([sys.executable, "-m", "corpusforge.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)


@pytest.mark.parametrize("output, message", [
    ("", "--output is empty"),
    ("/proc/corpusforge-out", "output /proc/corpusforge-out cannot be created in /proc"),
    ("/sys/corpusforge-out", "output /sys/corpusforge-out cannot be created in /sys"),
    ("{file}/out", "cannot be created: {file} is a file, not a directory"),
    ("{file}/a/b", "cannot be created: {file} is a file, not a directory"),
])
def test_an_impossible_output_is_one_sentence(tmp_path, output, message):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("mine")
    result = run_cli("build", "documents", "-i", PLAIN, "-o", output.format(file=user_file), ok=False)
    assert result.exit_code != 0
    fails(result.output, message.format(file=user_file))
    assert os.listdir(tmp_path) == ["notes.txt"] and user_file.read_text() == "mine"


def test_cli_errors_in_a_subprocess_have_no_traceback(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_bytes(b'{"kind": "documents", "rows": 3')  # cut off: not JSON
    cases = [
        (("build", "documents", "-i", PLAIN, "-o", tmp_path / "x", "--runner=NoSuchRunner"),
         "--runner NoSuchRunner is not an Apache Beam runner"),
        (("build", "documents", "-i", PLAIN, "-o", "/proc/x"), "cannot be created in /proc"),
        (("inspect", bad), f"{bad} is not a corpusforge dataset: its manifest.json is not JSON"),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        fails(result.stderr, message)
    assert not (tmp_path / "x").exists()
    # the same sentences in-process (click's runner re-raises any exception: catch_exceptions=False)
    fails(run_cli("verify", bad, ok=False).output, f"{bad} is not a corpusforge dataset: its manifest.json is not JSON")
    fails(attempt(bad, PLAIN, args=("--overwrite",)).output, "is not a corpusforge dataset")
    fails(run_cli("build", "documents", "-i", PLAIN, "-o", tmp_path / "x", "--runner=pkg.NoRunner", ok=False).output,
          "--runner pkg.NoRunner is not an Apache Beam runner (No module named 'pkg')")
    (bad / "manifest.json").write_text("[1, 2]")
    for command in ("inspect", "verify"):
        fails(run_cli(command, bad, ok=False).output, "its manifest.json is not a JSON object")


def test_export_replaces_only_its_own_file_and_never_writes_into_the_dataset(tmp_path):
    matrix = tmp_path / "matrix"
    run_cli("build", "cooccurrence", "-i", PLAIN, "-o", matrix, "--units", "chars", "--min-count", "1")
    before = tree_digest(matrix)
    fails(run_cli("export", "cooccurrence", matrix, "-o", matrix / "cooccurrence.bin", ok=False).output,
          "is inside the dataset")
    fails(run_cli("export", "cooccurrence", matrix, "-o", tmp_path, ok=False).output, "is not a regular file")
    notes = tmp_path / "notes.bin"
    notes.write_bytes(b"mine")
    fails(run_cli("export", "cooccurrence", matrix, "-o", notes, ok=False).output, "pass --overwrite")
    assert notes.read_bytes() == b"mine" and tree_digest(matrix) == before
    run_cli("export", "cooccurrence", matrix, "-o", notes, "--overwrite")
    records = os.path.getsize(notes) // 16
    assert records == read_manifest(matrix)["nnz"] > 0 and temporaries(tmp_path) == []


def test_an_object_store_output_is_replaced_only_when_it_is_a_dataset():
    """mem:// (tests/memfs.py) stands for gs:// and s3://: no flock there, but the same overwrite rule,
    and a prefix holding anything at all counts as existing."""
    from tests import memfs

    bucket = "mem://paths-bucket"
    for p in PLAIN.iterdir():
        memfs.STORE[f"{bucket}/corpus/{p.name}"] = p.read_bytes()
    mine = {f"{bucket}/mine/draft.txt": b"my draft", f"{bucket}/mine/sub/notes.md": b"notes"}
    memfs.STORE.update(mine)
    try:
        fails(attempt(f"{bucket}/mine", f"{bucket}/corpus/").output, "already exists; pass --overwrite")
        fails(attempt(f"{bucket}/mine", f"{bucket}/corpus/", args=("--overwrite",)).output,
              "is not a corpusforge dataset")
        build_documents(f"{bucket}/docs", f"{bucket}/corpus/")
        memfs.STORE[f"{bucket}/docs/labels.jsonl"] = b"{}"
        fails(attempt(f"{bucket}/docs", f"{bucket}/corpus/", args=("--overwrite",)).output,
              "holds labels.jsonl, which its manifest does not name")
        del memfs.STORE[f"{bucket}/docs/labels.jsonl"]
        build_documents(f"{bucket}/docs", f"{bucket}/corpus/", args=("--overwrite", "--seed", "3"))
        assert json.loads(memfs.STORE[f"{bucket}/docs/manifest.json"])["seed"] == 3
        assert all(memfs.STORE[k] == v for k, v in mine.items())
    finally:
        for key in [k for k in memfs.STORE if k.startswith(bucket)]:
            del memfs.STORE[key]


def test_every_kind_of_output_is_a_replaceable_dataset_and_only_that(tmp_path):
    """Each kind's own files (a vocab's vocab.txt and tokenizer.json, an LM's model.arpa, ...) are named in
    its manifest, so --overwrite replaces every kind corpusforge writes, and nothing with a file added."""
    from corpusforge.dataset.writer import replace_problem

    steps = [
        ("vocab", "-i", PLAIN, "-m", "wordpiece", "--vocab-size", "800"),
        ("tokenized", "-i", PLAIN, "-t", tmp_path / "vocab" / "vocab.txt"),
        ("pretraining", "-i", tmp_path / "tokenized", "--max-seq-length", "64"),
        ("ngrams", "-i", PLAIN, "--order", "2"),
        ("lm", "-i", tmp_path / "ngrams", "--discount-fallback"),
    ]
    for kind, *args in steps:
        run_cli("build", kind, *args, "-o", tmp_path / kind)
        assert replace_problem(str(tmp_path / kind)) is None, kind
        assert read_manifest(tmp_path / kind)["kind"] == kind
    assert {"vocab.txt", "tokenizer.json"} <= set(os.listdir(tmp_path / "vocab"))
    # any file a command reads counts as an input: here the tokenizer, inside the output to be replaced
    before = tree_digest(tmp_path / "vocab")
    fails(run_cli("build", "tokenized", "-i", PLAIN, "-t", tmp_path / "vocab" / "vocab.txt", "-o", tmp_path / "vocab",
                  "--overwrite", ok=False).output, f"input {tmp_path / 'vocab' / 'vocab.txt'} is inside the output")
    fails(run_cli("build", "lm", "-i", tmp_path / "ngrams", "-o", tmp_path / "ngrams" / "lm", ok=False).output,
          "is inside the input")
    assert tree_digest(tmp_path / "vocab") == before and not (tmp_path / "ngrams" / "lm").exists()
    (tmp_path / "lm" / "model.binary").write_bytes(b"a KenLM binary the user made")
    for kind in ("vocab", "lm"):  # the launcher-side commits
        (tmp_path / kind / "README").write_text("mine")
        args = next(s[1:] for s in steps if s[0] == kind)
        fails(run_cli("build", kind, *args, "-o", tmp_path / kind, "--overwrite", ok=False).output,
              f"output {tmp_path / kind} holds", "which its manifest does not name")
        (tmp_path / kind / "README").unlink()
    (tmp_path / "lm" / "model.binary").unlink()
    run_cli("build", "lm", "-i", tmp_path / "ngrams", "--discount-fallback", "-s", "witten-bell", "-o", tmp_path / "lm",
            "--overwrite")
    assert read_manifest(tmp_path / "lm")["params"]["smoothing"] == "witten-bell" and temporaries(tmp_path) == []
