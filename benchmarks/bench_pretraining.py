"""`build pretraining` (nsp + token masking, dupe factor 5, max length 128, 20 predictions) on the
wiki + news text of ../shared/corpora, from raw text (the whole job: read, clean, tokenize, pair,
mask, write) and from a tokenized dataset (the instance stage alone), at 1x and 10x.

    python benchmarks/bench_pretraining.py [--scales 1,10] [--workers 2] [--repeats 1]

The ratio to Google's create_pretraining_data.py, run on the same input in the same session, comes
from benchmarks/bench_peers.py (rows nsp and sop). Prints Markdown for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_documents import ROOT, WORK, run_once  # noqa: E402

VOCAB = ROOT.parent / "shared" / "vocab" / "bert-base-chinese-vocab.txt"
SETTINGS = ["--mode", "nsp", "--masking", "token", "--dupe-factor", "5", "--max-seq-length", "128",
            "--max-predictions-per-seq", "20"]


def wiki_news(corpus: Path, scale: int) -> Path:
    target = WORK / f"wikinews_{scale}x"
    if not target.exists():
        for i in range(scale):
            for part in ("wiki_zh", "news2016zh"):
                shutil.copytree(corpus / part, target / f"copy{i:03d}" / part, ignore=shutil.ignore_patterns("README*"))
    return target


def tokenized(scale: int, corpus: Path) -> Path:
    out = WORK / f"wikinews_tokenized_{scale}x"
    if not out.exists():
        subprocess.run([sys.executable, "-m", "corpusforge.cli", "build", "tokenized", "-i", str(wiki_news(corpus, scale)),
                        "-t", str(VOCAB), "-o", str(out), "--no-dedup"], check=True, capture_output=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--workers", default="2")
    parser.add_argument("--repeats", type=int, default=1)
    a = parser.parse_args()
    print("| input | scale | input MB | workers | instances | pipeline s | instances/s | M tokens/s "
          "| CPU s (all processes) | instances per CPU s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scale in map(int, a.scales.split(",")):
        raw = wiki_news(a.corpus, scale)
        tok = tokenized(scale, a.corpus)
        for name, source, extra in (("raw text", raw, ["-t", str(VOCAB), "--no-dedup"]), ("tokenized", tok, [])):
            size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file()) / 1e6
            for workers in map(int, a.workers.split(",")):
                runs = [run_once(source, workers, [*SETTINGS, *extra], command="pretraining")
                        for _ in range(a.repeats)]
                stats = json.loads((WORK / "out" / "manifest.json").read_text())["statistics"]
                pipe = statistics.median(r["pipeline"] for r in runs)
                rss = statistics.median(r["rss"] for r in runs) / 2**20
                cpu = statistics.median(r["cpu"] for r in runs)
                rate = stats["instances"] / pipe
                print(f"| {name} | {scale}x | {size:.1f} | {workers} | {stats['instances']:,} | {pipe:.1f} | "
                      f"{rate:,.0f} | {stats['tokens'] / pipe / 1e6:.2f} | {cpu:.1f} | "
                      f"{stats['instances'] / cpu:,.0f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
