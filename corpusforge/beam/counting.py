"""Counts as a by-product of running: every DoFn tallies what it did, once per bundle.

The tallies travel as data (a dict per bundle on a "counts" output), so the manifest's input
accounting is exact on every runner; Beam Metrics counters mirror them for monitoring UIs.
"""
from __future__ import annotations

import logging
import time
from collections import Counter

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

log = logging.getLogger("corpusforge")
COUNTS = "counts"
PROGRESS_SECONDS = 15.0
# the launcher's progress line (corpusforge.cliutil.BuildProgress) while the in-process runner runs its job in
# this process: the readers' ThroughputLogs feed it (done: input bytes or rows finished, records). None elsewhere.
_progress = None


def set_progress(listener) -> None:
    global _progress
    _progress = listener


class CountingDoFn(beam.DoFn):
    """A DoFn with `self.count(key, n)`; emits its tallies on the COUNTS output per bundle."""

    def start_bundle(self):
        self._counts: Counter = Counter()
        self._metrics: dict = {}

    def count(self, key: str, n: int = 1) -> None:
        self._counts[key] += n
        counter = self._metrics.get(key)
        if counter is None:
            counter = self._metrics[key] = Metrics.counter("corpusforge", key)
        counter.inc(n)

    def finish_bundle(self):
        if self._counts:
            yield pvalue.TaggedOutput(COUNTS, GlobalWindows.windowed_value(dict(self._counts)))


class ThroughputLog:
    """A worker's throughput, logged at most every PROGRESS_SECONDS: long runs show they are moving. Not a
    progress bar (corpusforge.trainers.common.Progress): a worker knows no total and has no terminal, only the log."""

    def __init__(self, what: str, feeds_progress: bool = False):
        """feeds_progress: a reader of the input, whose `done` is the launcher's progress (set_progress)."""
        self.what, self.items, self.chars, self.feeds = what, 0, 0, feeds_progress
        self.started = self.last = time.monotonic()

    def add(self, items: int = 1, chars: int = 0, done: int = 0) -> None:
        self.items += items
        self.chars += chars
        if self.feeds and _progress is not None:
            _progress(done, items)
        now = time.monotonic()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            rate = self.chars / (now - self.started) / 1e6
            log.info("%s: %d records, %.1f M characters (%.2f M chars/s on this worker)", self.what, self.items,
                     self.chars / 1e6, rate)


class MergeCounts(beam.CombineFn):
    def create_accumulator(self):
        return Counter()

    def add_input(self, acc, counts):
        acc.update(counts)
        return acc

    def merge_accumulators(self, accs):
        total = Counter()
        for acc in accs:
            total.update(acc)
        return total

    def extract_output(self, acc):
        return dict(sorted(acc.items()))
