"""GPT causal packing on real text: every token once per copy, blocks of the exact length, boundaries."""
import json
from collections import Counter

import numpy as np
import pytest

from corpusforge.beam.sink import seeded_key
from corpusforge.objectives.causal import CausalBuilder, CausalConfig, causal_statistics, resolve_eos
from corpusforge.objectives.instances import TokenizedDocument
from corpusforge.tokenization.tokenizer import TextTokenizer
from tests.conftest import ROOT, SAMPLE

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
SEP = 102


@pytest.fixture(scope="module")
def wiki_docs():
    """wiki2019zh sample articles (one sentence per paragraph), tokenized with bert-base-chinese, plus an empty one."""
    tokenizer = TextTokenizer(str(VOCAB))
    assert tokenizer.vocab_size == 21128 and tokenizer.vocab["[SEP]"] == SEP
    docs = []
    for n, line in enumerate((SAMPLE / "wiki_zh" / "AA" / "wiki_00").read_text(encoding="utf-8").splitlines()):
        paragraphs = [p for p in json.loads(line)["text"].split("\n") if p.strip()]
        sentences = [(np.array(ids, dtype=np.uint16), np.zeros(len(ids), dtype=np.int32))
                     for ids, _ in tokenizer.encode(paragraphs)]
        docs.append(TokenizedDocument(seeded_key(5, f"wiki_00:{n}"), f"wiki_00:{n}", sentences))
    docs.append(TokenizedDocument(seeded_key(5, "empty"), "empty", []))
    return docs


def doc_tokens(doc) -> tuple:
    return tuple(int(t) for ids, _ in doc.sentences for t in ids)


def build(docs, **kw):
    builder = CausalBuilder(CausalConfig(eos_id=SEP, **kw), seed=7)
    batch = builder.build(list(docs))
    return batch, builder.stats


def copies(batch):
    """The blocks of each copy, in order (record ids are bucket/copy/block)."""
    out = {}
    for record_id, row in batch.rows():
        _, copy, k = record_id.rsplit("/", 2)
        out.setdefault(int(copy), []).append((int(k), row))
    return [[row for _, row in sorted(blocks, key=lambda b: b[0])] for _, blocks in sorted(out.items())]


@pytest.mark.parametrize("length", [128, 1024])
def test_cross_document_blocks_are_the_documents_end_to_end(wiki_docs, length):
    """Each copy's blocks, laid end to end and cut at EOS, are exactly the non-empty documents, each
    once, in a new order per copy; every block but the copy's last is full."""
    batch, stats = build(wiki_docs, max_seq_length=length, dupe_factor=3)
    texts = Counter(doc_tokens(d) for d in wiki_docs if doc_tokens(d))
    assert [stats["kept"], stats["filtered:no_instance"]] == [len(wiki_docs) - 1, 1]
    orders = []
    for blocks in copies(batch):
        assert all(len(b["input_ids"]) == length for b in blocks[:-1]) and 0 < len(blocks[-1]["input_ids"]) <= length
        stream = np.concatenate([b["input_ids"] for b in blocks])
        assert stream[-1] == SEP
        pieces = [tuple(p[:-1].tolist()) for p in np.split(stream, np.flatnonzero(stream == SEP) + 1)[:-1]]
        assert Counter(pieces) == texts  # every document once, nothing else (text holds no [SEP])
        orders.append(pieces)
        for b in blocks:  # boundaries: brute force, the positions after an EOS inside the block
            ids = b["input_ids"].tolist()
            assert b["document_boundaries"].tolist() == [p for p in range(1, len(ids)) if ids[p - 1] == SEP]
    assert orders[0] != orders[1] != orders[2]


def test_no_cross_document_ends_blocks_at_document_ends(wiki_docs):
    batch, _ = build(wiki_docs, max_seq_length=128, cross_document=False)
    rows = [row for _, row in batch.rows()]
    expected = sum(-(-(len(doc_tokens(d)) + 1) // 128) for d in wiki_docs if doc_tokens(d))
    assert len(rows) == expected and all(len(r["document_boundaries"]) == 0 for r in rows)
    for r in rows:  # EOS only as a block's last token; a short block is a document's last
        ids = r["input_ids"].tolist()
        assert SEP not in ids[:-1] and (len(ids) == 128 or ids[-1] == SEP)
    flat = Counter(np.concatenate([r["input_ids"] for r in rows]).tolist())
    assert flat == Counter(t for d in wiki_docs if doc_tokens(d) for t in (*doc_tokens(d), SEP))


def test_statistics_recounted(wiki_docs):
    batch, stats = build(wiki_docs, max_seq_length=256, dupe_factor=2)
    summary = causal_statistics(stats, 256)
    rows = [row for _, row in batch.rows()]
    lengths = np.array([len(r["input_ids"]) for r in rows])
    docs_per_block = np.array([len(r["document_boundaries"]) + 1 for r in rows])
    assert summary == {"blocks": len(rows), "tokens": int(lengths.sum()),
                       "tokens_per_block": round(lengths.mean(), 3),
                       "full_block_share": round(float((lengths == 256).mean()), 4),
                       "documents_per_block": {"mean": round(docs_per_block.mean(), 3),
                                               "p50": int(np.quantile(docs_per_block, 0.5, method="inverted_cdf")),
                                               "max": int(docs_per_block.max())}}


def test_the_same_blocks_whatever_the_input_order(wiki_docs):
    a, _ = build(wiki_docs, max_seq_length=64)
    b, _ = build(wiki_docs[::-1], max_seq_length=64)
    assert a.record_ids == b.record_ids and np.array_equal(a.input_ids, b.input_ids)


def test_eos_resolution():
    vocab = {"[PAD]": 0, "[SEP]": 3, "</s>": 5, "<|endoftext|>": 9}
    assert resolve_eos(None, vocab, {"sep": 3}, 10) == 9  # GPT-2's token first
    assert resolve_eos(None, {"[SEP]": 3}, {"sep": 3}, 10) == 3
    assert resolve_eos("</s>", vocab, {"sep": 3}, 10) == 5
    assert resolve_eos("7", None, {}, 10) == 7
    for requested, vocab_, message in [("<eod>", vocab, "not in the vocabulary"), ("10", vocab, "not an id"),
                                       (None, None, "pass --eos-token with its id"),
                                       (None, {"a": 0}, "no end-of-document token")]:
        with pytest.raises(ValueError, match=message):
            resolve_eos(requested, vocab_, {}, 10)
