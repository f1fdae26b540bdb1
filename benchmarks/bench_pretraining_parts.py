"""Where the CPU of `build pretraining` from raw text goes: each part of the job run alone, in one
process, with the pipeline's own functions and batch sizes, timed in CPU seconds.

    RAYON_NUM_THREADS=1 python benchmarks/bench_pretraining_parts.py [--scale 1]

Same text and settings as bench_pretraining.py (wiki + news of ../shared/corpora, nsp, token
masking, dupe factor 5, length 128, 20 predictions). The parts add up to the work the two
workers share; what the real job spends on top (Beam, worker start-up, idle time) is the
difference to its "CPU s (all processes)". Prints Markdown for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pretraining import VOCAB, wiki_news  # noqa: E402

from corpusforge.beam.instances import batch_table, shard_runs, table_documents  # noqa: E402
from corpusforge.beam.prepare import PrepareOptions, prepare_document  # noqa: E402
from corpusforge.beam.sink import KEY, seeded_key, shard_of, sorted_batches, write_spill  # noqa: E402
from corpusforge.beam.tokenize import BATCH_CHARS  # noqa: E402
from corpusforge.dataset.schema import pretraining_schema, tokenized_schema  # noqa: E402
from corpusforge.dataset.writer import BATCH_ROWS, write_shard  # noqa: E402
from corpusforge.objectives.instances import LABELS, InstanceBuilder, InstanceConfig  # noqa: E402
from corpusforge.objectives.masking import MaskingConfig  # noqa: E402
from corpusforge.sources.files import expand_inputs, split_bytes_for  # noqa: E402
from corpusforge.sources.formats import Document, ReadOptions, plan_splits, read_split  # noqa: E402
from corpusforge.tokenization.segment import DEFAULT_SEGMENTER, get_segmenter  # noqa: E402
from corpusforge.tokenization.tokenizer import TextTokenizer  # noqa: E402
from corpusforge.tokenization.words import tokenize_documents  # noqa: E402
from corpusforge.pipelines.pretraining import BUCKET_BYTES  # noqa: E402

SEED = 12345


class Clock:
    def __init__(self):
        self.parts: dict[str, float] = {}

    def __call__(self, name, fn, *args):
        started = time.process_time()
        out = fn(*args)
        self.parts[name] = self.parts.get(name, 0.0) + time.process_time() - started
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpora")
    parser.add_argument("--scale", type=int, default=1)
    a = parser.parse_args()
    clock = Clock()
    files = expand_inputs([str(wiki_news(a.corpus, a.scale))])
    input_bytes = sum(f.size for f in files)
    read_opts, prep_opts = ReadOptions(split_bytes=split_bytes_for(input_bytes)), PrepareOptions(dedup=False, seed=SEED)

    def read():
        return [d for f in files for s in plan_splits(f, read_opts) for d in read_split(s, read_opts)
                if isinstance(d, Document)]

    documents = clock("read (JSON lines)", read)
    rows = clock("prepare (NFKC, sentences, key)", lambda: [r for r in (prepare_document(d, prep_opts)[0]
                                                                        for d in documents) if r])
    del documents
    tokenizer, segmenter = TextTokenizer(str(VOCAB)), get_segmenter(DEFAULT_SEGMENTER)
    tokenizer.impl, segmenter.load()
    chars = sum(len(s) for r in rows for s in r["sentences"])
    batches, batch, size = [], [], 0
    for r in rows:  # TokenizeDoFn's batches
        batch.append(r)
        size += sum(map(len, r["sentences"]))
        if size >= BATCH_CHARS:
            batches.append(batch)
            batch, size = [], 0
    batches.append(batch)
    # the parts of tokenize_documents, each alone, then the whole of it
    for b in batches:
        sentences = [s for r in b for s in r["sentences"]]
        encodings = clock("tokenize: encode_batch (Rust; the library alone, before FastWordPiece)",
                          lambda: tokenizer.impl.encode_batch(sentences, add_special_tokens=False))
        clock("tokenize: ids + offsets to arrays (before FastWordPiece)", lambda: (
            np.fromiter((i for e in encodings for i in e.ids), dtype=np.int64),
            np.fromiter((o[0] for e in encodings for o in e.offsets), dtype=np.int64)))
        clock("tokenize: encode_flat (FastWordPiece: ids + starts as arrays)", tokenizer.encode_flat, sentences)
        clock("tokenize: jieba-rs word starts", lambda: [segmenter.span_starts(s) for s in sentences])
    tokenized = []
    tokenizer = TextTokenizer(str(VOCAB))  # a fresh one: FastWordPiece learns its table and words again, as a worker does
    tokenizer.impl
    for b in batches:
        out = clock("tokenize_documents (FastWordPiece, jieba-rs, alignment)", tokenize_documents,
                    [r["sentences"] for r in b], tokenizer, segmenter)
        tokenized += [{"doc_id": r["doc_id"], "source": r["source"], "input_ids": ids, "word_ids": words,
                       KEY: r[KEY]} for r, (ids, words) in zip(b, out)]
    del rows, batches
    num_buckets = max(2, math.ceil(input_bytes / BUCKET_BYTES))
    num_shards = max(1, math.ceil(input_bytes * 5 / (64 << 20)))
    schema = pretraining_schema(pa.uint16(), LABELS["nsp"])
    spill_schema = schema.append(pa.field(KEY, pa.binary()))
    doc_schema = tokenized_schema(pa.uint16()).append(pa.field(KEY, pa.binary()))
    cfg = InstanceConfig(mode="nsp", max_seq_length=128, short_seq_prob=0.1, dupe_factor=5, cls_id=101, sep_id=102,
                         masking=MaskingConfig(scheme="token", mask_id=103,
                                               random_ids=np.setdiff1d(np.arange(21128), [0, 100, 101, 102, 103]),
                                               masked_lm_prob=0.15, max_predictions=20))
    instances, shard_tables = 0, {}
    with tempfile.TemporaryDirectory() as tmp:
        table = clock("spill documents (rows -> Arrow)", pa.Table.from_pylist, tokenized, doc_schema)
        del tokenized
        buckets = np.array([shard_of(k, num_buckets) for k in table.column(KEY).to_pylist()])
        for bucket in range(num_buckets):
            part = table.filter(pa.array(buckets == bucket))
            part = clock("instances: sort bucket, to Documents", lambda: table_documents(
                part.take(pc.sort_indices(part.column(KEY)))))
            built = clock("instances: pairs + assembly + masking", InstanceBuilder(cfg, SEED).build, part)
            instances += len(built.lengths)
            keys = clock("instances: row keys + shards", lambda: [seeded_key(SEED, r) for r in built.record_ids])
            shards = np.array([shard_of(k, num_shards) for k in keys])
            out = clock("instances: Arrow table", batch_table, built, spill_schema, keys)
            for shard, run in clock("instances: sorted runs per shard", lambda: list(shard_runs(out, shards))):
                path = f"{tmp}/{bucket}-{shard}.arrow"
                clock("instances: write spills", write_spill, path, run)
                shard_tables.setdefault(shard, []).append(path)
        from corpusforge.beam.sink import open_arrow

        for shard, paths in shard_tables.items():
            def merge():
                batches, _ = sorted_batches(pa.concat_tables([open_arrow(p) for p in paths]), False, BATCH_ROWS)
                write_shard(batches, schema, f"{tmp}/shard-{shard}.arrow")
            clock("merge shards (sort, take, write)", merge)
    print(f"scale {a.scale}x: {input_bytes / 1e6:.1f} MB, {chars:,} characters, {instances:,} instances; "
          f"CPU seconds in one process, {time.strftime('%Y-%m-%d')}\n")
    print("| part | CPU s | instances per CPU s of this part |")
    print("|---|---|---|")
    total = 0.0
    for name, s in clock.parts.items():
        inner = name.startswith("tokenize:")
        total += 0 if inner else s
        print(f"| {'- ' if inner else ''}{name} | {s:.2f} | {instances / s:,.0f} |")
    print(f"| **sum (without the tokenize: lines, which are inside tokenize_documents)** | **{total:.2f}** | "
          f"**{instances / total:,.0f}** |")


if __name__ == "__main__":
    main()
