"""TokenizeDocuments: document rows -> token ids and word indices per sentence."""
from __future__ import annotations

import apache_beam as beam

from corpusforge.beam.counting import COUNTS, CountingDoFn, Progress
from corpusforge.beam.sink import KEY
from corpusforge.tokenization.words import tokenize_document


class TokenizeDoFn(CountingDoFn):
    def __init__(self, tokenizer, segmenter):
        self.tokenizer, self.segmenter = tokenizer, segmenter

    def setup(self):
        self.tokenizer.impl  # load the Rust / C++ tokenizer once per worker, not per element
        getattr(self.segmenter, "load", lambda: None)()  # and the segmenter's dictionary
        self.progress = Progress("tokenize")

    def process(self, row: dict):
        input_ids, word_ids = tokenize_document(row["sentences"], self.tokenizer, self.segmenter)
        tokens = sum(len(ids) for ids in input_ids)
        self.count("tokens", tokens)
        self.progress.add(1, sum(map(len, row["sentences"])))
        yield {"doc_id": row["doc_id"], "source": row["source"], "input_ids": input_ids, "word_ids": word_ids,
               KEY: row[KEY]}


class TokenizeDocuments(beam.PTransform):
    """Document rows (doc_id, source, sentences, _key) -> tokenized rows; counts under "counts"."""

    def __init__(self, tokenizer, segmenter):
        super().__init__()
        self.tokenizer, self.segmenter = tokenizer, segmenter

    def expand(self, rows):
        return rows | "Tokenize" >> beam.ParDo(TokenizeDoFn(self.tokenizer, self.segmenter)).with_outputs(
            COUNTS, main="rows")
