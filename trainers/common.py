"""What every trainer shares: distributed set-up, metrics.jsonl, progress lines, checkpoints.

Kept small on purpose: a trainer calls these from its own loop (nanoGPT style), nothing calls the trainer.
"""
from __future__ import annotations

import json
import os
import pickle
import sys
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist


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
