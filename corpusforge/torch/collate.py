"""Collators: pad a batch of instances to its longest member and build the MLM labels.

A statically masked dataset is used as written (labels from masked_lm_positions / masked_lm_labels).
A `--masking none` dataset is masked here with the pipeline's own `mask_batch`, a new mask every time
an instance is seen (RoBERTa's dynamic masking): the generator is seeded by (seed, epoch, the rows'
indices), so a batch is masked the same way whichever worker builds it and after a resume.
"""
from __future__ import annotations

import numpy as np
import torch

from corpusforge.objectives.masking import MaskingConfig, mask_batch, vocabulary_ids

IGNORE = -100  # label of positions without an MLM target (torch's cross_entropy ignore_index)


def masking_config(info, scheme: str, masked_lm_prob: float | None = None, max_predictions: int | None = None,
                   ) -> MaskingConfig:
    """The dynamic masking for a dataset: its vocabulary's [MASK] and random-replacement ids; the share,
    the cap per instance and the n-gram / span parameters default to the dataset's build parameters."""
    p = info.params
    mask_id, random_ids = vocabulary_ids(info.special_ids, info.vocab_size)
    return MaskingConfig(scheme=scheme, mask_id=mask_id, random_ids=random_ids,
                         masked_lm_prob=masked_lm_prob or p.get("masked_lm_prob", 0.15),
                         max_predictions=max_predictions or p.get("max_predictions_per_seq", 20),
                         max_ngram=p.get("max_ngram", 3), span_p=p.get("span_p", 0.2), max_span=p.get("max_span", 10))


class PretrainingCollator:
    """rows (dicts from PretrainingDataset / PretrainingStream) -> a dict of padded tensors.

    Output, under transformers' argument names so that `BertForPreTraining(**batch)` /
    `AlbertForPreTraining(**batch)` compute their loss: input_ids, token_type_ids, attention_mask (B, T)
    int64; labels (B, T) with IGNORE where nothing is predicted; the dataset's sentence label (B,)
    under its own column name, `next_sentence_label` (nsp) or `sentence_order_label` (sop); with `spans=True` also the
    SpanBERT boundaries of every predicted token, in the order of labels[labels != IGNORE]:
    span_left, span_right (positions in the flattened (B*T) batch) and span_offset (0.. within the span).
    """

    def __init__(self, pad_id: int = 0, label: str | None = None, masking: MaskingConfig | None = None,
                 seed: int = 0, epoch: int = 0, spans: bool = False, pad_to_multiple_of: int = 8):
        self.pad_id, self.label, self.masking = pad_id, label, masking
        self.seed, self.epoch, self.spans, self.multiple = seed, epoch, spans, pad_to_multiple_of

    def __call__(self, rows: list[dict]) -> dict:
        lengths = np.array([len(r["input_ids"]) for r in rows], dtype=np.int64)
        n = len(rows)
        width = int(lengths.max())
        width = -(-width // self.multiple) * self.multiple
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        ids = np.concatenate([r["input_ids"] for r in rows]).astype(np.int64)
        if self.masking is not None:
            special = np.concatenate([r["special_tokens_mask"] for r in rows]).astype(bool)
            word_ids = np.concatenate([r["word_ids"] for r in rows])
            rng = np.random.default_rng([self.seed, self.epoch, *(int(r["index"]) for r in rows)])
            m = mask_batch(ids, special, word_ids, lengths, rng, self.masking)
            ids, positions, counts, targets = m.input_ids, m.positions, m.counts, m.labels
        else:
            positions = np.concatenate([r["masked_lm_positions"] for r in rows]).astype(np.int64)
            counts = np.array([len(r["masked_lm_positions"]) for r in rows])
            targets = np.concatenate([r["masked_lm_labels"] for r in rows]).astype(np.int64)
        row = np.repeat(np.arange(n), lengths)
        col = np.arange(len(ids)) - offsets[row]
        batch_ids = np.full((n, width), self.pad_id, dtype=np.int64)
        batch_ids[row, col] = ids
        types = np.zeros((n, width), dtype=np.int64)
        types[row, col] = np.concatenate([r["token_type_ids"] for r in rows])
        attention = np.zeros((n, width), dtype=np.int64)
        attention[row, col] = 1
        labels = np.full((n, width), IGNORE, dtype=np.int64)
        label_row = np.repeat(np.arange(n), counts)
        labels[label_row, positions] = targets
        out = {"input_ids": batch_ids, "token_type_ids": types, "attention_mask": attention, "labels": labels}
        if self.label:
            out[self.label] = np.array([r[self.label] for r in rows], dtype=np.int64)
        if self.spans:
            out.update(span_boundaries(labels != IGNORE))
        return {k: torch.from_numpy(v) for k, v in out.items()}


def span_boundaries(predicted: np.ndarray) -> dict:
    """SpanBERT's boundary tokens for each predicted token: a span is a run of adjacent predicted
    positions (specials are never predicted, so both boundaries exist: [CLS] / [SEP] at worst)."""
    n, width = predicted.shape
    flat = predicted.ravel()
    where = np.flatnonzero(flat)
    if not len(where):
        return {k: np.zeros(0, dtype=np.int64) for k in ("span_left", "span_right", "span_offset")}
    new = np.ones(len(where), dtype=bool)
    new[1:] = where[1:] != where[:-1] + 1
    new |= where % width == 0  # a run never continues into the next row
    run = np.cumsum(new) - 1
    starts = where[new]
    ends = np.append(where[np.flatnonzero(new)[1:] - 1], where[-1]) + 1  # exclusive
    left = starts[run] - 1
    right = ends[run]
    return {"span_left": left, "span_right": right, "span_offset": where - starts[run]}


def pad_rows(rows: list, value: int, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequences -> ((B, T) int64 padded with value, (B, T) 1/0 mask), T the longest rounded up to a multiple."""
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    width = -(-int(lengths.max(initial=1)) // multiple) * multiple
    real = np.arange(width)[None, :] < lengths[:, None]
    out = np.full((len(rows), width), value, dtype=np.int64)
    out[real] = np.concatenate(rows).astype(np.int64) if len(rows) else []
    return out, real.astype(np.int64)


class Seq2SeqCollator:
    """Encoder-decoder rows (Seq2SeqDataset) -> the arguments of transformers' T5ForConditionalGeneration /
    BartForConditionalGeneration: input_ids and attention_mask (padding pad_id / 0); labels with IGNORE at
    the padding, so the loss skips it; the model builds decoder_input_ids by shifting labels right (its
    decoder start token first, IGNORE back to pad), unless the data gives decoder_input_ids (MASS: padded
    with pad_id, with a decoder_attention_mask, and its decoder_position_ids padded with 0). Each is
    padded to its own longest row, a multiple of 8."""

    def __init__(self, pad_id: int = 0, pad_to_multiple_of: int = 8):
        self.pad_id, self.multiple = pad_id, pad_to_multiple_of

    def __call__(self, rows: list[dict]) -> dict:
        input_ids, attention = pad_rows([r["input_ids"] for r in rows], self.pad_id, self.multiple)
        labels, _ = pad_rows([r["labels"] for r in rows], IGNORE, self.multiple)
        out = {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
        if "decoder_input_ids" in rows[0]:
            out["decoder_input_ids"], out["decoder_attention_mask"] = pad_rows(
                [r["decoder_input_ids"] for r in rows], self.pad_id, self.multiple)
        if "decoder_position_ids" in rows[0]:
            out["decoder_position_ids"], _ = pad_rows([r["decoder_position_ids"] for r in rows], 0, self.multiple)
        return {k: torch.from_numpy(v) for k, v in out.items()}


def local_perm_index(length: int, perm_size: int, rng: np.random.Generator) -> np.ndarray:
    """XLNet's _local_perm factorisation order of a part: index[c * P + j] = c * P + sigma(j), one random
    permutation sigma of range(P) shared by every chunk of P positions (its reshape / shuffle / reshape),
    the chunks in order. A smaller index comes earlier in the order."""
    sigma = rng.permutation(perm_size)
    return (np.arange(0, length, perm_size)[:, None] + sigma[None, :]).reshape(-1)


class XLNetCollator:
    """xlnet rows (XLNetDataset) -> the arguments of transformers' XLNetLMHeadModel, the permutation drawn
    here each time a row is seen, as XLNet's input function (data_utils.py get_dataset / _local_perm) does.

    The reuse part and the A/B part are permuted separately (each in chunks of perm_size); the reuse part
    sees nothing of the A/B part, which sees all of the reuse part. Within a part, a context token (not
    to predict, not [SEP] / [CLS]) is seen by every position and sees no masked or special token; a
    target (is_masked, not [SEP] / [CLS]) sees the context and the masked / special tokens strictly
    before it in the order, never itself; a special sees those before it and itself. Output: input_ids,
    token_type_ids (seg_id) (B, T) int64; perm_mask (B, T, T) float, 1 = may not attend; target_mapping
    (B, num_predict, T) one-hot rows of the targets in position order, zero rows for padding; labels
    (B, num_predict), the targets' ids, IGNORE for padding. The generator is seeded by (seed, epoch,
    the row's index), so a row gets the same permutation whichever worker collates it."""

    def __init__(self, sep_id: int, cls_id: int, reuse_length: int, num_predict: int, perm_size: int | None = None,
                 seed: int = 0, epoch: int = 0):
        self.func = np.array([sep_id, cls_id])
        self.reuse, self.num_predict, self.perm_size = reuse_length, num_predict, perm_size or reuse_length
        self.seed, self.epoch = seed, epoch

    def __call__(self, rows: list[dict]) -> dict:
        ids = np.stack([r["input_ids"] for r in rows]).astype(np.int64)
        n, width = ids.shape
        masked = np.stack([r["is_masked"] for r in rows]).astype(bool)
        func = np.isin(ids, self.func)
        target = masked & ~func
        index = np.empty((n, width), dtype=np.int64)
        for b, r in enumerate(rows):
            rng = np.random.default_rng([self.seed, self.epoch, int(r["index"])])
            index[b, :self.reuse] = local_perm_index(self.reuse, self.perm_size, rng)
            index[b, self.reuse:] = local_perm_index(width - self.reuse, self.perm_size, rng)
        context = ~masked & ~func
        rev = np.where(context, -1, index)
        self_rev = np.where(target, rev, rev + 1)
        perm = (self_rev[:, :, None] <= rev[:, None, :]) & ~context[:, None, :]
        part = np.arange(width) >= self.reuse
        perm &= part[:, None] == part[None, :]  # within a part, _local_perm's mask
        perm |= ~part[:, None] & part[None, :]  # the reuse part never sees the A/B part
        counts = target.sum(1)
        if counts.max(initial=0) > self.num_predict:
            raise ValueError(f"a row has {int(counts.max())} targets, more than num_predict {self.num_predict}")
        row, col = np.nonzero(target)
        slot = np.arange(len(row)) - (np.cumsum(counts) - counts)[row]
        mapping = np.zeros((n, self.num_predict, width), dtype=np.float32)
        mapping[row, slot, col] = 1
        labels = np.full((n, self.num_predict), IGNORE, dtype=np.int64)
        labels[row, slot] = ids[row, col]
        types = np.stack([r["seg_id"] for r in rows]).astype(np.int64)
        return {k: torch.from_numpy(v) for k, v in {
            "input_ids": ids, "token_type_ids": types, "perm_mask": perm.astype(np.float32),
            "target_mapping": mapping, "labels": labels}.items()}
