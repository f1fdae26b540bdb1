"""Beam steps of `build vocab`: a deterministic sample of sentences, whatever the runner.

Every sentence gets a seeded hash of (its document's key, its index); a combiner keeps the N
smallest keys, never holding more than 2N sentences per worker; the sample, in key order, goes
to a file for the launcher's trainer (pipelines/vocab.py).
"""
from __future__ import annotations

import hashlib

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems

from corpusforge.beam.counting import COUNTS, CountingDoFn, MergeCounts, ThroughputLog
from corpusforge.beam.read import ReadDocuments
from corpusforge.beam.sink import GROUP_BYTES, KEY, WriteRejects, fail_point
from corpusforge.dataset.writer import write_json

SAMPLE_FILE, SAMPLE_INFO = "_spill/sample.txt", "_spill/sample.json"  # intermediate: removed before the commit
SAMPLE_STAGE = "sample"  # the completion marker of the sample files (resume)
DOCS = "docs"


def sample_key(seed: int, doc_key: bytes, index: int) -> bytes:
    """The sampling key of a document's index-th sentence: seeded, and a function of the document's content
    key only (with --dedup, equal documents have equal keys, so their sentences collapse in the sample)."""
    return hashlib.blake2b(doc_key[:GROUP_BYTES] + index.to_bytes(4, "big"), digest_size=16,
                           key=f"vocab-sample:{seed}".encode()[:64]).digest()


def smallest_distinct(items, n: int) -> list:
    """The n smallest distinct items, sorted."""
    out, last = [], None
    for item in sorted(items):
        if item != last:
            out.append(item)
            last = item
            if len(out) == n:
                break
    return out


class SmallestSentences(beam.CombineFn):
    """(key, sentence) -> the n with the smallest keys, duplicates once; partial results per bundle.

    The accumulator is (items, bound): items are compacted to the n smallest whenever they reach 2n,
    and once n are held, anything not below the n-th smallest (bound) is dropped on arrival. Memory is
    at most 2n sentences per accumulator, whatever the corpus size.
    """

    def __init__(self, n: int):
        self.n = n

    def create_accumulator(self):
        return [], None

    def _compact(self, items):
        items = smallest_distinct(items, self.n)
        return items, (items[-1] if len(items) == self.n else None)

    def add_input(self, acc, item):
        items, bound = acc
        if bound is not None and item >= bound:
            return acc
        items.append(item)
        if len(items) >= 2 * self.n + 64:
            return self._compact(items)
        return items, bound

    def merge_accumulators(self, accs):
        merged = []
        for items, _ in accs:  # folded, so a merge of many accumulators still holds at most ~3n
            merged.extend(items)
            if len(merged) >= 2 * self.n + 64:
                merged = smallest_distinct(merged, self.n)
        return self._compact(merged)

    def compact(self, acc):
        return self._compact(acc[0])

    def extract_output(self, acc):
        return smallest_distinct(acc[0], self.n)


class KeySentences(CountingDoFn):
    """A document row -> (sample key, sentence) per non-empty sentence; (content key, sentences) on "docs"."""

    def __init__(self, seed: int):
        self.seed = seed

    def setup(self):
        self.progress = ThroughputLog("sample")

    def process(self, row):
        self.count("documents")
        doc_key, n = row[KEY][:GROUP_BYTES], 0
        for i, sentence in enumerate(row["sentences"]):
            sentence = sentence.replace("\r", " ").replace("\n", " ")  # one sentence per line in the sample file
            if sentence.strip():
                n += 1
                yield sample_key(self.seed, doc_key, i), sentence
        self.progress.add(1, sum(map(len, row["sentences"])))
        yield pvalue.TaggedOutput(DOCS, (doc_key, n))


class WriteSample(beam.DoFn):
    """The sample (sorted by key) -> sample.txt, and sample.json with the counts the launcher needs."""

    def __init__(self, directory: str, markers=None):
        """markers (resume.Markers): the sample files and the rejects get a completion marker (SAMPLE_STAGE), so a
        resumed build trains on them without reading the input again."""
        self.directory, self.markers = directory, markers

    def process(self, sample: list, counts: dict, rejects: list):
        digest, chars = hashlib.sha256(), 0
        with FileSystems.create(f"{self.directory}/{SAMPLE_FILE}") as f:
            for start in range(0, len(sample), 10_000):
                sentences = [s for _, s in sample[start:start + 10_000]]
                chars += sum(map(len, sentences))
                data = "".join(s + "\n" for s in sentences).encode("utf-8")
                digest.update(data)
                f.write(data)
        fail_point("write_sample")
        rejects = sorted(({k: v for k, v in r.items() if k != "duplicates"} for r in rejects), key=lambda r: r["file"])
        write_json(f"{self.directory}/{SAMPLE_INFO}", {
            "sentences": len(sample), "characters": chars, "sha256": digest.hexdigest(), "counts": counts,
            "rejects": rejects})
        if self.markers:
            self.markers.write(SAMPLE_STAGE, 0, [SAMPLE_FILE, SAMPLE_INFO, *(r["file"] for r in rejects)])
        yield len(sample)


def build_sample(pipeline, source, directory: str, sample_sentences: int, seed: int, markers=None):
    """ReadDocuments -> KeySentences -> SmallestSentences -> WriteSample (plus counts and rejects)."""
    docs = pipeline | "ReadDocuments" >> ReadDocuments(source)
    keyed = docs["rows"] | "KeySentences" >> beam.ParDo(KeySentences(seed)).with_outputs(COUNTS, DOCS,
                                                                                        main="sentences")
    sample = keyed.sentences | "SmallestKeys" >> beam.CombineGlobally(SmallestSentences(sample_sentences))
    # kept documents and sentences, each distinct document once (with --dedup, equal content = equal key)
    distinct = (keyed[DOCS]
                | "DistinctDocuments" >> beam.CombinePerKey(max)
                | "KeptCounts" >> beam.Map(lambda kv: {"kept": 1, "kept_sentences": kv[1]}))
    counts = ((docs["counts"], keyed[COUNTS], distinct)
              | "AllCounts" >> beam.Flatten()
              | "MergeCounts" >> beam.CombineGlobally(MergeCounts()))
    rejects = docs["rejects"] | "WriteRejects" >> WriteRejects(directory, markers)
    return sample | "WriteSample" >> beam.ParDo(WriteSample(directory, markers), pvalue.AsSingleton(counts),
                                                 pvalue.AsList(rejects))
