"""Masking on real text: shares, the 80/10/10 split, whole words, n-gram and span lengths."""
from collections import Counter

import numpy as np
import pytest

from corpusforge.objectives.instances import InstanceBuilder, InstanceConfig, assemble, instance_statistics
from corpusforge.objectives.masking import KEEP, MASK, RANDOM, MaskingConfig, mask_tokens, words_of


def build(docs, scheme, mode="doc-sentences", **masking):
    cfg = InstanceConfig(mode=mode, masking=MaskingConfig(scheme=scheme, **masking))
    builder = InstanceBuilder(cfg, seed=7)
    batch = builder.build(list(docs))
    rows = [row for _, row in batch.rows(cfg.mode == "nsp" and "next_sentence_label" or "sentence_order_label")]
    return rows, instance_statistics(builder.stats, cfg.max_seq_length)


def test_words_of_ends_words_at_specials():
    special = np.array([1, 0, 0, 0, 1, 0, 0, 1], dtype=bool)
    words = np.array([-1, 0, 0, 1, -1, 1, 2, -1])  # word 1 on both sides of a [SEP] is two words
    starts, ends, segment = words_of(special, words)
    assert starts.tolist() == [1, 3, 5, 6] and ends.tolist() == [3, 4, 6, 7] and segment.tolist() == [1, 1, 2, 2]


@pytest.mark.parametrize("scheme", ["token", "wwm", "ngram", "span"])
def test_masked_share_and_replacement_split(sample_documents, scheme):
    # uncapped (max_predictions above 15% of 128) so the share itself is measured
    rows, stats = build(sample_documents, scheme, max_predictions=60)
    assert stats["masked_share_of_maskable"] == pytest.approx(0.15, abs=0.01)
    assert stats["shown_as"]["mask"] == pytest.approx(0.8, abs=0.02)
    assert stats["shown_as"]["random"] == pytest.approx(0.1, abs=0.02)
    assert stats["shown_as"]["kept"] == pytest.approx(0.1, abs=0.02)
    for row in rows:
        special = row["special_tokens_mask"].astype(bool)
        assert not special[row["masked_lm_positions"]].any()  # never a [CLS]/[SEP]
        assert len(row["input_ids"]) <= 128
        assert np.all(np.diff(row["masked_lm_positions"]) > 0)


def test_token_masking_is_capped_at_max_predictions(sample_documents):
    rows, stats = build(sample_documents, "token", max_predictions=5)
    assert max(len(r["masked_lm_positions"]) for r in rows) == 5
    assert stats["masked_per_instance"] <= 5


def test_labels_are_the_original_tokens(sample_documents):
    cfg = MaskingConfig(scheme="token")
    ids, _, special, words, _ = assemble([[sample_documents[0].sentences[0]]], 101, 102)
    masked = mask_tokens(ids, special, words, np.random.default_rng(0), cfg)
    assert np.array_equal(masked.labels, ids[masked.positions])
    changed = np.flatnonzero(masked.input_ids != ids)
    assert set(changed) <= set(masked.positions)
    assert np.all(masked.input_ids[masked.positions[masked.shown_as == MASK]] == 103)
    assert np.array_equal(masked.input_ids[masked.positions[masked.shown_as == KEEP]], masked.labels[masked.shown_as == KEEP])
    assert RANDOM in masked.shown_as or len(masked.positions) < 10


def test_whole_word_masking_never_masks_part_of_a_word(sample_documents):
    rows, stats = build(sample_documents, "wwm", mode="nsp")
    multi = 0
    for row in rows:
        words, masked = row["word_ids"], np.zeros(len(row["word_ids"]), bool)
        masked[row["masked_lm_positions"]] = True
        for w in np.unique(words[masked]):
            assert masked[words == w].all(), "a word is partly masked"
            multi += (words == w).sum() > 1
    assert multi > 1000  # many of the masked words have several tokens (jieba words, character vocab)


def test_ngram_sizes_follow_one_over_n(sample_documents):
    _, stats = build(sample_documents, "ngram", mode="nsp", max_predictions=60)
    hist = {int(k): v for k, v in stats["unit_words"]["histogram"].items()}
    total = sum(hist.values())
    assert total > 5000
    for n, expected in [(1, 6 / 11), (2, 3 / 11), (3, 2 / 11)]:
        assert hist[n] / total == pytest.approx(expected, abs=0.02)


def test_span_lengths_follow_the_clipped_geometric(sample_documents):
    _, stats = build(sample_documents, "span", max_predictions=60)
    n = np.arange(1, 11)
    p = 0.2 * 0.8 ** (n - 1)
    expected = float(n @ (p / p.sum()))  # 3.80 words, SpanBERT's mean
    assert stats["unit_words"]["mean"] == pytest.approx(expected, abs=0.3)
    assert max(int(k) for k in stats["unit_words"]["histogram"]) == 10


def test_span_replacement_is_decided_per_span():
    ids = np.arange(1000, 1130)
    special = np.zeros(130, bool)
    special[[0, 129]] = True
    words = np.where(special, -1, np.arange(130) // 2)
    cfg = MaskingConfig(scheme="span", max_predictions=60)
    mixed = 0
    rng = np.random.default_rng(3)
    for _ in range(200):
        m = mask_tokens(ids, special, words, rng, cfg)
        shown = m.input_ids[m.positions]
        # within one span (consecutive positions) every token is shown the same way
        runs = np.split(np.arange(len(m.positions)), np.flatnonzero(np.diff(m.positions) > 1) + 1)
        kinds = [set(m.shown_as[r]) for r in runs]
        mixed += sum(len(k) > 1 for k in kinds)
        assert len(shown) == len(m.labels)
    assert mixed < 30  # only where two spans happen to touch


def test_none_masks_nothing(sample_documents):
    rows, stats = build(sample_documents[:50], "none")
    assert all(len(r["masked_lm_positions"]) == 0 for r in rows)
    assert stats["masked_per_instance"] == 0


def test_bad_scheme_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        MaskingConfig(scheme="random")
