"""Sentence pairs and packing on real text: labels, adjacency, random segments, nothing dropped."""

import numpy as np
import pytest

from corpusforge.beam.sink import shard_of
from corpusforge.objectives.instances import InstanceBuilder, InstanceConfig, instance_statistics
from corpusforge.objectives.masking import MaskingConfig
from corpusforge.objectives.pairs import truncation
from tests.conftest import ROOT

VOCAB_LINES = (ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt").read_text(encoding="utf-8").split("\n")
CLS, SEP = VOCAB_LINES.index("[CLS]"), VOCAB_LINES.index("[SEP]")


def doc_stream(doc) -> bytes:
    return np.concatenate([ids for ids, _ in doc.sentences]).astype("<u2").tobytes()


def contiguous_in(doc, *parts) -> bool:
    """Whether the parts, laid end to end, are a run of the document's tokens."""
    needle = np.concatenate([p[0] for p in parts]).astype("<u2").tobytes()
    hay = doc_stream(doc)
    at = hay.find(needle)
    while at >= 0 and at % 2:
        at = hay.find(needle, at + 1)
    return at >= 0


def pairs(docs, mode, **kw):
    seen = []
    cfg = InstanceConfig(mode=mode, cls_id=CLS, sep_id=SEP, masking=MaskingConfig(scheme="none"), **kw)
    builder = InstanceBuilder(cfg, seed=11, on_pair=lambda *args: seen.append(args))
    batch = builder.build(list(docs))
    rows = [row for _, row in batch.rows(cfg.mode == "nsp" and "next_sentence_label" or "sentence_order_label")]
    return rows, seen, instance_statistics(builder.stats, cfg.max_seq_length)


@pytest.mark.parametrize("mode, label", [("nsp", "next_sentence_label"), ("sop", "sentence_order_label")])
def test_labels_are_balanced(sample_documents, mode, label):
    rows, _, stats = pairs(sample_documents, mode, dupe_factor=2)
    share = sum(r[label] for r in rows) / len(rows)
    assert len(rows) > 3000
    assert share == pytest.approx(0.5, abs=0.03)
    assert stats["label_share"]["1"] == pytest.approx(share, abs=1e-4)
    for r in rows:
        assert len(r["input_ids"]) <= 128
        assert r["input_ids"][0] == CLS and r["input_ids"][-1] == SEP and (r["input_ids"] == SEP).sum() == 2
        types = r["token_type_ids"]
        assert types[0] == 0 and types[-1] == 1 and np.all(np.diff(types.astype(int)) >= 0)


def test_true_next_and_sop_pairs_are_adjacent_text(sample_documents):
    _, seen, _ = pairs(sample_documents, "sop")
    assert len(seen) > 1000
    for doc, a, b, label, source in seen:
        assert source is None
        first, second = (b, a) if label == 1 else (a, b)  # label 1: swapped
        assert contiguous_in(doc, first, second)
    _, seen, _ = pairs(sample_documents, "nsp")
    true_next = [(doc, a, b) for doc, a, b, label, source in seen if label == 0]
    assert all(contiguous_in(doc, a) and contiguous_in(doc, b) for doc, a, b in true_next)


def test_random_segment_comes_from_another_document_uniformly(sample_documents):
    """Buckets as the pipeline forms them (seeded hash of the key): a random B never comes from its
    own document, and its source is uniform over the corpus: each tenth of the corpus (in file
    order) supplies 10% +- 2.5% of the random segments (a chi-square test at p = 0.001 as well)."""
    docs = sorted(sample_documents, key=lambda d: d.doc_id)
    position = {d.doc_id: i for i, d in enumerate(docs)}
    buckets = 8
    sources = []
    for bucket in range(buckets):
        members = [d for d in docs if shard_of(d.key, buckets) == bucket]
        _, seen, stats = pairs(members, "nsp", dupe_factor=3)
        assert stats.get("random_from_same_document", 0) == 0
        for doc, a, b, label, source in seen:
            if label == 1 and source is not None:
                assert source.doc_id != doc.doc_id
                assert contiguous_in(source, b)
                sources.append(position[source.doc_id])
    tenths = np.bincount(np.array(sources) * 10 // len(docs), minlength=10)
    shares = tenths / tenths.sum()
    assert len(sources) > 3000
    assert np.all(np.abs(shares - 0.1) < 0.025), shares
    chi2 = float((((tenths - tenths.sum() / 10) ** 2) / (tenths.sum() / 10)).sum())
    assert chi2 < 27.9, chi2  # 9 degrees of freedom, p = 0.001


def google_truncate_seq_pair(la: int, lb: int, max_tokens: int) -> tuple[int, int]:
    """How many tokens Google BERT's truncate_seq_pair removes from A and from B: one at a time from the
    longer list (B on a tie) until the pair fits."""
    cut_a = cut_b = 0
    while (la - cut_a) + (lb - cut_b) > max_tokens:
        if la - cut_a > lb - cut_b:
            cut_a += 1
        else:
            cut_b += 1
    return cut_a, cut_b


def test_truncation_removes_what_googles_truncate_seq_pair_removes():
    assert truncation(100, 30, 50) == (75, 5)  # 70 from A until equal, then alternately
    for la in range(0, 40, 3):
        for lb in range(0, 40, 4):
            for max_tokens in (1, 5, 17, 40, 80):
                want = google_truncate_seq_pair(la, lb, max_tokens)
                assert truncation(la, lb, max_tokens) == want, (la, lb, max_tokens)


@pytest.mark.parametrize("max_len", [32, 128])
def test_doc_sentences_keep_every_token_in_order(sample_documents, max_len):
    """Long sentences are split, never dropped: a document's blocks, laid end to end, are the document."""
    docs = sample_documents[:300]
    rows, _, stats = pairs(docs, "doc-sentences", max_seq_length=max_len)
    blocks = b"".join(r["input_ids"][1:-1].astype("<u2").tobytes() for r in rows)
    ordered = sorted(docs, key=lambda d: d.key)
    assert blocks == b"".join(doc_stream(d) for d in ordered)
    assert all(len(r["input_ids"]) <= max_len for r in rows)
    if max_len == 32:
        assert stats["sentences_split"] > 0


def test_full_sentences_cross_documents_with_a_separator(sample_documents):
    docs = sorted(sample_documents[:300], key=lambda d: d.key)
    rows, _, stats = pairs(docs, "full-sentences")
    crossing = [r for r in rows if (r["input_ids"] == SEP).sum() > 1]
    assert crossing  # some blocks hold the end of one document and the start of the next
    tokens = b"".join(np.delete(r["input_ids"], np.flatnonzero(r["special_tokens_mask"])).astype("<u2").tobytes()
                      for r in rows)
    assert tokens == b"".join(doc_stream(d) for d in docs)
    _, _, per_document = pairs(docs, "doc-sentences")
    assert stats["instances"] < per_document["instances"]  # fuller blocks than within documents
    assert stats["tokens_per_instance"]["mean"] > per_document["tokens_per_instance"]["mean"] + 5


def test_building_leaves_the_callers_documents_as_they_were(sample_documents):
    """Long sentences are split for the instances, not in the documents given (a session fixture here)."""
    docs = sample_documents[:100]
    before = [[ids.tobytes() for ids, _ in d.sentences] for d in docs]
    _, _, stats = pairs(docs, "doc-sentences", max_seq_length=16)
    assert stats["sentences_split"] > 0
    assert [[ids.tobytes() for ids, _ in d.sentences] for d in docs] == before
