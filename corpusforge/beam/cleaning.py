"""Examples of filtered documents for the cleaning report: TMP/filtered_examples.jsonl, the few with the
smallest seeded keys per reason (so the same on every runner and worker count), beside the shards."""
from __future__ import annotations

import hashlib
import json

import apache_beam as beam
import pyarrow as pa

from corpusforge.beam.sink import KEY, WriteShards
from corpusforge.dataset.writer import write_bytes

EXAMPLES_FILE = "filtered_examples.jsonl"
EXAMPLES_PER_REASON = 5
EXAMPLE_FIELDS = ("reason", "doc_id", "source", "excerpt")
EXAMPLES_SCHEMA = pa.schema([*(pa.field(f, pa.string()) for f in EXAMPLE_FIELDS), pa.field(KEY, pa.binary())])


def example_rows(reason_examples):
    reason, examples = reason_examples
    return [{"reason": reason, "doc_id": doc_id, "source": source, "excerpt": excerpt,
             KEY: reason.encode() + b"\0" + key} for key, doc_id, source, excerpt in examples]


def write_examples(batches, path: str) -> dict:
    lines = [json.dumps({k: r[k] for k in EXAMPLE_FIELDS}, ensure_ascii=False) + "\n"
             for batch in batches for r in batch.to_pylist()]
    data = "".join(lines).encode()
    write_bytes(path, data)
    return {"file": EXAMPLES_FILE, "rows": len(lines), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


class WriteExamples(beam.PTransform):
    """(reason, (key, doc_id, source, excerpt)) -> TMP/filtered_examples.jsonl; outputs its manifest entry."""

    def __init__(self, tmp: str, per_reason: int = EXAMPLES_PER_REASON):
        super().__init__()
        self.tmp, self.per_reason = tmp, per_reason

    def expand(self, examples):
        tmp = self.tmp
        return (examples
                | "SmallestPerReason" >> beam.combiners.Top.SmallestPerKey(self.per_reason)
                | "ExampleRows" >> beam.FlatMap(example_rows)
                | "WriteShards" >> WriteShards(f"{tmp}/_spill/examples", EXAMPLES_SCHEMA, 1,
                                               lambda batches, schema, k: write_examples(batches,
                                                                                         f"{tmp}/{EXAMPLES_FILE}")))
