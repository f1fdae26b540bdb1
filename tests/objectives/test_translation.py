"""Translation pairs and XLM's TLM on real zh-en pairs (Django's zh_Hans catalogs): layout, directions, too-long
pairs, joint masking."""
import json

import numpy as np
import pytest

from corpusforge.beam.prepare import PrepareOptions, prepare_document
from corpusforge.beam.sink import seeded_key
from corpusforge.objectives.instances import TokenizedDocument
from corpusforge.objectives.masking import MaskingConfig
from corpusforge.objectives.mass import ListBatch
from corpusforge.objectives.translation import (TlmBuilder, TlmConfig, TranslationBuilder, TranslationConfig,
                                                tlm_statistics, translation_statistics)
from corpusforge.sources.formats import PAIRS
from corpusforge.tokenization.tokenizer import TextTokenizer
from tests.conftest import DATA, ROOT
from tests.sources.test_files import read_all

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
PAIRS_FILE = DATA / "translation" / "django-zh_Hans.json"
SEP, MASK = 102, 103
EN, ZH = 0, 1


@pytest.fixture(scope="module")
def reference():
    """Each pair's sides as transformers' BertTokenizerFast (the Google BERT reference) tokenizes them."""
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(vocab=str(VOCAB))
    assert tok.vocab_size == 21128 and tok.convert_tokens_to_ids("[MASK]") == MASK
    rows = [json.loads(line) for line in PAIRS_FILE.open(encoding="utf-8")]
    return [(tok(r["chinese"], add_special_tokens=False)["input_ids"],
             tok(r["english"], add_special_tokens=False)["input_ids"]) for r in rows]


@pytest.fixture(scope="module")
def pairs():
    """The pairs read with side "pair", prepared and tokenized as the pipeline does, plus a one-sided document."""
    docs = read_all([PAIRS_FILE], side="pair")
    assert {d.source for d in docs} == {PAIRS} and len(docs) == 134
    tokenizer = TextTokenizer(str(VOCAB))
    out = []
    for doc in docs:
        row, reason = prepare_document(doc, PrepareOptions())
        assert reason is None and len(row["sentences"]) == 2
        sentences = [(np.array(ids, np.uint16), np.full(len(ids), w, np.int32))
                     for w, (ids, _) in enumerate(tokenizer.encode(row["sentences"]))]
        out.append(TokenizedDocument(seeded_key(3, doc.doc_id), doc.doc_id, sentences, doc.source))
    # not pairs: a one-sided pair, and a document of two sentences from another layout
    out.append(TokenizedDocument(seeded_key(3, "one"), "one", out[0].sentences[:1], PAIRS))
    out.append(TokenizedDocument(seeded_key(3, "two"), "two", out[0].sentences, "wiki2019zh"))
    return out


def rows(batch: ListBatch):
    columns = {}
    for name, (values, lengths) in batch.lists.items():
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        columns[name] = [values[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
    columns.update(batch.scalars)
    return [dict(record_id=r, **{n: c[k] for n, c in columns.items()}) for k, r in enumerate(batch.record_ids)]


def line_of(doc_id):  # "django-zh_Hans.json:<offset>" -> the pair's line number
    offsets = [0]
    for line in PAIRS_FILE.read_bytes().splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    return offsets.index(int(doc_id.split(":")[1]))


@pytest.mark.parametrize("direction", ["zh-en", "en-zh", "both"])
def test_translation_examples_are_the_pairs(pairs, reference, direction):
    builder = TranslationBuilder(TranslationConfig(max_seq_length=512, direction=direction, eos_id=SEP), seed=1)
    examples = rows(builder.build(pairs))
    per_pair = 2 if direction == "both" else 1
    assert len(examples) == per_pair * len(reference)
    seen = set()
    for ex in examples:
        doc_id, langs = ex["record_id"].rsplit("/", 1)
        zh, en = reference[line_of(doc_id)]
        assert langs == f"{ex['source_lang']}-{ex['target_lang']}" and (direction == "both" or langs == direction)
        sides = {"zh": zh, "en": en}
        assert ex["input_ids"] == sides[ex["source_lang"]] + [SEP] and ex["labels"] == sides[ex["target_lang"]] + [SEP]
        seen.add((doc_id, langs))
    assert len(seen) == len(examples)
    assert builder.stats["kept"] == len(reference) and builder.stats["filtered:not_a_pair"] == 2
    summary = translation_statistics(builder.stats, 512)
    assert summary["examples"] == len(examples) and summary["pairs_too_long"] == 0


def test_too_long_pairs_are_dropped_whole_and_counted(pairs, reference):
    """A pair whose longer side with EOS exceeds max_seq_length gives no example at all (never a cut one)."""
    builder = TranslationBuilder(TranslationConfig(max_seq_length=20, direction="both", eos_id=SEP), seed=1)
    examples = rows(builder.build(pairs))
    too_long = sum(max(len(zh), len(en)) + 1 > 20 for zh, en in reference)
    assert 10 < too_long < len(reference) - 10
    assert builder.stats["filtered:pair_too_long"] == too_long and len(examples) == 2 * (len(reference) - too_long)
    assert all(len(ex["input_ids"]) <= 20 and len(ex["labels"]) <= 20 for ex in examples)


@pytest.mark.parametrize("direction", ["zh-en", "en-zh"])
def test_tlm_layout_is_xlm_and_masking_is_joint(pairs, reference, direction):
    """XLM's concat_batches(reset_positions=True): </s> a </s> </s> b </s> with EOS as </s>, positions restart at the
    second sentence, a language id per token; BERT token masking over the pair's non-EOS tokens: k = round(0.15 n)."""
    masking = MaskingConfig(scheme="token", mask_id=MASK, random_ids=np.arange(106, 21128), max_predictions=1000)
    builder = TlmBuilder(TlmConfig(max_seq_length=256, direction=direction, eos_id=SEP, masking=masking), seed=2)
    examples = rows(builder.build(pairs))
    assert len(examples) == len(reference)
    shown, both_sides = np.zeros(3, np.int64), 0
    for ex in examples:
        zh, en = reference[line_of(ex["record_id"].rsplit("/", 2)[0])]
        a, b = (zh, en) if direction == "zh-en" else (en, zh)
        la, lb = (ZH, EN) if direction == "zh-en" else (EN, ZH)
        original = list(ex["input_ids"])
        for p, label in zip(ex["masked_lm_positions"], ex["masked_lm_labels"]):
            original[p] = label
        assert original == [SEP, *a, SEP, SEP, *b, SEP]
        assert ex["position_ids"] == list(range(len(a) + 2)) + list(range(len(b) + 2))
        assert ex["langs"] == [la] * (len(a) + 2) + [lb] * (len(b) + 2)
        specials = [0, len(a) + 1, len(a) + 2, len(a) + len(b) + 3]
        assert [i for i, s in enumerate(ex["special_tokens_mask"]) if s] == specials
        positions = ex["masked_lm_positions"]
        assert len(positions) == max(1, round(0.15 * (len(a) + len(b)))) and not set(positions) & set(specials)
        both_sides += min(positions) < len(a) + 1 < max(positions)
        for p, label in zip(positions, ex["masked_lm_labels"]):
            seen = ex["input_ids"][p]
            shown += [seen == MASK, seen not in (MASK, label), seen == label]
    assert both_sides > len(examples) / 3  # one budget for the pair: predictions fall on both sentences
    n = shown.sum()
    for share, p in zip(shown / n, (0.8, 0.1, 0.1)):
        assert abs(share - p) < 4.5 * np.sqrt(p * (1 - p) / n)
    summary = tlm_statistics(builder.stats, 256)
    assert summary["predictions_per_example"] == round(n / len(examples), 3)


def test_tlm_too_long_pairs_are_dropped(pairs, reference):
    masking = MaskingConfig(scheme="token", mask_id=MASK, random_ids=np.arange(106, 21128))
    builder = TlmBuilder(TlmConfig(max_seq_length=40, direction="both", eos_id=SEP, masking=masking,
                                   dupe_factor=2), seed=2)
    examples = rows(builder.build(pairs))
    too_long = sum(len(zh) + len(en) + 4 > 40 for zh, en in reference)
    assert 10 < too_long < len(reference) - 10 and builder.stats["filtered:pair_too_long"] == too_long
    assert len(examples) == 4 * (len(reference) - too_long) and max(len(e["input_ids"]) for e in examples) <= 40
    copies = {}
    for ex in examples:
        pair_order, copy = ex["record_id"].rsplit("/", 1)
        copies.setdefault(pair_order, []).append(ex["masked_lm_positions"])
    assert sum(a != b for a, b in copies.values()) > len(copies) / 2  # each copy masked afresh


def test_same_seed_same_examples(pairs):
    masking = MaskingConfig(scheme="token", mask_id=MASK, random_ids=np.arange(106, 21128))
    cfg = TlmConfig(max_seq_length=128, eos_id=SEP, masking=masking)
    assert rows(TlmBuilder(cfg, 4).build(pairs)) == rows(TlmBuilder(cfg, 4).build(pairs[::-1]))


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="direction 'zh-fr' is not one of"):
        TranslationConfig(direction="zh-fr", eos_id=SEP)
    with pytest.raises(ValueError, match="need the tokenizer's end-of-sequence id"):
        TranslationConfig()
