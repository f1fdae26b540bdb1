"""What the masking schemes cost: the pure instance builder (pairs + masking, no Beam) on a tokenized
dataset, token vs ngram vs span masking, median CPU seconds of 5 runs each.

    python -m corpusforge.cli build documents -i samples/corpora -o /tmp/docs
    python -m corpusforge.cli build tokenized -i /tmp/docs -t samples/vocab/bert-base-chinese-vocab.txt -o /tmp/tok
    python benchmarks/bench_masking.py /tmp/tok [--dupe-factor 5]

Prints one Markdown row per (mode, scheme) and the ratios the issue asks for (sop + ngram over nsp + token).
"""
from __future__ import annotations

import argparse
import statistics
import time

import pyarrow as pa

from corpusforge.beam.instances import table_documents
from corpusforge.beam.sink import KEY, seeded_key
from corpusforge.dataset import load_table
from corpusforge.dataset.reader import read_manifest
from corpusforge.objectives.instances import InstanceBuilder, InstanceConfig
from corpusforge.objectives.masking import MaskingConfig, vocabulary_ids


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tokenized")
    parser.add_argument("--dupe-factor", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    a = parser.parse_args()
    manifest = read_manifest(a.tokenized)
    special, vocab_size = manifest["special_ids"], manifest["tokenizer"]["vocab_size"]
    mask_id, random_ids = vocabulary_ids(special, vocab_size)
    table = load_table(a.tokenized)
    table = table.append_column(KEY, pa.array([seeded_key(1, d) for d in table.column("doc_id").to_pylist()]))
    times = {}
    for mode, scheme in [("nsp", "token"), ("nsp", "ngram"), ("nsp", "span"), ("sop", "token"), ("sop", "ngram")]:
        cfg = InstanceConfig(mode=mode, dupe_factor=a.dupe_factor, cls_id=special["cls"], sep_id=special["sep"],
                             masking=MaskingConfig(scheme=scheme, mask_id=mask_id, random_ids=random_ids))
        runs = []
        for _ in range(a.runs):
            docs = table_documents(table)
            started = time.process_time()
            InstanceBuilder(cfg, seed=7).build(docs)
            runs.append(time.process_time() - started)
        times[mode, scheme] = statistics.median(runs)
        print(f"| {mode} | {scheme} | {times[mode, scheme]:.3f} |")
    print(f"sop+ngram / nsp+token = {times['sop', 'ngram'] / times['nsp', 'token']:.2f}; "
          f"nsp+ngram / nsp+token = {times['nsp', 'ngram'] / times['nsp', 'token']:.2f}; "
          f"nsp+span / nsp+token = {times['nsp', 'span'] / times['nsp', 'token']:.2f}")


if __name__ == "__main__":
    main()
