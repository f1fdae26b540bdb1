"""What every trainer shares: distributed set-up, metrics.jsonl, progress lines, checkpoints, the loop.

Kept small on purpose: a trainer calls these from its own loop (nanoGPT style), nothing calls the trainer.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import sys
import time
from dataclasses import asdict, dataclass, fields

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from corpusforge.dataset.reader import file_sha256
from corpusforge.torch import EpochSampler


@dataclass
class Distributed:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto") -> Distributed:
    """One process per GPU under torchrun (RANK/WORLD_SIZE/LOCAL_RANK set): NCCL on CUDA, gloo on CPU."""
    cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    if "RANK" not in os.environ:
        return Distributed(device=torch.device("cuda" if cuda else "cpu"))
    rank, local, world = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"])
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Distributed(rank, local, world, torch.device(f"cuda:{local}" if cuda else "cpu"))


def teardown_distributed(d: Distributed) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


class MetricsLog:
    """OUT/metrics.jsonl, one JSON object per logged step; on resume the lines after the checkpoint's
    step (written by the interrupted run) are dropped so the file reads as one uninterrupted run."""

    def __init__(self, path: str, resume_step: int | None = None):
        self.path = path
        if resume_step is None:
            open(path, "w").close()
        elif os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                kept = [line for line in f if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(kept)

    def write(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def read_metrics(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Progress:
    """A one-line progress bar on a terminal (stderr), plain log lines otherwise."""

    def __init__(self, total: int, start: int = 0, quiet: bool = False):
        self.total, self.start, self.quiet = total, start, quiet
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()

    def update(self, step: int, text: str) -> None:
        if self.quiet:
            return
        done = step / max(1, self.total)
        rate = (step - self.start) / max(1e-9, time.monotonic() - self.t0)
        eta = (self.total - step) / rate if rate > 0 else 0.0
        bar = "#" * int(20 * done) + "." * (20 - int(20 * done))
        line = f"[{bar}] {step}/{self.total} {text} eta {eta:.0f}s"
        if self.tty:
            sys.stderr.write("\r" + line + "\033[K")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def note(self, step: int, result: dict) -> None:
        """A result line (evaluation) on stdout as the run reaches it, above the bar on a terminal."""
        if self.quiet:
            return
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
        print(f"step {step}: " + " ".join(f"{k} {v:.4f}" for k, v in result.items()), flush=True)

    def close(self) -> None:
        if self.tty and not self.quiet:
            sys.stderr.write("\n")


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def gather_rng_states(d: Distributed) -> list:
    """Every rank's generator states (dropout differs per rank), for rank 0 to save."""
    state = rng_state(d.device)
    if not d.enabled:
        return [state]
    states = [None] * d.world_size
    dist.all_gather_object(states, {k: v.cpu() for k, v in state.items()})
    return states


def save_checkpoint(path: str, state: dict) -> None:
    """Atomic: a checkpoint is either the old one or the whole new one, never half written."""
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded safely (one sentence, for the CLI)."""


def load_checkpoint(path: str, needs: tuple = ()) -> dict:
    """A checkpoint holds only tensors, numbers, strings, lists, tuples and dicts, so it is loaded with
    weights_only=True: a file that would need arbitrary objects unpickled (code run) is refused; so is
    one without the entries `needs` names."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path} holds objects other than tensors, numbers, strings, lists and dicts; "
                              "loading it would run code from the file, so it is refused") from None
    except Exception as e:  # noqa: BLE001 - torch raises many kinds on a damaged file; all get one sentence
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a corpusforge checkpoint (it holds a {type(state).__name__})")
    missing = [k for k in needs if k not in state]
    if missing:
        raise CheckpointError(f"{path} is not a corpusforge checkpoint of this trainer: it has no {', '.join(missing)}")
    return state


# ---------------------------------------------------------------------------------------------------------------
# The training loop the trainers share (train bert, train gpt, train seq2seq): each passes its own model,
# micro-step (forward + its window tallies), logging and evaluation; the rest (resume checks, seeding, data
# order, accumulation, clipping, the schedule, metrics, checkpoints) is here once.

CHECKPOINT = "checkpoint.pt"
# the checkpoint entries every trainer's --resume needs
RESUME_STATE = ("model", "optimizer", "scheduler", "step", "epoch", "micro", "rng", "window", "config", "model_config")


class TrainError(ValueError):
    """A bad argument or unusable input: one sentence, raised before any training."""


def run_distributed(cfg, body):
    """body(Distributed) with --threads applied, inside the process group (one per torchrun process)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    d = setup_distributed(cfg.device)
    try:
        result = body(d)
        if d.enabled:  # every rank done before the group goes: gloo aborts a rank whose peer left first
            dist.barrier()
        return result
    finally:
        teardown_distributed(d)


def open_run(cfg, resumable: set, resume: bool, overwrite: bool, needs: tuple = ()) -> dict | None:
    """The checkpoint to resume from (None for a new run); refuses to clobber a run without --resume or
    --overwrite, and a resumption whose settings (all but `resumable`) differ from the checkpoint's."""
    ckpt_path = os.path.join(cfg.out, CHECKPOINT)
    existing = os.path.exists(ckpt_path) or os.path.exists(os.path.join(cfg.out, "metrics.jsonl"))
    if existing and not (resume or overwrite):
        raise TrainError(f"{cfg.out} already holds a training run; pass --resume to continue it or --overwrite to "
                         "start again")
    ckpt = load_checkpoint(ckpt_path, needs=needs) if resume and os.path.exists(ckpt_path) else None
    if ckpt:
        changed = [f.name for f in fields(cfg) if f.name not in resumable
                   and ckpt["config"].get(f.name) != getattr(cfg, f.name)]
        if changed:
            raise TrainError(f"--resume with different {', '.join('--' + c.replace('_', '-') for c in changed)} "
                             f"than the checkpoint's run")
    return ckpt


def autocast_for(precision: str, device: torch.device):
    """(bf16?, a context factory): bf16 autocast with --precision bf16, or auto on CUDA."""
    bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    return bf16, lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def linear_schedule(optimizer, cfg):
    """Linear warm-up (default 6% of the steps), then linear decay to 0 (BERT's schedule)."""
    from corpusforge.trainers.encoder import lr_factor

    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else max(1, int(0.06 * cfg.max_steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, cfg.max_steps))


def wrap_ddp(model, d: Distributed):
    if not d.enabled:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[d.local_rank] if d.device.type == "cuda" else None)


def find_vocab(info, explicit: str | None) -> str | None:
    """The vocab file whose sha256 is the dataset's tokenizer fingerprint: --tokenizer, or the path
    recorded in this dataset's (or its tokenized input's) build parameters. info: a DatasetInfo or
    Seq2SeqInfo (its directory, tokenizer fingerprint and params)."""
    want = info.tokenizer.get("sha256")
    if explicit:
        if not os.path.exists(explicit):
            raise TrainError(f"--tokenizer {explicit} does not exist")
        if file_sha256(explicit) != want:
            raise TrainError(f"--tokenizer {explicit} is not the vocabulary the dataset was tokenized with "
                             f"(sha256 differs from the manifest's {info.tokenizer.get('file')})")
        return explicit
    candidates = [info.params.get("tokenizer")]
    for d in info.params.get("inputs") or []:
        try:
            with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
                candidates.append(json.load(f)["params"].get("tokenizer"))
        except (OSError, ValueError, KeyError):
            pass
    for c in filter(None, candidates):
        for path in (c, os.path.join(info.directory, c)):
            if os.path.isfile(path) and file_sha256(path) == want:
                return path
    return None


class Loop:
    """One run's optimisation state and loop: step / epoch / micro-batch position, the metrics window,
    metrics.jsonl and checkpoint.pt, restored exactly from a checkpoint."""

    def __init__(self, cfg, d: Distributed, model, raw, optimizer, scheduler, new_window, ckpt: dict | None):
        self.cfg, self.d, self.model, self.raw = cfg, d, model, raw
        self.optimizer, self.scheduler, self.new_window = optimizer, scheduler, new_window
        self.ckpt_path = os.path.join(cfg.out, CHECKPOINT)
        self.step, self.epoch, self.micro = 0, 0, 0
        self.window = new_window(d.device)
        self.resumed = ckpt is not None
        self.stopped = False  # --stop-after ended the run (no final checkpoint, no export)
        torch.manual_seed(cfg.seed + 1 + d.rank)  # dropout: a different stream per rank
        if ckpt:
            raw.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            self.step, self.epoch, self.micro = ckpt["step"], ckpt["epoch"], ckpt["micro"]
            self.window = {k: v.to(d.device) for k, v in ckpt["window"].items()}
            set_rng_state(ckpt["rng"][d.rank], d.device)

    def start(self, train_config: dict, banner: str, quiet: bool) -> None:
        """Rank 0: metrics.jsonl (cut back to the checkpoint on resume), train_config.json, the banner line."""
        cfg = self.cfg
        if not self.d.main:
            return
        os.makedirs(cfg.out, exist_ok=True)
        self.metrics = MetricsLog(os.path.join(cfg.out, "metrics.jsonl"), resume_step=self.step if self.resumed else None)
        with open(os.path.join(cfg.out, "train_config.json"), "w", encoding="utf-8") as f:
            json.dump(train_config, f, indent=2)
        self.progress = Progress(cfg.max_steps, self.step, quiet=quiet)
        if not quiet:
            print(f"{'resuming at step ' + str(self.step) if self.resumed else 'training'}: {banner}", flush=True)

    def checkpoint(self, model_config: dict, extra: dict | None = None) -> None:
        """Everything --resume needs; tensors, numbers and strings only (torch.load(weights_only=True) reads it)."""
        rng = gather_rng_states(self.d)
        if self.d.main:
            save_checkpoint(self.ckpt_path, {
                "model": self.raw.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "step": self.step, "epoch": self.epoch, "micro": self.micro,
                "rng": rng, "window": {k: v.cpu() for k, v in self.window.items()}, "config": asdict(self.cfg),
                "model_config": model_config, **(extra or {})})

    def run(self, dataset, collate_for, micro_step, log, describe, evaluate, checkpoint) -> dict:
        """Trains to --max-steps (or --stop-after); returns the last logged metrics.

        collate_for(epoch) -> the DataLoader's collate_fn; micro_step(model, batch, window) -> the
        micro-batch's loss (it tallies the window); log(window, d, step, lr, seconds) -> a metrics record;
        describe(record) -> the progress text; evaluate() -> eval metrics (rank 0, every --eval-every);
        checkpoint() writes checkpoint.pt (every --save-every steps and at the end)."""
        cfg, d, model, device = self.cfg, self.d, self.model, self.d.device
        micro_per_epoch = (len(dataset) - cfg.eval_rows) // d.world_size // cfg.batch_size
        last: dict = {}
        t_window = time.monotonic()
        model.train()
        done = self.step >= cfg.max_steps
        while not done:
            sampler = EpochSampler(len(dataset), cfg.seed, self.epoch, start=self.micro * cfg.batch_size, rank=d.rank,
                                   world_size=d.world_size, exclude=cfg.eval_rows)
            loader = DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
                                collate_fn=collate_for(self.epoch), num_workers=cfg.num_workers,
                                pin_memory=device.type == "cuda",
                                generator=torch.Generator().manual_seed(cfg.seed))  # not the dropout generator: exact resume
            k = 0
            for batch in loader:
                self.micro += 1
                k += 1
                batch = {key: v.to(device, non_blocking=True) for key, v in batch.items()}
                sync = k % cfg.grad_accum == 0
                with model.no_sync() if d.enabled and not sync else contextlib.nullcontext():
                    loss = micro_step(model, batch, self.window)
                    (loss / cfg.grad_accum).backward()
                if not sync:
                    continue
                if cfg.clip:
                    torch.nn.utils.clip_grad_norm_(self.raw.parameters(), cfg.clip)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                step = self.step
                self.window["steps"] += 1
                if step % cfg.log_every == 0 or step == cfg.max_steps:
                    last = log(self.window, d, step, self.scheduler.get_last_lr()[0], time.monotonic() - t_window)
                    if d.main:
                        self.metrics.write(last)
                        self.progress.update(step, describe(last))
                    self.window, t_window = self.new_window(device), time.monotonic()
                if cfg.eval_every and step % cfg.eval_every == 0 and d.main:
                    result = evaluate()
                    self.metrics.write({"step": step, **result})
                    self.progress.note(step, result)
                    last.update(result)
                if cfg.stop_after is not None and step >= cfg.stop_after:
                    self.stopped = True
                    if d.main:
                        self.progress.close()
                    return last
                if step % cfg.save_every == 0 or step == cfg.max_steps:
                    checkpoint()
                if step >= cfg.max_steps:
                    done = True
                    break
            else:  # the epoch ran out
                self.epoch, self.micro = self.epoch + 1, 0
                if micro_per_epoch < cfg.grad_accum:
                    raise TrainError("an epoch is shorter than one optimizer step")
        if d.main:
            self.progress.close()
        return last


def loss_window(device) -> dict:
    """The metrics window of a loss-only trainer (train gpt, train seq2seq)."""
    return {k: torch.zeros((), dtype=torch.float64, device=device) for k in ("loss", "steps", "tokens", "sequences")}


def log_loss_window(w: dict, d: Distributed, step: int, lr: float, seconds: float) -> dict:
    """The window's mean loss over its steps and ranks, perplexity, throughput."""
    keys = list(w)
    values = torch.stack([w[k].double() for k in keys])
    if d.enabled:
        dist.all_reduce(values)
    v = dict(zip(keys, values.tolist()))
    steps = max(1.0, v["steps"] / d.world_size)
    loss = v["loss"] / d.world_size / steps
    return {"step": step, "loss": loss, "ppl": math.exp(min(loss, 50)), "lr": lr,
            "tokens_per_s": v["tokens"] / max(seconds, 1e-9), "sequences_per_s": v["sequences"] / max(seconds, 1e-9)}


@torch.no_grad()
def evaluate_loss(model, forward, dataset, collate, rows: int, batch_size: int, device) -> dict:
    """Token-weighted mean loss over the first `rows` rows: forward(model, batch) -> (mean loss, its count)."""
    was = model.training
    model.eval()
    total, count = torch.zeros((), dtype=torch.float64), 0
    for start in range(0, rows, batch_size):
        batch = {k: v.to(device) for k, v in collate([dataset[i] for i in range(start, min(rows, start + batch_size))]).items()}
        loss, n = forward(model, batch)
        total += loss.double().cpu() * n.cpu()
        count += int(n)
    model.train(was)
    loss = (total / max(1, count)).item()
    return {"eval_loss": loss, "eval_ppl": math.exp(min(loss, 50))}
