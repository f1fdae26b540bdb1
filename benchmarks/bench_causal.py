"""`build pretraining --mode causal --max-seq-length 1024` from raw wiki + news text, side by side with its
peers on the same text and vocab, back to back in one command:

- the Hugging Face recipe (benchmarks/peers/hf_clm.py: datasets `map(num_proc=2)` with the fast
  BertTokenizer, then run_clm's `group_texts` to 1024-token blocks);
- Megatron-LM's tools/preprocess_data.py (`--workers 2 --append-eod`, its BertWordPieceLowerCase tokenizer;
  set up by benchmarks/peers/megatron.sh), which writes the token stream Megatron cuts into blocks at train time.

    python benchmarks/bench_causal.py [--scales 1,10] [--repeats 3] [--workers 2] [--no-megatron]

The peers read a JSON-lines file of the raw documents' text (wiki "text", news "content": made once, not
timed); corpusforge reads the raw files themselves and also cleans, splits and accounts. Tokens/s is each
tool's own count of the tokens it wrote over its wall time (fresh processes, start-up included); peak RSS is
the whole process tree's. Prints a Markdown table; ratio = ours / peer, medians of the repeats.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_documents import ROOT, WORK, polls, tree_rss  # noqa: E402
from bench_pretraining import wiki_news  # noqa: E402

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
BLOCK = 1024


def measure(args: list[str], env: dict | None = None) -> dict:
    """One command in a fresh process tree: wall s, CPU s, peak RSS, stdout."""
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # output to files, not pipes: nobody reads a pipe while the process runs, and a full one blocks it
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        proc = subprocess.Popen(args, stdout=out_f, stderr=err_f, text=True, cwd=ROOT,
                                env={**os.environ, **(env or {})})
        ps, peak = psutil.Process(proc.pid), 0
        for _ in polls(proc):
            try:
                peak = max(peak, tree_rss(ps)[0])
            except psutil.Error:
                pass
        wall = time.perf_counter() - started
        out_f.seek(0), err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{args[:4]} failed:\n{err[-3000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"wall": wall, "cpu": cpu, "rss": peak, "stdout": out}


def text_jsonl(raw: Path, scale: int) -> Path:
    """The raw documents' text, one JSON object {"text": ...} per line, for the peers."""
    target = WORK / f"wikinews_text_{scale}x.jsonl"
    if not target.exists():
        with open(f"{target}.part", "w", encoding="utf-8") as out:
            for path in sorted(p for p in raw.rglob("*") if p.is_file()):
                for line in path.open(encoding="utf-8"):
                    obj = json.loads(line)
                    text = obj.get("text") or obj.get("content")
                    if text and text.strip():
                        out.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
        os.replace(f"{target}.part", target)
    return target


def ours(raw: Path, workers: int) -> dict:
    out = WORK / "out_causal"
    r = measure([sys.executable, "-m", "corpusforge.cli", "build", "pretraining", "--mode", "causal",
                 "--max-seq-length", str(BLOCK), "-t", str(VOCAB), "--no-dedup", "-i", str(raw), "-o", str(out),
                 "--overwrite", f"--direct_num_workers={workers}",
                 *(["--direct_running_mode=multi_processing"] if workers > 1 else [])])
    r["tokens"] = json.loads((out / "manifest.json").read_text())["statistics"]["tokens"]
    return r


def hf(text: Path, workers: int) -> dict:
    cache = WORK / "hf_cache"
    shutil.rmtree(cache, ignore_errors=True)
    r = measure([sys.executable, str(ROOT / "benchmarks" / "peers" / "hf_clm.py"), str(text), str(VOCAB), str(BLOCK),
                 str(workers), str(cache)], env={"HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    shutil.rmtree(cache, ignore_errors=True)
    r["tokens"] = json.loads(r["stdout"].strip().splitlines()[-1])["tokens"]
    return r


def megatron(text: Path, workers: int, home: Path) -> dict:
    prefix = WORK / "megatron_out" / "wikinews"
    shutil.rmtree(prefix.parent, ignore_errors=True)
    prefix.parent.mkdir(parents=True)
    r = measure([str(home / ".venv" / "bin" / "python"), "-W", "ignore", str(home / "tools" / "preprocess_data.py"),
                 "--input", str(text), "--output-prefix", str(prefix), "--tokenizer-type", "BertWordPieceLowerCase",
                 "--vocab-file", str(VOCAB), "--workers", str(workers), "--append-eod", "--legacy-tokenizer"],
                env={"PYTHONPATH": str(home)})
    r["tokens"] = idx_tokens(Path(f"{prefix}_text_document.idx"))
    return r


def idx_tokens(idx: Path) -> int:
    """The sum of the sequence lengths of a Megatron MMapIndexedDataset index (header: 9-byte magic, version
    <Q, dtype code <B, sequence count <Q, document count <Q, then the int32 lengths)."""
    import numpy as np

    data = idx.read_bytes()
    assert data[:9] == b"MMIDIDX\x00\x00", idx
    count = int(np.frombuffer(data, "<u8", 1, 18)[0])
    return int(np.frombuffer(data, "<i4", count, 34).sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-megatron", action="store_true")
    a = parser.parse_args()
    peers = {"HF run_clm recipe": hf}
    if not a.no_megatron:
        home = Path(subprocess.run(["bash", str(ROOT / "benchmarks" / "peers" / "megatron.sh")], check=True,
                                   capture_output=True, text=True).stdout.strip().splitlines()[-1])
        peers["Megatron preprocess_data.py"] = lambda text, w: megatron(text, w, home)
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {a.repeats} repeats, {a.workers} workers", flush=True)
    print("| scale | input MB | peer | ours M tokens/s | peer M tokens/s | ours / peer | ours tokens | peer tokens "
          "| peak RSS MB ours / peer | CPU s ours / peer |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for scale in map(int, a.scales.split(",")):
        raw = wiki_news(a.corpus, scale)
        text = text_jsonl(raw, scale)
        size = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file()) / 1e6
        for name, peer in peers.items():
            pairs = [(ours(raw, a.workers), peer(text, a.workers)) for _ in range(a.repeats)]  # back to back
            rate = lambda r: r["tokens"] / r["wall"] / 1e6  # noqa: E731
            o, p = statistics.median(rate(x) for x, _ in pairs), statistics.median(rate(y) for _, y in pairs)
            ratio = statistics.median(rate(x) / rate(y) for x, y in pairs)
            med = lambda k, i: statistics.median(pair[i][k] for pair in pairs)  # noqa: E731
            print(f"| {scale}x | {size:.1f} | {name} | {o:.2f} | {p:.2f} | **{ratio:.2f}x** | {pairs[0][0]['tokens']:,} "
                  f"| {pairs[0][1]['tokens']:,} | {med('rss', 0) / 2**20:.0f} / {med('rss', 1) / 2**20:.0f} "
                  f"| {med('cpu', 0):.1f} / {med('cpu', 1):.1f} |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
