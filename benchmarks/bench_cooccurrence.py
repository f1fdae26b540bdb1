"""Throughput and peak memory of `corpusforge build cooccurrence`, next to GloVe's C cooccur; GloVe training speed.

    flock /tmp/corpusforge-bench.lock python benchmarks/bench_cooccurrence.py [--scales 1,10] [--workers 2]
        [--glove-build DIR] [--train-epochs 15]

Input: the wiki2019zh, news2016zh train and webtext2019zh files of ../shared/corpora (scale k = k
copies of them), jieba-rs words, window 10, symmetric, min-count 5 (the issue's setting). Each build
runs as a fresh process (`python -m corpusforge.cli build cooccurrence ...`); tokens/s is input
tokens over the build's own time (both passes: vocabulary and matrix); CPU s is user + system time
of the whole process tree (launcher and workers). Peak RSS is sampled every 20 ms over the process
tree, and for its largest single process (a worker: what --memory-mb bounds). With --glove-build (a directory holding GloVe's vocab_count and cooccur)
the same text, segmented once by the same segmenter, runs through vocab_count + cooccur (-memory 8) in
the same session, so the ratio is side by side. With --train-epochs, `train glove` on the 1x matrix.
Prints Markdown for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_documents import ROOT, WORK, polls, tree_rss  # noqa: E402

PARTS = ("wiki_zh", "news2016zh/news2016zh_train.json", "webtext2019zh")
ARGS = ["--window", "10", "--min-count", "5", "--units", "words"]


def scaled_inputs(corpus: Path, scale: int) -> list[Path]:
    target = WORK / f"cooc_{scale}x"
    if not target.exists():
        for i in range(scale):
            for part in PARTS:
                src, dst = corpus / part, target / f"copy{i:03d}" / part
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir():
                    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
                else:
                    subprocess.run(["cp", str(src), str(dst)], check=True)
    return [target]


LAST = {}  # of the latest measured(): CPU seconds of the process tree, peak RSS of its largest process


def largest_rss(proc: psutil.Process) -> int:
    most = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            most = max(most, p.memory_info().rss)
        except psutil.Error:
            pass
    return most


def measured(args: list[str], stdin=None, stdout=subprocess.PIPE) -> tuple[float, int, str]:
    os.sync()  # no dirty page cache left from the previous run to throttle this one's writes
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=subprocess.STDOUT if stdout == subprocess.PIPE
                            else subprocess.DEVNULL, text=stdout == subprocess.PIPE, cwd=ROOT)
    ps, peak, largest = psutil.Process(proc.pid), 0, 0
    for _ in polls(proc):
        try:
            peak = max(peak, tree_rss(ps)[0])
            largest = max(largest, largest_rss(ps))
        except psutil.Error:
            pass
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST.update(cpu=after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, largest=largest)
    output = proc.stdout.read() if stdout == subprocess.PIPE else ""
    if proc.returncode:
        raise SystemExit(f"{args[:4]} failed:\n{output[-3000:]}")
    return wall, peak, output


def run_build(inputs, workers: int, memory_mb: int, scale: int) -> dict:
    out = WORK / f"cooc_out_{scale}x"
    args = [sys.executable, "-m", "corpusforge.cli", "build", "cooccurrence", *[x for i in inputs for x in ("-i", str(i))],
            "-o", str(out), "--overwrite", *ARGS, "--memory-mb", str(memory_mb), f"--direct_num_workers={workers}"]
    if workers > 1:
        args.append("--direct_running_mode=multi_processing")
    wall, peak, output = measured(args)
    m = json.loads((out / "manifest.json").read_text())
    seconds = float(re.search(r" shard\(s\) in ([\d.]+) s \(", output).group(1))  # not a log line's "in 0.27 s ("
    return {"wall": wall, "seconds": seconds, "rss": peak, **LAST,
            "tokens": m["totals"]["tokens"],
            "vocab": m["vocab_size"], "nnz": m["nnz"], "out": out,
            "shuffle": float(re.search(r"data movement: ([\d.]+) MB", output).group(1)) * 1e6 / m["totals"]["tokens"]}


def pretokenized_text(inputs, scale: int) -> Path:
    """The same documents, segmented by the same segmenter, one document per line (GloVe's input)."""
    path = WORK / f"cooc_{scale}x.txt"
    if not path.exists():
        docs = WORK / f"cooc_docs_{scale}x"
        subprocess.run([sys.executable, "-m", "corpusforge.cli", "build", "documents", *[x for i in inputs for x in
                        ("-i", str(i))], "-o", str(docs), "--overwrite", "--min-chars", "0", "--no-dedup"],
                       check=True, cwd=ROOT, capture_output=True)
        from corpusforge.dataset.reader import load_table
        from corpusforge.tokenization.segment import get_segmenter

        seg = get_segmenter("jieba-rs")
        with open(path, "w", encoding="utf-8") as f:
            for sentences in load_table(str(docs)).column("sentences").to_pylist():
                f.write(" ".join(s[a:b] for s in sentences for a, b in seg.spans(s)) + "\n")
    return path


def run_glove_c(build: Path, text: Path) -> dict:
    vocab = WORK / "glove_vocab.txt"
    with open(text, "rb") as src, open(vocab, "wb") as dst:
        vwall, vpeak, _ = measured([str(build / "vocab_count"), "-min-count", "5", "-verbose", "0"], src, dst)
    with open(text, "rb") as src, open(WORK / "glove_cooc.bin", "wb") as dst:
        cwall, cpeak, _ = measured([str(build / "cooccur"), "-window-size", "10", "-vocab-file", str(vocab),
                                    "-memory", "8", "-overflow-file", str(WORK / "overflow"), "-verbose", "0"], src, dst)
    tokens = sum(len(line.split()) for line in open(text, encoding="utf-8"))
    return {"vocab_seconds": vwall, "cooccur_seconds": cwall, "rss": max(vpeak, cpeak), "tokens": tokens,
            "nnz": os.path.getsize(WORK / "glove_cooc.bin") // 16}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--workers", default="2")
    parser.add_argument("--memory-mb", type=int, default=512)
    parser.add_argument("--glove-build", type=Path, default=None)
    parser.add_argument("--train-epochs", type=int, default=0)
    a = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}; load average at start "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| scale | tool | workers | tokens | vocab | nnz | seconds (GloVe: vocab_count in brackets) | k tokens/s | CPU s | peak RSS MB "
          "(largest process) | shuffle B/token |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    first = None
    for scale in map(int, a.scales.split(",")):
        inputs = scaled_inputs(a.corpus, scale)
        for workers in map(int, a.workers.split(",")):
            r = run_build(inputs, workers, a.memory_mb, scale)
            first = first or {**r, "scale": scale}
            print(f"| {scale}x | corpusforge | {workers} | {r['tokens']:,} | {r['vocab']:,} | {r['nnz']:,} | "
                  f"{r['seconds']:.1f} | {r['tokens'] / r['seconds'] / 1e3:.0f} | "
                  f"{r['cpu']:.0f} | {r['rss'] / 2**20:.0f} ({r['largest'] / 2**20:.0f}) | {r['shuffle']:.1f} |",
                  flush=True)
        if a.glove_build:
            g = run_glove_c(a.glove_build, pretokenized_text(inputs, scale))
            total = g["vocab_seconds"] + g["cooccur_seconds"]
            print(f"| {scale}x | GloVe C vocab_count + cooccur | 1 | {g['tokens']:,} | | {g['nnz']:,} | {total:.1f} "
                  f"({g['vocab_seconds']:.1f}) | {g['tokens'] / total / 1e3:.0f} | | {g['rss'] / 2**20:.0f} | |",
                  flush=True)
    if a.train_epochs and first:
        for threads in (1,):
            args = [sys.executable, "-m", "corpusforge.cli", "train", "glove", "-i", str(first["out"]), "-o",
                    str(WORK / "vectors"), "--overwrite", "--epochs", str(a.train_epochs), "--threads", str(threads),
                    "--device", "cpu"]
            wall, peak, output = measured(args)
            info = json.loads((WORK / "vectors" / "train.json").read_text())
            secs = sorted(info["seconds_per_epoch"])[len(info["seconds_per_epoch"]) // 2]
            print(f"\ntrain glove, {first['scale']}x matrix, dim 50, {a.train_epochs} epochs, {threads} "
                  f"thread(s): median {secs:.1f} s/epoch, final cost {info['cost_per_epoch'][-1]:.5f}, "
                  f"costs {[round(c, 5) for c in info['cost_per_epoch']]}, peak RSS {peak / 2**20:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
