"""--resume: a build killed with SIGKILL (the launcher and its in-process workers: a lost machine) is
resumed into the dataset an undisturbed build makes, byte for byte, reusing what the killed run finished;
a resume with other inputs or options is refused with one sentence and deletes nothing."""
import hashlib
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import DATA, ROOT, SAMPLE, VOCAB, run_cli

PRETRAINING = ("build", "pretraining", "--input", SAMPLE / "wiki_zh", "--tokenizer", VOCAB, "--num-shards", "4",
               "--max-seq-length", "64", "--max-predictions-per-seq", "10")


def digests(out) -> dict:
    """Every file of a dataset by its path inside it: sha256."""
    found = {}
    for parent, _, names in os.walk(out):
        for name in names:
            with open(os.path.join(parent, name), "rb") as f:
                found[os.path.relpath(os.path.join(parent, name), out)] = hashlib.sha256(f.read()).hexdigest()
    return found


def killed(tmp_path, out, args, after: str) -> str:
    """Runs the build in a subprocess that SIGKILLs itself when the marker `after` (STAGE:N) is written;
    returns the temporary directory it left."""
    faults = tmp_path / f"faults-{out.name}"
    faults.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CORPUSFORGE_KILL_AFTER": after, "CORPUSFORGE_FAIL_DIR": str(faults)}
    run = subprocess.run([sys.executable, "-m", "corpusforge.cli", *map(str, args), "--output", str(out)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == -signal.SIGKILL, run.stderr[-2000:]
    assert not out.exists()
    left = [p for p in os.listdir(out.parent) if p.startswith(f".{out.name}.incomplete-")]
    assert len(left) == 1
    return str(out.parent / left[0])


def inode(path) -> int:
    return os.stat(path).st_ino


def test_pretraining_killed_after_two_shards_resumes_byte_identical(tmp_path):
    run_cli(*PRETRAINING, "--output", tmp_path / "undisturbed")
    out = tmp_path / "out"
    tmp = killed(tmp_path, out, PRETRAINING, "shards:2")
    done = sorted(f for f in os.listdir(tmp) if f.endswith(".arrow"))
    assert len(done) == 2  # two of the four shards were finished when the build was killed
    kept = {f: inode(f"{tmp}/{f}") for f in done}
    result = run_cli(*PRETRAINING, "--output", out, "--resume")
    assert digests(out) == digests(tmp_path / "undisturbed")
    assert {f: inode(out / f) for f in done} == kept  # reused, not merged again
    assert "read 180 = kept 180" in result.output
    assert not [p for p in os.listdir(tmp_path) if ".incomplete-" in p]


def test_pretraining_killed_among_the_buckets_resumes_byte_identical(tmp_path):
    run_cli(*PRETRAINING, "--output", tmp_path / "undisturbed")
    out = tmp_path / "out"
    tmp = killed(tmp_path, out, PRETRAINING, "buckets:1")
    assert len(os.listdir(f"{tmp}/_done/buckets")) == 1  # one of the two buckets was finished
    run_cli(*PRETRAINING, "--output", out, "--resume")
    assert digests(out) == digests(tmp_path / "undisturbed")


def test_pretraining_from_a_tokenized_dataset_killed_among_the_buckets_resumes_byte_identical(tmp_path,
                                                                                          sample_tokenized):
    args = ("build", "pretraining", "--input", sample_tokenized, "--num-shards", "2", "--mode", "sop",
            "--max-seq-length", "64", "--max-predictions-per-seq", "10")
    run_cli(*args, "--output", tmp_path / "undisturbed")
    out = tmp_path / "out"
    killed(tmp_path, out, args, "buckets:1")
    run_cli(*args, "--output", out, "--resume")
    assert digests(out) == digests(tmp_path / "undisturbed")


def test_documents_killed_after_one_shard_resumes_byte_identical(tmp_path):
    args = ("build", "documents", "--input", SAMPLE, "--num-shards", "3")
    run_cli(*args, "--output", tmp_path / "undisturbed")
    out = tmp_path / "out"
    killed(tmp_path, out, args, "shards:1")
    run_cli(*args, "--output", out, "--resume")
    assert digests(out) == digests(tmp_path / "undisturbed")


def test_a_resume_with_other_options_or_inputs_is_refused_and_deletes_nothing(tmp_path):
    corpus = tmp_path / "wiki"
    shutil.copytree(SAMPLE / "wiki_zh", corpus)
    args = [str(a) for a in PRETRAINING]
    args[args.index(str(SAMPLE / "wiki_zh"))] = str(corpus)
    out = tmp_path / "out"
    tmp = killed(tmp_path, out, args, "shards:1")
    before = digests(tmp)

    result = run_cli(*args, "--seed", "7", "--output", out, "--resume", ok=False)
    assert result.exit_code == 1
    assert result.output == (f"Error: cannot resume {out}: the interrupted build had other inputs or options "
                             "(--seed differ); run it again without --resume\n")

    first = next(p for p in corpus.rglob("*") if p.is_file())
    with open(first, "a", encoding="utf-8") as f:  # the same options, an input that changed since
        f.write('{"id": "9", "url": "", "title": "t", "text": "新加的一行。"}\n')
    result = run_cli(*args, "--output", out, "--resume", ok=False)
    assert result.output.startswith(f"Error: cannot resume {out}: the interrupted build had other inputs or "
                                    "options (input files differ)")
    assert digests(tmp) == before  # the killed run's work is kept for a resume with its own inputs


def test_resume_with_nothing_to_resume_builds_from_the_start(tmp_path):
    args = ("build", "documents", "--input", SAMPLE / "plain", "--num-shards", "2")
    run_cli(*args, "--output", tmp_path / "undisturbed")
    run_cli(*args, "--output", tmp_path / "out", "--resume")
    assert digests(tmp_path / "out") == digests(tmp_path / "undisturbed")


def shard_inodes(directory) -> dict:
    return {f: inode(f"{directory}/{f}") for f in os.listdir(directory) if f.startswith("data-")}


def markers(tmp, stage) -> int:
    """How many completion markers of `stage` the killed run left."""
    path = f"{tmp}/_done/{stage}"
    return len(os.listdir(path)) if os.path.isdir(path) else 0


NGRAMS = ("build", "ngrams", "--input", SAMPLE / "wiki_zh", "--order", "3", "--num-shards", "3")


def test_ngrams_killed_after_one_shard_resumes_byte_identical_reading_nothing_again(tmp_path, caplog):
    run_cli(*NGRAMS, "--output", tmp_path / "undisturbed")
    out = tmp_path / "out"
    tmp = killed(tmp_path, out, NGRAMS, "shards:1")
    # counted, every range merged, one of three shards written when the build was killed
    assert (markers(tmp, "count-inputs"), markers(tmp, "ranges"), markers(tmp, "shards")) == (1, 3, 1)
    kept = shard_inodes(tmp)
    assert len(kept) == 1

    before = digests(tmp)
    refused = run_cli(*NGRAMS, "--order", "2", "--output", out, "--resume", ok=False)
    assert refused.output == (f"Error: cannot resume {out}: the interrupted build had other inputs or options "
                              "(--min-count, --order differ); run it again without --resume\n")
    assert digests(tmp) == before

    run_cli(*NGRAMS, "--output", out, "--resume")
    assert digests(out) == digests(tmp_path / "undisturbed")
    assert {f: inode(out / f) for f in kept} == kept  # the finished shard is reused, not written again
    assert "resume: count-inputs reused" in caplog.text  # and the corpus was not read and counted again


@pytest.mark.parametrize("args, inputs", [
    (("build", "stats", "--input", SAMPLE / "wiki_zh", "--num-shards", "3", "--name", "wiki"), "count-inputs"),
    (("build", "cooccurrence", "--input", SAMPLE / "news2016zh", "--num-shards", "2", "--window", "5"),
     "matrix-inputs")], ids=["stats", "cooccurrence"])
def test_stats_and_cooccurrence_killed_after_one_shard_resume_byte_identical(tmp_path, caplog, args, inputs):
    run_cli(*args, "--output", tmp_path / "undisturbed")
    out = tmp_path / "out"
    tmp = killed(tmp_path, out, args, "shards:1")
    assert (markers(tmp, inputs), markers(tmp, "shards")) == (1, 1)  # counted; one shard written
    kept = shard_inodes(tmp)
    run_cli(*args, "--output", out, "--resume")
    assert digests(out) == digests(tmp_path / "undisturbed")  # stats: report, plots and summary included
    assert {f: inode(out / f) for f in kept} == kept
    assert f"resume: {inputs} reused" in caplog.text


@pytest.mark.parametrize("after, reused", [("sample:1", "the sample the killed build drew is reused"),
                                           ("trained:1", "the vocabulary the killed build trained is reused")])
def test_vocab_killed_after_the_sample_or_the_training_resumes_byte_identical(tmp_path, caplog, after, reused):
    args = ("build", "vocab", "--input", DATA / "text", "--model", "wordpiece", "--vocab-size", "3000")
    run_cli(*args, "--output", tmp_path / "undisturbed")
    out = tmp_path / "out"
    tmp = killed(tmp_path, out, args, after)
    before = digests(tmp)
    refused = run_cli(*args, "--vocab-size", "3500", "--output", out, "--resume", ok=False)
    assert refused.output.startswith(f"Error: cannot resume {out}: the interrupted build had other inputs or "
                                     "options (--vocab-size differ)")
    assert digests(tmp) == before
    run_cli(*args, "--output", out, "--resume")
    assert digests(out) == digests(tmp_path / "undisturbed")
    assert reused in caplog.text
