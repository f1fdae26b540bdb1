"""corpusforge.torch on real shards: zero-copy random access, workers, DDP sampling, streaming, collators."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from corpusforge.dataset import load_table
from corpusforge.torch import (IGNORE, EpochSampler, NotPretrainingData, PretrainingCollator, PretrainingDataset,
                               PretrainingStream, masking_config)


def test_random_access_is_zero_copy_and_equals_the_table(sample_nsp64):
    ds = PretrainingDataset(str(sample_nsp64))
    table = load_table(str(sample_nsp64))
    assert len(ds) == table.num_rows and ds.info.label == "next_sentence_label" and ds.info.vocab_size == 21128
    for i in (0, 17, len(ds) - 1):
        row, expected = ds[i], table.slice(i, 1).to_pylist()[0]
        for name, value in expected.items():
            assert np.array_equal(row[name], value), name
        assert not row["input_ids"].flags.owndata  # a view into the memory-mapped shard
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_not_a_pretraining_dataset(sample_tokenized, tmp_path):
    with pytest.raises(NotPretrainingData, match="tokenized dataset, not a pretraining dataset"):
        PretrainingDataset(str(sample_tokenized))
    with pytest.raises(NotPretrainingData, match="no manifest.json"):
        PretrainingDataset(str(tmp_path))


def test_workers_and_distributed_sampler_see_every_row_once(sample_nsp64):
    ds = PretrainingDataset(str(sample_nsp64))
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=3, drop_last=True)
        loader = DataLoader(ds, batch_size=64, sampler=sampler, num_workers=2, collate_fn=lambda rows: [r["index"] for r in rows])
        seen += [i for batch in loader for i in batch]
    assert len(seen) == len(set(seen)) == len(ds) // 2 * 2


def test_epoch_sampler_resumes_where_it_stopped():
    full = list(EpochSampler(100, seed=1, epoch=2, rank=1, world_size=2, exclude=10))
    assert list(EpochSampler(100, seed=1, epoch=2, start=7, rank=1, world_size=2, exclude=10)) == full[7:]
    both = full + list(EpochSampler(100, seed=1, epoch=2, rank=0, world_size=2, exclude=10))
    assert sorted(both) == list(range(10, 100))  # held-out rows never trained on
    assert full != list(EpochSampler(100, seed=1, epoch=3, rank=1, world_size=2, exclude=10))


def test_stream_shuffles_reproducibly_and_splits_between_ranks_and_workers(sample_nsp64):
    def order(rank, epoch):
        stream = PretrainingStream(str(sample_nsp64), buffer_size=500, seed=5, rank=rank, world_size=2)
        stream.set_epoch(epoch)
        loader = DataLoader(stream, batch_size=100, num_workers=2, collate_fn=lambda rows: [r["index"] for r in rows])
        return [i for batch in loader for i in batch]

    a, b = order(0, 0), order(1, 0)
    assert sorted(a + b) == list(range(len(PretrainingDataset(str(sample_nsp64)))))
    assert a == order(0, 0) and a != order(0, 1)
    assert a[:50] != sorted(a[:50])  # shuffled, not shard order


def test_static_collator_pads_and_labels_the_stored_positions(sample_nsp64):
    ds = PretrainingDataset(str(sample_nsp64))
    rows = [ds[i] for i in range(5)]
    batch = PretrainingCollator(label=ds.info.label)(rows)
    width = max(len(r["input_ids"]) for r in rows)
    assert batch["input_ids"].shape[1] == -(-width // 8) * 8
    for b, r in enumerate(rows):
        n = len(r["input_ids"])
        assert batch["input_ids"][b, :n].tolist() == r["input_ids"].tolist() and batch["input_ids"][b, n:].eq(0).all()
        assert batch["attention_mask"][b].sum() == n
        labelled = torch.nonzero(batch["labels"][b] != IGNORE).ravel()
        assert labelled.tolist() == r["masked_lm_positions"].tolist()
        assert batch["labels"][b, labelled].tolist() == r["masked_lm_labels"].tolist()
        assert batch["next_sentence_label"][b] == r["next_sentence_label"]


def test_dynamic_masking_follows_berts_rule_and_is_new_each_epoch(sample_full64):
    ds = PretrainingDataset(str(sample_full64))
    assert ds.info.masking == "none" and ds.info.label is None
    cfg = masking_config(ds.info, "wwm")
    rows = [ds[i] for i in range(64)]
    batch = PretrainingCollator(masking=cfg, seed=7, epoch=0)(rows)
    # checked against the unmasked rows themselves: labels are the original ids, unpredicted tokens are shown
    # as they are, specials are never predicted, at most k = min(10, max(1, round(0.15 x maskable))) per row,
    # and predicted tokens are shown as [MASK] 80%, a random token 10%, themselves 10% (BERT's rule)
    mask_id, shown_as = ds.info.special_ids["mask"], {"mask": 0, "kept": 0, "other": 0}
    for b, r in enumerate(rows):
        ids, n = r["input_ids"].astype(np.int64), len(r["input_ids"])
        labels, shown = batch["labels"][b, :n].numpy(), batch["input_ids"][b, :n].numpy()
        predicted = labels != IGNORE
        assert np.array_equal(labels[predicted], ids[predicted])
        assert np.array_equal(shown[~predicted], ids[~predicted])
        assert not predicted[r["special_tokens_mask"].astype(bool)].any()
        assert 1 <= predicted.sum() <= min(10, max(1, round(0.15 * int((r["special_tokens_mask"] == 0).sum()))))
        shown_as["mask"] += int((shown[predicted] == mask_id).sum())
        shown_as["kept"] += int((shown[predicted] == ids[predicted]).sum())
        shown_as["other"] += int(((shown[predicted] != mask_id) & (shown[predicted] != ids[predicted])).sum())
    total = sum(shown_as.values())
    assert total > 400
    assert abs(shown_as["mask"] / total - 0.8) < 0.06 and abs(shown_as["other"] / total - 0.1) < 0.045, shown_as
    # whole words: every word is either fully predicted or not at all
    for b, r in enumerate(rows):
        predicted = (batch["labels"][b, :len(r["input_ids"])] != IGNORE).numpy()
        for w in np.unique(r["word_ids"][r["word_ids"] >= 0]):
            assert len(set(predicted[r["word_ids"] == w])) == 1
    again = PretrainingCollator(masking=cfg, seed=7, epoch=0)(rows)
    assert torch.equal(again["labels"], batch["labels"])  # the same batch and epoch: the same mask
    other = PretrainingCollator(masking=cfg, seed=7, epoch=1)(rows)
    assert not torch.equal(other["labels"], batch["labels"])  # seen again: a new mask (RoBERTa)
    share = (batch["labels"] != IGNORE).sum() / (batch["attention_mask"].sum() - 2 * len(rows))
    assert 0.10 < share < 0.17


def test_span_boundaries_for_sbo(sample_full64):
    ds = PretrainingDataset(str(sample_full64))
    batch = PretrainingCollator(masking=masking_config(ds.info, "span"), seed=1, spans=True)([ds[i] for i in range(6)])
    flat = (batch["labels"] != IGNORE).ravel()
    where = torch.nonzero(flat).ravel()
    assert len(batch["span_left"]) == len(where)
    assert not flat[batch["span_left"]].any() and not flat[batch["span_right"]].any()  # boundaries are outside
    assert torch.equal(where, batch["span_left"] + 1 + batch["span_offset"])
    assert (batch["span_right"] > where).all()
