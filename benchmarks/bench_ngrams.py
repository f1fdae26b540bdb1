"""`build ngrams --order 5` + `build lm --smoothing modified-kneser-ney`, side by side with KenLM lmplz.

    python benchmarks/bench_ngrams.py [--scales 1,10] [--workers 2] [--lmplz PATH] [--code DIR]

Input: every document of ../shared/corpora (build documents --min-chars 0 --no-dedup), segmented
with jieba-rs, one document per line, words separated by spaces (KenLM's input), repeated k times
for scale k. Tokens/s count words (without <s> / </s>). Peak RSS is of the whole process tree (anon:
less file-backed pages, i.e. memory-mapped spills and shards); CPU s is user + system of the tree, the
figure to compare on a shared machine. --code DIR runs the corpusforge of another checkout (e.g. an
older commit from `git archive`), for before / after measured side by side.
Both estimators get --discount-fallback: in k copies of a text every count is a multiple of k, so at
scales above 1 no n-gram has count 1 and the highest order's modified-KN discounts are undefined
(lmplz and build lm both stop without it; at 1x the flag changes nothing).
Prints Markdown for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_documents import ROOT, WORK, polls, tree_rss  # noqa: E402

SHARED = ROOT.parent / "shared" / "corpora"


def words_text() -> tuple[Path, int]:
    text = WORK / "words_1x.txt"
    if not text.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        docs = WORK / "documents_all"
        subprocess.run([sys.executable, "-m", "corpusforge.cli", "build", "documents", "-i", str(SHARED), "-o",
                        str(docs), "--overwrite", "--min-chars", "0", "--no-dedup"], check=True, capture_output=True)
        from corpusforge.dataset import load_table
        from corpusforge.tokenization.segment import get_segmenter
        seg = get_segmenter("jieba-rs")
        with open(text, "w", encoding="utf-8") as f:
            for sentences in load_table(str(docs)).column("sentences").to_pylist():
                words = [s[a:b] for s in sentences for a, b in seg.spans(s)]
                if words:
                    f.write(" ".join(words) + "\n")
    return text, sum(len(line.split()) for line in open(text, encoding="utf-8"))


def scaled(text: Path, scale: int) -> Path:
    out = WORK / f"words_{scale}x.txt"
    if scale == 1:
        return text
    if not out.exists():
        data = text.read_bytes()
        with open(out, "wb") as f:
            for _ in range(scale):
                f.write(data)
    return out


def measure(args: list[str], stdin=None, cwd=ROOT) -> dict:
    os.sync()  # no dirty page cache left from the previous run to throttle this one's writes
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=cwd)
    ps, peak, peak_anon = psutil.Process(proc.pid), 0, 0
    for _ in polls(proc):
        try:
            rss, anon = tree_rss(ps)
            peak, peak_anon = max(peak, rss), max(peak_anon, anon)
        except psutil.Error:
            pass
    if proc.returncode:
        raise SystemExit(f"failed: {' '.join(args)}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the whole process tree, workers included
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": time.perf_counter() - started, "cpu": cpu, "rss": peak, "anon": peak_anon,
            "out": proc.stdout.read()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--scales", default="1,10")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--lmplz", default=None, help="KenLM's lmplz binary, to run beside")
    p.add_argument("--code", type=Path, default=ROOT, help="the checkout whose corpusforge runs (its root)")
    a = p.parse_args()
    text, tokens = words_text()
    rows = []
    for scale in map(int, a.scales.split(",")):
        corpus = scaled(text, scale)
        n = tokens * scale
        beam = ["--direct_num_workers=%d" % a.workers] + (["--direct_running_mode=multi_processing"]
                                                         if a.workers > 1 else [])
        count = measure([sys.executable, "-m", "corpusforge.cli", "build", "ngrams", "-i", str(corpus), "--format",
                         "pretokenized", "--order", "5", "-o", str(WORK / "ngrams"), "--overwrite", *beam], cwd=a.code)
        build = measure([sys.executable, "-m", "corpusforge.cli", "build", "lm", "-i", str(WORK / "ngrams"),
                         "--smoothing", "modified-kneser-ney", "-o", str(WORK / "lm"), "--overwrite",
                         "--discount-fallback"], cwd=a.code)
        total = count["wall"] + build["wall"]
        row = {"scale": scale, "tokens": n, "count_s": count["wall"], "lm_s": build["wall"], "total_s": total,
               "rate": n / total, "count_rss": count["rss"], "lm_rss": build["rss"], "count_cpu": count["cpu"],
               "lm_cpu": build["cpu"], "count_anon": count["anon"], "lm_anon": build["anon"]}
        if a.lmplz:
            with open(corpus, "rb") as f:
                ken = measure([a.lmplz, "-o", "5", "-S", "40%", "-T", str(WORK), "--arpa", str(WORK / "lmplz.arpa"),
                               "--discount_fallback"],
                              stdin=f)
            row.update(lmplz_s=ken["wall"], lmplz_rss=ken["rss"], lmplz_rate=n / ken["wall"])
        ngrams = re.findall(r"(\d+) (\d)-grams", build["out"])
        row["ngrams"] = " / ".join(f"{int(c):,}" for c, _ in ngrams)
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    print(f"code: {a.code}; {a.workers} workers; {time.strftime('%Y-%m-%d %H:%M')}, load average before: "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| scale | tokens | build ngrams s | build lm s | total s | M tokens/s | CPU s ngrams / lm "
          "| peak RSS ngrams / lm (MB) | peak anon RSS ngrams / lm (MB) "
          "| lmplz s | lmplz M tokens/s | lmplz peak RSS (MB) | ratio (ours / lmplz rate) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ken = (f"{r['lmplz_s']:.1f} | {r['lmplz_rate'] / 1e6:.2f} | {r['lmplz_rss'] / 1e6:.0f} | "
               f"{r['rate'] / r['lmplz_rate']:.2f}") if "lmplz_s" in r else "- | - | - | -"
        print(f"| {r['scale']}x | {r['tokens'] / 1e6:.2f} M | {r['count_s']:.1f} | {r['lm_s']:.1f} | {r['total_s']:.1f} "
              f"| {r['rate'] / 1e6:.2f} | {r['count_cpu']:.1f} / {r['lm_cpu']:.1f} "
              f"| {r['count_rss'] / 1e6:.0f} / {r['lm_rss'] / 1e6:.0f} "
              f"| {r['count_anon'] / 1e6:.0f} / {r['lm_anon'] / 1e6:.0f} | {ken} |")
    print(f"\nunique 1- to 5-grams (with <unk>): {rows[0]['ngrams']}")


if __name__ == "__main__":
    main()
