"""TokenizeDocuments: document rows -> token ids and word indices per sentence."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from corpusforge.beam.counting import COUNTS, CountingDoFn, ThroughputLog
from corpusforge.beam.sink import KEY
from corpusforge.tokenization.words import tokenize_documents

BATCH_CHARS = 200_000  # documents are buffered to about this many characters per tokenizer call


class TokenizeDoFn(CountingDoFn):
    """Buffers document rows and tokenizes them a batch at a time (one encode call per batch
    costs less than one per document); a row's output does not depend on its batch."""

    def __init__(self, tokenizer, segmenter):
        self.tokenizer, self.segmenter = tokenizer, segmenter

    def setup(self):
        self.tokenizer.impl  # load the Rust / C++ tokenizer once per worker, not per element
        if self.segmenter is not None:
            getattr(self.segmenter, "load", lambda: None)()  # and the segmenter's dictionary
        self.progress = ThroughputLog("tokenize")

    def start_bundle(self):
        super().start_bundle()
        self.rows, self.chars = [], 0

    def process(self, row: dict):
        self.rows.append(row)
        self.chars += sum(map(len, row["sentences"]))
        if self.chars >= BATCH_CHARS:
            yield from self._flush()

    def finish_bundle(self):
        for row in self._flush():
            yield GlobalWindows.windowed_value(row)
        yield from super().finish_bundle()

    def _flush(self):
        rows, chars = self.rows, self.chars
        self.rows, self.chars = [], 0
        if not rows:
            return
        results = tokenize_documents([row["sentences"] for row in rows], self.tokenizer, self.segmenter)
        self.count("tokens", sum(len(ids) for input_ids, _ in results for ids in input_ids))
        self.progress.add(len(rows), chars)
        for row, (input_ids, word_ids) in zip(rows, results):
            yield {"doc_id": row["doc_id"], "source": row["source"], "input_ids": input_ids, "word_ids": word_ids,
                   KEY: row[KEY]}


class TokenizeDocuments(beam.PTransform):
    """Document rows (doc_id, source, sentences, _key) -> tokenized rows; counts under "counts". segmenter
    None: no word segmentation, every word id 0 (for builds whose output never depends on words)."""

    def __init__(self, tokenizer, segmenter):
        super().__init__()
        self.tokenizer, self.segmenter = tokenizer, segmenter

    def expand(self, rows):
        return rows | "Tokenize" >> beam.ParDo(TokenizeDoFn(self.tokenizer, self.segmenter)).with_outputs(
            COUNTS, main="rows")
