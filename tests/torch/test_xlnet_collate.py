"""XLNetCollator on real records (the sample's wiki text, build pretraining --mode xlnet at its defaults): the
factorisation order recovered from perm_mask alone is a strict order of the masked and special tokens, one
permutation shared by the chunks of a part, never letting a target see itself; transformers' XLNetLMHeadModel
confirms it (a target's prediction does not move when its own token or any later one changes); the batch
gives a loss; DataLoader workers do not change the batches."""
import math

import numpy as np
import pytest
import torch

from corpusforge.torch import IGNORE, XLNetCollator, XLNetDataset
from tests.conftest import SAMPLE, VOCAB, run_cli

CLS, SEP, V = 101, 102, 21128


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("xlnet") / "xlnet"
    run_cli("build", "pretraining", "--input", SAMPLE / "wiki_zh", "--tokenizer", VOCAB, "--output", out, "--mode",
            "xlnet")
    return XLNetDataset(str(out))


def collator(dataset, perm_size=None, epoch=0):
    p = dataset.params
    return XLNetCollator(SEP, CLS, p["reuse_length"], p["num_predict"], perm_size, seed=0, epoch=epoch)


def recovered_order(perm, positions):
    """The order of these positions that perm_mask implies, by brute force: each sees exactly those before it."""
    sees = {i: {j for j in positions if j != i and perm[i, j] == 0} for i in positions}
    order = sorted(positions, key=lambda i: len(sees[i]))
    for k, i in enumerate(order):
        assert sees[i] == set(order[:k]), "perm_mask is not a strict order of the masked and special tokens"
    return order


@pytest.mark.parametrize("perm_size", [None, 16])
def test_perm_mask_is_a_local_factorisation_order(dataset, perm_size):
    size = perm_size or 64
    rows = [dataset[i] for i in range(24)]
    batch = collator(dataset, perm_size)(rows)
    perm = batch["perm_mask"].numpy()
    for b, row in enumerate(rows):
        ids, masked = row["input_ids"].astype(int), row["is_masked"].astype(bool)
        special = np.isin(ids, (SEP, CLS))
        target, context = masked & ~special, ~masked & ~special
        p = perm[b]
        assert (np.diag(p)[target] == 1).all() and (np.diag(p)[~target] == 0).all()  # a target never sees itself
        assert (p[:64, 64:] == 1).all() and (p[64:, :64] == 0).all()  # reuse part: blind to A/B, seen by it
        for lo, hi in ((0, 64), (64, 128)):
            part = np.arange(lo, hi)
            ctx, rest = part[context[lo:hi]], part[~context[lo:hi]]
            assert (p[lo:hi][:, ctx] == 0).all()  # the context is seen by every position of its part
            assert (p[np.ix_(ctx, rest)] == 1).all()  # and sees no masked or special token
            order = recovered_order(p, list(rest))
            # _local_perm: the chunks of perm_size in order, one permutation of offsets shared by all of them
            chunks = [(i - lo) // size for i in order]
            assert chunks == sorted(chunks)
            before = set()
            for c in set(chunks):
                offsets = [(i - lo) % size for i in order if (i - lo) // size == c]
                pairs = {(x, y) for k, x in enumerate(offsets) for y in offsets[k + 1:]}
                assert not {(y, x) for x, y in pairs} & before, "the chunks' orders disagree"
                before |= pairs
        # the targets: every is_masked position but [SEP] / [CLS], in position order, padded to num_predict
        mapping, labels = batch["target_mapping"][b].numpy(), batch["labels"][b].numpy()
        k = int(target.sum())
        assert k == 21 - int((masked & special).sum()) and mapping.shape == (21, 128)
        assert (mapping[:k].argmax(1) == np.flatnonzero(target)).all() and (mapping[:k].sum(1) == 1).all()
        assert (mapping[k:] == 0).all() and (labels[:k] == ids[target]).all() and (labels[k:] == IGNORE).all()


def test_orders_are_uniform_and_drawn_anew_each_epoch(dataset):
    row = dataset[3]
    targets = np.flatnonzero(row["is_masked"][:64].astype(bool) & ~np.isin(row["input_ids"][:64], (SEP, CLS)))
    i, j = int(targets[0]), int(targets[1])
    first = []
    for epoch in range(400):
        p = collator(dataset, epoch=epoch)([row])["perm_mask"][0].numpy()
        first.append(p[j, i] == 0)  # i comes before j
    assert abs(np.mean(first) - 0.5) < 0.08  # 4 standard errors
    again = collator(dataset, epoch=5)([row])["perm_mask"]
    assert torch.equal(again, collator(dataset, epoch=5)([row])["perm_mask"])


@pytest.fixture(scope="module")
def model():
    from transformers import XLNetConfig, XLNetLMHeadModel

    torch.manual_seed(0)
    m = XLNetLMHeadModel(XLNetConfig(vocab_size=V, d_model=64, n_layer=2, n_head=2, d_inner=128, mem_len=None))
    return m.eval()


@torch.no_grad()
def test_the_model_sees_only_what_comes_before(dataset, model):
    """Changing a target's own token, or any token later in the order, leaves its prediction as it was;
    changing an earlier one moves it (two layers: anything the mask lets through would show)."""
    rows = [dataset[i] for i in range(4)]
    batch = collator(dataset)(rows)
    args = {k: batch[k] for k in ("input_ids", "token_type_ids", "perm_mask", "target_mapping")}
    logits = model(**args).logits
    moved_by_earlier = 0
    for b in range(4):
        perm = batch["perm_mask"][b]
        slots = (batch["labels"][b] != IGNORE).nonzero().flatten().tolist()
        where = batch["target_mapping"][b].argmax(1)
        for s in slots[:6]:
            t = int(where[s])
            changed = {k: v.clone() for k, v in args.items()}
            changed["input_ids"][b, t] = 7000 if int(changed["input_ids"][b, t]) != 7000 else 7001
            after = model(**changed).logits[b]
            for u in slots:
                q = int(where[u])
                sees_t = q != t and perm[q, t] == 0
                if sees_t:
                    moved_by_earlier += not torch.allclose(after[u], logits[b, u], atol=1e-5)
                else:
                    assert torch.allclose(after[u], logits[b, u], atol=1e-5), (b, t, q)
    assert moved_by_earlier > 10


def test_the_batch_gives_a_loss(dataset, model):
    batch = collator(dataset)([dataset[i] for i in range(8)])
    loss = model(**batch).loss
    assert math.isfinite(loss.item()) and abs(loss.item() - math.log(V)) < 0.5  # near ln V untrained


def test_workers_do_not_change_the_batches(dataset):
    from torch.utils.data import DataLoader

    def batches(workers):
        loader = DataLoader(dataset, batch_size=8, sampler=list(range(40)), collate_fn=collator(dataset, epoch=2),
                            num_workers=workers)
        return [b["perm_mask"] for b in loader]

    one, two = batches(0), batches(2)
    assert len(one) == 5 and all(torch.equal(a, b) for a, b in zip(one, two))
