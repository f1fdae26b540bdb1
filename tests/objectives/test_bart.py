"""BART text infilling and sentence permutation on real text: masked share, Poisson span lengths, targets."""
import json
import re
from collections import Counter

import numpy as np
import pytest

from corpusforge.beam.sink import seeded_key
from corpusforge.objectives.bart import BartBuilder, BartConfig, bart_statistics, poisson_table, span_lengths
from corpusforge.objectives.instances import TokenizedDocument
from corpusforge.text.sentences import split_sentences
from corpusforge.tokenization.tokenizer import TextTokenizer
from tests.conftest import ROOT, SAMPLE

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
CLS, SEP, MASK = 101, 102, 103


@pytest.fixture(scope="module")
def wiki_docs():
    """The wiki2019zh sample's articles, sentence-split and tokenized with bert-base-chinese, plus an empty one."""
    tokenizer = TextTokenizer(str(VOCAB))
    assert tokenizer.vocab_size == 21128 and [tokenizer.vocab[t] for t in ("[CLS]", "[SEP]", "[MASK]")] == [CLS, SEP, MASK]
    docs = []
    for n, line in enumerate((SAMPLE / "wiki_zh" / "AA" / "wiki_00").read_text(encoding="utf-8").splitlines()):
        sentences = [(np.array(ids, dtype=np.uint16), np.zeros(len(ids), dtype=np.int32))
                     for ids, _ in tokenizer.encode(split_sentences(json.loads(line)["text"]))]
        docs.append(TokenizedDocument(seeded_key(5, f"wiki_00:{n}"), f"wiki_00:{n}", sentences))
    docs.append(TokenizedDocument(seeded_key(5, "empty"), "empty", []))
    return docs


def examples(batch):
    off_i = np.cumsum(batch.input_lengths) - batch.input_lengths
    off_l = np.cumsum(batch.label_lengths) - batch.label_lengths
    return [(r, batch.input_ids[off_i[k]:off_i[k] + batch.input_lengths[k]].tolist(),
             batch.labels[off_l[k]:off_l[k] + batch.label_lengths[k]].tolist()) for k, r in enumerate(batch.record_ids)]


def infilled_from(inputs, labels) -> bool:
    """Brute force: the inputs are the labels with runs of tokens (possibly empty) each replaced by one [MASK]."""
    text = lambda ids: "".join(chr(0x4E00 + i) for i in ids)  # noqa: E731  one character per token
    pattern = "".join("(.*?)" if t == MASK else re.escape(chr(0x4E00 + t)) for t in inputs)
    return re.fullmatch(pattern, text(labels), flags=re.S) is not None


def build(docs, **kw):
    builder = BartBuilder(BartConfig(bos_id=CLS, eos_id=SEP, mask_id=MASK, **kw), seed=7)
    return builder.build(list(docs)), builder.stats


@pytest.mark.parametrize("length", [128, 512])
def test_text_infilling_on_real_text(wiki_docs, length):
    """Targets are each document's consecutive sentences framed [CLS] ... [SEP]; inputs are the targets with
    non-overlapping spans each replaced by one [MASK] (and masks inserted); 30% of the tokens are masked."""
    batch, stats = build(wiki_docs, max_seq_length=length, dupe_factor=2)
    rows = examples(batch)
    docs = {d.doc_id: [int(t) for ids, _ in d.sentences for t in ids] for d in wiki_docs}
    assert MASK not in {t for d in docs.values() for t in d}
    per_doc, masked, maskable = {}, 0, 0
    for record_id, inputs, labels in rows:
        doc_id, copy, k = record_id.rsplit("/", 2)
        assert labels[0] == inputs[0] == CLS and labels[-1] == inputs[-1] == SEP and len(labels) <= length
        assert infilled_from(inputs[1:-1], labels[1:-1])
        per_doc.setdefault((doc_id, copy), []).append((int(k), labels[1:-1]))
        maskable += len(labels) - 2
        masked += len(labels) - len(inputs) + inputs.count(MASK)
    for (doc_id, _), blocks in per_doc.items():  # the labels are the document, cut at sentence boundaries
        assert [t for _, b in sorted(blocks) for t in b] == docs[doc_id]
    assert {d for d, _ in per_doc} == {d for d, t in docs.items() if t}
    assert abs(masked / maskable - 0.30) <= 0.01
    summary = bart_statistics(stats, length)
    assert summary["examples"] == len(rows) and summary["masked_share"] == round(masked / maskable, 4)
    assert [stats["kept"], stats["filtered:no_instance"]] == [len(wiki_docs) - 1, 1]


def test_span_lengths_are_poisson():
    """The drawn span lengths (all but the last, cut to the budget) against scipy's Poisson(3):
    chi-square over 0..9 and a pooled tail, p > 0.001."""
    from scipy.stats import chisquare, poisson

    rng = np.random.default_rng(3)
    table = poisson_table(3.0)
    draws = np.concatenate([span_lengths(budget, table, rng)[:-1] for budget in rng.integers(20, 200, 3000)])
    assert len(draws) > 50_000
    observed = np.append(np.bincount(draws, minlength=10)[:10], (draws >= 10).sum())
    expected = np.append(poisson.pmf(np.arange(10), 3.0), poisson.sf(9, 3.0)) * len(draws)
    assert chisquare(observed, expected).pvalue > 1e-3
    for budget in (1, 7, 150):
        assert span_lengths(budget, table, rng).sum() == budget


def test_permute_sentences_keeps_the_targets(wiki_docs):
    """With --permute-sentences the targets stay the original blocks; the inputs' tokens are theirs, in a
    new sentence order for most blocks of several sentences."""
    plain, _ = build(wiki_docs, max_seq_length=256)
    permuted, _ = build(wiki_docs, max_seq_length=256, permute_sentences=True)
    a, b = examples(plain), examples(permuted)
    assert [(r, t) for r, _, t in a] == [(r, t) for r, _, t in b]
    moved = 0
    for _, inputs, labels in b:
        kept = [t for t in inputs if t != MASK]
        assert not Counter(kept) - Counter(labels) and len(kept) < len(labels)
        moved += not infilled_from(inputs[1:-1], labels[1:-1])
    assert moved > 0.3 * len(b)


def test_same_seed_same_examples(wiki_docs):
    a, _ = build(wiki_docs, max_seq_length=128)
    b, _ = build(wiki_docs[::-1], max_seq_length=128)
    assert examples(a) == examples(b)


def test_a_vocabulary_without_mask_is_refused():
    with pytest.raises(ValueError, match="BART needs the vocabulary's BOS, EOS and mask tokens"):
        BartConfig(bos_id=0, eos_id=2, mask_id=None)
