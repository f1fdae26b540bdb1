"""XLNet's pretraining records: zihangdai/xlnet data_utils.py (create_tfrecords, _split_a_and_b, _sample_mask).

Copy c of a bucket is its documents in a seeded order, each sentence a run of one sent_id (the ids
alternate sentence by sentence) and each document followed by the end-of-document token as a
sentence of its own (use_eod), laid end to end as one stream. A record starting at stream position i:

    input_ids  the reuse part (stream[i : i + reuse_length]), then A [SEP] B [SEP] [CLS]: max_seq_length
    seg_id     0 for the reuse part, A and its [SEP]; 1 for B and its [SEP]; 2 for [CLS]
    label      1: B is A's continuation; 0: B is a random run of whole sentences of the stream
    is_masked  the num_predict positions to predict: _sample_mask on the reuse part (num_predict -
               num_predict // 2 of them) and on A [SEP] B [SEP] [CLS] (num_predict // 2)

A begins at i + reuse_length; with probability 0.5 (or when no sentence boundary comes before the
budget max_seq_length - reuse_length - 3 is reached) A ends at a random sentence boundary and B is
random (label 0), else B runs on from A to the first boundary past the budget (label 1); the longer
of A and B loses tokens from its right end until they fit. The next record starts at i +
reuse_length (XLNet's memory layout: its reuse part is the text this record's A started with); the
stream ends where a record no longer fits (those tokens are counted, not written).

_sample_mask draws n in 1..5 words (p ∝ 1/n), skips a random left context of [0, 6n) tokens (mask_alpha
6 / mask_beta 1), masks the next n whole words from a word start, then skips the rest of the 6n
context; a span that would run past the part ends the spans, and random single tokens make up
num_predict. Word starts are the segmenter's (a token whose word id differs from its predecessor's;
[SEP], [CLS] and the end-of-document token are words of one token, as XLNet's "<...>" pieces). Two
documented departures: data_utils.py tests `seg[beg]` where it means `seg[end]`, so its spans are n
tokens from a word start; here they are n whole words, the stated intent. And a span of whole words
never overshoots what is left of num_predict: it takes the words that fit (none: the spans end and
random tokens fill). The permutation (perm_mask, target_mapping) is drawn per step by the collator
(corpusforge.torch.collate.XLNetCollator), as XLNet's input function does.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from corpusforge.objectives.instances import TokenizedDocument, rng_for

MASK_ALPHA, MASK_BETA, MAX_GRAM = 6, 1, 5  # data_utils.py's defaults (mask_alpha 6, mask_beta 1, max_gram 5)
NUM_PREDICT_SHARE = 85 / 512  # XLNet's num_predict for seq_len 512: the default scales it
GRAM_P = (1.0 / np.arange(1, MAX_GRAM + 1)) / (1.0 / np.arange(1, MAX_GRAM + 1)).sum()


def default_num_predict(max_seq_length: int) -> int:
    return int(round(max_seq_length * NUM_PREDICT_SHARE))


@dataclass(frozen=True)
class XLNetConfig:
    max_seq_length: int = 128
    reuse_length: int | None = None  # default max_seq_length // 2 (XLNet: 256 of 512)
    num_predict: int | None = None  # default round(max_seq_length * 85 / 512)
    cls_id: int | None = None
    sep_id: int | None = None
    eod_id: int | None = None
    dupe_factor: int = 1
    mode: str = "xlnet"

    def __post_init__(self):
        if self.reuse_length is None:
            object.__setattr__(self, "reuse_length", self.max_seq_length // 2)
        if self.num_predict is None:
            object.__setattr__(self, "num_predict", default_num_predict(self.max_seq_length))
        if None in (self.cls_id, self.sep_id, self.eod_id):
            raise ValueError("XLNet records need the vocabulary's [CLS], [SEP] and end-of-document tokens")
        if not 1 <= self.reuse_length < self.max_seq_length - 4:  # A and B need a token each, at least
            raise ValueError(f"--max-seq-length {self.max_seq_length} with a reuse part of {self.reuse_length} "
                             f"tokens (--reuse-length, default half) leaves no room for A, B, two [SEP] and a [CLS]; "
                             f"raise --max-seq-length or give a --reuse-length of at most {self.max_seq_length - 5}")
        rest = self.max_seq_length - self.reuse_length
        first, second = self.num_predict - self.num_predict // 2, self.num_predict // 2
        if first > self.reuse_length or second > rest or self.num_predict < 1:
            raise ValueError(f"--num-predict {self.num_predict} does not fit: {first} targets in the reuse part of "
                             f"{self.reuse_length} tokens and {second} in the {rest} of A and B")

    @property
    def budget(self) -> int:
        """A's and B's tokens together (data_utils.py's tot_len)."""
        return self.max_seq_length - self.reuse_length - 3


def split_a_and_b(bounds: np.ndarray, n: int, begin: int, budget: int, rng: np.random.Generator):
    """data_utils.py's _split_a_and_b(extend_target=True) on a stream of n tokens whose sentences start at
    `bounds` (ascending, > 0): (a_begin, a_end, b_begin, b_end, label), or None where the stream ends."""
    if begin + budget >= n:
        return None
    lo = int(np.searchsorted(bounds, begin, "right"))
    hi = int(np.searchsorted(bounds, begin + budget, "left"))  # the first boundary with end - begin >= budget
    end = int(bounds[hi]) if hi < len(bounds) else n
    cuts = bounds[lo:hi]
    if len(cuts) == 0 or rng.random() < 0.5:
        label = 0
        a_end = int(cuts[rng.integers(len(cuts))]) if len(cuts) else end
        b_len = max(1, budget - (a_end - begin))
        b_begin = int(rng.integers(0, n - b_len))  # randint(0, n - 1 - b_len), both ends included
        b_end = b_begin + b_len
        k = int(np.searchsorted(bounds, b_begin, "right"))  # back to the start of b_begin's sentence
        b_begin = int(bounds[k - 1]) if k else 0
        k = int(np.searchsorted(bounds, b_end, "left"))  # on to the end of b_end's sentence (n - 1 at most)
        b_end = min(int(bounds[k]) if k < len(bounds) else n - 1, n - 1) if b_end < n - 1 else b_end
    else:
        label = 1
        a_end = int(cuts[rng.integers(len(cuts))])
        b_begin, b_end = a_end, end
    a, b = a_end - begin, b_end - b_begin
    excess = a + b - budget
    if excess > 0:  # the reference's loop: the longer side loses a token, ties from B, until they fit
        d = min(excess, abs(a - b))
        if a > b:
            a -= d
        else:
            b -= d
        excess -= d
        b -= (excess + 1) // 2
        a -= excess // 2
    a_end, b_end = begin + a, b_begin + b
    if a_end >= n or b_end >= n:
        return None
    return begin, a_end, b_begin, b_end, label


def sample_mask(starts: np.ndarray, length: int, goal: int | None, rng: np.random.Generator) -> np.ndarray:
    """_sample_mask over a part of `length` tokens whose words start at `starts` (ascending positions):
    the masked positions, ascending: exactly `goal` of them (None: the spans alone, no cap and no fill)."""
    mask = np.zeros(length, dtype=bool)
    grams = rng.choice(np.arange(1, MAX_GRAM + 1), size=length + 1, p=GRAM_P)  # at most one span per token
    left = rng.random(length + 1)
    word_of = np.searchsorted(starts, np.arange(length), "left")  # the first word starting at or after t
    room = length if goal is None else goal  # what is left to mask
    nstarts, cur, k = len(starts), 0, 0
    while cur < length and room > 0:
        n = min(int(grams[k]), room)
        ctx = n * MASK_ALPHA // MASK_BETA
        l_ctx = int(left[k] * ctx)
        k += 1
        beg = cur + l_ctx
        if beg >= length:
            break
        w = int(word_of[beg])  # the word start at or after beg
        if w + n >= nstarts:  # no word there, or the n-gram would run to the part's end: the reference stops
            break
        beg, end = int(starts[w]), int(starts[w + n])
        while end - beg > room and n > 1:  # whole words only, never past num_predict
            n -= 1
            end = int(starts[w + n])
        if end - beg > room:
            break
        mask[beg:end] = True
        if goal is not None:
            room -= end - beg
        cur = end + ctx - l_ctx
    if goal is not None and room:  # the reference's fill: random single tokens, each a new one
        mask[rng.choice(np.flatnonzero(~mask), room, replace=False)] = True
    return np.flatnonzero(mask)


@dataclass
class XLNetBatch:
    record_ids: list
    input_ids: np.ndarray  # (records, max_seq_length)
    seg_id: np.ndarray
    is_masked: np.ndarray
    label: np.ndarray

    def table(self, schema: pa.Schema, keys: list) -> pa.Table:
        n, width = self.input_ids.shape
        offsets = pa.array(np.arange(0, (n + 1) * width, width, dtype=np.int32))

        def lists(values, name):
            return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1), schema.field(name).type.value_type))

        return pa.table([lists(self.input_ids, "input_ids"), lists(self.seg_id, "seg_id"),
                         lists(self.is_masked, "is_masked"), pa.array(self.label, pa.int8()),
                         pa.array(keys, pa.binary())], schema=schema)


class XLNetBuilder:
    """The XLNet records of one bucket of documents, with their tallies (InstanceBuilder's interface)."""

    def __init__(self, cfg: XLNetConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.stats: Counter = Counter()

    def stream(self, docs: list[TokenizedDocument], order: np.ndarray):
        """(token ids, word starts, sentence starts > 0) of the documents in this order, each followed by EOD."""
        ids, starts, sentence = [], [], []
        at = 0
        for i in order:
            for tokens, words in docs[i].sentences:
                if not len(tokens):
                    continue
                first = np.ones(len(tokens), dtype=bool)
                first[1:] = words[1:] != words[:-1]
                ids.append(tokens)
                starts.append(first)
                sentence.append(at)
                at += len(tokens)
            ids.append(np.array([self.cfg.eod_id]))
            starts.append(np.ones(1, dtype=bool))
            sentence.append(at)
            at += 1
        return np.concatenate(ids), np.concatenate(starts), np.array(sentence[1:], dtype=np.int64)

    def build(self, docs: list[TokenizedDocument]) -> XLNetBatch | None:
        cfg = self.cfg
        docs = sorted(docs, key=lambda d: d.key)
        kept = [d for d in docs if any(len(s[0]) for s in d.sentences)]
        self.stats["kept"] += len(kept)
        self.stats["filtered:no_instance"] += len(docs) - len(kept)
        if not kept:
            return None
        seq, reuse, budget = cfg.max_seq_length, cfg.reuse_length, cfg.budget
        first_goal, second_goal = cfg.num_predict - cfg.num_predict // 2, cfg.num_predict // 2
        special = np.array([cfg.sep_id, cfg.sep_id, cfg.cls_id])
        record_ids, rows, segs, masks, labels = [], [], [], [], []
        for copy in range(cfg.dupe_factor):
            order = rng_for(self.seed, kept[0].key, copy, "order").permutation(len(kept))
            data, word_start, bounds = self.stream(kept, order)
            rng = rng_for(self.seed, kept[0].key, copy, "xlnet")
            n, i, made = len(data), 0, 0
            while i + seq <= n:
                split = split_a_and_b(bounds, n, i + reuse, budget, rng)
                if split is None:
                    break
                a0, a1, b0, b1, label = split
                row = np.concatenate([data[i:i + reuse], data[a0:a1], special[:1], data[b0:b1], special[1:]])
                seg = np.zeros(seq, dtype=np.uint8)
                seg[reuse + a1 - a0 + 1:-1] = 1
                seg[-1] = 2
                # word starts of the A/B part: A's and B's own (their first token starts a word), the specials'
                # (a part that begins inside a word, as the reuse part and A may, begins with no word start)
                ab_start = np.concatenate([word_start[a0:a1], [True], word_start[b0:b1], [True, True]])
                mask = np.zeros(seq, dtype=np.uint8)
                mask[sample_mask(np.flatnonzero(word_start[i:i + reuse]), reuse, first_goal, rng)] = 1
                mask[reuse + sample_mask(np.flatnonzero(ab_start), seq - reuse, second_goal, rng)] = 1
                rows.append(row)
                segs.append(seg)
                masks.append(mask)
                labels.append(label)
                record_ids.append(f"{kept[0].doc_id}/{copy}/{made}")
                self.stats[f"label={label}"] += 1
                self.stats["a_tokens"] += a1 - a0
                self.stats["b_tokens"] += b1 - b0
                made += 1
                i += reuse
            self.stats["stream_tokens"] += n
            self.stats["tail_tokens"] += n - made * reuse  # the stream's end no reuse part reads (XLNet's too)
        if not rows:
            return None
        input_ids = np.stack(rows)
        is_masked = np.stack(masks)
        self.stats["instances"] += len(rows)
        self.stats["instance_tokens"] += input_ids.size
        self.stats["masked_in_specials"] += int(is_masked[np.isin(input_ids, (cfg.sep_id, cfg.cls_id))].sum())
        return XLNetBatch(record_ids, input_ids, np.stack(segs), is_masked, np.array(labels, dtype=np.int8))


def xlnet_statistics(totals: dict, max_seq_length: int) -> dict:
    """The manifest's summary of an xlnet dataset, from XLNetBuilder's tallies."""
    records = totals.get("instances", 0)
    if not records:
        return {"records": 0}
    return {"records": records,
            "continuation_share": round(totals.get("label=1", 0) / records, 4),
            "a_tokens_per_record": round(totals.get("a_tokens", 0) / records, 3),
            "b_tokens_per_record": round(totals.get("b_tokens", 0) / records, 3),
            # [SEP] / [CLS] positions _sample_mask chose: XLNet's collator drops them, so fewer targets
            "masked_specials_per_record": round(totals.get("masked_in_specials", 0) / records, 4),
            "stream_tokens": totals.get("stream_tokens", 0),
            "tail_tokens": totals.get("tail_tokens", 0)}
