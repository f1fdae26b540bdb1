"""Retry safety: every stage of every pipeline may run twice on the same input (Dataflow and Flink rerun
failed bundles) and the dataset stays byte-identical.

The in-process FnApiRunner never retries a bundle, so `Retries` makes it behave like one that does: each
bundle of the stages below is run again on the same elements (a fresh start_bundle each time, an earlier
attempt's outputs discarded, as a runner discards a failed attempt's). With CORPUSFORGE_FAIL_ONCE naming
every stage, each stage's first attempt fails part way, after writing some of its files (the switch in
corpusforge.beam.sink.fail_point); then every bundle runs twice to the end and both attempts must give
the same outputs: the same elements, files of the same bytes.
"""
import hashlib
import os

import pytest
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.windowed_value import WindowedValue

from corpusforge.beam import cooccurrence, instances, ngrams, sample, sink, wordstats
from tests.conftest import DATA, SAMPLE, VOCAB, run_cli

STAGES = [sink.SpillRows, sink.MergeShard, sink.Finalize, instances.SpillTokenizedShard, instances.BuildBucket,
          cooccurrence.SegmentDocuments, cooccurrence.WriteVocab, cooccurrence.CountCooccurrences,
          cooccurrence.MergeMatrixRange, cooccurrence.WriteMatrixShard, cooccurrence.FinalizeMatrix,
          ngrams.CountNgrams, ngrams.SplitWindows, ngrams.MergeWindows, ngrams.WriteCountShards, ngrams.FinalizeCounts,
          wordstats.CountWords, wordstats.MergeRange, sample.WriteSample]


def files(out) -> dict:
    """sha256 of every file under a dataset directory, by relative path."""
    return {os.path.relpath(os.path.join(d, n), out): hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest()
            for d, _, names in os.walk(out) for n in names}


def canonical(value):
    """An output with each path of an existing file replaced by its content's hash: a spill's name is fresh per
    attempt, its bytes must not be."""
    if isinstance(value, WindowedValue):
        return canonical(value.value)
    if isinstance(value, pvalue.TaggedOutput):
        return value.tag, canonical(value.value)
    if isinstance(value, dict):
        return sorted((k, canonical(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, str) and os.path.isfile(value):
        with open(value, "rb") as f:
            return "file", hashlib.sha256(f.read()).hexdigest()
    return value


def windowed(out):
    if isinstance(out, WindowedValue):
        return out
    if isinstance(out, pvalue.TaggedOutput):
        return pvalue.TaggedOutput(out.tag, windowed(out.value))
    return GlobalWindows.windowed_value(out)


def retrying(cls, attempts: list):
    """cls's bundles deferred to finish_bundle and run there as a retrying runner would: an attempt the fault
    switch fails part way, then two whole attempts, which must give the same outputs."""
    start, process, finish = cls.start_bundle, cls.process, cls.finish_bundle

    def run(self):
        start(self)
        out = [o for args in self._elements for o in (process(self, *args) or ())]
        return out + list(finish(self) or ())

    def deferred_start(self):
        self._elements = []

    def deferred_process(self, element, *side_inputs):
        self._elements.append((element, *side_inputs))

    def deferred_finish(self):
        try:
            first = canonical(run(self))
        except sink.InjectedFault:  # the fault fired part way: one more attempt to compare with
            first = canonical(run(self))
        out = run(self)
        assert canonical(out) == first, f"{cls.__name__}: a second attempt gave other outputs"
        attempts.append(cls.__name__)
        for o in out:
            yield windowed(o)

    return {"start_bundle": deferred_start, "process": deferred_process, "finish_bundle": deferred_finish}


class Retries:
    """enable(): every stage fails once part way (CORPUSFORGE_FAIL_ONCE) and every bundle runs twice."""

    STAGES = ["spill_rows", "merge_shard", "finalize", "spill_tokenized_shard", "build_bucket", "segment_documents",
              "write_vocab", "count_cooccurrences", "merge_matrix_range", "write_matrix_shard", "count_partials",
              "split_windows", "merge_windows", "write_count_shards", "merge_range", "write_sample"]

    def __init__(self, monkeypatch, fail_dir):
        self.monkeypatch, self.fail_dir, self.attempts = monkeypatch, fail_dir, None

    def enable(self):
        self.fail_dir.mkdir(exist_ok=True)
        for stage in os.listdir(self.fail_dir):  # a new build: every stage fails once again
            os.remove(self.fail_dir / stage)
        self.monkeypatch.setenv(sink.FAIL_ONCE, ",".join(self.STAGES))
        self.monkeypatch.setenv(sink.FAIL_DIR, str(self.fail_dir))
        if self.attempts is not None:  # patched already
            return
        self.attempts = []
        for cls in STAGES:
            for name, method in retrying(cls, self.attempts).items():
                self.monkeypatch.setattr(cls, name, method)

    def failed(self) -> list[str]:
        return sorted(os.listdir(self.fail_dir))

    def ran(self) -> set[str]:
        return set(self.attempts or ())


@pytest.fixture
def retries(monkeypatch, tmp_path):
    return Retries(monkeypatch, tmp_path / "faults")


def build(out, *args) -> dict:
    run_cli(*args, "--output", out)
    assert not [p for p in os.listdir(out.parent) if ".incomplete-" in p or ".stats-" in p]  # nothing left behind
    return files(out)


def test_documents_and_tokenized(tmp_path, sample_dataset, sample_tokenized, retries):
    retries.enable()
    assert build(tmp_path / "documents", "build", "documents", "--input", SAMPLE) == files(sample_dataset)
    assert retries.failed() == ["finalize", "merge_shard", "spill_rows"]
    assert {"SpillRows", "MergeShard", "Finalize"} <= retries.ran()
    retries.enable()
    assert build(tmp_path / "tokenized", "build", "tokenized", "--input", sample_dataset, "--tokenizer",
                 VOCAB) == files(sample_tokenized)
    assert retries.failed() == ["finalize", "merge_shard", "spill_rows"]


def test_pretraining_from_tokenized_and_from_raw_text(tmp_path, sample_tokenized, sample_nsp64, retries):
    args = ("--mode", "nsp", "--max-seq-length", "64", "--max-predictions-per-seq", "10")
    raw = ("build", "pretraining", "--input", SAMPLE / "wiki_zh", "--tokenizer", VOCAB, "--num-shards", "2", *args)
    reference = build(tmp_path / "raw", *raw)
    retries.enable()
    assert build(tmp_path / "retried", "build", "pretraining", "--input", sample_tokenized,
                 *args) == files(sample_nsp64)
    assert retries.failed() == ["build_bucket", "finalize", "merge_shard", "spill_tokenized_shard"]
    retries.enable()
    assert build(tmp_path / "raw-retried", *raw) == reference
    assert retries.failed() == ["build_bucket", "finalize", "merge_shard", "spill_rows"]


def test_cooccurrence_with_merge_rounds(tmp_path, retries, monkeypatch):
    monkeypatch.setattr(cooccurrence, "MERGE_FAN_IN", 8)  # many spills (--memory-mb 1) merged in rounds
    news = SAMPLE / "news2016zh" / "news2016zh_valid.json"
    args = ("build", "cooccurrence", "--input", news, "--num-shards", "1", "--memory-mb", "1")
    reference = build(tmp_path / "undisturbed", *args)
    retries.enable()
    assert build(tmp_path / "retried", *args) == reference
    assert retries.failed() == ["count_cooccurrences", "finalize", "merge_matrix_range", "merge_shard",
                                "segment_documents", "write_matrix_shard", "write_vocab"]


def test_ngrams_stats_and_vocab(tmp_path, retries):
    builds = {"ngrams": ("build", "ngrams", "--input", DATA / "text", "--order", "3", "--num-shards", "2"),
              "stats": ("build", "stats", "--input", DATA / "text", "--num-shards", "2", "--name", "text"),
              "vocab": ("build", "vocab", "--input", DATA / "text", "--model", "wordpiece", "--vocab-size", "3000")}
    reference = {kind: build(tmp_path / kind, *args) for kind, args in builds.items()}
    expected = {"ngrams": ["count_partials", "finalize", "merge_shard", "merge_windows", "split_windows",
                           "write_count_shards"],
                "stats": ["count_partials", "finalize", "merge_range", "merge_shard"],
                "vocab": ["merge_shard", "write_sample"]}
    for kind, args in builds.items():
        retries.enable()
        assert build(tmp_path / f"{kind}-retried", *args) == reference[kind], kind
        assert retries.failed() == expected[kind], kind


def test_the_switch_fails_a_real_worker_once(tmp_path, monkeypatch):
    """Without the emulation: the switch fails a merge in one of two worker processes (the FnApiRunner does not
    retry, so the build fails and leaves nothing); the marker holds "once" across processes, so the same command
    then builds the same bytes (the marker was made by a worker process: the launcher's run passes)."""
    wiki = SAMPLE / "wiki_zh" / "AA" / "wiki_00"
    reference = build(tmp_path / "undisturbed", "build", "documents", "--input", wiki, "--num-shards", "2")
    (tmp_path / "faults").mkdir()
    monkeypatch.setenv(sink.FAIL_ONCE, "merge_shard")
    monkeypatch.setenv(sink.FAIL_DIR, str(tmp_path / "faults"))
    args = ("build", "documents", "--input", wiki, "--num-shards", "2")
    with pytest.raises(Exception, match="CORPUSFORGE_FAIL_ONCE: merge_shard fails once"):
        run_cli(*args, "--output", tmp_path / "out", "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert os.listdir(tmp_path / "faults") == ["merge_shard"]
    assert sorted(os.listdir(tmp_path)) == ["faults", "undisturbed"]
    assert build(tmp_path / "out", *args) == reference


@pytest.mark.parametrize("args", [
    ("build", "pretraining", "--input", SAMPLE / "wiki_zh" / "AA" / "wiki_00", "--tokenizer", VOCAB),
    ("build", "ngrams", "--input", DATA / "text", "--order", "3"),
], ids=["pretraining", "ngrams"])
def test_runner_statistics_stay_out_of_the_dataset(tmp_path, args):
    """Every file, the manifest included, is byte-identical on one worker and on two processes (which bundle
    and spill differently: spill counts and bundle sizes are Beam metrics, never dataset bytes)."""
    one = build(tmp_path / "one", *args, "--num-shards", "2")
    two = build(tmp_path / "two", *args, "--num-shards", "2", "--direct_num_workers=2",
                "--direct_running_mode=multi_processing")
    assert "manifest.json" in one and one == two
