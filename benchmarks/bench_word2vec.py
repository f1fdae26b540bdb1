"""`train word2vec` next to gensim's Word2Vec on the same token stream: words/s, neighbour overlap, analogies.

    flock /tmp/corpusforge-bench.lock python benchmarks/bench_word2vec.py [--repeats 3] [--modes sg,cbow]

Input: the wiki_zh and news2016zh train files of ../shared/corpora, built once by `build word2vec` (jieba-rs
words, min-count 5, sample 1e-3). Both trainers read exactly that dataset's rows: ours the dataset, gensim the
same id sequences turned back into words (cut into pieces of 10,000 tokens, gensim's longest sentence), with
vocab.txt's counts as its vocabulary (build_vocab_from_freq: the same words and unigram table) and sample=0
(the rows are already subsampled with 1e-3). Settings of both: dim 100, window 5, negative 5, 5 epochs,
skip-gram alpha 0.025, CBOW 0.05 (word2vec.c's and gensim's CBOW default differ: 0.05 is word2vec.c's, set for
both); ours with --threads 2, gensim with workers=2.

words/s: tokens x epochs over training seconds (ours: the epochs' seconds from train.json; gensim: its train()
call), medians of the repeats. Quality: (a) the mean share of the 10 nearest neighbours (cosine) of the 1,000
most frequent words that two models have in common, ours vs gensim and, as the noise floor, gensim vs gensim
with another seed; (b) accuracy on benchmarks/data/zh_analogies.txt (gensim's evaluate_word_analogies, 3CosAdd,
questions with all four words in the vocabulary). Prints Markdown rows for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpora"
ANALOGIES = ROOT / "benchmarks" / "data" / "zh_analogies.txt"
SETTINGS = {"dim": 100, "window": 5, "negative": 5, "epochs": 5}
GENSIM_MAX = 10000  # gensim truncates longer sentences


def cli(*args):
    return subprocess.run([sys.executable, "-m", "corpusforge.cli", *map(str, args)], cwd=ROOT, check=True,
                          capture_output=True, text=True)


def build(work: Path) -> Path:
    data = work / "data"
    if not (data / "manifest.json").exists():
        cli("build", "word2vec", "-i", CORPUS / "wiki_zh", "-i", CORPUS / "news2016zh" / "news2016zh_train.json",
            "--min-count", "5", "--sample", "1e-3", "-o", data, "--overwrite")
    return data


def ours(data: Path, out: Path, cbow: bool, seed: int):
    cli("train", "word2vec", "-i", data, "-o", out, "--overwrite", "--threads", "2", "--device", "cpu",
        "--seed", seed, *(["--cbow"] if cbow else []), *[a for k, v in SETTINGS.items() for a in (f"--{k}", v)])
    info = json.loads((out / "train.json").read_text())
    from gensim.models import KeyedVectors

    return KeyedVectors.load_word2vec_format(str(out / "vectors.bin"), binary=True), sum(info["seconds_per_epoch"])


def gensim_run(sentences, counts: dict, cbow: bool, seed: int):
    from gensim.models import Word2Vec

    model = Word2Vec(vector_size=SETTINGS["dim"], window=SETTINGS["window"], negative=SETTINGS["negative"], hs=0,
                     sg=0 if cbow else 1, alpha=0.05 if cbow else 0.025, min_count=1, sample=0, workers=2, seed=seed,
                     epochs=SETTINGS["epochs"])
    model.build_vocab_from_freq(counts)
    started = time.perf_counter()
    model.train(sentences, total_examples=len(sentences), epochs=SETTINGS["epochs"])
    return model.wv, time.perf_counter() - started


def neighbours(kv, words, k=10):
    m = np.stack([kv[w] for w in kv.index_to_key])
    m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    index = {w: i for i, w in enumerate(kv.index_to_key)}
    q = m[[index[w] for w in words]]
    sims = q @ m.T
    sims[np.arange(len(words)), [index[w] for w in words]] = -np.inf  # not the word itself
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    return [{kv.index_to_key[j] for j in row} for row in top]


def overlap(a, b):
    return float(np.mean([len(x & y) / len(x) for x, y in zip(a, b)]))


def analogy(kv) -> float:
    score, _ = kv.evaluate_word_analogies(str(ANALOGIES), restrict_vocab=len(kv.index_to_key))
    return score


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", default="sg,cbow")
    ap.add_argument("--work", default="/tmp/corpusforge-bench-w2v")
    args = ap.parse_args()
    logging.getLogger("gensim").setLevel(logging.WARNING)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = build(work)
    from corpusforge.trainers.word2vec import load_corpus

    _, vocab, ids, rows = load_corpus(str(data))
    words = np.array([w for w, _ in vocab], dtype=object)
    cuts = np.flatnonzero(np.diff(rows)) + 1
    sentences = [list(words[part[i:i + GENSIM_MAX]]) for part in np.split(ids, cuts)
                 for i in range(0, len(part), GENSIM_MAX)]
    counts = dict(vocab)
    top = [w for w, _ in vocab[:1000]]
    tokens = len(ids) * SETTINGS["epochs"]
    out = []
    for mode in args.modes.split(","):
        cbow = mode == "cbow"
        r = {k: [] for k in ("ours_wps", "gensim_wps", "ours_vs_gensim", "gensim_vs_gensim", "ours_acc", "gensim_acc")}
        load = [os.getloadavg()[0]]
        for rep in range(args.repeats):
            kv_o, s_o = ours(data, work / f"ours-{mode}", cbow, 1 + rep)
            kv_g, s_g = gensim_run(sentences, counts, cbow, 1 + rep)
            kv_g2, _ = gensim_run(sentences, counts, cbow, 101 + rep)
            n_o, n_g, n_g2 = (neighbours(kv, top) for kv in (kv_o, kv_g, kv_g2))
            r["ours_wps"].append(tokens / s_o)
            r["gensim_wps"].append(tokens / s_g)
            r["ours_vs_gensim"].append(overlap(n_o, n_g))
            r["gensim_vs_gensim"].append(overlap(n_g, n_g2))
            r["ours_acc"].append(analogy(kv_o))
            r["gensim_acc"].append(analogy(kv_g))
            print(mode, rep, {k: round(v[-1], 4) for k, v in r.items()}, f"load {os.getloadavg()[0]:.1f}",
                  flush=True)
        load.append(os.getloadavg()[0])
        med = {k: statistics.median(v) for k, v in r.items()}
        out.append(f"| {'CBOW' if cbow else 'skip-gram'} | {med['ours_wps'] / 1e3:,.0f} k | {med['gensim_wps'] / 1e3:,.0f} k "
                   f"| **{med['ours_wps'] / med['gensim_wps']:.2f}x** | {med['ours_vs_gensim']:.3f} "
                   f"| {med['gensim_vs_gensim']:.3f} | {med['ours_acc']:.3f} | {med['gensim_acc']:.3f} "
                   f"| {args.repeats} | {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} | {load[0]:.1f}-{load[1]:.1f} |")
    print(f"\n{len(ids):,} tokens x {SETTINGS['epochs']} epochs, {len(vocab):,} words\n")
    print("| mode | ours words/s | gensim words/s | ratio | NN@10 overlap ours-gensim | gensim-gensim "
          "| analogy acc ours | gensim | runs | date (UTC) | load (1 min, start-end) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(out))


if __name__ == "__main__":
    main()
