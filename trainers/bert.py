"""BERT / ALBERT / RoBERTa / SpanBERT-style pretraining from a corpusforge pretraining dataset.

    corpusforge train bert -i DIR -o OUT [--preset tiny] [--arch bert|albert] ...
    torchrun --nproc_per_node 8 -m corpusforge.cli train bert ...     (DDP, one process per GPU)

The objective follows the data: an nsp dataset trains MLM + NSP (BERT), sop MLM + SOP (ALBERT, with
`--arch albert`), full-/doc-sentences MLM only (RoBERTa, with dynamic masking when the dataset was
built with `--masking none`); `--sbo` adds SpanBERT's span-boundary loss on span-masked data.
Writes OUT/metrics.jsonl, OUT/checkpoint.pt (everything needed to resume exactly: model, optimiser,
schedule, generator states, data position) and, at the end, OUT/hf/ for transformers.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch
import torch.distributed as dist

from corpusforge.dataset.reader import file_sha256
from corpusforge.torch import DatasetInfo, NotPretrainingData, PretrainingCollator, PretrainingDataset, masking_config
from corpusforge.trainers.common import (RESUME_STATE as LOOP_STATE, Loop, TrainError, autocast_for, linear_schedule, load_checkpoint,
                             find_vocab, open_run, run_distributed, wrap_ddp)
from corpusforge.trainers.encoder import PRESETS, SHARING, Encoder, EncoderConfig, Lamb, count_parameters, parameter_groups
from corpusforge.trainers.hf import load_hf, save_hf

RESUME_STATE = (*LOOP_STATE, "data")
EVAL_EPOCH = 2**31 - 1  # the masking "epoch" of the held-out rows: the same masks at every evaluation


@dataclass
class TrainConfig:
    data: str
    out: str
    preset: str = "tiny"
    arch: str = "bert"
    embedding_size: int = 128  # albert
    share: str | None = None  # albert: all (default) | attention | ffn | none
    masking: str | None = None  # dynamic masking of a --masking none dataset (default token)
    masked_lm_prob: float | None = None  # dynamic masking; default: the dataset's build parameter
    sbo: bool = False
    sentence_loss: bool = True  # NSP / SOP when the data has the label
    optimizer: str = "adamw"  # adamw | lamb
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int | None = None  # default: 6% of max_steps
    max_steps: int = 1000
    batch_size: int = 32  # sequences per micro-batch per process
    grad_accum: int = 1
    clip: float = 1.0
    dropout: float = 0.1
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    seed: int = 0
    num_workers: int = 0
    eval_rows: int = 0  # hold out the dataset's first N rows (its row order is already a seeded shuffle)
    eval_every: int = 0
    log_every: int = 10
    save_every: int = 500
    init_from: str | None = None
    tokenizer: str | None = None  # the vocab file for OUT/hf (default: found through the manifests)
    device: str = "auto"
    threads: int = 0  # CPU intra-op threads (0: torch's default, one per core)
    stop_after: int | None = None  # stop after this step without a final checkpoint (as if interrupted)


# options that may change between an interrupted run and its resumption
RESUMABLE_CHANGES = {"out", "threads", "num_workers", "log_every", "save_every", "eval_every", "stop_after", "device", "tokenizer"}


def validate(cfg: TrainConfig, info: DatasetInfo, world: int) -> None:
    if cfg.preset not in PRESETS:
        raise TrainError(f"--preset {cfg.preset} is not one of {', '.join(PRESETS)}")
    if cfg.arch == "bert" and cfg.share not in (None, "none"):
        raise TrainError("--share is ALBERT's cross-layer sharing; use it with --arch albert")
    if cfg.share is not None and cfg.share not in SHARING:
        raise TrainError(f"--share {cfg.share} is not one of {', '.join(SHARING)}")
    if cfg.masking and info.masking != "none":
        raise TrainError(f"{cfg.data} is statically masked ({info.masking}); --masking applies to datasets built "
                         "with --masking none")
    scheme = cfg.masking or (info.masking if info.masking != "none" else "token")
    if cfg.sbo and scheme != "span":
        raise TrainError("--sbo needs span-masked data: build with --masking span, or with --masking none and train "
                         "with --masking span")
    if info.max_seq_length > 512:
        raise TrainError(f"the dataset's instances are up to {info.max_seq_length} tokens; the model has 512 positions")
    need = (cfg.batch_size * world) * cfg.grad_accum
    if info.rows - cfg.eval_rows < need:
        raise TrainError(f"{cfg.data} has {info.rows - cfg.eval_rows} training rows, fewer than one step's "
                         f"{need} sequences")
    if cfg.eval_every and not cfg.eval_rows:
        raise TrainError("--eval-every needs --eval-rows (held-out rows)")


def model_config(cfg: TrainConfig, info: DatasetInfo) -> tuple[EncoderConfig, dict | None]:
    """The architecture: from --init-from when given (its vocabulary must be the dataset's), else the preset."""
    sentence = bool(info.label) and cfg.sentence_loss
    if not cfg.init_from:
        return EncoderConfig.preset(cfg.preset, info.vocab_size, arch=cfg.arch, embedding_size=cfg.embedding_size,
                                    share=(cfg.share or "all") if cfg.arch == "albert" else "none", sentence_head=sentence,
                                    sbo=cfg.sbo, dropout=cfg.dropout, pad_id=info.special_ids.get("pad", 0)), None
    path = cfg.init_from
    if os.path.isfile(path):  # one of our checkpoints
        ckpt = load_checkpoint(path, needs=("model_config", "model", "data"))
        c, state, vocab_sha = EncoderConfig(**ckpt["model_config"]), ckpt["model"], ckpt["data"]["tokenizer"].get("sha256")
    elif os.path.isfile(os.path.join(path, "config.json")):
        try:
            c, state = load_hf(path)
        except (ValueError, KeyError, OSError) as e:
            raise TrainError(f"--init-from {path} is not a loadable BERT / ALBERT export ({e})") from None
        vocab = os.path.join(path, "vocab.txt")
        vocab_sha = file_sha256(vocab) if os.path.exists(vocab) else None
    else:
        raise TrainError(f"--init-from {path} is neither a checkpoint file nor a directory with config.json")
    if c.vocab_size != info.vocab_size or (vocab_sha and vocab_sha != info.tokenizer.get("sha256")):
        raise TrainError(f"--init-from {path} has a different vocabulary ({c.vocab_size} entries) than the dataset "
                         f"({info.vocab_size} entries, {info.tokenizer.get('file')})")
    if c.max_position < info.max_seq_length:
        raise TrainError(f"--init-from {path} has {c.max_position} positions, the data needs {info.max_seq_length}")
    c.sentence_head, c.sbo, c.dropout = sentence, cfg.sbo, cfg.dropout
    return c, state


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    groups = parameter_groups(model, cfg.weight_decay)
    if cfg.optimizer == "lamb":
        return Lamb(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-6)


def new_window(device) -> dict:
    return {k: torch.zeros((), dtype=torch.float64, device=device)
            for k in ("loss", "steps", "mlm_loss", "mlm_correct", "mlm_count", "sentence_loss", "sentence_correct",
                      "sentence_count", "sbo_loss", "tokens", "sequences")}


@torch.no_grad()
def evaluate(model: Encoder, dataset, collator_args: dict, rows: int, batch_size: int, device, autocast) -> dict:
    """MLM and NSP/SOP accuracy on the held-out rows, with fixed masks."""
    was = model.training
    model.eval()
    collate = PretrainingCollator(**{**collator_args, "epoch": EVAL_EPOCH})
    totals = new_window(device)
    for start in range(0, rows, batch_size):
        batch = collate([dataset[i] for i in range(start, min(rows, start + batch_size))])
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast():
            out = model(batch)
        n = out["mlm_count"]
        totals["mlm_loss"] += out["mlm_loss"] * n
        for k in ("mlm_correct", "mlm_count", "sentence_correct", "sentence_count"):
            if k in out:
                totals[k] += out[k]
    model.train(was)
    result = {"eval_mlm_loss": (totals["mlm_loss"] / totals["mlm_count"].clamp(min=1)).item(),
              "eval_mlm_acc": (totals["mlm_correct"] / totals["mlm_count"].clamp(min=1)).item()}
    if totals["sentence_count"] > 0:
        result["eval_sentence_acc"] = (totals["sentence_correct"] / totals["sentence_count"]).item()
    return result


def train(cfg: TrainConfig, resume: bool = False, overwrite: bool = False, quiet: bool = False) -> dict:
    """Runs (or resumes) a training run; returns the last logged metrics."""
    try:
        info = DatasetInfo.read(cfg.data)
    except NotPretrainingData as e:
        raise TrainError(str(e)) from None
    return run_distributed(cfg, lambda d: _train(cfg, info, d, resume, overwrite, quiet))


def _train(cfg, info, d, resume, overwrite, quiet):
    validate(cfg, info, d.world_size)
    ckpt = open_run(cfg, RESUMABLE_CHANGES, resume, overwrite, needs=RESUME_STATE)
    vocab_file = find_vocab(info, cfg.tokenizer)
    mcfg, init_state = model_config(cfg, info)
    device = d.device
    bf16, autocast = autocast_for(cfg.precision, device)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    model = Encoder(mcfg)
    if init_state is not None:
        missing, unexpected = model.load_state_dict(init_state, strict=False)
        heads = ("pooler", "sentence", "sbo")  # heads the new objective may add are trained from scratch
        bad = [k for k in missing if not k.startswith(heads)]
        if bad or unexpected:
            raise TrainError(f"--init-from {cfg.init_from} does not fit the model: missing {bad[:3]}, "
                             f"unexpected {unexpected[:3]}")
    raw = model.to(device)
    model = wrap_ddp(raw, d)
    optimizer = make_optimizer(cfg, raw)
    scheduler = linear_schedule(optimizer, cfg)

    dataset = PretrainingDataset(cfg.data)
    scheme = cfg.masking or "token"
    dynamic = masking_config(info, scheme, cfg.masked_lm_prob) if info.masking == "none" else None
    collator_args = dict(pad_id=info.special_ids.get("pad", 0), label=info.label if mcfg.sentence_head else None,
                         masking=dynamic, seed=cfg.seed, spans=cfg.sbo)

    loop = Loop(cfg, d, model, raw, optimizer, scheduler, new_window, ckpt)
    loop.start({"train": asdict(cfg), "model": mcfg.to_dict(), "parameters": count_parameters(raw),
                "world_size": d.world_size, "dynamic_masking": scheme if dynamic else None},
               f"{mcfg.arch} {cfg.preset}, {count_parameters(raw) / 1e6:.1f}M parameters, {info.rows} rows "
               f"({info.mode}, masking {info.masking if not dynamic else 'dynamic ' + scheme}), {d.world_size} "
               f"process(es) on {device}{', bf16' if bf16 else ''}", quiet)

    def micro_step(model, batch, window):
        with autocast():
            out = model(batch)
        window["loss"] += out["loss"].detach() / cfg.grad_accum
        window["mlm_loss"] += out["mlm_loss"] / cfg.grad_accum
        for key in ("mlm_correct", "mlm_count", "sentence_correct", "sentence_count"):
            if key in out:
                window[key] += out[key]
        if "sentence_loss" in out:
            window["sentence_loss"] += out["sentence_loss"] / cfg.grad_accum
        if "sbo_loss" in out:
            window["sbo_loss"] += out["sbo_loss"] / cfg.grad_accum
        window["tokens"] += batch["attention_mask"].sum()
        window["sequences"] += len(batch["input_ids"])
        return out["loss"]

    def describe(r):
        return (f"loss {r['loss']:.4f} mlm_acc {r['mlm_acc']:.3f}"
                + (f" sent_acc {r['sentence_acc']:.3f}" if "sentence_acc" in r else "") + f" {r['tokens_per_s']:.0f} tok/s")

    data = {"tokenizer": info.tokenizer, "special_ids": info.special_ids, "rows": info.rows}
    last = loop.run(dataset, lambda epoch: PretrainingCollator(**collator_args, epoch=epoch), micro_step, log_window,
                    describe, evaluate=lambda: evaluate(raw, dataset, collator_args, cfg.eval_rows, cfg.batch_size,
                                                        device, autocast),
                    checkpoint=lambda: loop.checkpoint(mcfg.to_dict(), {
                        "data": data, "vocab_file": os.path.abspath(vocab_file) if vocab_file else None}))
    if d.main and not loop.stopped:
        save_hf(os.path.join(cfg.out, "hf"), mcfg, raw.state_dict(), info.special_ids, vocab_file,
                info.tokenizer.get("lowercase", True))
        if not quiet:
            print(f"wrote {cfg.out}/metrics.jsonl, {loop.ckpt_path} and {cfg.out}/hf/"
                  + ("" if vocab_file else " (no vocab file found: pass --tokenizer to include it)"), flush=True)
    return last


def log_window(w: dict, d, step: int, lr: float, seconds: float) -> dict:
    keys = list(w)
    values = torch.stack([w[k] for k in keys])
    if d.enabled:
        dist.all_reduce(values)
    v = dict(zip(keys, values.tolist()))
    steps = max(1.0, v["steps"] / d.world_size)  # every rank counted the same steps
    record = {"step": step, "loss": v["loss"] / d.world_size / steps, "mlm_loss": v["mlm_loss"] / d.world_size / steps,
              "mlm_acc": v["mlm_correct"] / max(1.0, v["mlm_count"]), "lr": lr}
    if v["sentence_count"]:
        record["sentence_loss"] = v["sentence_loss"] / d.world_size / steps
        record["sentence_acc"] = v["sentence_correct"] / v["sentence_count"]
    if v["sbo_loss"]:
        record["sbo_loss"] = v["sbo_loss"] / d.world_size / steps
    record["tokens_per_s"] = v["tokens"] / max(seconds, 1e-9)
    record["sequences_per_s"] = v["sequences"] / max(seconds, 1e-9)
    return record
