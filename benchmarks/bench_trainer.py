"""The encoder trainer on CPU: input pipeline vs training step rate, and a longer NSP run.

    python benchmarks/bench_trainer.py [--threads 2] [--steps 1500] [--skip-long]

1. Input pipeline: sequences/s of PretrainingDataset + PretrainingCollator with dynamic whole-word
   masking at length 128 (a --masking none FULL-SENTENCES dataset of the sample corpus), batch 32,
   2 DataLoader workers, over two epochs.
2. Training step rate of the tiny and mini presets at length 128, batch 32 (static NSP data),
   forward + backward + AdamW step, after 3 warm-up steps.
3. A longer run: tiny, MLM + NSP on the sample corpus (nsp, dupe factor 5, length 128), held-out
   evaluation every 100 steps; the curve goes to benchmarks/_work/trainer_curve.png (matplotlib).
Prints Markdown for BENCHMARKS.md and writes benchmarks/_work/trainer.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "_work"
VOCAB = ROOT.parent / "shared" / "vocab" / "bert-base-chinese-vocab.txt"
CLI = [sys.executable, "-m", "corpusforge.cli"]


def build(name: str, *args) -> Path:
    out = WORK / name
    if not (out / "manifest.json").exists():
        tok = WORK / "sample_tokenized"
        if not (tok / "manifest.json").exists():
            subprocess.run([*CLI, "build", "tokenized", "-i", str(ROOT / "samples" / "corpora"), "-t", str(VOCAB), "-o",
                            str(tok), "--overwrite"], check=True, capture_output=True)
        subprocess.run([*CLI, "build", "pretraining", "-i", str(tok), "-o", str(out), "--overwrite", *args], check=True,
                       capture_output=True)
    return out


def input_pipeline(data: Path, workers: int = 2, batch: int = 32, epochs: int = 2) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from corpusforge.torch import EpochSampler, PretrainingCollator, PretrainingDataset, masking_config

    ds = PretrainingDataset(str(data))
    masking = masking_config(ds.info, "wwm")
    n, started = 0, time.perf_counter()
    for epoch in range(epochs):
        loader = DataLoader(ds, batch_size=batch, sampler=EpochSampler(len(ds), 0, epoch), num_workers=workers,
                            collate_fn=PretrainingCollator(masking=masking, seed=0, epoch=epoch),
                            generator=torch.Generator().manual_seed(0))
        for b in loader:
            n += len(b["input_ids"])
    seconds = time.perf_counter() - started
    return {"sequences": n, "seconds": seconds, "sequences_per_s": n / seconds}


def step_rate(data: Path, preset: str, steps: int, batch: int = 32) -> dict:
    import torch

    from corpusforge.torch import EpochSampler, PretrainingCollator, PretrainingDataset
    from corpusforge.trainers.encoder import Encoder, EncoderConfig, count_parameters, parameter_groups

    ds = PretrainingDataset(str(data))
    collate = PretrainingCollator(label=ds.info.label)
    order = list(EpochSampler(len(ds), 0, 0))
    batches = [collate([ds[i] for i in order[k * batch:(k + 1) * batch]]) for k in range(steps + 3)]
    torch.manual_seed(0)
    model = Encoder(EncoderConfig.preset(preset, ds.info.vocab_size)).train()
    opt = torch.optim.AdamW(parameter_groups(model, 0.01), lr=1e-4)
    tokens = 0
    for k, b in enumerate(batches):
        if k == 3:
            started, tokens = time.perf_counter(), 0
        model(b)["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(b["attention_mask"].sum())
    seconds = time.perf_counter() - started
    return {"preset": preset, "parameters": count_parameters(model), "steps": steps, "seconds": seconds,
            "steps_per_s": steps / seconds, "sequences_per_s": steps * batch / seconds, "tokens_per_s": tokens / seconds}


def long_run(data: Path, steps: int, threads: int) -> dict:
    out = WORK / "trainer_run"
    cmd = [*CLI, "train", "bert", "--data", str(data), "--out", str(out), "--preset", "tiny", "--max-steps", str(steps),
           "--batch-size", "32", "--lr", "1e-3", "--warmup-steps", "100", "--log-every", "25", "--eval-rows", "1024",
           "--eval-every", "100", "--save-every", "500", "--threads", str(threads), "--overwrite", "--quiet"]
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    seconds = time.perf_counter() - started
    records = [json.loads(line) for line in open(out / "metrics.jsonl")]
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_mlm_acc" in r]
    plot(train, evals, WORK / "trainer_curve.png")
    return {"command": " ".join(str(c) for c in cmd[2:]), "seconds": seconds, "first": train[0], "last": train[-1],
            "evals": evals}


def plot(train: list, evals: list, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install -e '.[bench]'): no PNG", file=sys.stderr)
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot([r["step"] for r in train], [r["mlm_loss"] for r in train], label="train MLM loss")
    a.plot([r["step"] for r in evals], [r["eval_mlm_loss"] for r in evals], "o-", label="held-out MLM loss")
    a.set_xlabel("step")
    a.legend()
    b.plot([r["step"] for r in train], [r["sentence_acc"] for r in train], alpha=0.5, label="train NSP accuracy")
    b.plot([r["step"] for r in evals], [r["eval_sentence_acc"] for r in evals], "o-", label="held-out NSP accuracy")
    b.plot([r["step"] for r in evals], [r["eval_mlm_acc"] for r in evals], "s-", label="held-out MLM accuracy")
    b.axhline(0.5, color="grey", linestyle=":", label="chance (NSP)")
    b.set_xlabel("step")
    b.legend()
    fig.suptitle("corpusforge train bert --preset tiny, MLM + NSP, sample corpus (CPU)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=1500, help="steps of the longer run")
    parser.add_argument("--rate-steps", type=int, default=20)
    parser.add_argument("--skip-long", action="store_true")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    WORK.mkdir(parents=True, exist_ok=True)
    full = build("full128_none", "--mode", "full-sentences", "--masking", "none", "--max-seq-length", "128")
    nsp = build("nsp128_dupe5", "--mode", "nsp", "--masking", "token", "--max-seq-length", "128", "--dupe-factor", "5")
    results = {"threads": args.threads, "input": input_pipeline(full),
               "rates": [step_rate(nsp, p, args.rate_steps) for p in ("tiny", "mini")]}
    if not args.skip_long:
        results["long"] = long_run(nsp, args.steps, args.threads)
    (WORK / "trainer.json").write_text(json.dumps(results, indent=2))
    i = results["input"]
    print("| what | sequences/s (length 128, batch 32) | tokens/s | steps/s |")
    print("|---|---|---|---|")
    print(f"| input pipeline: dataset + dynamic wwm collator, 2 workers | {i['sequences_per_s']:,.0f} | | |")
    for r in results["rates"]:
        print(f"| train step, {r['preset']} ({r['parameters'] / 1e6:.1f}M parameters), {args.threads} thread(s) | "
              f"{r['sequences_per_s']:,.1f} | {r['tokens_per_s']:,.0f} | {r['steps_per_s']:.2f} |")
    if "long" in results:
        lr = results["long"]
        print(f"\nlonger run: {lr['command']} ({lr['seconds']:.0f} s)")
        print("| step | train MLM loss | held-out MLM loss | held-out MLM acc | held-out NSP acc |")
        print("|---|---|---|---|---|")
        by_step = {r["step"]: r for r in [lr["first"]] + [json.loads(x) for x in
                                                             open(WORK / "trainer_run" / "metrics.jsonl")] if "loss" in r}
        for e in lr["evals"]:
            t = by_step.get(e["step"], {})
            print(f"| {e['step']} | {t.get('mlm_loss', float('nan')):.3f} | {e['eval_mlm_loss']:.3f} | "
                  f"{e['eval_mlm_acc']:.3f} | {e['eval_sentence_acc']:.3f} |")


if __name__ == "__main__":
    main()
