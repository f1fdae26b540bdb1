"""Translation pairs: supervised source -> target examples, and XLM's translation language modelling (TLM).

A pair is a document of two sentences, Chinese then English, whose source is corpusforge.sources.formats.PAIRS
(translation2019zh read with --side pair); any other document is not a pair (filtered:not_a_pair). A pair is
never split: one whose example would be longer than max_seq_length is dropped and counted
(filtered:pair_too_long), as is one with an empty side after tokenization (filtered:empty_side).

translation: input_ids = source + EOS, labels = target + EOS, per direction (zh-en, en-zh or both).
tlm: XLM's concat_batches(reset_positions=True): each sentence framed EOS ... EOS (XLM's </s>), the two
end to end, position ids restarting at the second, a language id per token (XLM's sorted languages:
en 0, zh 1), masked jointly by the masking module (--masking token: BERT's k of the pair's tokens, 80/10/10).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from corpusforge.objectives.instances import TokenizedDocument, rng_for
from corpusforge.objectives.masking import MaskingConfig, mask_batch
from corpusforge.objectives.mass import list_batch
from corpusforge.sources.formats import PAIRS

SIDES = ("zh", "en")  # a pair document's sentences, in this order
LANGUAGES = {lang: i for i, lang in enumerate(sorted(SIDES))}  # XLM's lang2id: en 0, zh 1
DIRECTIONS = {"zh-en": ((0, 1),), "en-zh": ((1, 0),), "both": ((0, 1), (1, 0))}


def pair_of(doc: TokenizedDocument, limit: int, specials: int, stats: Counter):
    """The pair's two (ids, word ids), or None with the reason counted; limit: the longest example, specials:
    the tokens an example adds (translation: per side, tlm: in all)."""
    if doc.source != PAIRS or len(doc.sentences) != 2:
        stats["filtered:not_a_pair"] += 1
        return None
    (zh, _), (en, _) = doc.sentences
    if not len(zh) or not len(en):
        stats["filtered:empty_side"] += 1
        return None
    lengths = (len(zh) + specials, len(en) + specials) if specials == 1 else (len(zh) + len(en) + specials,)
    if max(lengths) > limit:
        stats["filtered:pair_too_long"] += 1
        stats["pairs_too_long"] += 1  # the manifest's statistics see no filtered: keys
        return None
    stats["kept"] += 1
    stats["pairs"] += 1
    stats["zh_tokens"] += len(zh)
    stats["en_tokens"] += len(en)
    return doc.sentences


@dataclass(frozen=True)
class TranslationConfig:
    max_seq_length: int = 128
    direction: str = "zh-en"
    eos_id: int | None = None
    mode: str = "translation"

    def __post_init__(self):
        if self.eos_id is None:
            raise ValueError("translation examples need the tokenizer's end-of-sequence id")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction {self.direction!r} is not one of {', '.join(DIRECTIONS)}")


class TranslationBuilder:
    """Translation examples of one bucket's pairs, with their statistics (InstanceBuilder's interface)."""

    def __init__(self, cfg: TranslationConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.stats: Counter = Counter()

    def build(self, docs: list[TokenizedDocument]):
        cfg, stats = self.cfg, self.stats
        record_ids, rows, langs = [], {"input_ids": [], "labels": []}, {"source_lang": [], "target_lang": []}
        for doc in sorted(docs, key=lambda d: d.key):
            pair = pair_of(doc, cfg.max_seq_length, 1, stats)
            if pair is None:
                continue
            eos = np.array([cfg.eos_id], pair[0][0].dtype)
            for s, t in DIRECTIONS[cfg.direction]:
                rows["input_ids"].append(np.concatenate([pair[s][0], eos]))
                rows["labels"].append(np.concatenate([pair[t][0], eos]))
                langs["source_lang"].append(SIDES[s])
                langs["target_lang"].append(SIDES[t])
                record_ids.append(f"{doc.doc_id}/{SIDES[s]}-{SIDES[t]}")
                stats["instances"] += 1
                stats["instance_tokens"] += len(rows["input_ids"][-1]) + len(rows["labels"][-1])
                stats["source_tokens"] += len(rows["input_ids"][-1])
                stats["target_tokens"] += len(rows["labels"][-1])
        return list_batch(record_ids, rows, langs) if record_ids else None


def translation_statistics(totals: dict, max_seq_length: int) -> dict:
    examples = totals.get("instances", 0)
    if not examples:
        return {"examples": 0, "pairs_too_long": totals.get("pairs_too_long", 0)}
    return {
        "examples": examples,
        "pairs": totals.get("pairs", 0),
        "pairs_too_long": totals.get("pairs_too_long", 0),
        "source_tokens_per_example": round(totals.get("source_tokens", 0) / examples, 3),
        "target_tokens_per_example": round(totals.get("target_tokens", 0) / examples, 3),
        "en_per_zh_tokens": round(totals.get("en_tokens", 0) / max(totals.get("zh_tokens", 0), 1), 4),
    }


@dataclass(frozen=True)
class TlmConfig:
    max_seq_length: int = 128
    direction: str = "zh-en"
    eos_id: int | None = None
    masking: MaskingConfig | None = None
    dupe_factor: int = 1
    mode: str = "tlm"

    def __post_init__(self):
        if self.eos_id is None or self.masking is None:
            raise ValueError("TLM examples need the tokenizer's end-of-sequence id and a MaskingConfig")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction {self.direction!r} is not one of {', '.join(DIRECTIONS)}")


class TlmBuilder:
    """TLM examples of one bucket's pairs, masked together per copy (InstanceBuilder's interface)."""

    def __init__(self, cfg: TlmConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self.stats: Counter = Counter()

    def build(self, docs: list[TokenizedDocument]):
        cfg, stats = self.cfg, self.stats
        docs = sorted(docs, key=lambda d: d.key)
        pairs = [(doc, pair) for doc in docs if (pair := pair_of(doc, cfg.max_seq_length, 4, stats)) is not None]
        if not pairs:
            return None
        dtype = pairs[0][1][0][0].dtype
        eos = np.array([cfg.eos_id], dtype)
        minus = np.array([-1], np.int32)
        record_ids, ids, words, positions, langs, special = [], [], [], [], [], []
        for doc, pair in pairs:
            for order in DIRECTIONS[cfg.direction]:
                for side in order:
                    tokens, word_ids = pair[side]
                    ids += [eos, tokens, eos]
                    words += [minus, word_ids.astype(np.int32), minus]
                    positions.append(np.arange(len(tokens) + 2, dtype=np.int32))
                    langs.append(np.full(len(tokens) + 2, LANGUAGES[SIDES[side]], np.uint8))
                    special.append(np.concatenate([[1], np.zeros(len(tokens), np.uint8), [1]]).astype(np.uint8))
                record_ids.append(f"{doc.doc_id}/{'-'.join(SIDES[s] for s in order)}")
        flat, flat_words, flat_special = np.concatenate(ids), np.concatenate(words), np.concatenate(special)
        # two sentences of two specials each per example
        lengths = np.add.reduceat(np.array([len(p) for p in positions]), np.arange(0, len(positions), 2))
        ends = np.cumsum(lengths)
        out = {"input_ids": [], "position_ids": [], "langs": [], "special_tokens_mask": [], "masked_lm_positions": [],
               "masked_lm_labels": []}
        all_ids = []
        for copy in range(cfg.dupe_factor):
            masked = mask_batch(flat, flat_special.astype(bool), flat_words, lengths,
                                rng_for(self.seed, docs[0].key, copy, "tlm"), cfg.masking)
            counts = np.concatenate([[0], np.cumsum(masked.counts)])
            for i, end in enumerate(ends):
                start = end - lengths[i]
                out["input_ids"].append(masked.input_ids[start:end])
                out["position_ids"].append(np.concatenate(positions[2 * i:2 * i + 2]))
                out["langs"].append(np.concatenate(langs[2 * i:2 * i + 2]))
                out["special_tokens_mask"].append(flat_special[start:end])
                out["masked_lm_positions"].append(masked.positions[counts[i]:counts[i + 1]])
                out["masked_lm_labels"].append(masked.labels[counts[i]:counts[i + 1]])
                all_ids.append(f"{record_ids[i]}/{copy}")
            stats["instances"] += len(lengths)
            stats["instance_tokens"] += int(lengths.sum())
            stats["maskable_tokens"] += int(len(flat) - flat_special.sum())
            stats["masked_tokens"] += len(masked.positions)
        return list_batch(all_ids, out)


def tlm_statistics(totals: dict, max_seq_length: int) -> dict:
    examples = totals.get("instances", 0)
    if not examples:
        return {"examples": 0, "pairs_too_long": totals.get("pairs_too_long", 0)}
    return {
        "examples": examples,
        "pairs": totals.get("pairs", 0),
        "pairs_too_long": totals.get("pairs_too_long", 0),
        "tokens_per_example": round(totals.get("instance_tokens", 0) / examples, 3),
        "masked_share": round(totals.get("masked_tokens", 0) / max(totals.get("maskable_tokens", 0), 1), 4),
        "predictions_per_example": round(totals.get("masked_tokens", 0) / examples, 3),
        "en_per_zh_tokens": round(totals.get("en_tokens", 0) / max(totals.get("zh_tokens", 0), 1), 4),
    }
