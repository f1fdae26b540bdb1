"""Encoder-decoder pretraining on a t5, bart, mass or translation dataset (`build pretraining --mode ...`).

    corpusforge train seq2seq -i DIR -o OUT [--preset tiny] [--arch t5|bart] ...
    torchrun --nproc_per_node 8 -m corpusforge.cli train seq2seq ...     (DDP, one process per GPU)

The model is transformers' T5ForConditionalGeneration (T5 v1.0: ReLU feed-forward, relative position
buckets, embeddings tied to the output) or BartForConditionalGeneration, built from a config (no
download) at a preset's size. Batches are the dataset's input_ids and labels padded as the models
expect (Seq2SeqCollator): the model makes the decoder inputs by shifting the labels right (T5 starts
with the pad token, BART with EOS, as their pretrained checkpoints do), the loss skips the padding.
The loop, metrics.jsonl, exact --resume, bf16 on CUDA and DDP are the other trainers' (trainers/common.py).
OUT/hf/ is save_pretrained's (from_pretrained loads it, generate runs) with the dataset's tokenizer.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace

import click
import torch

from corpusforge.torch import IGNORE, NotPretrainingData, Seq2SeqCollator, Seq2SeqDataset
from corpusforge.trainers.common import (RESUME_STATE, CheckpointError, Loop, TrainError, autocast_for, evaluate_loss, find_vocab,
                             linear_schedule, log_loss_window, loss_window, open_run, run_distributed,
                             wrap_ddp)
from corpusforge.trainers.encoder import PRESETS, count_parameters, parameter_groups
from corpusforge.trainers.options import SEQ2SEQ_ARCHS

ARCHS = SEQ2SEQ_ARCHS
# the model a dataset kind trains by default: MASS's decoder has absolute positions (BART's), T5 none
DEFAULT_ARCH = {"t5": "t5", "bart": "bart", "mass": "bart", "translation": "t5"}
MODELS = {"t5": "T5ForConditionalGeneration", "bart": "BartForConditionalGeneration"}


@dataclass
class Seq2SeqConfig:
    data: str
    out: str
    preset: str = "tiny"
    arch: str | None = None  # t5 | bart; default: DEFAULT_ARCH of the data's kind
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
    tokenizer: str | None = None  # the vocab file for OUT/hf (default: found through the manifests)
    device: str = "auto"
    threads: int = 0
    stop_after: int | None = None  # stop after this step without a final checkpoint (as if interrupted)


RESUMABLE_CHANGES = {"out", "threads", "num_workers", "log_every", "save_every", "eval_every", "stop_after", "device",
                     "tokenizer"}


def special_tokens(info) -> dict:
    """pad / eos / bos ids for the model config: the dataset's own EOS (t5: the one its examples end with)
    and BOS (bart), else the vocabulary's [SEP] / [CLS] roles."""
    special, params = info.special_ids, info.params
    pad = special.get("pad", 0)
    eos = params.get("eos_id", special.get("sep"))
    bos = params.get("bos_id", special.get("cls", eos))
    return {"pad": pad, "eos": pad if eos is None else eos, "bos": pad if bos is None else bos}


def model_config(arch: str, preset: str, vocab_size: int, positions: int, ids: dict, dropout: float):
    """A transformers config at a preset's size (layers per stack / hidden / heads, feed-forward 4 x hidden)."""
    layers, hidden, heads = PRESETS[preset]
    if arch == "t5":
        from transformers import T5Config

        return T5Config(vocab_size=vocab_size, d_model=hidden, d_kv=hidden // heads, d_ff=4 * hidden,
                        num_layers=layers, num_decoder_layers=layers, num_heads=heads, dropout_rate=dropout,
                        feed_forward_proj="relu", tie_word_embeddings=True, pad_token_id=ids["pad"],
                        eos_token_id=ids["eos"], decoder_start_token_id=ids["pad"])
    from transformers import BartConfig

    return BartConfig(vocab_size=vocab_size, d_model=hidden, encoder_layers=layers, decoder_layers=layers,
                      encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=4 * hidden,
                      decoder_ffn_dim=4 * hidden, max_position_embeddings=positions, dropout=dropout,
                      attention_dropout=dropout, activation_dropout=dropout, pad_token_id=ids["pad"],
                      bos_token_id=ids["bos"], eos_token_id=ids["eos"], decoder_start_token_id=ids["eos"],
                      forced_eos_token_id=ids["eos"])


def build_model(config):
    from transformers import BartForConditionalGeneration, T5ForConditionalGeneration

    return (T5ForConditionalGeneration if config.model_type == "t5" else BartForConditionalGeneration)(config)


def validate(cfg: Seq2SeqConfig, rows: int, world: int) -> None:
    if cfg.preset not in PRESETS:
        raise TrainError(f"--preset {cfg.preset} is not one of {', '.join(PRESETS)}")
    if cfg.arch not in ARCHS:
        raise TrainError(f"--arch {cfg.arch} is not one of {', '.join(ARCHS)}")
    need = cfg.batch_size * world * cfg.grad_accum
    if rows - cfg.eval_rows < need:
        raise TrainError(f"{cfg.data} has {rows - cfg.eval_rows} training examples, fewer than one step's {need}")
    if cfg.eval_every and not cfg.eval_rows:
        raise TrainError("--eval-every needs --eval-rows (held-out examples)")


class DecoderPositions:
    """MASS feeds the decoder the fragment alone, at its positions in the segment (decoder_position_ids).
    BART's decoder numbers its inputs 0, 1, ... itself, so a hook on its position embedding looks up the
    batch's positions instead; T5 needs none (relative positions, and the fragment is contiguous: its
    distances are the segment's)."""

    def __init__(self, model):
        self.ids = None
        if model.config.model_type == "bart":
            model.model.decoder.embed_positions.register_forward_hook(self)

    def __call__(self, module, args, output):
        if self.ids is None:
            return output
        return torch.nn.functional.embedding(self.ids + module.offset, module.weight)


def forward(model, batch, autocast, positions: DecoderPositions):
    """The model's mean loss over the labels it predicts, and their count."""
    batch = dict(batch)
    positions.ids = batch.pop("decoder_position_ids", None)
    try:
        with autocast():
            out = model(**batch)
    finally:
        positions.ids = None
    return out.loss, (batch["labels"] != IGNORE).sum()


def train(cfg: Seq2SeqConfig, resume: bool = False, overwrite: bool = False, quiet: bool = False) -> dict:
    """Runs (or resumes) a training run; returns the last logged metrics."""
    try:
        dataset = Seq2SeqDataset(cfg.data)
    except NotPretrainingData as e:
        raise TrainError(str(e)) from None
    cfg = replace(cfg, arch=cfg.arch or DEFAULT_ARCH[dataset.info.kind])
    return run_distributed(cfg, lambda d: _train(cfg, dataset, d, resume, overwrite, quiet))


def _train(cfg, dataset, d, resume, overwrite, quiet):
    info = dataset.info
    validate(cfg, len(dataset), d.world_size)
    ckpt = open_run(cfg, RESUMABLE_CHANGES, resume, overwrite, needs=(*RESUME_STATE, "data"))
    vocab_file = find_vocab(info, cfg.tokenizer)
    device = d.device
    bf16, autocast = autocast_for(cfg.precision, device)
    ids = special_tokens(info)
    longest = -(-dataset.longest() // 8) * 8  # bart's learned positions: batches are padded to a multiple of 8
    config = model_config(cfg.arch, cfg.preset, info.vocab_size, longest, ids, cfg.dropout)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    raw = build_model(config).to(device)
    model = wrap_ddp(raw, d)
    optimizer = torch.optim.AdamW(parameter_groups(raw, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)
    scheduler = linear_schedule(optimizer, cfg)
    collate = Seq2SeqCollator(ids["pad"])
    positions = DecoderPositions(raw)

    loop = Loop(cfg, d, model, raw, optimizer, scheduler, loss_window, ckpt)
    loop.start({"train": asdict(cfg), "model": raw.config.to_dict(), "parameters": count_parameters(raw),
                "world_size": d.world_size},
               f"{cfg.arch} {cfg.preset}, {count_parameters(raw) / 1e6:.1f}M parameters, {len(dataset)} "
               f"{info.kind} examples, {d.world_size} process(es) on {device}{', bf16' if bf16 else ''}", quiet)

    def micro_step(model, batch, window):
        loss, targets = forward(model, batch, autocast, positions)
        window["loss"] += loss.detach().double() / cfg.grad_accum
        window["tokens"] += batch["attention_mask"].sum() + targets  # encoder inputs and decoder targets
        window["sequences"] += len(batch["input_ids"])
        return loss

    data = {"tokenizer": info.tokenizer, "special_ids": info.special_ids, "rows": info.rows, "kind": info.kind}
    last = loop.run(dataset, lambda epoch: collate, micro_step, log_loss_window,
                    lambda r: f"loss {r['loss']:.4f} {r['tokens_per_s']:.0f} tok/s",
                    evaluate=lambda: evaluate_loss(raw, lambda m, b: forward(m, b, autocast, positions), dataset, collate,
                                                   cfg.eval_rows, cfg.batch_size, device),
                    checkpoint=lambda: loop.checkpoint(json.loads(raw.config.to_json_string()), {
                        "data": data, "vocab_file": os.path.abspath(vocab_file) if vocab_file else None}))
    if d.main and not loop.stopped:
        out = os.path.join(cfg.out, "hf")
        save_export(out, raw, vocab_file, info.special_ids, info.tokenizer.get("lowercase", True))
        if not quiet:
            print(f"wrote {cfg.out}/metrics.jsonl, {loop.ckpt_path} and {out}/ ({MODELS[cfg.arch]})"
                  + ("" if vocab_file else " (no vocab file found: pass --tokenizer to include it)"), flush=True)
    return last


def save_export(directory: str, model, vocab_file: str | None, special: dict, lowercase: bool) -> None:
    """save_pretrained (config.json, generation_config.json, model.safetensors) and the tokenizer as
    `export hf` writes it for the vocabulary's kind."""
    from corpusforge.trainers.hf import save_tokenizer

    model.save_pretrained(directory)
    if vocab_file:
        save_tokenizer(directory, vocab_file, special, lowercase, getattr(model.config, "max_position_embeddings", 512),
                       t5_eos_id=model.config.eos_token_id if model.config.model_type == "t5" else None)
        path = os.path.join(directory, "tokenizer_config.json")
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        config["model_input_names"] = ["input_ids", "attention_mask"]  # no token_type_ids: generate(**inputs) refuses them
        with open(path, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2)


def export_checkpoint(ckpt: dict, out: str, tokenizer: str | None) -> str:
    """OUT/hf from a loaded train seq2seq checkpoint (`corpusforge export hf`); returns the model class."""
    from transformers import AutoConfig

    c = dict(ckpt["model_config"])
    try:
        model = build_model(AutoConfig.for_model(c.pop("model_type"), **c))
        model.load_state_dict(ckpt["model"])
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one sentence
        raise CheckpointError(f"the checkpoint is not a train seq2seq checkpoint ({type(e).__name__})") from None
    vocab = tokenizer or ckpt.get("vocab_file")
    if vocab and not os.path.exists(vocab):
        raise CheckpointError(f"vocab file {vocab} does not exist; pass --tokenizer")
    save_export(out, model, vocab, ckpt["data"]["special_ids"], ckpt["data"]["tokenizer"].get("lowercase", True))
    return type(model).__name__


def train_seq2seq(resume, overwrite, quiet, **kw):
    """The body of `corpusforge train seq2seq` (its options and help: trainers/commands.py)."""
    try:
        train(Seq2SeqConfig(**kw), resume=resume, overwrite=overwrite, quiet=quiet)
    except (TrainError, CheckpointError) as e:
        raise click.ClickException(str(e)) from None
