"""word2vec (skip-gram or CBOW; negative sampling and/or hierarchical softmax) on a corpusforge word2vec dataset, in torch, on CPU or CUDA.

    corpusforge train word2vec -i W2V_DATASET -o VECTORS_DIR [--cbow] [--dim 100] [--window 5] [--negative 5]
    corpusforge eval vectors VECTORS_DIR/vectors.txt --word 中国

What word2vec.c does, batched: the dataset's rows are already subsampled (build word2vec); for every centre
token an effective window b is drawn uniform in 1..window (word2vec.c's `b = next_random % window`), and its
contexts are the tokens at most b positions away in the same row. Skip-gram scores each (centre, context)
pair, CBOW the centre against the mean of its contexts' vectors; each positive comes with --negative words drawn
from the unigram counts ** 0.75 (a drawn word equal to the target is skipped, as word2vec.c skips it); with
--hs the target is scored along its path in word2vec.c's Huffman tree of the counts instead (or too). Plain SGD
at rate alpha, decayed linearly over all the epochs' tokens to 0.0001 * alpha (word2vec.c). A batch of centres
reads the vectors as they were before it and its updates are summed (index_add_: sparse rows only), the stale
reads word2vec.c's threads make, in bulk. Init as word2vec.c: input vectors uniform in [-0.5, 0.5) / dim,
output vectors 0.

Every random draw comes from (seed, epoch, batch): a run resumed from checkpoint.pt (written after every epoch)
repeats the uninterrupted one. Writes vectors.txt (word2vec text format) and vectors.bin (word2vec binary),
both read by gensim's KeyedVectors.load_word2vec_format, plus metrics.jsonl (one line per epoch) and train.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import time

import click
import numpy as np
import torch

from corpusforge.dataset.reader import load_table, read_manifest
from corpusforge.objectives.cooccurrence import parse_vocab
from corpusforge.objectives import word2vec as w2v
from corpusforge.trainers.common import CheckpointError, MetricsLog, load_checkpoint, save_checkpoint
from corpusforge.trainers.options import W2V_BATCH, W2V_DIM, W2V_EPOCHS, W2V_NEGATIVE, W2V_WINDOW

DIM, WINDOW, NEGATIVE, EPOCHS, BATCH = W2V_DIM, W2V_WINDOW, W2V_NEGATIVE, W2V_EPOCHS, W2V_BATCH
# --hs: the tree's top nodes are on nearly every path, so a batch sums thousands of their gradients (word2vec.c
# applies them one at a time, each seeing the last: self-limiting); summed they diverge. A node shared by more
# than MEAN_CAP examples of a batch gets MEAN_CAP times their mean (1, 4 and 32 tried on the test text: 32 learnt best).
MEAN_CAP = 32
ALPHA_SG, ALPHA_CBOW, MIN_ALPHA_SHARE = 0.025, 0.05, 1e-4  # word2vec.c's starting rates and its floor


def hash_seed(*parts) -> int:
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big") >> 1


def load_corpus(directory: str):
    """(manifest, vocab [(word, count)], ids int64 of all rows concatenated, row number of each token)."""
    manifest = read_manifest(directory)
    if manifest.get("kind") != "word2vec":
        raise ValueError(f"{directory} is a {manifest.get('kind')} dataset, not a word2vec dataset")
    with open(os.path.join(directory, "vocab.txt"), "rb") as f:
        vocab = parse_vocab(f.read())
    column = load_table(directory).column("ids").combine_chunks()
    ids = column.values.to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = np.diff(column.offsets.to_numpy())
    if len(ids) and (ids.min() < 0 or ids.max() >= len(vocab)):
        raise ValueError(f"{directory} holds ids outside its vocab.txt")
    return manifest, vocab, ids, np.repeat(np.arange(len(lengths)), lengths)


def init_params(vocab_size: int, dim: int, seed: int, device) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"W": ((torch.rand((vocab_size, dim), generator=g) - 0.5) / dim).to(device),
            "C": torch.zeros((vocab_size, dim), device=device)}


def contexts(ids, rows, centres, window: int, g, device):
    """For centre positions: (context positions [B, 2 * window], mask of the valid ones) under word2vec.c's
    dynamic window (effective size uniform in 1..window) inside the centre's row."""
    offsets = torch.cat([torch.arange(-window, 0), torch.arange(1, window + 1)]).to(device)
    eff = torch.randint(1, window + 1, (len(centres),), generator=g).to(device)
    pos = centres[:, None] + offsets[None, :]
    inside = (pos >= 0) & (pos < len(ids))
    pos = pos.clamp(0, len(ids) - 1)
    mask = inside & (offsets.abs()[None, :] <= eff[:, None]) & (rows[pos] == rows[centres][:, None])
    return pos, mask


def add_rows(table, rows, update):
    """table[rows[i]] += update[i], in the order of i (index_add_'s sums, bit for bit); scatter_add_'s CPU kernel
    does it without index_add_'s per-row overhead."""
    if table.device.type == "cpu":
        table.scatter_add_(0, rows[:, None].expand(-1, table.shape[1]), update)
    else:
        table.index_add_(0, rows, update)


def output_step(h, O, rows, labels, weight, alpha: float, mean_rows: bool = False):
    """One output layer's part of an update, word2vec.c's inner loop in bulk: inputs h [P, D] scored against
    O[rows] [P, K, D] with 0/1 labels (weight 0: skipped); O updated in place; returns (summed loss, the gradient
    of h: word2vec.c's neu1e)."""
    o = O.index_select(0, rows.reshape(-1)).view(*rows.shape, -1)
    score = torch.einsum("pd,pkd->pk", h, o)
    # -log sigmoid(+-score): binary cross-entropy in one fused op (BCE-with-logits' several cost a fifth of a step)
    loss = -float((torch.nn.functional.logsigmoid(score * (2 * labels - 1)) * weight).sum())
    g = (labels - torch.sigmoid(score)) * weight * alpha  # word2vec.c's g
    update = (g[:, :, None] * h[:, None, :]).reshape(-1, h.shape[1])
    if mean_rows:  # a row shared by many examples of the batch: MEAN_CAP times their mean, not their sum
        flat = rows.reshape(-1)
        n = torch.bincount(flat[weight.reshape(-1) > 0], minlength=O.shape[0]).clamp_(min=MEAN_CAP)
        update = update * (MEAN_CAP / n[flat, None].to(update.dtype))
    add_rows(O, rows.reshape(-1), update)
    return loss, torch.einsum("pk,pkd->pd", g, o)


def output_targets(targets, negatives, tree):
    """The output rows to score for each target: with negatives, (C rows, labels, weights) with the target first
    (label 1) and the negatives (label 0; weight 0 where one equals the target, as word2vec.c skips it); with
    the Huffman tree, (H rows: the target's inner nodes, labels 1 - code, weights 0 past its code length)."""
    parts = []
    if negatives is not None:
        rows = torch.cat([targets[:, None], negatives], 1)
        labels = torch.zeros(rows.shape, dtype=torch.float32, device=rows.device)
        labels[:, 0] = 1
        weight = torch.ones_like(labels)
        weight[:, 1:] = (negatives != targets[:, None]).float()
        parts.append(("C", rows, labels, weight))
    if tree is not None:
        points, codes, mask = tree
        parts.append(("H", points[targets], 1 - codes[targets], mask[targets]))
    return parts


def sgns_update(p, inputs, targets, negatives, alpha: float, tree=None) -> tuple[float, int]:
    """Skip-gram rows: input vectors W[inputs] predict targets; SGD in place; returns (summed loss, examples)."""
    h = p["W"].index_select(0, inputs)
    loss, examples, grad = 0.0, 0, torch.zeros_like(h)
    for name, rows, labels, weight in output_targets(targets, negatives, tree):
        part, g = output_step(h, p[name], rows, labels, weight, alpha, mean_rows=name == "H")
        loss, examples, grad = loss + part, examples + int(weight.sum()), grad + g
    add_rows(p["W"], inputs, grad)
    return loss, examples


def cbow_update(p, ctx_ids, mask, targets, negatives, alpha: float, tree=None) -> tuple[float, int]:
    """CBOW: h = mean of W[contexts] (word2vec.c's cbow with its mean) predicts the target; each context vector
    gets the full gradient of h, as word2vec.c adds neu1e to every context word."""
    m = mask.to(p["W"].dtype)
    h = (p["W"][ctx_ids] * m[:, :, None]).sum(1) / m.sum(1, keepdim=True)
    loss, examples, grad = 0.0, 0, torch.zeros_like(h)
    for name, rows, labels, weight in output_targets(targets, negatives, tree):
        part, g = output_step(h, p[name], rows, labels, weight, alpha, mean_rows=name == "H")
        loss, examples, grad = loss + part, examples + int(weight.sum()), grad + g
    valid = mask.reshape(-1)
    add_rows(p["W"], ctx_ids.reshape(-1)[valid],
             grad[:, None, :].expand(-1, mask.shape[1], -1).reshape(-1, h.shape[1])[valid])
    return loss, examples


def tree_tensors(counts, device):
    """The Huffman tree (objectives.word2vec.huffman_tree) as padded tensors: points, codes, mask [V, max depth]."""
    codes, points = w2v.huffman_tree(counts)
    depth = max(map(len, codes))
    pad = lambda rows: [r + [0] * (depth - len(r)) for r in rows]  # noqa: E731
    mask = [[1.0] * len(c) + [0.0] * (depth - len(c)) for c in codes]
    return (torch.tensor(pad(points), device=device), torch.tensor(pad(codes), dtype=torch.float32, device=device),
            torch.tensor(mask, device=device))


def train_word2vec(ids, rows, counts, dim=DIM, window=WINDOW, negative=NEGATIVE, epochs=EPOCHS, cbow=False,
                   alpha=None, batch_size=BATCH, seed=12345, device="cpu", params=None, start_epoch=0,
                   on_epoch=None, log=print, hs=False):
    """Trains; returns (params, [loss per epoch], [seconds per epoch]) for the epochs run here. The loss of an
    epoch is the mean per scored example (a positive, a negative, or with hs an inner node of the path)."""
    device = torch.device(device)
    alpha = alpha if alpha is not None else (ALPHA_CBOW if cbow else ALPHA_SG)
    ids_t, rows_t = torch.from_numpy(ids).to(device), torch.from_numpy(rows).to(device)
    cum = torch.from_numpy(np.cumsum(np.asarray(counts, dtype=np.float64) ** w2v.UNIGRAM_POWER)).to(device)
    cum = cum / cum[-1]
    tree = tree_tensors(counts, device) if hs else None
    if params is None:
        params = init_params(len(counts), dim, hash_seed(seed, "w2v-init"), device)
        if hs:
            params["H"] = torch.zeros_like(params["C"])  # word2vec.c's syn1, zero like syn1neg
    p = params
    n, total = len(ids), max(1, epochs * len(ids))
    losses, seconds = [], []
    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        summed, examples = 0.0, 0
        for b, a in enumerate(range(0, n, batch_size)):
            g = torch.Generator().manual_seed(hash_seed(seed, epoch, b))
            lr = alpha * max(MIN_ALPHA_SHARE, 1 - (epoch * n + a) / (total + 1))  # word2vec.c's decay
            centres = torch.arange(a, min(n, a + batch_size), device=device)
            pos, mask = contexts(ids_t, rows_t, centres, window, g, device)
            if cbow:
                has = mask.any(1)
                targets = ids_t[centres[has]]
            else:
                targets = ids_t[pos[mask]]
            negs = None
            if negative:
                negs = torch.searchsorted(cum, torch.rand((len(targets), negative), generator=g).to(device, cum.dtype))
                negs = negs.clamp_(max=len(counts) - 1)
            if cbow:
                loss, k = cbow_update(p, ids_t[pos[has]], mask[has], targets, negs, lr, tree)
            else:
                loss, k = sgns_update(p, ids_t[centres[:, None].expand_as(pos)[mask]], targets, negs, lr, tree)
            summed, examples = summed + loss, examples + k
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
        losses.append(summed / max(1, examples))
        log(f"epoch {epoch + 1}: loss {losses[-1]:.6f}, {n / seconds[-1]:.0f} words/s")
        if on_epoch:
            on_epoch(epoch, losses[-1], seconds[-1], p)
    return p, losses, seconds


def save_vectors(vectors: np.ndarray, words: list[str], out: str) -> dict:
    """vectors.txt (word2vec text: `V D` header, then `word v1 ... vD`) and vectors.bin (word2vec.c's binary:
    the same header, then per word its UTF-8 bytes, a space, D little-endian float32 and a newline)."""
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    header = f"{len(words)} {vectors.shape[1]}\n"
    with open(os.path.join(out, "vectors.txt"), "w", encoding="utf-8") as f:
        f.write(header)
        f.writelines(w + " " + " ".join(f"{v:.6f}" for v in vec) + "\n" for w, vec in zip(words, vectors))
    with open(os.path.join(out, "vectors.bin"), "wb") as f:
        f.write(header.encode())
        for w, vec in zip(words, vectors):
            f.write(w.encode("utf-8") + b" " + vec.tobytes() + b"\n")
    return {"text": "vectors.txt", "binary": "vectors.bin"}


def main(data, output, cbow, dim, window, negative, hs, epochs, alpha, batch_size, device, threads, seed, overwrite,
         resume):
    """The body of `corpusforge train word2vec` (its options and help: trainers/commands.py)."""
    try:
        manifest, vocab, ids, rows = load_corpus(data)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    if len(ids) < 2:
        raise click.ClickException(f"{data} holds fewer than two tokens to train on")
    if not negative and not hs:
        raise click.ClickException("--negative 0 leaves nothing to train: pass --hs or --negative N")
    if hs and len(vocab) < 2:
        raise click.ClickException("--hs needs a vocabulary of at least two words")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise click.ClickException(f"--device {device}: this torch has no CUDA device")
    alpha = alpha if alpha is not None else (ALPHA_CBOW if cbow else ALPHA_SG)
    checkpoint_path = os.path.join(output, "checkpoint.pt")
    settings = {"shards": [s["sha256"] for s in manifest["shards"]], "cbow": cbow, "dim": dim, "window": window,
                "negative": negative, "hs": hs, "epochs": epochs, "alpha": alpha, "batch_size": batch_size, "seed": seed}
    params, start = None, 0
    if resume:
        if not os.path.exists(checkpoint_path):
            raise click.ClickException(f"--resume: {checkpoint_path} does not exist")
        try:
            state = load_checkpoint(checkpoint_path, needs=("params", "epoch", "settings"))
        except CheckpointError as e:
            raise click.ClickException(str(e)) from None
        changed = sorted(k for k, v in settings.items() if state["settings"].get(k) != v)
        if changed:
            raise click.ClickException(f"--resume: the checkpoint was trained with other {', '.join(changed)}; "
                                       "resume with the same settings")
        params, start = {k: v.to(device) for k, v in state["params"].items()}, state["epoch"] + 1
    elif (os.path.exists(os.path.join(output, "vectors.txt")) or os.path.exists(checkpoint_path)) and not overwrite:
        raise click.ClickException(f"{output} already holds a run; pass --overwrite to replace it or --resume")
    if threads:
        torch.set_num_threads(threads)
    os.makedirs(output, exist_ok=True)
    click.echo(f"{data}: {len(vocab)} words, {len(ids)} tokens; {'cbow' if cbow else 'skip-gram'}, dim {dim}, "
               f"window {window}, negative {negative}{', hs' if hs else ''}, {epochs} epochs, alpha {alpha}, {device}")
    metrics = MetricsLog(os.path.join(output, "metrics.jsonl"), resume_step=start if resume else None)

    def on_epoch(epoch, loss, secs, p):
        metrics.write({"step": epoch + 1, "loss": loss, "seconds": secs, "words_per_s": len(ids) / secs})
        save_checkpoint(checkpoint_path, {"params": {k: v.cpu() for k, v in p.items()}, "epoch": epoch,
                                          "settings": settings})

    p, _, _ = train_word2vec(ids, rows, [c for _, c in vocab], dim, window, negative, epochs, cbow, alpha,
                             batch_size, seed, device, params, start, on_epoch, log=click.echo, hs=hs)
    with open(os.path.join(output, "metrics.jsonl"), encoding="utf-8") as f:
        done = [json.loads(line) for line in f if line.strip()]
    files = save_vectors(p["W"].cpu().numpy(), [w for w, _ in vocab], output)
    info = {"data": os.path.abspath(data), **settings, "vocab_size": len(vocab), "tokens": len(ids),
            "device": device, "loss_per_epoch": [m["loss"] for m in done],
            "seconds_per_epoch": [m["seconds"] for m in done], "files": files}
    with open(os.path.join(output, "train.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    click.echo(f"wrote {output}/vectors.txt and vectors.bin: {len(vocab)} x {dim}; final loss "
               f"{done[-1]['loss']:.6f}")
