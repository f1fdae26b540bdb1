"""XLNet pretraining (permutation language modelling) on an xlnet dataset (`build pretraining --mode xlnet`).

    corpusforge train xlnet -i DIR -o OUT [--preset tiny] [--perm-size N] ...
    torchrun --nproc_per_node 8 -m corpusforge.cli train xlnet ...     (DDP, one process per GPU)

The model is transformers' XLNetLMHeadModel built from a config (no download): two-stream attention,
relative positions and segments. Each step the collator (corpusforge.torch.XLNetCollator) draws every
row's factorisation order (XLNet's _local_perm, chunks of --perm-size) and gives the model perm_mask and
target_mapping; the loss is the cross entropy of the record's targets (its is_masked positions but
[SEP] / [CLS]). No memory is carried between steps (mem_len 0: the records are shuffled, so the reuse
part is context of its own record). Optimiser as XLNet's train_gpu.py: Adam(W), lr 1e-4, weight decay 0,
linear warm-up and decay, clip 1. Writes OUT/metrics.jsonl, OUT/checkpoint.pt (--resume continues
exactly) and OUT/hf/ (save_pretrained: XLNetLMHeadModel.from_pretrained loads it).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import click
import torch

from corpusforge.torch import IGNORE, NotPretrainingData, XLNetCollator, XLNetDataset
from corpusforge.trainers.common import (CheckpointError, Loop, TrainError, autocast_for, evaluate_loss, linear_schedule,
                             log_loss_window, loss_window, open_run, run_distributed, wrap_ddp)
from corpusforge.trainers.encoder import PRESETS, count_parameters, parameter_groups

EVAL_EPOCH = 2**31 - 1  # the held-out rows' permutation "epoch": the same orders at every evaluation


@dataclass
class XLNetTrainConfig:
    data: str
    out: str
    preset: str = "tiny"
    perm_size: int | None = None  # default: the dataset's reuse length (XLNet: perm_size = reuse_len)
    lr: float = 1e-4
    weight_decay: float = 0.0
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


def perm_size_for(cfg: XLNetTrainConfig, params: dict) -> int:
    """--perm-size, checked as data_utils.py asserts: at most either part, and dividing both (its reshape)."""
    reuse, rest = params["reuse_length"], params["max_seq_length"] - params["reuse_length"]
    size = cfg.perm_size or reuse
    if size > min(reuse, rest) or reuse % size or rest % size:
        raise TrainError(f"--perm-size {size} must divide both the reuse part ({reuse} tokens) and the A/B part "
                         f"({rest}) of the dataset's records (XLNet permutes each in chunks of perm_size)")
    return size


def build_model(cfg: XLNetTrainConfig, vocab_size: int, special: dict):
    from transformers import XLNetConfig, XLNetLMHeadModel

    layers, hidden, heads = PRESETS[cfg.preset]
    config = XLNetConfig(vocab_size=vocab_size, d_model=hidden, n_layer=layers, n_head=heads, d_inner=4 * hidden,
                         ff_activation="gelu", dropout=cfg.dropout, mem_len=None, bi_data=False, attn_type="bi",
                         pad_token_id=special.get("pad", 0), bos_token_id=special.get("cls"),
                         eos_token_id=special.get("sep"))
    return XLNetLMHeadModel(config)


def validate(cfg: XLNetTrainConfig, rows: int, world: int) -> None:
    if cfg.preset not in PRESETS:
        raise TrainError(f"--preset {cfg.preset} is not one of {', '.join(PRESETS)}")
    need = cfg.batch_size * world * cfg.grad_accum
    if rows - cfg.eval_rows < need:
        raise TrainError(f"{cfg.data} has {rows - cfg.eval_rows} training records, fewer than one step's {need}")
    if cfg.eval_every and not cfg.eval_rows:
        raise TrainError("--eval-every needs --eval-rows (held-out records)")


def forward(model, batch, autocast):
    """The model's mean loss over the batch's targets and their count."""
    with autocast():
        out = model(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                    perm_mask=batch["perm_mask"], target_mapping=batch["target_mapping"], labels=batch["labels"])
    return out.loss, (batch["labels"] != IGNORE).sum()


def train(cfg: XLNetTrainConfig, resume: bool = False, overwrite: bool = False, quiet: bool = False) -> dict:
    """Runs (or resumes) a training run; returns the last logged metrics."""
    try:
        dataset = XLNetDataset(cfg.data)
    except NotPretrainingData as e:
        raise TrainError(str(e)) from None
    return run_distributed(cfg, lambda d: _train(cfg, dataset, d, resume, overwrite, quiet))


def _train(cfg, dataset, d, resume, overwrite, quiet):
    validate(cfg, len(dataset), d.world_size)
    params, special = dataset.params, dataset.manifest["special_ids"]
    perm_size = perm_size_for(cfg, params)
    ckpt = open_run(cfg, RESUMABLE_CHANGES, resume, overwrite)
    device = d.device
    bf16, autocast = autocast_for(cfg.precision, device)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    raw = build_model(cfg, dataset.manifest["tokenizer"]["vocab_size"], special).to(device)
    model = wrap_ddp(raw, d)
    optimizer = torch.optim.AdamW(parameter_groups(raw, cfg.weight_decay), lr=cfg.lr, eps=1e-8)
    scheduler = linear_schedule(optimizer, cfg)

    def collate(epoch):
        return XLNetCollator(special["sep"], special["cls"], params["reuse_length"], params["num_predict"],
                             perm_size, seed=cfg.seed, epoch=epoch)

    loop = Loop(cfg, d, model, raw, optimizer, scheduler, loss_window, ckpt)
    loop.start({"train": asdict(cfg), "perm_size": perm_size, "model": raw.config.to_dict(),
                "parameters": count_parameters(raw), "world_size": d.world_size},
               f"xlnet {cfg.preset}, {count_parameters(raw) / 1e6:.1f}M parameters, {len(dataset)} records, perm size "
               f"{perm_size}, {d.world_size} process(es) on {device}{', bf16' if bf16 else ''}", quiet)

    def micro_step(model, batch, window):
        loss, count = forward(model, batch, autocast)
        window["loss"] += loss.detach().double() / cfg.grad_accum
        window["tokens"] += count
        window["sequences"] += len(batch["input_ids"])
        return loss

    last = loop.run(dataset, collate, micro_step, log_loss_window,
                    lambda r: f"loss {r['loss']:.4f} {r['sequences_per_s']:.1f} records/s",
                    evaluate=lambda: evaluate_loss(raw, lambda m, b: forward(m, b, autocast), dataset,
                                                   collate(EVAL_EPOCH), cfg.eval_rows, cfg.batch_size, device),
                    checkpoint=lambda: loop.checkpoint(json.loads(raw.config.to_json_string())))
    if d.main and not loop.stopped:
        raw.save_pretrained(os.path.join(cfg.out, "hf"))
        if not quiet:
            print(f"wrote {cfg.out}/metrics.jsonl, {loop.ckpt_path} and {cfg.out}/hf/ (XLNetLMHeadModel)", flush=True)
    return last


def train_xlnet(resume, overwrite, quiet, **kw):
    """The body of `corpusforge train xlnet` (its options and help: trainers/commands.py)."""
    try:
        train(XLNetTrainConfig(**kw), resume=resume, overwrite=overwrite, quiet=quiet)
    except (TrainError, CheckpointError) as e:
        raise click.ClickException(str(e)) from None
