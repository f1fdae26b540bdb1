"""`build tokenized` side by side with the raw tokenizers encode_batch on the same sentences.

    python benchmarks/bench_tokenized.py [--scales 1,10] [--workers 1,2] [--repeats 1]

Input: a documents dataset built from ../shared/corpora (k copies for scale k, --no-dedup so the
copies are kept), tokenized with bert-base-chinese's vocab.txt and the default segmenter.
Characters/s count the characters of the sentences. Prints Markdown for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_documents import ROOT, WORK, run_once, scaled_corpus  # noqa: E402

VOCAB = ROOT.parent / "shared" / "vocab" / "bert-base-chinese-vocab.txt"


def documents(scale: int, corpus: Path) -> Path:
    out = WORK / f"documents_{scale}x"
    if not out.exists():
        subprocess.run([sys.executable, "-m", "corpusforge.cli", "build", "documents", "-i",
                        str(scaled_corpus(corpus, scale)), "-o", str(out), "--no-dedup"], check=True,
                       capture_output=True)
    return out


def raw_rates(docs: Path) -> tuple[int, float, float, float]:
    """(characters, encode_batch chars/s, segmentation chars/s, encode_batch chars per CPU second) in this process."""
    from corpusforge.dataset import load_table
    from corpusforge.tokenization.segment import DEFAULT_SEGMENTER, get_segmenter
    from corpusforge.tokenization.tokenizer import TextTokenizer

    sentences = [s for doc in load_table(str(docs)).column("sentences").to_pylist() for s in doc]
    chars = sum(map(len, sentences))
    tokenizer = TextTokenizer(str(VOCAB))
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(sentences), 1000):
        tokenizer.impl.encode_batch(sentences[i:i + 1000], add_special_tokens=False)
    encode = chars / (time.perf_counter() - started)
    encode_cpu = chars / (time.process_time() - cpu)
    segmenter = get_segmenter(DEFAULT_SEGMENTER)
    segmenter.spans("预热")
    started = time.perf_counter()
    for s in sentences:
        segmenter.spans(s)
    segment = chars / (time.perf_counter() - started)
    return chars, encode, segment, encode_cpu


def raw_in_subprocess(docs: Path, threads: int | None) -> tuple[int, float, float]:
    """raw_rates in a fresh process; threads=None leaves tokenizers' thread pool at its default (all cores)."""
    env = dict(os.environ)
    env.pop("RAYON_NUM_THREADS", None)
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, __file__, "--raw", str(docs)], env=env, check=True, capture_output=True,
                         text=True).stdout
    return tuple(json.loads(out.strip().splitlines()[-1]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.raw:
        print(json.dumps(raw_rates(a.raw)))
        return
    docs1 = documents(1, a.corpus)
    chars1, encode1, segment, encode_cpu = raw_in_subprocess(docs1, 1)
    _, encode, _, _ = raw_in_subprocess(docs1, None)
    print(f"raw, {chars1:,} characters of sentences (1x), 1,000 sentences per call: tokenizers encode_batch "
          f"{encode / 1e6:.2f} M chars/s with its default thread pool (all {os.cpu_count()} cores), "
          f"{encode1 / 1e6:.2f} M chars/s on one thread; segmentation {segment / 1e6:.2f} M chars/s (one thread)\n")
    print(f"CPU cost: raw encode_batch {encode_cpu / 1e6:.2f} M chars per CPU second (one thread).\n")
    print("| scale | characters | workers | pipeline s | M chars/s | vs raw encode_batch (all cores) | CPU s (all "
          "processes) | M chars per CPU s | vs raw encode_batch per CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for scale in map(int, a.scales.split(",")):
        docs = documents(scale, a.corpus)
        chars = chars1 * scale
        for workers in map(int, a.workers.split(",")):
            runs = [run_once(docs, workers, ["-t", str(VOCAB)], command="tokenized") for _ in range(a.repeats)]
            pipe = statistics.median(r["pipeline"] for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            rss = statistics.median(r["rss"] for r in runs) / 2**20
            print(f"| {scale}x | {chars:,} | {workers} | {pipe:.1f} | {chars / pipe / 1e6:.2f} | "
                  f"{chars / pipe / encode:.0%} | {cpu:.1f} | {chars / cpu / 1e6:.2f} | {chars / cpu / encode_cpu:.0%} "
                  f"| {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
