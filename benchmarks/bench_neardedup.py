"""Near-duplicate removal side by side: `corpusforge build dedup` vs datatrove's MinHash pipeline.

    flock /tmp/corpusforge-bench.lock python benchmarks/bench_neardedup.py [--corpus ../shared/corpora]

Both read the same documents dataset (built once from the corpus with `build documents`) and use the
same settings: character 5-grams for a document at least half CJK, word 5-grams otherwise (datatrove:
its text simplification, then a tokenizer giving characters or whitespace words), 18 bands of 7
MinHash values (corpusforge: 128 values, 18 x 7 of them banded; datatrove: num_buckets=18,
hashes_per_bucket=7), 2 workers (Beam multi_processing; datatrove's LocalPipelineExecutor, 2 tasks
on 2 workers per stage: signatures, buckets (one task per bucket), clusters (1 task), filter).
Each side runs as a fresh process; peak RSS is sampled over the process tree. Agreement: the Jaccard
similarity of the two removed-document sets, raw (datatrove keeps an arbitrary member of a cluster,
corpusforge the smallest doc_id) and with datatrove's clusters (save_cluster_id) reduced by
corpusforge's rule (the same clusters then give the same removed set).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "_work" / "neardedup"
sys.path.insert(0, str(ROOT))
from benchmarks.bench_documents import polls, tree_rss  # noqa: E402


def run_measured(cmd: list[str]) -> tuple[float, int]:
    import psutil

    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ps, peak = psutil.Process(proc.pid), 0
    for _ in polls(proc):
        peak = max(peak, tree_rss(ps)[0])
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode:
        raise SystemExit(f"{cmd} failed:\n{err[-3000:]}")
    return time.monotonic() - started, peak


# --- the datatrove side (runs in its own process: python bench_neardedup.py --datatrove DOCS OUT) ----------

class CharsOrWords:
    """datatrove word tokenizer stand-in: characters for CJK text, whitespace words otherwise (its text is
    simplify_text's: lower-cased, punctuation removed, digits -> 0)."""

    def word_tokenize(self, text):
        from corpusforge.text.normalize import cjk_ratio

        return [c for c in text if not c.isspace()] if cjk_ratio(text) >= 0.5 else text.split()


def rank_documents(docs_dir: str, rank: int, world_size: int):
    from datatrove.data import Document

    from corpusforge.dataset.reader import load_table

    table = load_table(docs_dir).sort_by("doc_id")
    ids, sentences = table.column("doc_id").to_pylist(), table.column("sentences").to_pylist()
    lo, hi = rank * len(ids) // world_size, (rank + 1) * len(ids) // world_size
    for i in range(lo, hi):
        yield Document(text="\n".join(sentences[i]), id=ids[i])


def run_datatrove(docs_dir: str, out: str) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import minhash
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter, MinhashDedupSignature)

    minhash.load_word_tokenizer = lambda language: CharsOrWords()
    import xxhash
    from datatrove.utils.hashes import xxhash as dt_xxhash

    # datatrove 0.10.1 passes str to xxhash, which xxhash >= 4 (installed here by other packages) refuses
    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)
    config = MinhashConfig(n_grams=5, num_buckets=18, hashes_per_bucket=7)
    read = lambda data, rank, world_size: rank_documents(docs_dir, rank, world_size)  # noqa: E731

    def kept(data, rank, world_size):
        with open(f"{out}/kept-{rank}.txt", "w", encoding="utf-8") as f:
            for doc in data:
                f.write(doc.id + "\n")
                yield doc

    def stage(pipeline, tasks, name):
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(tasks, 2), logging_dir=f"{out}/logs/{name}",
                              start_method="fork").run()

    stage([read, MinhashDedupSignature(output_folder=f"{out}/sigs", config=config)], 2, "sigs")
    stage([MinhashDedupBuckets(input_folder=f"{out}/sigs", output_folder=f"{out}/buckets", config=config)],
          config.num_buckets, "buckets")
    stage([MinhashDedupCluster(input_folder=f"{out}/buckets", output_folder=f"{out}/remove", config=config,
                               save_cluster_id=True)], 1, "clusters")
    stage([read, MinhashDedupFilter(input_folder=f"{out}/remove"), kept], 2, "filter")


def datatrove_removed(docs_dir: str, out: str) -> tuple[set, set]:
    """(removed doc_ids, removed doc_ids when each datatrove cluster keeps its smallest doc_id)."""
    ranks = [[d.id for d in rank_documents(docs_dir, r, 2)] for r in range(2)]
    kept = set()
    for r in range(2):
        kept |= set(Path(f"{out}/kept-{r}.txt").read_text(encoding="utf-8").split())
    removed = {i for ids in ranks for i in ids} - kept
    clusters: dict = {}
    for r in range(2):
        path = Path(f"{out}/remove/{r:06d}.clusters")
        if path.exists():
            data = path.read_bytes()
            for doc, cluster in struct.iter_unpack("<II", data):
                clusters.setdefault(cluster, []).append(ranks[r][doc])
    canonical = {d for members in clusters.values() for d in sorted(members)[1:]}
    return removed, canonical


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpora"))
    ap.add_argument("--datatrove", nargs=2, metavar=("DOCS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.datatrove:
        run_datatrove(*args.datatrove)
        return
    py = sys.executable
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    docs = WORK / "documents"
    subprocess.run([py, "-m", "corpusforge.cli", "build", "documents", "-i", args.corpus, "-o", str(docs)], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from corpusforge.dataset.reader import read_manifest

    n = read_manifest(str(docs))["rows"]
    ours = WORK / "ours"
    t_ours, rss_ours = run_measured([py, "-m", "corpusforge.cli", "build", "dedup", "-i", str(docs), "-o", str(ours),
                                     "--num-perm", "128", "--bands", "18", "--direct_num_workers=2",
                                     "--direct_running_mode=multi_processing"])
    removed_ours = {json.loads(line)["doc_id"] for line in (ours / "near_duplicates.jsonl").read_text().splitlines()}
    theirs = WORK / "datatrove"
    theirs.mkdir()
    t_dt, rss_dt = run_measured([py, __file__, "--datatrove", str(docs), str(theirs)])
    removed_dt, canonical_dt = datatrove_removed(str(docs), str(theirs))
    load = os.getloadavg()
    print(f"documents: {n:,} (from {args.corpus}); load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"{os.cpu_count()} CPUs")
    print("| | wall s | documents/s | peak RSS MB | removed |")
    print("|---|---:|---:|---:|---:|")
    print(f"| corpusforge build dedup (2 workers) | {t_ours:.1f} | {n / t_ours:,.0f} | {rss_ours / 2**20:,.0f} | "
          f"{len(removed_ours):,} |")
    print(f"| datatrove MinHash, 4 stages (2 tasks) | {t_dt:.1f} | {n / t_dt:,.0f} | {rss_dt / 2**20:,.0f} | "
          f"{len(removed_dt):,} |")
    print(f"agreement (Jaccard of the removed sets): raw {jaccard(removed_ours, removed_dt):.3f}, datatrove's "
          f"clusters keeping the smallest doc_id {jaccard(removed_ours, canonical_dt):.3f} "
          f"(only ours {len(removed_ours - canonical_dt)}, only datatrove's {len(canonical_dt - removed_ours)})")


if __name__ == "__main__":
    main()
