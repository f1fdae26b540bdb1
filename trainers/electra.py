"""ELECTRA pretraining (replaced-token detection) from a corpusforge pretraining dataset.

    corpusforge train electra -i DIR -o OUT [--preset tiny] [--generator-size 0.25] ...
    torchrun --nproc_per_node 8 -m corpusforge.cli train electra ...     (DDP, one process per GPU)

As google-research/electra's run_pretraining.py: a generator (a smaller encoder: --generator-size of the
discriminator's hidden size, as many layers, 4x feed-forward, hidden / 64 heads) shares the
discriminator's embeddings (token, position, type and their LayerNorm) and learns MLM on dynamically
masked positions (15%, 25% for --preset large; 85% shown as [MASK], 15% as themselves, ELECTRA's mask());
its samples (softmax, temperature 1) replace those positions, and the discriminator learns which tokens
of the result were replaced (a sampled token equal to the original counts as original), over all real
tokens. Loss = MLM + 50 x RTD. Both are transformers' Electra models built from ElectraConfig (no
download); OUT/hf/discriminator is an ElectraForPreTraining, OUT/hf/generator an ElectraForMaskedLM.
metrics.jsonl, checkpoint.pt and --resume (exact) as train bert's.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, fields

import click
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from corpusforge.torch import (IGNORE, DatasetInfo, EpochSampler, NotPretrainingData, PretrainingCollator,
                               PretrainingDataset, masking_config)
from corpusforge.trainers.common import (CheckpointError, MetricsLog, Progress, gather_rng_states, load_checkpoint,
                             save_checkpoint, set_rng_state, setup_distributed, teardown_distributed)
from corpusforge.trainers.encoder import PRESETS, count_parameters, lr_factor, parameter_groups

CHECKPOINT = "checkpoint.pt"
RESUME_STATE = ("model", "optimizer", "scheduler", "step", "epoch", "micro", "rng", "window", "config")
EVAL_EPOCH = 2**31 - 1  # the held-out rows' masking "epoch": the same masks at every evaluation
MASK_SHARE = 0.85  # ELECTRA's mask(): a chosen position shows [MASK] 85% of the time, else itself


class TrainError(ValueError):
    """A bad argument or unusable input: one sentence, raised before any training."""


@dataclass
class ElectraTrainConfig:
    data: str
    out: str
    preset: str = "tiny"
    generator_size: float = 0.25  # the generator's hidden size, a fraction of the discriminator's
    embedding_size: int | None = None  # shared embeddings' width (default: the discriminator's hidden size)
    masking: str | None = None  # dynamic masking of a --masking none dataset (default token)
    masked_lm_prob: float | None = None  # default 0.15, 0.25 for --preset large (ELECTRA's)
    rtd_weight: float = 50.0  # ELECTRA's disc_weight
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int | None = None  # default: 6% of max_steps
    max_steps: int = 1000
    batch_size: int = 32
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
    tokenizer: str | None = None
    device: str = "auto"
    threads: int = 0
    stop_after: int | None = None  # stop after this step without a final checkpoint (as if interrupted)


RESUMABLE_CHANGES = {"out", "threads", "num_workers", "log_every", "save_every", "eval_every", "stop_after", "device",
                     "tokenizer"}


def electra_configs(cfg: ElectraTrainConfig, info: DatasetInfo):
    """(discriminator, generator) ElectraConfigs: the preset, and the generator as ELECTRA's
    get_generator_config derives it."""
    from transformers import ElectraConfig

    layers, hidden, heads = PRESETS[cfg.preset]
    common = dict(vocab_size=info.vocab_size, embedding_size=cfg.embedding_size or hidden, num_hidden_layers=layers,
                  max_position_embeddings=512, type_vocab_size=2, hidden_dropout_prob=cfg.dropout,
                  attention_probs_dropout_prob=cfg.dropout, pad_token_id=info.special_ids.get("pad", 0),
                  layer_norm_eps=1e-12, hidden_act="gelu")
    gen_hidden = max(1, round(hidden * cfg.generator_size))
    disc = ElectraConfig(hidden_size=hidden, num_attention_heads=heads, intermediate_size=4 * hidden, **common)
    gen = ElectraConfig(hidden_size=gen_hidden, num_attention_heads=max(1, gen_hidden // 64),
                        intermediate_size=4 * gen_hidden, **common)
    return disc, gen


def sample(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row from softmax(logits), by inverting the cumulative distribution (an exact draw;
    on CPU several times faster than torch.multinomial or the Gumbel-max trick ELECTRA uses)."""
    cdf = F.softmax(logits.float(), -1).cumsum(-1)
    u = torch.rand((len(logits), 1), dtype=cdf.dtype, device=cdf.device, generator=generator) * cdf[:, -1:]
    return torch.searchsorted(cdf, u).squeeze(-1).clamp_(max=logits.shape[-1] - 1)


class Electra(nn.Module):
    """The generator (ElectraForMaskedLM) and the discriminator (ElectraForPreTraining), one embedding module."""

    def __init__(self, disc_config, gen_config, rtd_weight: float = 50.0):
        super().__init__()
        from transformers import ElectraForMaskedLM, ElectraForPreTraining

        self.discriminator = ElectraForPreTraining(disc_config)
        self.generator = ElectraForMaskedLM(gen_config)
        self.generator.electra.embeddings = self.discriminator.electra.embeddings
        self.generator.generator_lm_head.weight = self.discriminator.electra.embeddings.word_embeddings.weight
        self.rtd_weight = rtd_weight

    def generator_logits(self, input_ids, attention_mask, token_type_ids, where):
        """The generator's vocabulary logits at the positions `where` only (the projection of every
        position would cost more than the encoder of a small generator)."""
        g = self.generator
        h = g.electra(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        return g.generator_lm_head(g.generator_predictions(h[where]))

    def forward(self, batch: dict, sampler: torch.Generator | None = None) -> dict:
        labels, mask = batch["labels"], batch["attention_mask"]
        predicted = labels != IGNORE
        targets = labels[predicted]
        logits = self.generator_logits(batch["input_ids"], mask, batch["token_type_ids"], predicted).float()
        mlm_loss = F.cross_entropy(logits, targets)
        sampled = sample(logits.detach(), sampler)
        original = batch["original_ids"]
        corrupted = original.clone()
        corrupted[predicted] = sampled
        replaced = corrupted != original
        rtd = self.discriminator(corrupted, attention_mask=mask, token_type_ids=batch["token_type_ids"]).logits.float()
        real = mask.bool()
        rtd_loss = F.binary_cross_entropy_with_logits(rtd[real], replaced[real].float())
        loss = mlm_loss + self.rtd_weight * rtd_loss
        return {"loss": loss, "mlm_loss": mlm_loss.detach(), "rtd_loss": rtd_loss.detach(),
                "mlm_correct": (logits.argmax(-1) == targets).sum(), "mlm_count": targets.new_tensor(targets.numel()),
                "sampled_correct": (sampled == targets).sum(),
                "rtd_correct": ((rtd > 0) == replaced)[real].sum(), "rtd_count": real.sum(),
                "replaced": replaced.sum()}


class ElectraCollator(PretrainingCollator):
    """PretrainingCollator plus `original_ids` (the text before masking). Dynamic masking shows a chosen
    position as [MASK] 85% of the time, else as itself (ELECTRA's mask(); no random tokens), drawn from
    (seed, epoch, the rows' indices) like the positions; a statically masked dataset is used as written."""

    def __init__(self, mask_id: int, **kw):
        super().__init__(**kw)
        self.mask_id = mask_id

    def __call__(self, rows: list[dict]) -> dict:
        batch = super().__call__(rows)
        predicted = batch["labels"] != IGNORE
        original = torch.where(predicted, batch["labels"], batch["input_ids"])
        if self.masking is not None:
            rng = np.random.default_rng([self.seed, self.epoch, *(int(r["index"]) for r in rows), 1])
            show_mask = torch.from_numpy(rng.random(tuple(predicted.shape)) < MASK_SHARE) & predicted
            batch["input_ids"] = torch.where(show_mask, torch.full_like(original, self.mask_id), original)
        batch["original_ids"] = original
        return batch


def validate(cfg: ElectraTrainConfig, info: DatasetInfo, world: int) -> None:
    if cfg.preset not in PRESETS:
        raise TrainError(f"--preset {cfg.preset} is not one of {', '.join(PRESETS)}")
    if not 0 < cfg.generator_size <= 1:
        raise TrainError(f"--generator-size {cfg.generator_size} is not in (0, 1]: the generator is a fraction of "
                         "the discriminator")
    if cfg.masking and info.masking != "none":
        raise TrainError(f"{cfg.data} is statically masked ({info.masking}); --masking applies to datasets built "
                         "with --masking none")
    if "mask" not in info.special_ids:
        raise TrainError(f"{cfg.data}'s vocabulary has no [MASK] token, which the generator's inputs need")
    if info.max_seq_length > 512:
        raise TrainError(f"the dataset's instances are up to {info.max_seq_length} tokens; the model has 512 positions")
    need = cfg.batch_size * world * cfg.grad_accum
    if info.rows - cfg.eval_rows < need:
        raise TrainError(f"{cfg.data} has {info.rows - cfg.eval_rows} training rows, fewer than one step's "
                         f"{need} sequences")
    if cfg.eval_every and not cfg.eval_rows:
        raise TrainError("--eval-every needs --eval-rows (held-out rows)")


WINDOW = ("loss", "steps", "mlm_loss", "rtd_loss", "mlm_correct", "mlm_count", "sampled_correct", "rtd_correct",
          "rtd_count", "replaced", "tokens", "sequences")


def new_window(device) -> dict:
    return {k: torch.zeros((), dtype=torch.float64, device=device) for k in WINDOW}


def accumulate(window: dict, out: dict, scale: float) -> None:
    for k in ("loss", "mlm_loss", "rtd_loss"):
        window[k] += out[k].detach() * scale
    for k in ("mlm_correct", "mlm_count", "sampled_correct", "rtd_correct", "rtd_count", "replaced"):
        window[k] += out[k]


def rates(v: dict, prefix: str = "") -> dict:
    """Accuracies from summed counts; rtd_baseline_acc is the all-original guess's accuracy."""
    tokens, predicted = max(1.0, v["rtd_count"]), max(1.0, v["mlm_count"])
    return {f"{prefix}mlm_acc": v["mlm_correct"] / predicted, f"{prefix}sampled_acc": v["sampled_correct"] / predicted,
            f"{prefix}rtd_acc": v["rtd_correct"] / tokens, f"{prefix}rtd_baseline_acc": 1 - v["replaced"] / tokens,
            f"{prefix}replaced_share": v["replaced"] / tokens}


@torch.no_grad()
def evaluate(model: Electra, dataset, collator_args: dict, rows: int, batch_size: int, device, autocast,
             seed: int) -> dict:
    """Losses and accuracies on the held-out rows, with fixed masks and fixed samples (a generator of its
    own: the training's random streams are not touched, so evaluating does not change the run)."""
    was = model.training
    model.eval()
    collate = ElectraCollator(**{**collator_args, "epoch": EVAL_EPOCH})
    sampler = torch.Generator(device).manual_seed(seed)
    totals = new_window(device)
    batches = 0
    for start in range(0, rows, batch_size):
        batch = collate([dataset[i] for i in range(start, min(rows, start + batch_size))])
        with autocast():
            out = model({k: v.to(device) for k, v in batch.items()}, sampler=sampler)
        accumulate(totals, out, 1.0)
        batches += 1
    model.train(was)
    v = {k: t.item() for k, t in totals.items()}
    return {"eval_mlm_loss": v["mlm_loss"] / batches, "eval_rtd_loss": v["rtd_loss"] / batches,
            **rates(v, "eval_")}


def log_window(w: dict, d, step: int, lr: float, seconds: float) -> dict:
    keys = list(w)
    values = torch.stack([w[k] for k in keys])
    if d.enabled:
        dist.all_reduce(values)
    v = dict(zip(keys, values.tolist()))
    steps = max(1.0, v["steps"] / d.world_size)
    return {"step": step, **{k: v[k] / d.world_size / steps for k in ("loss", "mlm_loss", "rtd_loss")}, **rates(v),
            "lr": lr, "tokens_per_s": v["tokens"] / max(seconds, 1e-9),
            "sequences_per_s": v["sequences"] / max(seconds, 1e-9)}


def save_exports(directory: str, model: Electra, info: DatasetInfo, vocab_file: str | None) -> None:
    """OUT/hf/discriminator (ElectraForPreTraining) and OUT/hf/generator (ElectraForMaskedLM), each with the
    tokenizer."""
    from corpusforge.trainers.hf import save_tokenizer

    for name, part in (("discriminator", model.discriminator), ("generator", model.generator)):
        out = os.path.join(directory, name)
        part.save_pretrained(out)
        if vocab_file:
            save_tokenizer(out, vocab_file, info.special_ids, info.tokenizer.get("lowercase", True),
                           part.config.max_position_embeddings)


def train(cfg: ElectraTrainConfig, resume: bool = False, overwrite: bool = False, quiet: bool = False) -> dict:
    """Runs (or resumes) a training run; returns the last logged metrics."""
    try:
        info = DatasetInfo.read(cfg.data)
    except NotPretrainingData as e:
        raise TrainError(str(e)) from None
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    d = setup_distributed(cfg.device)
    try:
        result = _train(cfg, info, d, resume, overwrite, quiet)
        if d.enabled:
            dist.barrier()
        return result
    finally:
        teardown_distributed(d)


def _train(cfg, info, d, resume, overwrite, quiet):
    from corpusforge.trainers.bert import TrainError as BertTrainError, find_vocab

    validate(cfg, info, d.world_size)
    ckpt_path = os.path.join(cfg.out, CHECKPOINT)
    existing = os.path.exists(ckpt_path) or os.path.exists(os.path.join(cfg.out, "metrics.jsonl"))
    if existing and not (resume or overwrite):
        raise TrainError(f"{cfg.out} already holds a training run; pass --resume to continue it or --overwrite to "
                         "start again")
    try:
        ckpt = load_checkpoint(ckpt_path, needs=RESUME_STATE) if resume and os.path.exists(ckpt_path) else None
        vocab_file = find_vocab(info, cfg.tokenizer)
    except (CheckpointError, BertTrainError) as e:
        raise TrainError(str(e)) from None
    if ckpt:
        changed = [f.name for f in fields(ElectraTrainConfig) if f.name not in RESUMABLE_CHANGES
                   and ckpt["config"].get(f.name) != getattr(cfg, f.name)]
        if changed:
            raise TrainError(f"--resume with different {', '.join('--' + c.replace('_', '-') for c in changed)} "
                             f"than the checkpoint's run")
    device = d.device
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    disc_config, gen_config = electra_configs(cfg, info)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    model = Electra(disc_config, gen_config, cfg.rtd_weight).to(device)
    raw = model
    if d.enabled:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[d.local_rank] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(parameter_groups(raw, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-6)
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else max(1, int(0.06 * cfg.max_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, cfg.max_steps))

    dataset = PretrainingDataset(cfg.data)
    scheme = cfg.masking or "token"
    p = cfg.masked_lm_prob or (0.25 if cfg.preset == "large" else 0.15)
    # ELECTRA's cap on predictions: int((mask_prob + 0.005) * max_seq_length)
    dynamic = (masking_config(info, scheme, p, max(1, int((p + 0.005) * info.max_seq_length)))
               if info.masking == "none" else None)
    collator_args = dict(mask_id=info.special_ids["mask"], pad_id=info.special_ids.get("pad", 0), masking=dynamic,
                         seed=cfg.seed)
    micro_per_epoch = (len(dataset) - cfg.eval_rows) // d.world_size // cfg.batch_size

    step, epoch, micro = 0, 0, 0
    window = new_window(device)
    torch.manual_seed(cfg.seed + 1 + d.rank)  # dropout and sampling: a different stream per rank
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
            json.dump({"train": asdict(cfg), "discriminator": disc_config.to_dict(), "generator": gen_config.to_dict(),
                       "parameters": count_parameters(raw), "world_size": d.world_size,
                       "dynamic_masking": {"scheme": scheme, "masked_lm_prob": p} if dynamic else None}, f, indent=2)
        progress = Progress(cfg.max_steps, step, quiet=quiet)
        if not quiet:
            print(f"{'resuming at step ' + str(step) if ckpt else 'training'}: electra {cfg.preset} (generator hidden "
                  f"{gen_config.hidden_size}), {count_parameters(raw) / 1e6:.1f}M parameters, {info.rows} rows "
                  f"({info.mode}, masking {info.masking if not dynamic else f'dynamic {scheme} {p}'}), "
                  f"{d.world_size} process(es) on {device}{', bf16' if bf16 else ''}", flush=True)

    def checkpoint():
        rng = gather_rng_states(d)
        if d.main:  # tensors, numbers and strings only: torch.load(weights_only=True) reads it
            save_checkpoint(ckpt_path, {
                "model": raw.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "step": step, "epoch": epoch, "micro": micro, "rng": rng,
                "window": {k: v.cpu() for k, v in window.items()}, "config": asdict(cfg),
                "discriminator_config": disc_config.to_dict(), "generator_config": gen_config.to_dict(),
                "data": {"tokenizer": info.tokenizer, "special_ids": info.special_ids, "rows": info.rows}})

    last: dict = {}
    t_window = time.monotonic()
    model.train()
    done = step >= cfg.max_steps
    while not done:
        sampler = EpochSampler(len(dataset), cfg.seed, epoch, start=micro * cfg.batch_size, rank=d.rank,
                               world_size=d.world_size, exclude=cfg.eval_rows)
        loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
                            collate_fn=ElectraCollator(**collator_args, epoch=epoch), num_workers=cfg.num_workers,
                            pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(cfg.seed))
        k = 0
        for batch in loader:
            micro += 1
            k += 1
            batch = {key: v.to(device, non_blocking=True) for key, v in batch.items()}
            sync = k % cfg.grad_accum == 0
            with model.no_sync() if d.enabled and not sync else contextlib.nullcontext():
                with autocast():
                    out = model(batch)
                (out["loss"] / cfg.grad_accum).backward()
            accumulate(window, out, 1 / cfg.grad_accum)
            window["tokens"] += batch["attention_mask"].sum()
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
                    progress.update(step, f"loss {last['loss']:.4f} mlm_acc {last['mlm_acc']:.3f} rtd_acc "
                                    f"{last['rtd_acc']:.3f} (all-original {last['rtd_baseline_acc']:.3f}) "
                                    f"{last['tokens_per_s']:.0f} tok/s")
                window, t_window = new_window(device), time.monotonic()
            if cfg.eval_every and step % cfg.eval_every == 0 and d.main:
                result = evaluate(raw, dataset, collator_args, cfg.eval_rows, cfg.batch_size, device, autocast,
                                  cfg.seed)
                metrics.write({"step": step, **result})
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
        save_exports(os.path.join(cfg.out, "hf"), raw, info, vocab_file)
        if not quiet:
            print(f"wrote {cfg.out}/metrics.jsonl, {ckpt_path} and {cfg.out}/hf/discriminator (ElectraForPreTraining), "
                  f"{cfg.out}/hf/generator (ElectraForMaskedLM)"
                  + ("" if vocab_file else " (no vocab file found: pass --tokenizer to include it)"), flush=True)
    return last


def train_electra(resume, overwrite, quiet, **kw):
    """The body of `corpusforge train electra` (its options and help: trainers/commands.py)."""
    try:
        train(ElectraTrainConfig(**kw), resume=resume, overwrite=overwrite, quiet=quiet)
    except TrainError as e:
        raise click.ClickException(str(e)) from None
