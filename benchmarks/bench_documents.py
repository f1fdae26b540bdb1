"""Throughput and peak memory of `corpusforge build documents`, side by side.

    python benchmarks/bench_documents.py [--scales 1,10] [--workers 1,2] [--repeats 3]

Scale k = k copies of every file of the corpus (../shared/corpora by default) in one input tree.
Each configuration runs as a fresh process (`python -m corpusforge.cli build documents ...`), so
wall time includes interpreter and Beam start-up; "pipeline s" is the build's own time. Peak RSS
is sampled every 20 ms over the whole process tree (the runner plus its worker processes).
Prints a Markdown table for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "_work"


def scaled_corpus(corpus: Path, scale: int) -> Path:
    target = WORK / f"corpus_{scale}x"
    if not target.exists():
        for i in range(scale):
            shutil.copytree(corpus, target / f"copy{i:03d}", ignore=shutil.ignore_patterns("README*"))
    return target


def tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """(RSS, anonymous RSS) summed over the process tree; anonymous = RSS less file-backed pages
    (memory-mapped shards and spills, shared libraries), which the kernel can drop under pressure."""
    total = anon = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            m = p.memory_info()
        except psutil.Error:
            continue
        total += m.rss
        anon += m.rss - m.shared
    return total, anon


def polls(proc: subprocess.Popen, every: float = 0.25):
    """Yields every `every` s until proc ends, and at once when it does, so wall times stay exact
    (sampling the process tree at 50 Hz took 8% of a core from the job it measured)."""
    while proc.poll() is None:
        yield
        try:
            proc.wait(timeout=every)
        except subprocess.TimeoutExpired:
            pass


def run_once(corpus: Path, workers: int, extra: list[str], command: str = "documents") -> dict:
    """One `corpusforge build COMMAND` in a fresh process: wall and pipeline seconds, peak RSS."""
    out = WORK / "out"
    args = [sys.executable, "-m", "corpusforge.cli", "build", command, "-i", str(corpus), "-o", str(out),
            "--overwrite", *extra, f"--direct_num_workers={workers}"]
    if workers > 1:
        args.append("--direct_running_mode=multi_processing")
    os.sync()  # start from no dirty page cache: the previous run's gigabytes of shards and spills, still being
    # written back, would otherwise throttle this run's writes (it made 2 workers look slower after 1)
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    ps, peak, peak_anon = psutil.Process(proc.pid), 0, 0
    for _ in polls(proc):
        try:
            rss, anon = tree_rss(ps)
            peak, peak_anon = max(peak, rss), max(peak_anon, anon)
        except psutil.Error:
            pass
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the whole process tree, workers included
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = proc.stdout.read()
    if proc.returncode:
        raise SystemExit(f"build failed:\n{output}")
    timed = re.search(r" in ([\d.]+) s \(", output)  # "wrote OUT: ... in 12.3 s (..."; else the wall time
    pipeline_s = float(timed.group(1)) if timed else wall
    read = int(re.search(r"read (\d+) =", output).group(1))
    return {"wall": wall, "pipeline": pipeline_s, "rss": peak, "anon": peak_anon, "read": read, "cpu": cpu,
            "output": output}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="further build options, e.g. --no-dedup")
    a = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}; repeats: {a.repeats} (medians)\n")
    print("| scale | input MB | records read | workers | wall s | pipeline s | MB/s (wall) | MB/s (pipeline) "
          "| records/s (pipeline) | peak RSS MB | peak anon RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scale in map(int, a.scales.split(",")):
        corpus = scaled_corpus(a.corpus, scale)
        size = sum(f.stat().st_size for f in corpus.rglob("*") if f.is_file()) / 1e6
        for workers in map(int, a.workers.split(",")):
            runs = [run_once(corpus, workers, a.extra) for _ in range(a.repeats)]
            wall = statistics.median(r["wall"] for r in runs)
            pipe = statistics.median(r["pipeline"] for r in runs)
            rss = statistics.median(r["rss"] for r in runs) / 2**20
            anon = statistics.median(r["anon"] for r in runs) / 2**20
            print(f"| {scale}x | {size:.1f} | {runs[0]['read']} | {workers} | {wall:.2f} | {pipe:.2f} | "
                  f"{size / wall:.1f} | {size / pipe:.1f} | {runs[0]['read'] / pipe:,.0f} | {rss:.0f} | {anon:.0f} |", flush=True)


if __name__ == "__main__":
    main()
