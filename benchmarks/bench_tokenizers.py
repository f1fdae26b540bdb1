"""Characters/s of each tokenizer kind `build tokenized` accepts, on the same sentences, as the stage calls them.

    python benchmarks/bench_tokenizers.py [--repeats 3]

Sentences: the documents dataset of ../shared/corpora (1x, as bench_tokenized.py builds it). Tokenizers:
bert-base-chinese's vocab.txt (WordPiece), and a byte-level BPE tokenizer.json and a SentencePiece unigram
.model trained on the same corpus with `corpusforge build vocab` (30k entries each; cached under
benchmarks/_work). Each is timed through TextTokenizer.encode_flat (ids + character offsets, the call the
pipeline makes), 1,000 sentences per call, in a fresh process with RAYON_NUM_THREADS=1 (one core) and with
the default thread pool; best of --repeats, and the first pass alone (FastWordPiece learns its codepoint
table and word cache on it). The vocab.txt is timed twice: through FastWordPiece (what encode_flat does)
and through the library alone (TextTokenizer.fast = False, the code before it). Prints Markdown for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_documents import ROOT, WORK  # noqa: E402
from bench_tokenized import VOCAB, documents  # noqa: E402

TRAINED = {"bpe": "tokenizer.json", "unigram": "spiece.model"}


def trained(model: str, docs: Path) -> Path:
    out = WORK / f"vocab_{model}"
    if not out.exists():
        subprocess.run([sys.executable, "-m", "corpusforge.cli", "build", "vocab", "-i", str(docs), "-m", model,
                        "--vocab-size", "30000", "-o", str(out)], check=True, capture_output=True)
    return out / TRAINED[model]


def rate(path: str, docs: str, repeats: int, fast: bool = True) -> tuple[float, float]:
    from corpusforge.dataset import load_table
    from corpusforge.tokenization.tokenizer import TextTokenizer

    sentences = [s for doc in load_table(docs).column("sentences").to_pylist() for s in doc]
    chars = sum(map(len, sentences))
    tokenizer = TextTokenizer(path)
    tokenizer.fast = fast
    tokenizer.encode_flat(["预热"])  # load the model before timing
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for i in range(0, len(sentences), 1000):
            tokenizer.encode_flat(sentences[i:i + 1000])
        times.append(time.perf_counter() - started)
    return chars / min(times), chars / times[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="only the rows whose label holds this text (e.g. WordPiece)")
    parser.add_argument("--rate", nargs=3, help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.rate:
        print(json.dumps(rate(*a.rate[:2], a.repeats, fast=a.rate[2] == "fast")))
        return
    docs = documents(1, a.corpus)
    files = {"WordPiece vocab.txt (bert-base-chinese, 21,128), FastWordPiece": (VOCAB, "fast"),
             "WordPiece vocab.txt (bert-base-chinese, 21,128), library alone (before)": (VOCAB, "slow"),
             "byte-level BPE tokenizer.json (trained, 30,000)": (trained("bpe", docs), "fast"),
             "SentencePiece unigram spiece.model (trained, 30,000)": (trained("unigram", docs), "fast")}
    print("| tokenizer | M chars/s, 1 thread | first pass, 1 thread | M chars/s, default threads | first pass, default threads |")
    print("|---|---|---|---|---|")
    for label, (path, how) in files.items():
        if a.only and a.only not in label:
            continue
        rates = []
        for threads in ("1", None):
            env = {k: v for k, v in os.environ.items() if k != "RAYON_NUM_THREADS"}
            if threads:
                env["RAYON_NUM_THREADS"] = threads
            out = subprocess.run([sys.executable, __file__, "--repeats", str(a.repeats), "--rate", str(path), str(docs), how],
                                 env=env, check=True, capture_output=True, text=True).stdout
            rates += json.loads(out.strip().splitlines()[-1])
        print(f"| {label} | " + " | ".join(f"{r / 1e6:.2f}" for r in rates) + " |", flush=True)


if __name__ == "__main__":
    main()
