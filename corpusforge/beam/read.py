"""ReadCorpus: input files -> Documents (main output) and Rejects, read in parallel splits."""
from __future__ import annotations

from dataclasses import dataclass, field

import apache_beam as beam
import pyarrow as pa
from apache_beam import pvalue
from apache_beam.io.filesystems import FileSystems

from corpusforge.beam.counting import COUNTS, CountingDoFn, ThroughputLog
from corpusforge.beam.prepare import PrepareDocuments, PrepareOptions
from corpusforge.beam.sink import KEY, seeded_key
from corpusforge.dataset.reader import dataset_file, read_manifest
from corpusforge.text import content_hash
from corpusforge.sources.files import InputFile
from corpusforge.sources.formats import ReadOptions, Reject, plan_splits, read_split

REJECTS = "rejects"


def reject(dofn: CountingDoFn, item: Reject):
    """Counts a rejected record as read and rejected; routes it to the rejects output."""
    dofn.count("read")
    dofn.count("rejected:" + item.reason)
    return pvalue.TaggedOutput(REJECTS, item)


class PlanSplits(CountingDoFn):
    """A file -> its splits (byte ranges, zip members, row groups); unreadable files are rejects."""

    def __init__(self, opts: ReadOptions):
        self.opts = opts

    def process(self, file: InputFile):
        for item in plan_splits(file, self.opts):
            yield reject(self, item) if isinstance(item, Reject) else item


class ReadSplits(CountingDoFn):
    """A split -> Documents, and Rejects for every record that cannot be read."""

    def __init__(self, opts: ReadOptions):
        self.opts = opts

    def setup(self):
        self.progress = ThroughputLog("read", feeds_progress=True)

    def process(self, split):
        for item in read_split(split, self.opts):
            if isinstance(item, Reject):
                yield reject(self, item)
            else:
                self.count("read")
                self.progress.add(1, len(item.text))
                yield item
        self.progress.add(0, done=split_bytes(split))


def split_bytes(split) -> int:
    """The input bytes a split covers, for the progress line: its byte range, or its whole file (a compressed
    stream). A zip member's or a parquet row group's share of its file is not known: 0 (the line ends at 100%)."""
    if split.member or split.fmt == "parquet" and split.index >= 0:
        return 0
    return (split.file.size if split.end == -1 else split.end) - split.start


class ReadCorpus(beam.PTransform):
    """Returns a dict of PCollections: documents, rejects, counts."""

    def __init__(self, files: list[InputFile], opts: ReadOptions):
        super().__init__()
        self.files, self.opts = files, opts

    def expand(self, pbegin):
        planned = (
            pbegin
            | "ListFiles" >> beam.Create(self.files)
            # break fusion: without it one worker would read every file
            | "SpreadFiles" >> beam.Reshuffle()
            | "PlanSplits" >> beam.ParDo(PlanSplits(self.opts)).with_outputs(REJECTS, COUNTS, main="splits")
        )
        read = (
            planned.splits
            | "SpreadSplits" >> beam.Reshuffle()
            | "ReadSplits" >> beam.ParDo(ReadSplits(self.opts)).with_outputs(REJECTS, COUNTS, main="documents")
        )
        return {
            "documents": read.documents,
            "rejects": (planned.rejects, read.rejects) | "AllRejects" >> beam.Flatten(),
            "counts": (planned.counts, read.counts) | "ReadCounts" >> beam.Flatten(),
        }


@dataclass(frozen=True)
class DocumentInput:
    """Where documents come from: raw files (read and prepared here) or finished documents datasets."""

    files: list = field(default_factory=list)  # InputFiles
    datasets: list = field(default_factory=list)  # documents dataset directories
    read: ReadOptions = field(default_factory=ReadOptions)
    prepare: PrepareOptions = field(default_factory=PrepareOptions)


UNIT_ROWS = 4096  # a dataset is read in units of this many rows, so many workers share even a one-shard input


def dataset_units(datasets: list[str], rows: int = UNIT_ROWS) -> list[tuple[str, int, int]]:
    """(shard path, first row, end row) units covering every shard of the datasets."""
    units = []
    for d in datasets:
        for shard in read_manifest(d)["shards"]:
            path = dataset_file(d, shard["file"])
            units += [(path, start, min(start + rows, shard["rows"])) for start in range(0, shard["rows"], rows)]
    return units


def read_unit(unit: tuple[str, int, int]):
    """The record batches of rows [first, end) of a shard (an Arrow IPC stream: earlier batches are
    skipped, not decoded, and a local shard is memory-mapped)."""
    path, first, end = unit
    source = pa.memory_map(path) if "://" not in path else FileSystems.open(path)
    with source:
        at = 0
        for batch in pa.ipc.open_stream(source):
            if at >= end:
                break
            if at + batch.num_rows > first:
                yield batch.slice(max(first - at, 0), min(end, at + batch.num_rows) - max(first, at))
            at += batch.num_rows


class ReadDatasetShard(CountingDoFn):
    """A unit of a documents shard -> its rows, one record batch at a time, keyed as PrepareDocuments keys them."""

    def __init__(self, seed: int, dedup: bool):
        self.seed, self.dedup = seed, dedup

    def setup(self):
        self.progress = ThroughputLog("read", feeds_progress=True)

    def process(self, unit: tuple[str, int, int]):
        for batch in read_unit(unit):
            for row in batch.to_pylist():
                self.count("read")
                content = content_hash(row["sentences"]) if self.dedup else None
                row[KEY] = seeded_key(self.seed, row["doc_id"], content)
                yield row
            self.progress.add(batch.num_rows, done=batch.num_rows)  # done: rows of the input datasets


class ReadDocuments(beam.PTransform):
    """DocumentInput -> {"rows": document rows (with _key), "rejects", "counts"}."""

    def __init__(self, source: DocumentInput):
        super().__init__()
        self.source = source

    def expand(self, pbegin):
        if self.source.datasets:
            rows = (pbegin
                    | "ListShards" >> beam.Create(dataset_units(self.source.datasets))
                    | "SpreadShards" >> beam.Reshuffle()
                    | "ReadShards" >> beam.ParDo(ReadDatasetShard(self.source.prepare.seed, self.source.prepare.dedup)).with_outputs(
                        COUNTS, main="rows"))
            rejects = pbegin | "NoRejects" >> beam.Create([])
            return {"rows": rows.rows, "rejects": rejects, "counts": rows.counts}
        read = pbegin | "ReadCorpus" >> ReadCorpus(self.source.files, self.source.read)
        prepared = read["documents"] | "PrepareDocuments" >> beam.ParDo(
            PrepareDocuments(self.source.prepare)).with_outputs(COUNTS, main="rows")
        counts = (read["counts"], prepared.counts) | "DocumentCounts" >> beam.Flatten()
        return {"rows": prepared.rows, "rejects": read["rejects"], "counts": counts}
