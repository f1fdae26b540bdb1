"""MASS fragment masking on real text: fragment length, decoder inputs and targets, the start distribution."""
import json

import numpy as np
import pytest

from corpusforge.beam.sink import seeded_key
from corpusforge.objectives.instances import TokenizedDocument
from corpusforge.objectives.mass import MassBuilder, MassConfig, fragment, mass_statistics
from corpusforge.text.sentences import split_sentences
from corpusforge.tokenization.tokenizer import TextTokenizer
from tests.conftest import ROOT, SAMPLE

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
CLS, SEP, MASK = 101, 102, 103
RANDOM_IDS = np.arange(106, 21128)  # bert-base-chinese's ids after its specials ([unused1..99] included)


@pytest.fixture(scope="module")
def docs():
    """The wiki2019zh and news2016zh samples, sentence-split and tokenized with bert-base-chinese, plus an empty one."""
    tokenizer = TextTokenizer(str(VOCAB))
    assert tokenizer.vocab_size == 21128 and [tokenizer.vocab[t] for t in ("[CLS]", "[SEP]", "[MASK]")] == [CLS, SEP, MASK]
    out = []
    for path, field in ((SAMPLE / "wiki_zh" / "AA" / "wiki_00", "text"),
                        (SAMPLE / "news2016zh" / "news2016zh_train.json", "content")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            sentences = [(np.array(ids, dtype=np.uint16), np.zeros(len(ids), dtype=np.int32))
                         for ids, _ in tokenizer.encode(split_sentences(json.loads(line)[field]))]
            out.append(TokenizedDocument(seeded_key(5, f"{path.name}:{n}"), f"{path.name}:{n}", sentences))
    out.append(TokenizedDocument(seeded_key(5, "empty"), "empty", []))
    return out


def build(docs, **kw):
    builder = MassBuilder(MassConfig(bos_id=CLS, eos_id=SEP, mask_id=MASK, random_ids=RANDOM_IDS, **kw), seed=7)
    return builder.build(list(docs)), builder.stats


def rows(batch):
    columns = {}
    for name, (values, lengths) in batch.lists.items():
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        columns[name] = [values[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
    return [dict(record_id=r, **{n: c[k] for n, c in columns.items()}) for k, r in enumerate(batch.record_ids)]


@pytest.mark.parametrize("length", [128, 512])
def test_fragment_masking_on_real_text(docs, length):
    """Each segment (the original, recovered by putting the labels back) is a run of its document's sentences then
    [SEP]; the fragment is round(0.5 x its length) contiguous tokens; the decoder's targets are exactly the tokens
    the encoder does not see as themselves, and its inputs the same run one position earlier ([CLS] before the
    first)."""
    batch, stats = build(docs, max_seq_length=length, dupe_factor=2)
    examples = rows(batch)
    text = {d.doc_id: [int(t) for ids, _ in d.sentences for t in ids] for d in docs}
    per_doc, shown = {}, np.zeros(3, dtype=np.int64)
    for ex in examples:
        inputs, labels, positions = ex["input_ids"], ex["labels"], ex["decoder_position_ids"]
        start, k = positions[0], len(labels)
        assert k == max(1, round(0.5 * len(inputs))) and len(inputs) <= length
        assert positions == list(range(start, start + k)) and start + k <= len(inputs)
        segment = inputs[:start] + labels + inputs[start + k:]
        assert segment[-1] == SEP and SEP not in segment[:-1] and MASK not in segment
        assert ex["decoder_input_ids"] == ([CLS] + segment)[start:start + k]
        outside = [t for i, t in enumerate(inputs) if not start <= i < start + k]
        assert MASK not in outside  # only the fragment is masked
        for seen, original in zip(inputs[start:start + k], labels):
            shown += [seen == MASK, seen not in (MASK, original), seen == original]
        doc_id, copy, n = ex["record_id"].rsplit("/", 2)
        per_doc.setdefault((doc_id, copy), []).append((int(n), segment[:-1]))
    for (doc_id, _), segments in per_doc.items():  # the segments are the document, in order, cut at sentences
        assert [t for _, s in sorted(segments) for t in s] == text[doc_id]
    assert {d for d, _ in per_doc} == {d for d, t in text.items() if t}
    # MASS's mask_word: [MASK] 0.8, a random token 0.1, itself 0.1 (a random draw equal to the token counts as
    # kept: 1 in 21022); binomial 4.5 sigma
    n = shown.sum()
    for share, p in zip(shown / n, (0.8, 0.1, 0.1)):
        assert abs(share - p) < 4.5 * np.sqrt(p * (1 - p) / n)
    summary = mass_statistics(stats, length)
    assert summary["examples"] == len(examples)
    assert summary["fragment_share"] == round(sum(len(e["labels"]) for e in examples)
                                              / sum(len(e["input_ids"]) for e in examples), 4)
    assert [stats["kept"], stats["filtered:no_instance"]] == [len(docs) - 1, 1]


def test_fragment_length_is_round_half_to_even():
    rng = np.random.default_rng(0)
    # Python's round, as MASS's mask_interval: 3 -> 2 (1.5), 5 -> 2 (2.5), 7 -> 4 (3.5); never the whole segment
    assert [fragment(n, 0.5, rng)[1] for n in (2, 3, 4, 5, 6, 7, 128)] == [1, 2, 2, 2, 3, 4, 64]


def test_start_distribution_is_mass_mask_start():
    """MASS's mask_start over the segment lengths of real text: the start is 0 with probability 0.2 + 0.6 / (L - k),
    L - k (the fragment ends at the EOS) with 0.2, any other of 1 .. L - k - 1 with 0.6 / (L - k). Chi-square over
    (first, last, between), and the between starts uniform over their range (Kolmogorov-Smirnov on start / (L - k))."""
    from scipy.stats import chisquare, kstest

    rng = np.random.default_rng(11)
    lengths = rng.integers(4, 300, 40_000)
    observed, expected, between = np.zeros(3), np.zeros(3), []
    for L in lengths:
        start, k = fragment(int(L), 0.5, rng)
        room = L - k
        category = 0 if start == 0 else 1 if start == room else 2
        observed[category] += 1
        expected += (0.2 + 0.6 / room, 0.2, 0.6 * (room - 1) / room)
        if category == 2:
            between.append((start - 1 + rng.random()) / (room - 1))  # uniform over [0, 1) when starts are uniform
    assert chisquare(observed, expected).pvalue > 1e-3
    assert kstest(between, "uniform").pvalue > 1e-3


def test_start_distribution_on_real_text(docs):
    """The same law over the segments of the sample corpus (chi-square over first / last / between), and the
    manifest's shares recount the rows."""
    from scipy.stats import chisquare

    batch, stats = build(docs, max_seq_length=128, dupe_factor=4)
    examples = rows(batch)
    observed, expected = np.zeros(3), np.zeros(3)
    for e in examples:
        start, k, length = e["decoder_position_ids"][0], len(e["labels"]), len(e["input_ids"])
        room = length - k
        observed[0 if start == 0 else 1 if start == room else 2] += 1
        expected += (0.2 + 0.6 / room, 0.2, 0.6 * (room - 1) / room)
    assert len(examples) > 5000 and chisquare(observed, expected).pvalue > 1e-3
    summary = mass_statistics(stats, 128)
    assert summary["starts_first_share"] == round(observed[0] / len(examples), 4)
    assert summary["starts_last_share"] == round(observed[1] / len(examples), 4)


def test_same_seed_same_examples(docs):
    a, _ = build(docs, max_seq_length=128)
    b, _ = build(docs[::-1], max_seq_length=128)
    assert rows(a) == rows(b)


@pytest.mark.parametrize("kw, message", [
    (dict(mask_id=None), "MASS needs the vocabulary's BOS, EOS and mask tokens"),
    (dict(mask_ratio=1.0), "strictly between 0 and 1"),
])
def test_bad_configurations_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        MassConfig(**{**dict(bos_id=CLS, eos_id=SEP, mask_id=MASK, random_ids=RANDOM_IDS), **kw})
