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

import json
import os
from dataclasses import asdict, dataclass

import click
import numpy as np
import torch

from corpusforge.dataset.reader import open_shard, read_manifest
from corpusforge.trainers.common import (Loop, TrainError, autocast_for, evaluate_loss, linear_schedule,
                             log_loss_window, loss_window, open_run, run_distributed, wrap_ddp)
from corpusforge.trainers.encoder import PRESETS, count_parameters, parameter_groups

IGNORE = -100


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


def forward(model, batch, autocast):
    """Summed token loss (the model's mean over its shifted labels, times their count) and that count."""
    with autocast():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    position_ids=batch["position_ids"], labels=batch["labels"])
    count = (batch["labels"][:, 1:] != IGNORE).sum()
    return out.loss, count


def train(cfg: GPTConfig, resume: bool = False, overwrite: bool = False, quiet: bool = False) -> dict:
    """Runs (or resumes) a training run; returns the last logged metrics."""
    dataset = CausalBlocks(cfg.data)
    return run_distributed(cfg, lambda d: _train(cfg, dataset, d, resume, overwrite, quiet))


def _train(cfg, dataset, d, resume, overwrite, quiet):
    validate(cfg, len(dataset), d.world_size)
    manifest = dataset.manifest
    ckpt = open_run(cfg, RESUMABLE_CHANGES, resume, overwrite)
    device = d.device
    bf16, autocast = autocast_for(cfg.precision, device)
    eos_id = manifest["params"]["eos_id"]
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    positions = -(-manifest["params"]["max_seq_length"] // 8) * 8  # batches are padded to a multiple of 8
    raw = build_model(cfg, manifest["tokenizer"]["vocab_size"], positions, eos_id).to(device)
    model = wrap_ddp(raw, d)
    optimizer = torch.optim.AdamW(parameter_groups(raw, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95), eps=1e-8)
    scheduler = linear_schedule(optimizer, cfg)
    collate = CausalCollator(eos_id, cfg.reset_attention)  # padding is never attended to nor predicted

    loop = Loop(cfg, d, model, raw, optimizer, scheduler, loss_window, ckpt)
    loop.start({"train": asdict(cfg), "model": raw.config.to_dict(), "parameters": count_parameters(raw),
                "world_size": d.world_size},
               f"gpt2 {cfg.preset}, {count_parameters(raw) / 1e6:.1f}M parameters, {len(dataset)} blocks, "
               f"{d.world_size} process(es) on {device}{', bf16' if bf16 else ''}", quiet)

    def micro_step(model, batch, window):
        loss, _ = forward(model, batch, autocast)
        window["loss"] += loss.detach().double() / cfg.grad_accum
        window["tokens"] += batch["tokens"]
        window["sequences"] += len(batch["input_ids"])
        return loss

    last = loop.run(dataset, lambda epoch: collate, micro_step, log_loss_window,
                    lambda r: f"loss {r['loss']:.4f} {r['tokens_per_s']:.0f} tok/s",
                    evaluate=lambda: evaluate_loss(raw, lambda m, b: forward(m, b, autocast), dataset, collate,
                                                   cfg.eval_rows, cfg.batch_size, device),
                    checkpoint=lambda: loop.checkpoint(json.loads(raw.config.to_json_string())))
    if d.main and not loop.stopped:
        raw.save_pretrained(os.path.join(cfg.out, "hf"))
        if not quiet:
            print(f"wrote {cfg.out}/metrics.jsonl, {loop.ckpt_path} and {cfg.out}/hf/ (GPT2LMHeadModel)", flush=True)
    return last


def train_gpt(resume, overwrite, quiet, **kw):
    """The body of `corpusforge train gpt` (its options and help: trainers/commands.py)."""
    try:
        train(GPTConfig(**kw), resume=resume, overwrite=overwrite, quiet=quiet)
    except TrainError as e:
        raise click.ClickException(str(e)) from None
