"""ReadCorpus: input files -> Documents (main output) and Rejects, read in parallel splits."""
from __future__ import annotations

import apache_beam as beam
from apache_beam import pvalue

from corpusforge.beam.counting import COUNTS, CountingDoFn, Progress
from corpusforge.sources.files import InputFile
from corpusforge.sources.formats import ReadOptions, Reject, plan_splits, read_split

REJECTS = "rejects"


class PlanSplits(CountingDoFn):
    """A file -> its splits (byte ranges, zip members, row groups); unreadable files are rejects."""

    def __init__(self, opts: ReadOptions):
        self.opts = opts

    def process(self, file: InputFile):
        for item in plan_splits(file, self.opts):
            if isinstance(item, Reject):
                self.count("read")
                self.count("rejected:" + item.reason)
                yield pvalue.TaggedOutput(REJECTS, item)
            else:
                yield item


class ReadSplits(CountingDoFn):
    """A split -> Documents, and Rejects for every record that cannot be read."""

    def __init__(self, opts: ReadOptions):
        self.opts = opts

    def setup(self):
        self.progress = Progress("read")

    def process(self, split):
        for item in read_split(split, self.opts):
            self.count("read")
            if isinstance(item, Reject):
                self.count("rejected:" + item.reason)
                yield pvalue.TaggedOutput(REJECTS, item)
            else:
                self.progress.add(1, len(item.text))
                yield item


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
