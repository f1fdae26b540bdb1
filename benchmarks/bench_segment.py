"""Word segmenters side by side: speed on one core, and agreement with pure-Python jieba.

    python benchmarks/bench_segment.py [--corpus ../shared/corpora] [--repeats 5] [--examples 12]

Input: the Chinese documents of the corpus (wiki2019zh "text", news2016zh "content",
webtext2019zh "content"; a document counts as Chinese at a CJK ratio >= 0.3, so news2016zh's
English BBC articles are left out), normalised and sentence-split as the pipelines do
(corpusforge.text). Each segmenter's ``spans()`` runs over every sentence, pinned to one CPU,
chunk by chunk (1,000 sentences), segmenters interleaved; a segmenter's time is the sum over
chunks of its fastest of the repeats (robust on a shared machine). M chars/s = characters / time,
the dictionary load excluded (it is shown on its own; jieba's comes from its marshal cache in the
temp dir when that exists).
Agreement with jieba (precise mode, HMM on, the reference): the share of jieba's word spans
that a segmenter returns exactly, and the share of sentences whose spans are all equal.
Prints Markdown for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from corpusforge.text import cjk_ratio, normalize_text, split_sentences  # noqa: E402
from corpusforge.tokenization.segment import (  # noqa: E402
    CharSegmenter, JiebaRsSegmenter, JiebaSegmenter, PresegmentedSegmenter, _version)

VOCAB = ROOT.parent / "shared" / "vocab" / "bert-base-chinese-vocab.txt"


class RawRjieba(JiebaRsSegmenter):
    """rjieba as it comes (without jieba's HMM rule for non-Chinese runs)."""

    name = "rjieba-raw"

    def _words(self, text):
        return self.load().cut(text, self.hmm)


def chinese_sentences(corpus: Path) -> list[tuple[str, str]]:
    """(corpus name, sentence) for every sentence of every Chinese document."""
    files = [("wiki2019zh", "text", sorted((corpus / "wiki_zh").glob("*/wiki_*"))),
             ("news2016zh", "content", sorted((corpus / "news2016zh").glob("*.json"))),
             ("webtext2019zh", "content", sorted((corpus / "webtext2019zh").glob("*.json")))]
    out = []
    for name, field, paths in files:
        for path in paths:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    text = json.loads(line).get(field) or ""
                    if cjk_ratio(text) >= 0.3:
                        out.extend((name, s) for s in split_sentences(normalize_text(text)))
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def timed_interleaved(fns: dict, sentences: list[str], repeats: int, chunk: int = 1000):
    """{label: (seconds, results)}: every chunk of sentences is run by each fn in turn, `repeats` times;
    a fn's time is the sum over chunks of its fastest run of the chunk. On a shared machine other work
    only ever slows a run down, and short interleaved runs let each fn catch the quiet moments."""
    chunks = [sentences[i:i + chunk] for i in range(0, len(sentences), chunk)]
    best = {label: [float("inf")] * len(chunks) for label in fns}
    results = {label: [None] * len(chunks) for label in fns}
    for _ in range(repeats):
        for i, part in enumerate(chunks):
            for label, fn in fns.items():
                started = time.perf_counter()
                out = [fn(s) for s in part]
                best[label][i] = min(best[label][i], time.perf_counter() - started)
                results[label][i] = out
    return {label: (sum(best[label]), [x for part in results[label] for x in part]) for label in fns}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--examples", type=int, default=12, help="differing sentences to show per segmenter")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, Rust threads included

    data = chinese_sentences(args.corpus)
    corpora = [c for c, _ in data]
    sentences = [s for _, s in data]
    chars = sum(map(len, sentences))
    # (label, segmenter, the jieba run it is compared with: same HMM setting)
    segmenters = [("jieba (reference)", JiebaSegmenter(), None),
                  ("rjieba as it comes", RawRjieba(), "jieba (reference)"),
                  ("jieba-rs (corpusforge default)", JiebaRsSegmenter(), "jieba (reference)"),
                  ("chars", CharSegmenter(), "jieba (reference)"),
                  ("presegmented (split at spaces)", PresegmentedSegmenter(), "jieba (reference)"),
                  ("jieba, HMM off (reference)", JiebaSegmenter(hmm=False), None),
                  ("jieba-rs, HMM off", JiebaRsSegmenter(hmm=False), "jieba, HMM off (reference)")]
    loads, loaded = {}, set()
    for label, seg, _ in segmenters:
        if hasattr(seg, "load") and seg.dist not in loaded:
            started = time.perf_counter()
            seg.load()
            loads[label] = time.perf_counter() - started
            loaded.add(seg.dist)
    timings = timed_interleaved({label: seg.spans for label, seg, _ in segmenters}, sentences, args.repeats)
    results = {label: spans for label, (_, spans) in timings.items()}
    rows = [(label, ref, loads.get(label), timings[label][0]) for label, _, ref in segmenters]
    tokenizer_row = None
    if VOCAB.exists():
        from corpusforge.tokenization.tokenizer import TextTokenizer

        bert = TextTokenizer(str(VOCAB))
        bert.impl
        batches = [sentences[i:i + 100] for i in range(0, len(sentences), 100)]
        [(tokenizer_row, _)] = timed_interleaved({"bert": bert.encode}, batches, args.repeats, chunk=10).values()

    reference = results["jieba (reference)"]
    ref_spans = sum(map(len, reference))
    cmd = "python benchmarks/bench_segment.py" + "".join(f" {a}" for a in sys.argv[1:])
    print(f"Command: `{cmd}`. Date: {datetime.date.today().isoformat()}. Machine: {machine()}; "
          f"pinned to one CPU. jieba {_version('jieba')}, rjieba {_version('rjieba')} (jieba-rs).\n")
    counts = {c: corpora.count(c) for c in dict.fromkeys(corpora)}
    print(f"Corpus: the Chinese documents of `{args.corpus}` ({', '.join(f'{c} {n:,}' for c, n in counts.items())} "
          f"sentences): {len(sentences):,} sentences, {chars / 1e6:.2f} M characters, {ref_spans:,} jieba words. "
          f"Time: per chunk of 1,000 sentences the fastest of {args.repeats} runs, segmenters interleaved, summed; "
          "dictionary load (first use in the process) timed apart. "
          "Agreement is with jieba at the same HMM setting.\n")
    print("| segmenter | load s | M chars/s | x jieba | jieba's word spans returned | sentences equal to jieba |")
    print("|---|---|---|---|---|---|")
    base = rows[0][3]
    for label, ref, load, seconds in rows:
        agree = ["(reference)", "(reference)"]
        if ref:
            a_all, b_all = results[ref], results[label]
            same_spans = sum(len(set(a) & set(b)) for a, b in zip(a_all, b_all))
            same_sentences = sum(a == b for a, b in zip(a_all, b_all))
            agree = [f"{same_spans / sum(map(len, a_all)):.4%}",
                     f"{same_sentences / len(sentences):.4%} ({len(sentences) - same_sentences:,} differ)"]
        print(f"| {label} | {'' if load is None else f'{load:.2f}'} | {chars / seconds / 1e6:.2f} | "
              f"{base / seconds:.1f} | {agree[0]} | {agree[1]} |")
    if tokenizer_row:
        print(f"| (context: bert-base-chinese WordPiece, `TextTokenizer.encode`, batches of 100) | | "
              f"{chars / tokenizer_row / 1e6:.2f} | {base / tokenizer_row:.1f} | | |")

    print("\nAgreement with jieba per corpus (sentences equal / jieba's word spans returned):\n")
    names = list(counts)
    print("| segmenter | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label in ("rjieba as it comes", "jieba-rs (corpusforge default)", "chars"):
        cells = []
        for name in names:
            idx = [i for i, c in enumerate(corpora) if c == name]
            eq = sum(reference[i] == results[label][i] for i in idx)
            ref = sum(len(reference[i]) for i in idx)
            got = sum(len(set(reference[i]) & set(results[label][i])) for i in idx)
            cells.append(f"{eq / len(idx):.4%} / {got / ref:.4%}")
        print(f"| {label} | " + " | ".join(cells) + " |")

    for label in ("rjieba as it comes", "jieba-rs (corpusforge default)"):
        diffs = [i for i, (a, b) in enumerate(zip(reference, results[label])) if a != b]
        shown = diffs[::max(1, len(diffs) // args.examples)][:args.examples]  # spread over the corpora
        print(f"\nWhere {label} differs from jieba ({len(diffs)} sentences; {len(shown)} spread over them, "
              "differing stretch only, words separated by |):\n")
        for i in shown:
            print(f"- {corpora[i]}: jieba `{excerpt(sentences[i], reference[i], results[label][i], 0)}` / "
                  f"{label.split(' ')[0]} `{excerpt(sentences[i], reference[i], results[label][i], 1)}`")


def excerpt(text, a, b, which):
    """The stretch of text where span lists a and b differ (plus a word either side), as words|joined."""
    sa, sb = set(a), set(b)
    odd = [s for s in a if s not in sb] + [s for s in b if s not in sa]
    lo, hi = min(s for s, _ in odd), max(e for _, e in odd)
    spans = a if which == 0 else b
    keep = [i for i, (s, e) in enumerate(spans) if e > lo and s < hi]
    first, last = max(keep[0] - 1, 0), min(keep[-1] + 1, len(spans) - 1)
    return "|".join(text[s:e] for s, e in spans[first:last + 1])


if __name__ == "__main__":
    main()
