"""Scale evidence for every pipeline: data movement and hot keys from Beam metrics, CPU cost per
input byte, and the multi-process speed-up, on ../shared/corpora at 10x.

    python benchmarks/bench_scale.py [--scale 10] [--workers 1,2]

For each pipeline: wall and CPU seconds (the whole process tree), bytes moved between steps per
input byte (spill files: this design's shuffle; Beam's own shuffle carries only their names), the
largest key group (shard or bucket), and a projection of vCPU-hours and wall time for 10 GB and 1 TB
of the same kind of input from the measured CPU cost (linear cost, as the 1x -> 10x -> 30x runs in
BENCHMARKS.md show), and the wall time that gives on 8 and on 100 vCPUs (assuming the runner keeps them
busy: the work units are 64 MiB splits, 4,096-row dataset units, buckets and shards, so 1 TB offers
far more units than 100 workers). Prints Markdown for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_documents import ROOT, WORK, run_once, scaled_corpus  # noqa: E402
from bench_tokenized import VOCAB, documents  # noqa: E402

PIPELINES = {  # name -> (input kind, extra arguments)
    "documents": ("raw", ["--no-dedup"]),
    "tokenized": ("documents", ["-t", str(VOCAB), "--no-dedup"]),
    "pretraining": ("tokenized", ["--dupe-factor", "5", "--no-dedup"]),
    "vocab": ("documents", ["--model", "wordpiece"]),
    "cooccurrence": ("raw", ["--no-dedup", "--min-count", "5"]),
    "ngrams": ("raw", ["--order", "5"]),
    "stats": ("raw", []),
}


def tokenized_dataset(scale: int, corpus: Path) -> Path:
    import subprocess

    out = WORK / f"tokenized_nodedup_{scale}x"  # k copies kept (the default dedup would leave one)
    if not out.exists():
        subprocess.run([sys.executable, "-m", "corpusforge.cli", "build", "tokenized", "-i", str(documents(scale, corpus)),
                        "-t", str(VOCAB), "--no-dedup", "-o", str(out)], check=True, capture_output=True)
    return out


def movement(output: str, input_mb: float) -> tuple[float, str]:
    glove = re.search(r"shuffled ([\d.]+) MB in (\d+) spill", output)  # build cooccurrence's own line
    if glove:
        return float(glove.group(1)) / input_mb, "-"
    m = re.search(r"data movement: ([\d.]+) MB in \d+ spill files \(([\d.]+) bytes per input byte[^)]*\)(.*)", output)
    if not m:
        return 0.0, ""
    hot = re.findall(r"largest (\w+) ([\d.]+) MB \(mean ([\d.]+) MB of (\d+)\)", m.group(3))
    return float(m.group(2)), "; ".join(f"{k} {mx} MB (mean {mean} of {n})" for k, mx, mean, n in hot)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--only", default=",".join(PIPELINES))
    a = parser.parse_args()
    inputs = {"raw": lambda: scaled_corpus(a.corpus, a.scale), "documents": lambda: documents(a.scale, a.corpus),
              "tokenized": lambda: tokenized_dataset(a.scale, a.corpus)}
    print("| pipeline | input | input MB | workers | wall s | pipeline s | CPU s | speed-up | MB per CPU s | "
          "moved bytes per input byte | largest group | vCPU-h per 10 GB | vCPU-h per 1 TB | 10 GB on 8 vCPUs (h) | "
          "1 TB on 100 vCPUs (h) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in a.only.split(","):
        kind, extra = PIPELINES[name]
        source = inputs[kind]()
        size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file()) / 1e6
        first = None
        for workers in map(int, a.workers.split(",")):
            r = run_once(source, workers, extra, command=name)
            moved, hot = movement(r["output"], size)
            first = first or r["pipeline"]
            per_cpu = size / r["cpu"]  # MB of input per CPU second
            print(f"| {name} | {kind} {a.scale}x | {size:.0f} | {workers} | {r['wall']:.1f} | {r['pipeline']:.1f} | "
                  f"{r['cpu']:.1f} | {first / r['pipeline']:.2f}x | {per_cpu:.2f} | {moved:.2f} | {hot or '-'} | "
                  f"{1e4 / per_cpu / 3600:.2f} | {1e6 / per_cpu / 3600:.0f} | {1e4 / per_cpu / 3600 / 8:.2f} | "
                  f"{1e6 / per_cpu / 3600 / 100:.1f} |", flush=True)


if __name__ == "__main__":
    main()
