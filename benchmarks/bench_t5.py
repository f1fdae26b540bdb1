"""`build pretraining --mode t5 --max-seq-length 512` from raw wiki + news text, side by side with the Hugging
Face T5 recipe on the same text and SentencePiece model, back to back in one command:

- the recipe (benchmarks/peers/hf_t5.py): datasets `map(num_proc=2)` tokenization, `group_texts` to 568-token
  blocks and run_t5_mlm_flax.py's FlaxDataCollatorForT5MLM applied once to every block.

    python benchmarks/bench_t5.py [--scales 1,10] [--repeats 3] [--repeats-10x N] [--workers 2]

The SentencePiece model is `corpusforge build vocab -m unigram --extra-ids 100` of the 1x raw text (made once,
not timed), given to both. The peer reads a JSON-lines file of the raw documents' text (bench_causal's
text_jsonl); corpusforge reads the raw files themselves and also cleans, splits and accounts. Examples/s is each
tool's own count of the examples it made over its wall time (fresh processes, start-up included); peak RSS is the
whole process tree's. The token counts (ours: raw tokens; the peer's: tokens less the EOS it appends to every
text) are printed and must agree within 1%, so the two corrupt the same text. Prints a Markdown table;
ratio = ours / peer, medians of the repeats.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_causal import measure, text_jsonl  # noqa: E402
from bench_documents import ROOT, WORK  # noqa: E402
from bench_pretraining import wiki_news  # noqa: E402

LENGTH = 512


def spm_model(corpus: Path) -> Path:
    """One SentencePiece unigram model with T5's 100 sentinels, trained on the 1x text, for both tools."""
    out = WORK / "t5_vocab"
    models = lambda: [out / n for n in ("spiece.model", "spm.model") if (out / n).exists()]  # noqa: E731 (spm.: < 0.5)
    if not models():
        subprocess.run([sys.executable, "-m", "corpusforge.cli", "build", "vocab", "-i", str(wiki_news(corpus, 1)),
                        "-m", "unigram", "--extra-ids", "100", "-o", str(out), "--overwrite"],
                       check=True, capture_output=True, cwd=ROOT)
    return models()[0]


def ours(raw: Path, model: Path, workers: int) -> dict:
    out = WORK / "out_t5"
    r = measure([sys.executable, "-m", "corpusforge.cli", "build", "pretraining", "--mode", "t5",
                 "--max-seq-length", str(LENGTH), "-t", str(model), "--no-dedup", "-i", str(raw), "-o", str(out),
                 "--overwrite", f"--direct_num_workers={workers}",
                 *(["--direct_running_mode=multi_processing"] if workers > 1 else [])])
    stats = json.loads((out / "manifest.json").read_text())["statistics"]
    r["examples"], r["tokens"] = stats["examples"], stats["raw_tokens"]
    return r


def hf(text: Path, model: Path, workers: int) -> dict:
    cache = WORK / "hf_cache"
    shutil.rmtree(cache, ignore_errors=True)
    r = measure([sys.executable, str(ROOT / "benchmarks" / "peers" / "hf_t5.py"), str(text), str(model), str(LENGTH),
                 str(workers), str(cache)], env={"HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    shutil.rmtree(cache, ignore_errors=True)
    out = json.loads(r["stdout"].strip().splitlines()[-1])
    r["examples"], r["tokens"] = out["examples"], out["tokens"] - out["texts"]  # less the EOS per text
    return r


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repeats-10x", type=int, default=None, help="repeats at 10x (default: --repeats)")
    parser.add_argument("--workers", type=int, default=2)
    a = parser.parse_args()
    model = spm_model(a.corpus)
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {a.repeats} repeats, {a.workers} workers", flush=True)
    print("| scale | input MB | ours examples/s | peer examples/s | ours / peer | ours examples | peer examples "
          "| ours tokens | peer tokens | peak RSS MB ours / peer | CPU s ours / peer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scale in map(int, a.scales.split(",")):
        raw = wiki_news(a.corpus, scale)
        text = text_jsonl(raw, scale)
        size = sum(p.stat().st_size for p in raw.rglob("*") if p.is_file()) / 1e6
        repeats = a.repeats_10x if scale == 10 and a.repeats_10x else a.repeats
        pairs = [(ours(raw, model, a.workers), hf(text, model, a.workers)) for _ in range(repeats)]  # back to back
        o_tok, p_tok = pairs[0][0]["tokens"], pairs[0][1]["tokens"]
        if abs(o_tok - p_tok) > 0.01 * o_tok:
            print(f"WARNING: token counts differ by more than 1%: ours {o_tok:,}, peer {p_tok:,}", flush=True)
        rate = lambda r: r["examples"] / r["wall"]  # noqa: E731
        o, p = statistics.median(rate(x) for x, _ in pairs), statistics.median(rate(y) for _, y in pairs)
        ratio = statistics.median(rate(x) / rate(y) for x, y in pairs)
        med = lambda k, i: statistics.median(pair[i][k] for pair in pairs)  # noqa: E731
        print(f"| {scale}x | {size:.1f} | {o:,.0f} | {p:,.0f} | **{ratio:.2f}x** | {pairs[0][0]['examples']:,} "
              f"| {pairs[0][1]['examples']:,} | {o_tok:,} | {p_tok:,} | {med('rss', 0) / 2**20:.0f} / "
              f"{med('rss', 1) / 2**20:.0f} | {med('cpu', 0):.1f} / {med('cpu', 1):.1f} |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
