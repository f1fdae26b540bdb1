"""GPT-2 pretraining on a causal dataset (`build pretraining --mode causal`).

    corpusforge train gpt -i DIR -o OUT [--preset tiny] ...
    torchrun --nproc_per_node 8 -m corpusforge.cli train gpt ...     (DDP, one process per GPU)

The model is transformers' GPT2LMHeadModel built from a config (no download). Document boundaries
are honoured (the default --reset-attention): each block is fed with a block-diagonal causal mask
and position ids restarting at every document start, as Megatron-LM's reset_attention_mask and
reset_position_ids do, so a token never sees the previous document. Labels are the inputs (the model
shifts them); padding is ignored. Writes OUT/metrics.jsonl, OUT/checkpoint.pt (model, optimiser,
schedule, generator states, data position: --resume continues exactly) and OUT/hf/
(save_pretrained: GPT2LMHeadModel.from_pretrained loads it and generates).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields

import click
import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from corpusforge.cliutil import AliasOption
from corpusforge.dataset.reader import open_shard, read_manifest
from corpusforge.torch import EpochSampler
from trainers.common import (MetricsLog, Progress, gather_rng_states, load_checkpoint, save_checkpoint,
                             set_rng_state, setup_distributed, teardown_distributed)
from trainers.encoder import PRESETS, count_parameters, lr_factor, parameter_groups

CHECKPOINT = "checkpoint.pt"
IGNORE = -100


class TrainError(ValueError):
    """A bad argument or unusable input: one sentence, raised before any training."""


@dataclass
class GPTConfig:
    data: str
    out: str
    preset: str = "tiny"
    reset_attention: bool = True  # block-diagonal attention and position ids per document
    lr: float = 6e-4
    weight_decay: float = 0.1
    warmup_steps: int | None = None  # default: 6% of max_steps
    max_steps: int = 1000
    batch_size: int = 16
    grad_accum: int = 1
    clip: float = 1.0
    dropout: float = 0.1
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    seed: int = 0
    num_workers: int = 0
    eval_rows: int = 0
    eval_every: int = 0
    log_every: int = 10
    save_every: int = 500
    device: str = "auto"
    threads: int = 0
    stop_after: int | None = None  # stop after this step without a final checkpoint (as if interrupted)


RESUMABLE_CHANGES = {"out", "threads", "num_workers", "log_every", "save_every", "eval_every", "stop_after", "device"}


class CausalBlocks(torch.utils.data.Dataset):
    """The blocks of a causal dataset, memory-mapped: item i is (input_ids, document_boundaries) numpy views."""

    def __init__(self, directory: str):
        try:
            manifest = read_manifest(directory)
        except FileNotFoundError as e:
            raise TrainError(str(e)) from None
        if manifest.get("kind") != "causal":
            raise TrainError(f"{directory} is a {manifest.get('kind')} dataset; train gpt reads a causal dataset "
                             "(build pretraining --mode causal)")
        self.manifest = manifest
        self.chunks, starts = [], [0]
        for shard in manifest["shards"]:
            table = open_shard(os.path.join(directory, shard["file"]))
            for ids, bounds in zip(table.column("input_ids").chunks, table.column("document_boundaries").chunks):
                self.chunks.append((ids.values.to_numpy(), ids.offsets.to_numpy(), bounds.values.to_numpy(),
                                    bounds.offsets.to_numpy()))
                starts.append(starts[-1] + len(ids))
        self.starts = np.array(starts)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, i: int):
        c = int(np.searchsorted(self.starts, i, side="right")) - 1
        ids, off, bounds, boff = self.chunks[c]
        j = i - self.starts[c]
        return ids[off[j]:off[j + 1]], bounds[boff[j]:boff[j + 1]]


class CausalCollator:
    """Pads a batch to its longest block (a multiple of 8) and builds the attention inputs."""

    def __init__(self, pad_id: int, reset_attention: bool):
        self.pad_id, self.reset = pad_id, reset_attention

    def __call__(self, rows) -> dict:
        n, width = len(rows), -(-max(len(ids) for ids, _ in rows) // 8) * 8
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        doc = torch.full((n, width), -1, dtype=torch.long)  # the document of each token; padding: -1
        positions = torch.zeros((n, width), dtype=torch.long)
        for r, (ids, bounds) in enumerate(rows):
            length = len(ids)
            input_ids[r, :length] = torch.from_numpy(ids.astype(np.int64))
            starts = np.concatenate([[0], bounds]).astype(np.int64) if self.reset else np.zeros(1, np.int64)
            which = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, length)))
            doc[r, :length] = torch.from_numpy(which)
            positions[r, :length] = torch.from_numpy(np.arange(length) - starts[which])
        real = doc >= 0
        labels = input_ids.masked_fill(~real, IGNORE)
        causal = torch.ones(width, width, dtype=torch.bool).tril()
        # a token attends to earlier tokens of its own document (padding to padding: no empty row, no NaN)
        mask = causal & (doc[:, :, None] == doc[:, None, :])
        return {"input_ids": input_ids, "labels": labels, "position_ids": positions, "attention_mask": mask[:, None],
                "tokens": real.sum()}


def build_model(cfg: GPTConfig, vocab_size: int, positions: int, eos_id: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    layers, hidden, heads = PRESETS[cfg.preset]
    config = GPT2Config(vocab_size=vocab_size, n_positions=positions, n_embd=hidden, n_layer=layers, n_head=heads,
                        resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout, attn_pdrop=cfg.dropout,
                        bos_token_id=eos_id, eos_token_id=eos_id)
    return GPT2LMHeadModel(config)


def validate(cfg: GPTConfig, rows: int, world: int) -> None:
    if cfg.preset not in PRESETS:
        raise TrainError(f"--preset {cfg.preset} is not one of {', '.join(PRESETS)}")
    need = cfg.batch_size * world * cfg.grad_accum
    if rows - cfg.eval_rows < need:
        raise TrainError(f"{cfg.data} has {rows - cfg.eval_rows} training blocks, fewer than one step's {need}")
    if cfg.eval_every and not cfg.eval_rows:
        raise TrainError("--eval-every needs --eval-rows (held-out blocks)")


def new_window(device) -> dict:
    return {k: torch.zeros((), dtype=torch.float64, device=device) for k in ("loss", "steps", "tokens", "sequences")}


def forward(model, batch, autocast):
    """Summed token loss (the model's mean over its shifted labels, times their count) and that count."""
    with autocast():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    position_ids=batch["position_ids"], labels=batch["labels"])
    count = (batch["labels"][:, 1:] != IGNORE).sum()
    return out.loss, count


@torch.no_grad()
def evaluate(model, dataset, collate, rows: int, batch_size: int, device, autocast) -> dict:
    was = model.training
    model.eval()
    total, count = torch.zeros((), dtype=torch.float64), 0
    for start in range(0, rows, batch_size):
        batch = {k: v.to(device) for k, v in collate([dataset[i] for i in range(start, min(rows, start + batch_size))]).items()}
        loss, n = forward(model, batch, autocast)
        total += loss.double().cpu() * n.cpu()
        count += int(n)
    model.train(was)
    loss = (total / max(1, count)).item()
    return {"eval_loss": loss, "eval_ppl": math.exp(min(loss, 50))}


def train(cfg: GPTConfig, resume: bool = False, overwrite: bool = False, quiet: bool = False) -> dict:
    """Runs (or resumes) a training run; returns the last logged metrics."""
    dataset = CausalBlocks(cfg.data)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    d = setup_distributed(cfg.device)
    try:
        result = _train(cfg, dataset, d, resume, overwrite, quiet)
        if d.enabled:
            dist.barrier()
        return result
    finally:
        teardown_distributed(d)


def _train(cfg, dataset, d, resume, overwrite, quiet):
    validate(cfg, len(dataset), d.world_size)
    manifest = dataset.manifest
    ckpt_path = os.path.join(cfg.out, CHECKPOINT)
    existing = os.path.exists(ckpt_path) or os.path.exists(os.path.join(cfg.out, "metrics.jsonl"))
    if existing and not (resume or overwrite):
        raise TrainError(f"{cfg.out} already holds a training run; pass --resume to continue it or --overwrite to "
                         "start again")
    ckpt = load_checkpoint(ckpt_path) if resume and os.path.exists(ckpt_path) else None
    if ckpt:
        changed = [f.name for f in fields(GPTConfig) if f.name not in RESUMABLE_CHANGES
                   and ckpt["config"].get(f.name) != getattr(cfg, f.name)]
        if changed:
            raise TrainError(f"--resume with different {', '.join('--' + c.replace('_', '-') for c in changed)} "
                             f"than the checkpoint's run")
    device = d.device
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    eos_id = manifest["params"]["eos_id"]
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    positions = -(-manifest["params"]["max_seq_length"] // 8) * 8  # batches are padded to a multiple of 8
    model = build_model(cfg, manifest["tokenizer"]["vocab_size"], positions, eos_id).to(device)
    raw = model
    if d.enabled:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[d.local_rank] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(parameter_groups(raw, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else max(1, int(0.06 * cfg.max_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, cfg.max_steps))
    collate = CausalCollator(eos_id, cfg.reset_attention)  # padding is never attended to nor predicted
    micro_per_epoch = (len(dataset) - cfg.eval_rows) // d.world_size // cfg.batch_size

    step, epoch, micro = 0, 0, 0
    window = new_window(device)
    torch.manual_seed(cfg.seed + 1 + d.rank)  # dropout: a different stream per rank
    if ckpt:
        raw.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        step, epoch, micro = ckpt["step"], ckpt["epoch"], ckpt["micro"]
        window = {k: v.to(device) for k, v in ckpt["window"].items()}
        set_rng_state(ckpt["rng"][d.rank], device)
    if d.main:
        os.makedirs(cfg.out, exist_ok=True)
        metrics = MetricsLog(os.path.join(cfg.out, "metrics.jsonl"), resume_step=step if ckpt else None)
        with open(os.path.join(cfg.out, "train_config.json"), "w", encoding="utf-8") as f:
            json.dump({"train": asdict(cfg), "model": raw.config.to_dict(), "parameters": count_parameters(raw),
                       "world_size": d.world_size}, f, indent=2)
        progress = Progress(cfg.max_steps, step, quiet=quiet)
        if not quiet:
            print(f"{'resuming at step ' + str(step) if ckpt else 'training'}: gpt2 {cfg.preset}, "
                  f"{count_parameters(raw) / 1e6:.1f}M parameters, {len(dataset)} blocks, {d.world_size} process(es) "
                  f"on {device}{', bf16' if bf16 else ''}", flush=True)

    def checkpoint():
        rng = gather_rng_states(d)
        if d.main:  # tensors, numbers and strings only: torch.load(weights_only=True) reads it
            save_checkpoint(ckpt_path, {
                "model": raw.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "step": step, "epoch": epoch, "micro": micro, "rng": rng,
                "window": {k: v.cpu() for k, v in window.items()}, "config": asdict(cfg),
                "model_config": json.loads(raw.config.to_json_string())})

    last: dict = {}
    t_window = time.monotonic()
    model.train()
    done = step >= cfg.max_steps
    while not done:
        sampler = EpochSampler(len(dataset), cfg.seed, epoch, start=micro * cfg.batch_size, rank=d.rank,
                               world_size=d.world_size, exclude=cfg.eval_rows)
        loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=True, collate_fn=collate,
                            num_workers=cfg.num_workers, pin_memory=device.type == "cuda",
                            generator=torch.Generator().manual_seed(cfg.seed))  # not the dropout generator: exact resume
        k = 0
        for batch in loader:
            micro += 1
            k += 1
            batch = {key: v.to(device, non_blocking=True) for key, v in batch.items()}
            sync = k % cfg.grad_accum == 0
            with model.no_sync() if d.enabled and not sync else contextlib.nullcontext():
                loss, _ = forward(model, batch, autocast)
                (loss / cfg.grad_accum).backward()
            window["loss"] += loss.detach().double() / cfg.grad_accum
            window["tokens"] += batch["tokens"]
            window["sequences"] += len(batch["input_ids"])
            if not sync:
                continue
            if cfg.clip:
                torch.nn.utils.clip_grad_norm_(raw.parameters(), cfg.clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window["steps"] += 1
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                last = log_window(window, d, step, scheduler.get_last_lr()[0], time.monotonic() - t_window)
                if d.main:
                    metrics.write(last)
                    progress.update(step, f"loss {last['loss']:.4f} {last['tokens_per_s']:.0f} tok/s")
                window, t_window = new_window(device), time.monotonic()
            if cfg.eval_every and step % cfg.eval_every == 0 and d.main:
                result = evaluate(raw, dataset, collate, cfg.eval_rows, cfg.batch_size, device, autocast)
                metrics.write({"step": step, **result})
                progress.note(step, result)
                last.update(result)
            if cfg.stop_after is not None and step >= cfg.stop_after:
                if d.main:
                    progress.close()
                return last
            if step % cfg.save_every == 0 or step == cfg.max_steps:
                checkpoint()
            if step >= cfg.max_steps:
                done = True
                break
        else:  # the epoch ran out
            epoch, micro = epoch + 1, 0
            if micro_per_epoch < cfg.grad_accum:
                raise TrainError("an epoch is shorter than one optimizer step")
    if d.main:
        progress.close()
        raw.save_pretrained(os.path.join(cfg.out, "hf"))
        if not quiet:
            print(f"wrote {cfg.out}/metrics.jsonl, {ckpt_path} and {cfg.out}/hf/ (GPT2LMHeadModel)", flush=True)
    return last


def log_window(w: dict, d, step: int, lr: float, seconds: float) -> dict:
    keys = list(w)
    values = torch.stack([w[k].double() for k in keys])
    if d.enabled:
        dist.all_reduce(values)
    v = dict(zip(keys, values.tolist()))
    steps = max(1.0, v["steps"] / d.world_size)
    loss = v["loss"] / d.world_size / steps
    return {"step": step, "loss": loss, "ppl": math.exp(min(loss, 50)), "lr": lr,
            "tokens_per_s": v["tokens"] / max(seconds, 1e-9), "sequences_per_s": v["sequences"] / max(seconds, 1e-9)}


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.command(context_settings=CONTEXT)
@click.option("--input", "-i", "--data", "-d", "data", cls=AliasOption, hidden_aliases=("--data", "-d"), required=True,
              type=click.Path(file_okay=False),
              help="A causal dataset (`corpusforge build pretraining --mode causal`).")
@click.option("--output", "-o", "--out", "out", cls=AliasOption, hidden_aliases=("--out",), required=True,
              help="Run directory: metrics.jsonl, checkpoint.pt, hf/.")
@click.option("--preset", type=click.Choice(list(PRESETS)), default="tiny", show_default=True,
              help="Model size (layers/hidden/heads): tiny 2/128/2, mini 4/256/4, small 4/512/8, medium 8/512/8, "
                   "base 12/768/12 (GPT-2 small), large 24/1024/16 (GPT-2 medium).")
@click.option("--reset-attention/--no-reset-attention", default=True, show_default=True,
              help="Attention and position ids restart at every document boundary (Megatron's "
                   "reset_attention_mask / reset_position_ids); off: a block is one causal sequence (GPT-2).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=6e-4, show_default=True, help="Peak learning rate.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.1, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(min=0), default=None,
              help="Linear warm-up, then linear decay to 0 [default: 6% of --max-steps].")
@click.option("--max-steps", type=click.IntRange(min=1), default=1000, show_default=True, help="Optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Blocks per micro-batch and process (one step: batch x grad-accum x processes).")
@click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--clip", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Gradient norm clip (0: off).")
@click.option("--dropout", type=click.FloatRange(0, 1), default=0.1, show_default=True)
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default="auto", show_default=True,
              help="auto: bf16 autocast on CUDA, fp32 on CPU.")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda.")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="CPU threads per process (0: one per core).")
@click.option("--seed", type=int, default=0, show_default=True, help="Weights, data order, dropout.")
@click.option("--num-workers", type=click.IntRange(min=0), default=0, show_default=True, help="DataLoader workers.")
@click.option("--eval-rows", type=click.IntRange(min=0), default=0, show_default=True,
              help="Hold out the dataset's first N blocks (its order is a seeded shuffle) for evaluation.")
@click.option("--eval-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Evaluate loss and perplexity on the held-out blocks every N steps.")
@click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--save-every", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--resume", is_flag=True, help="Continue the run in --output from its checkpoint (exactly).")
@click.option("--overwrite", is_flag=True, help="Start again in an --output that holds a run.")
@click.option("--stop-after", type=click.IntRange(min=1), default=None, hidden=True,
              help="Stop after this step without a final checkpoint, as if interrupted (tests).")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def train_gpt(resume, overwrite, quiet, **kw):
    """Pretrain a GPT-2 decoder (transformers' GPT2LMHeadModel) on a causal dataset.

    \b
    Several GPUs: torchrun --nproc_per_node N -m corpusforge.cli train gpt ...
    """
    try:
        train(GPTConfig(**kw), resume=resume, overwrite=overwrite, quiet=quiet)
    except TrainError as e:
        raise click.ClickException(str(e)) from None
