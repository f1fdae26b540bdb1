"""GloVe on a corpusforge cooccurrence dataset: the objective of glove.c, in torch, on CPU or CUDA.

    corpusforge train glove -i MATRIX -o VECTORS_DIR [--dim 50] [--epochs 15]
    corpusforge eval vectors VECTORS_DIR/vectors.txt --word 中国 --analogies questions.txt

Cost of one entry (glove.c): J = f(x) (w_i . c_j + b_i + b'_j - log x)^2 / 2 with
f(x) = min(1, (x / x_max)^alpha); AdaGrad (squared gradients start at 1, gradients clipped at 100,
learning rate folded into the gradient as glove.c does). glove.c updates one entry at a time from
several threads (Hogwild); here an update is a minibatch of entries that all read the parameters
and squared gradients as they were before it (updates of a word appearing twice add up): the same
stale reads glove.c's threads make, in bulk. The printed cost is glove.c's: the summed J of the epoch
divided by the number of entries. Entries are visited in a new seeded random order every epoch.

Writes VECTORS_DIR/vectors.txt (GloVe text: `word v1 ... vD`), vectors.w2v.txt (word2vec text format,
a `V D` header first: gensim's KeyedVectors.load_word2vec_format reads it), params.pt and train.json;
like `train bert` (trainers/common.py, shared) metrics.jsonl (one line per epoch: step, loss = cost)
and checkpoint.pt after every epoch, so `--resume` continues an interrupted run exactly.
"""
from __future__ import annotations

import json
import os
import time

import click
import numpy as np
import torch

from corpusforge.dataset.cooccurrence import iter_matrix, matrix_dataset
from corpusforge.objectives.cooccurrence import parse_vocab
from corpusforge.trainers.common import CheckpointError, MetricsLog, Progress, load_checkpoint, save_checkpoint
from corpusforge.trainers.common import read_metrics as _read_metrics
from corpusforge.trainers.options import GLOVE_ALPHA, GLOVE_BATCH, GLOVE_DIM, GLOVE_EPOCHS, GLOVE_LR, GLOVE_X_MAX

# defaults: glove.c's
DIM, EPOCHS, X_MAX, ALPHA, LR, BATCH = GLOVE_DIM, GLOVE_EPOCHS, GLOVE_X_MAX, GLOVE_ALPHA, GLOVE_LR, GLOVE_BATCH
GRAD_CLIP = 100.0


def load_matrix(directory: str):
    """(rows int64, cols int64, values float64) of the whole matrix, shard by shard, and the vocabulary."""
    manifest = matrix_dataset(directory)
    with open(os.path.join(directory, "vocab.txt"), "rb") as f:
        vocab = parse_vocab(f.read())
    parts = list(iter_matrix(directory))
    rows = np.concatenate([p[0] for p in parts]).astype(np.int64) if parts else np.zeros(0, np.int64)
    cols = np.concatenate([p[1] for p in parts]).astype(np.int64) if parts else np.zeros(0, np.int64)
    values = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    return manifest, vocab, rows, cols, values


def init_params(vocab_size: int, dim: int, seed: int, device, dtype=torch.float64):
    """glove.c's init: uniform in [-0.5, 0.5) / dim for vectors and biases; squared gradients 1."""
    g = torch.Generator().manual_seed(seed)
    p = {name: ((torch.rand(shape, generator=g, dtype=dtype) - 0.5) / dim).to(device)
         for name, shape in (("W", (vocab_size, dim)), ("C", (vocab_size, dim)), ("bw", (vocab_size,)),
                             ("bc", (vocab_size,)))}
    for name in ("W", "C", "bw", "bc"):
        p["g" + name] = torch.ones_like(p[name])
    return p


def train_step(p, i, j, logx, fx, lr: float, clip: float = GRAD_CLIP) -> float:
    """One minibatch of entries (word i, context j): AdaGrad update in place; returns the summed cost."""
    w, c = p["W"].index_select(0, i), p["C"].index_select(0, j)
    diff = (w * c).sum(1) + p["bw"].index_select(0, i) + p["bc"].index_select(0, j) - logx
    fdiff = fx * diff
    cost = 0.5 * float(fdiff.dot(diff))
    g = fdiff.mul_(lr)
    gw = c.mul_(g[:, None]).clamp_(-clip, clip)  # c and w are copies: reuse their memory for the gradients
    gc = w.mul_(g[:, None]).clamp_(-clip, clip)
    p["W"].index_add_(0, i, gw * p["gW"].index_select(0, i).rsqrt_(), alpha=-1)
    p["C"].index_add_(0, j, gc * p["gC"].index_select(0, j).rsqrt_(), alpha=-1)
    p["gW"].index_add_(0, i, gw.mul_(gw))
    p["gC"].index_add_(0, j, gc.mul_(gc))
    p["bw"].index_add_(0, i, g * p["gbw"].index_select(0, i).rsqrt_(), alpha=-1)
    p["bc"].index_add_(0, j, g * p["gbc"].index_select(0, j).rsqrt_(), alpha=-1)
    g2 = g.mul_(g)
    p["gbw"].index_add_(0, i, g2)
    p["gbc"].index_add_(0, j, g2)
    return cost


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """A permutation of the entries from (seed, epoch, "glove-order"): no dependence on anything else."""
    g = torch.Generator().manual_seed(hash_seed(seed, epoch, "glove-order"))
    return torch.randperm(n, generator=g)


def hash_seed(*parts) -> int:
    import hashlib

    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big") >> 1


def train_glove(rows, cols, values, vocab_size: int, dim: int = DIM, epochs: int = EPOCHS, x_max: float = X_MAX,
                alpha: float = ALPHA, lr: float = LR, batch_size: int = BATCH, seed: int = 12345, device="cpu",
                dtype=torch.float64, log=print, params=None, start_epoch: int = 0, on_epoch=None):
    """Trains; returns (params, [cost per epoch], [seconds per epoch]) for the epochs run here.

    params/start_epoch resume a run (the entry order of an epoch depends only on seed and epoch, so
    a resumed run repeats the uninterrupted one exactly); on_epoch(epoch, cost, seconds, params)
    is called after each epoch (metrics, checkpoints)."""
    device = torch.device(device)
    i_all = torch.from_numpy(rows).to(device)
    j_all = torch.from_numpy(cols).to(device)
    x = torch.from_numpy(values)
    logx_all = torch.log(x).to(device, dtype)
    fx_all = torch.where(x > x_max, torch.ones_like(x), (x / x_max) ** alpha).to(device, dtype)
    p = params if params is not None else init_params(vocab_size, dim, hash_seed(seed, "glove-init"), device, dtype)
    costs, seconds = [], []
    n = len(values)
    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        order = epoch_order(n, seed, epoch).to(device)
        total = 0.0
        for a in range(0, n, batch_size):
            k = order[a:a + batch_size]
            total += train_step(p, i_all[k], j_all[k], logx_all[k], fx_all[k], lr)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
        costs.append(total / max(n, 1))
        log(f"iter: {epoch + 1:03d}, cost: {costs[-1]:.6f}  ({seconds[-1]:.1f} s)")
        if on_epoch:
            on_epoch(epoch, costs[-1], seconds[-1], p)
    return p, costs, seconds


def save_vectors(p, vocab, out: str, save: str = "sum") -> dict:
    """vectors.txt (GloVe text) and vectors.w2v.txt (word2vec text); `sum` = W + C (glove.c -model 2), `word` = W."""
    vectors = (p["W"] + p["C"]) if save == "sum" else p["W"]
    vectors = vectors.detach().cpu().numpy()
    words = [w for w, _ in vocab]
    lines = [w + " " + " ".join(f"{v:.6f}" for v in vec) + "\n" for w, vec in zip(words, vectors)]
    with open(os.path.join(out, "vectors.txt"), "w", encoding="utf-8") as f:
        f.writelines(lines)
    with open(os.path.join(out, "vectors.w2v.txt"), "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {vectors.shape[1]}\n")
        f.writelines(lines)
    return {"vectors": "vectors.txt", "word2vec": "vectors.w2v.txt"}


def main(matrix, output, dim, epochs, x_max, alpha, lr, batch_size, save, device, threads, seed, overwrite, resume):
    """The body of `corpusforge train glove` (its options and help: trainers/commands.py)."""
    try:
        manifest, vocab, rows, cols, values = load_matrix(matrix)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    if not len(values):
        raise click.ClickException(f"{matrix} has no nonzero entries to train on")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise click.ClickException(f"--device {device}: this torch has no CUDA device")
    checkpoint_path = os.path.join(output, "checkpoint.pt")
    settings = {"matrix_shards": [s["sha256"] for s in manifest["shards"]], "dim": dim, "epochs": epochs,
                "x_max": x_max, "alpha": alpha, "lr": lr, "batch_size": batch_size, "seed": seed}
    params, start = None, 0
    if resume:
        if not os.path.exists(checkpoint_path):
            raise click.ClickException(f"--resume: {checkpoint_path} does not exist")
        try:
            state = load_checkpoint(checkpoint_path, needs=("params", "epoch", "settings"))
        except CheckpointError as e:
            raise click.ClickException(str(e)) from None
        changed = sorted(k for k, v in settings.items() if state["settings"].get(k) != v and k != "epochs")
        if changed:
            raise click.ClickException(f"--resume: the checkpoint was trained with other {', '.join(changed)}; "
                                       "resume with the same settings")
        params, start = state["params"], state["epoch"] + 1
    elif (os.path.exists(os.path.join(output, "vectors.txt")) or os.path.exists(checkpoint_path)) and not overwrite:
        raise click.ClickException(f"{output} already holds a run; pass --overwrite to replace it or --resume")
    if threads:
        torch.set_num_threads(threads)
    os.makedirs(output, exist_ok=True)
    click.echo(f"{matrix}: {len(vocab)} words, {len(values)} entries; dim {dim}, {epochs} epochs, x_max {x_max}, "
               f"alpha {alpha}, lr {lr}, batch {batch_size}, {device}")
    metrics = MetricsLog(os.path.join(output, "metrics.jsonl"), resume_step=start if resume else None)
    progress = Progress(epochs, start, quiet=True)  # glove.c's "iter: ..., cost: ..." lines are the progress

    def on_epoch(epoch, cost, secs, p):
        metrics.write({"step": epoch + 1, "loss": cost, "seconds": secs, "entries_per_s": len(values) / secs})
        save_checkpoint(checkpoint_path, {"params": {k: v.cpu() for k, v in p.items()}, "epoch": epoch,
                                          "settings": settings})
        progress.update(epoch + 1, f"cost {cost:.6f}")

    if params is not None:
        params = {k: v.to(device) for k, v in params.items()}
    p, costs, seconds = train_glove(rows, cols, values, len(vocab), dim, epochs, x_max, alpha, lr, batch_size, seed,
                                    device, log=click.echo, params=params, start_epoch=start, on_epoch=on_epoch)
    costs = [m["loss"] for m in _read_metrics(os.path.join(output, "metrics.jsonl"))]
    seconds = [m["seconds"] for m in _read_metrics(os.path.join(output, "metrics.jsonl"))]
    files = save_vectors(p, vocab, output, save)
    torch.save({k: v.cpu() for k, v in p.items()}, os.path.join(output, "params.pt"))
    info = {"matrix": os.path.abspath(matrix), "matrix_shards": [s["sha256"] for s in manifest["shards"]],
            "vocab_size": len(vocab), "entries": len(values), "dim": dim, "epochs": epochs, "x_max": x_max,
            "alpha": alpha, "lr": lr, "batch_size": batch_size, "save": save, "device": device, "seed": seed,
            "cost_per_epoch": costs, "seconds_per_epoch": seconds, "files": files}
    with open(os.path.join(output, "train.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    click.echo(f"wrote {output}/vectors.txt and vectors.w2v.txt: {len(vocab)} x {dim}; final cost {costs[-1]:.6f}, "
               f"{sum(seconds) / len(seconds):.2f} s per epoch")


# -- evaluation -----------------------------------------------------------------------------


def read_vectors(path: str) -> tuple[list[str], np.ndarray]:
    """GloVe text or word2vec text vectors (a `V D` header line is recognised and skipped)."""
    words, rows = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").split(" ")
            if n == 0 and len(parts) == 2 and all(x.isdigit() for x in parts):
                continue
            words.append(parts[0])
            rows.append(np.asarray(parts[1:], dtype=np.float64))
    if not rows:
        raise ValueError(f"{path} holds no vectors")
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"{path}: lines have different numbers of values")
    return words, np.stack(rows)


def unit_rows(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def nearest(words, unit, word: str, k: int) -> list[tuple[str, float]]:
    index = {w: i for i, w in enumerate(words)}
    sims = unit @ unit[index[word]]
    sims[index[word]] = -np.inf
    top = np.argsort(-sims, kind="stable")[:k]
    return [(words[t], float(sims[t])) for t in top]


def analogies(words, unit, lines) -> dict:
    """`a b c d` lines (':' lines are section names): d = argmax cos(x, b - a + c) over words other than a, b, c."""
    index = {w: i for i, w in enumerate(words)}
    questions = covered = correct = 0
    for line in lines:
        parts = line.split()
        if len(parts) != 4 or parts[0].startswith(":"):
            continue
        questions += 1
        if not all(p in index for p in parts):
            continue
        covered += 1
        a, b, c, d = (index[p] for p in parts)
        sims = unit @ (unit[b] - unit[a] + unit[c])
        sims[[a, b, c]] = -np.inf
        correct += int(np.argmax(sims) == d)
    return {"questions": questions, "covered": covered, "correct": correct}


def eval_vectors(vectors, query, k, analogy_files):
    """The body of `corpusforge eval vectors` (its options and help: trainers/commands.py)."""
    if not os.path.exists(vectors):
        raise click.ClickException(f"{vectors} does not exist")
    try:
        words, m = read_vectors(vectors)
    except (ValueError, UnicodeDecodeError) as e:
        raise click.ClickException(str(e)) from None
    unit = unit_rows(m)
    known = set(words)
    for word in query:
        if word not in known:
            click.echo(f"{word}: not in the vocabulary")
            continue
        click.echo(f"{word}: " + ", ".join(f"{w} {s:.3f}" for w, s in nearest(words, unit, word, k)))
    for path in analogy_files:
        if not os.path.exists(path):
            raise click.ClickException(f"--analogies {path} does not exist")
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        result = analogies(words, unit, lines)
        covered = result["covered"]
        acc = result["correct"] / covered if covered else 0.0
        click.echo(f"{path}: {result['correct']}/{covered} correct ({acc:.1%}); {result['questions']} questions, "
                   f"{covered} with all four words known")
