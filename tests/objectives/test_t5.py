"""T5 span corruption on real text, against T5's own length arithmetic and the exact law of its random spans."""
import json
import random
from collections import Counter
from math import comb

import numpy as np
import pytest

from corpusforge.beam.sink import seeded_key
from corpusforge.objectives.instances import TokenizedDocument
from corpusforge.objectives.t5 import (T5Builder, T5Config, random_spans_noise_mask, sentinel_ids, t5_lengths,
                                       t5_statistics)
from corpusforge.tokenization.tokenizer import TextTokenizer
from tests.conftest import ROOT, SAMPLE

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
SEP = 102


def t5_random_spans_helper(inputs_length, noise_density, mean_noise_span_length, extra_tokens_per_span_inputs,
                           extra_tokens_per_span_targets):
    """A transcription of random_spans_helper (google-research/text-to-text-transfer-transformer,
    t5/data/preprocessors.py): (raw tokens length, targets length), EOS counted."""
    def _tokens_length_to_inputs_length_targets_length(tokens_length):
        num_noise_tokens = int(round(tokens_length * noise_density))
        num_nonnoise_tokens = tokens_length - num_noise_tokens
        num_noise_spans = int(round(num_noise_tokens / mean_noise_span_length))
        return (num_nonnoise_tokens + num_noise_spans * extra_tokens_per_span_inputs + 1,
                num_noise_tokens + num_noise_spans * extra_tokens_per_span_targets + 1)

    tokens_length = inputs_length - 1
    while _tokens_length_to_inputs_length_targets_length(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    inputs_length, targets_length = _tokens_length_to_inputs_length_targets_length(tokens_length)
    return tokens_length, targets_length


@pytest.fixture(scope="module")
def tokenizer():
    tok = TextTokenizer(str(VOCAB))
    assert tok.vocab_size == 21128 and tok.vocab["[SEP]"] == SEP and tok.vocab["[unused1]"] == 1
    return tok


@pytest.fixture(scope="module")
def wiki_docs(tokenizer):
    """The wiki2019zh sample's articles tokenized with bert-base-chinese, plus an empty one."""
    docs = []
    for n, line in enumerate((SAMPLE / "wiki_zh" / "AA" / "wiki_00").read_text(encoding="utf-8").splitlines()):
        paragraphs = [p for p in json.loads(line)["text"].split("\n") if p.strip()]
        sentences = [(np.array(ids, dtype=np.uint16), np.zeros(len(ids), dtype=np.int32))
                     for ids, _ in tokenizer.encode(paragraphs)]
        docs.append(TokenizedDocument(seeded_key(5, f"wiki_00:{n}"), f"wiki_00:{n}", sentences))
    docs.append(TokenizedDocument(seeded_key(5, "empty"), "empty", []))
    return docs


def config(tokenizer, **kw):
    return T5Config(eos_id=SEP, sentinel_ids=tuple(sentinel_ids(tokenizer.vocab)), **kw)


def examples(batch):
    """(copy, block number, input ids, labels) per example, in block order."""
    off_i, off_l = np.cumsum(batch.input_lengths) - batch.input_lengths, np.cumsum(batch.label_lengths) - batch.label_lengths
    rows = []
    for k, record_id in enumerate(batch.record_ids):
        _, copy, block = record_id.rsplit("/", 2)
        rows.append((int(copy), int(block), batch.input_ids[off_i[k]:off_i[k] + batch.input_lengths[k]].tolist(),
                     batch.labels[off_l[k]:off_l[k] + batch.label_lengths[k]].tolist()))
    return sorted(rows, key=lambda r: r[:2])


def reconstruct(inputs, labels, sentinels):
    """The raw block: each sentinel of the inputs replaced by what follows it in the labels."""
    assert inputs[-1] == SEP and labels[-1] == SEP
    spans, current = {}, None
    for t in labels[:-1]:
        if t in sentinels:
            current = spans.setdefault(t, [])
        else:
            current.append(t)
    return [t for i in inputs[:-1] for t in (spans.pop(i) if i in sentinels else [i])], spans


def test_lengths_are_t5s():
    """512 inputs need 568 raw tokens and give 114 targets (the T5 paper's setting); 128 -> 141 and 29."""
    assert t5_random_spans_helper(512, 0.15, 3.0, 1, 1) == (568, 114)
    assert t5_lengths(512, 0.15, 3.0) == (568, 512, 114)
    assert t5_lengths(128, 0.15, 3.0) == (141, 128, *t5_random_spans_helper(128, 0.15, 3.0, 1, 1)[1:])
    for n in range(10, 2049):  # below 10, T5's helper counts 0 spans where its mask makes 1
        raw, inputs, targets = t5_lengths(n, 0.15, 3.0)
        assert (raw, targets) == t5_random_spans_helper(n, 0.15, 3.0, 1, 1) and inputs == n


def segmentation_law(items, segments, length):
    """P(a given part has this length) when items are split uniformly at random into non-empty parts."""
    return comb(items - length - 1, segments - 2) / comb(items - 1, segments - 1)


def runs(mask):
    """Alternating run lengths of a boolean row, the first run's value."""
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    return np.diff(np.concatenate([[0], edges, [len(mask)]])), bool(mask[0])


def test_noise_mask_has_t5s_structure_and_law():
    """568 tokens: 85 noise tokens in 28 spans and 483 non-noise ones in 28, alternating from non-noise;
    the span lengths follow the exact law of a uniform random segmentation (chi-square, p > 0.001)."""
    from scipy.stats import chisquare

    masks = random_spans_noise_mask(568, 0.15, 3.0, np.random.default_rng(1), 3000)
    assert masks.shape == (3000, 568) and (masks.sum(axis=1) == 85).all()
    lengths = {False: Counter(), True: Counter()}
    for row in masks:
        r, first_noise = runs(row)
        assert not first_noise and len(r) == 56 and row[-1]  # non-noise first, noise last
        lengths[False].update(r[0::2].tolist())
        lengths[True].update(r[1::2].tolist())
    for noise, items in ((True, 85), (False, 483)):
        observed = lengths[noise]
        n = sum(observed.values())
        expected = np.array([segmentation_law(items, 28, k) * n for k in range(1, items - 26)])
        keep = expected >= 5  # pool the tail, as chi-square needs
        obs = np.array([observed.get(k, 0) for k in range(1, items - 26)])
        pooled_obs = np.append(obs[keep], obs[~keep].sum())
        pooled_exp = np.append(expected[keep], expected[~keep].sum())
        assert chisquare(pooled_obs, pooled_exp).pvalue > 1e-3
    assert sum(k * v for k, v in lengths[True].items()) / sum(lengths[True].values()) == pytest.approx(85 / 28)


def test_t5s_degenerate_short_blocks():
    """T5's guards: a 1-token block has no noise; 2 tokens: the last is noise; never all noise."""
    rng = np.random.default_rng(0)
    assert random_spans_noise_mask(1, 0.15, 3.0, rng, 4).tolist() == [[False]] * 4
    assert random_spans_noise_mask(2, 0.15, 3.0, rng, 4).tolist() == [[False, True]] * 4
    # T5's mask is not random below 31 tokens with these settings (one span, at the end); it is from 31 on
    assert random_spans_noise_mask(30, 0.15, 3.0, rng, 1)[0].tolist() == [False] * 26 + [True] * 4
    assert len({tuple(m) for m in random_spans_noise_mask(31, 0.15, 3.0, rng, 50).tolist()}) > 1


@pytest.mark.parametrize("length", [128, 512])
def test_examples_on_real_text(tokenizer, wiki_docs, length):
    """At the defaults: exact lengths, the noise share and mean span length, sentinels in order, and each
    copy's examples reconstruct the documents end to end, each once."""
    cfg = config(tokenizer, max_seq_length=length, dupe_factor=2)
    raw_length, targets_length = t5_random_spans_helper(length, 0.15, 3.0, 1, 1)
    builder = T5Builder(cfg, seed=7)
    batch = builder.build(list(wiki_docs))
    sentinels = cfg.sentinel_ids
    assert sentinels[:3] == (1, 2, 3) and len(sentinels) == 99  # bert-base-chinese's [unused1..99]
    docs = {}
    for d in wiki_docs:
        if d.sentences:
            tokens = [int(t) for ids, _ in d.sentences for t in ids]
            docs.setdefault(tokens[0], []).append(tokens)
    noise = raw = spans = 0
    streams = {0: [], 1: []}
    rows = examples(batch)
    last = {c: max(r[1] for r in rows if r[0] == c) for c in streams}
    for copy, block, inputs, labels in rows:
        full = block < last[copy]  # only a copy's last block may be shorter
        if full:
            assert (len(inputs), len(labels)) == (length, targets_length)
        marks = [t for t in labels if t in sentinels]
        assert marks == list(sentinels[:len(marks)]) == [t for t in inputs if t in sentinels]
        assert labels[0] == sentinels[0] and inputs[0] not in sentinels
        assert all(not (a in sentinels and b in sentinels) for a, b in zip(inputs, inputs[1:]))
        block_tokens, left = reconstruct(inputs, labels, set(sentinels))
        assert not left and (len(block_tokens) == raw_length or not full)
        streams[copy] += block_tokens
        noise += len(labels) - len(marks) - 1
        raw += len(block_tokens)
        spans += len(marks)
    for stream in streams.values():  # the documents end to end, each once
        unused = {k: list(v) for k, v in docs.items()}
        pos = 0
        while pos < len(stream):
            match = next(d for d in unused[stream[pos]] if stream[pos:pos + len(d)] == d)
            unused[stream[pos]].remove(match)
            pos += len(match)
        assert not any(unused.values())
    assert streams[0] != streams[1]  # each copy in its own order
    assert abs(noise / raw - 0.15) <= 0.005 and abs(noise / spans - 3) <= 0.1
    stats = t5_statistics(builder.stats, length)
    assert stats["examples"] == len(rows) and stats["raw_tokens"] == raw
    assert stats["noise_share"] == round(noise / raw, 4) and stats["mean_span_length"] == round(noise / spans, 3)
    assert [builder.stats["kept"], builder.stats["filtered:no_instance"]] == [len(wiki_docs) - 1, 1]


def test_same_seed_same_examples(tokenizer, wiki_docs):
    cfg = config(tokenizer, max_seq_length=128)
    a, b = (T5Builder(cfg, seed=7).build(list(docs)) for docs in (wiki_docs, wiki_docs[::-1]))
    assert examples(a) == examples(b)  # the bucket's order, not the input order, decides
    c = T5Builder(cfg, seed=8).build(list(wiki_docs))
    assert examples(c) != examples(a)


def test_sentinels_from_the_vocabulary(tokenizer):
    """<extra_id_N> by N wherever their ids lie (T5's tokenizers count them down from the top), else [unusedN]."""
    t5_style = {"<pad>": 0, "</s>": 1, "a": 2, **{f"<extra_id_{i}>": 32099 - i for i in random.Random(3).sample(range(100), 100)}}
    assert sentinel_ids(t5_style) == list(range(32099, 31999, -1))
    assert sentinel_ids({**t5_style, "[unused1]": 3})[0] == 32099
    assert sentinel_ids(tokenizer.vocab) == list(range(1, 100))
    assert sentinel_ids({"[PAD]": 0, "[UNK]": 1, "[SEP]": 2}) == []


@pytest.mark.parametrize("kw, message", [
    ({"sentinel_ids": ()}, "has 0 sentinel tokens (<extra_id_N> or [unusedN]); train one with `corpusforge build "
                           "vocab -m unigram --extra-ids 100`"),
    ({"max_seq_length": 4096}, "a block of 4096 inputs has 227 noise spans, but the vocabulary has 99 sentinel "
                               "tokens (<extra_id_N> or [unusedN]); train one with `corpusforge build vocab -m "
                               "unigram --extra-ids 227`"),
    ({"eos_id": 1}, "the end-of-sequence id 1 is one of the sentinel tokens"),
])
def test_configurations_that_cannot_work(tokenizer, kw, message):
    args = {"max_seq_length": 512, "eos_id": SEP, "sentinel_ids": tuple(sentinel_ids(tokenizer.vocab)), **kw}
    with pytest.raises(ValueError) as e:
        T5Config(**args)
    assert message in str(e.value)


def test_no_documents_no_examples(tokenizer):
    builder = T5Builder(config(tokenizer), seed=1)
    assert builder.build([TokenizedDocument(b"k", "empty", [])]) is None and builder.stats["filtered:no_instance"] == 1
