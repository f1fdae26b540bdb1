"""ELECTRA's ExampleBuilder rules, worked by hand from build_pretraining_dataset.py with scripted draws,
and the builder on the sample documents (every token in an instance or counted as cut)."""
import numpy as np
import pytest

from corpusforge.objectives.electra import electra_examples
from corpusforge.objectives.instances import InstanceBuilder, InstanceConfig
from corpusforge.objectives.masking import MaskingConfig


class Script:
    """Draws from a script: chance(p) pops the next bool (and records p), randint pops the next int."""

    def __init__(self, chances, ints=()):
        self.chances, self.ints, self.asked = list(chances), list(ints), []

    def chance(self, p):
        self.asked.append(p)
        return self.chances.pop(0)

    def randint(self, a, b):
        self.asked.append((a, b))
        return self.ints.pop(0)


def documents(*lengths_per_doc):
    """Sentences of these lengths laid end to end, as (start, end) ranges per document."""
    out, at = [], 0
    for lengths in lengths_per_doc:
        doc = []
        for n in lengths:
            doc.append((at, at + n))
            at += n
        out.append(doc)
    return out


def tokens(ranges):
    return sum(b - a for a, b in ranges)


def test_the_half_rule_and_the_cut():
    # max 20: half = (20 - 3) // 2 = 8. Sentences 5, 6, 2, 9 reach 22 >= 20 at the fourth.
    docs = documents([5, 6, 2, 9])
    # two segments (0.1 draw False); the 6 crosses the half with B empty: the 0.5 draw says first
    s = Script([False, True, False])
    (ex,) = electra_examples(docs, 20, s.chance, s.randint)
    assert s.asked == [0.1, 0.5, 0.05]  # the 2 and the 9 go to B without a draw (5 + 6 >= 8)
    assert ex.first == [(0, 5), (5, 11)] and ex.second == [(11, 13), (13, 17)]  # B cut to 20 - 11 - 3 = 6
    assert ex.cut_tokens == 5 and not ex.single_draw and not ex.random_target
    # the 0.5 draw says B: the 6 opens B, then the 2 still fits under the half and joins A, behind B's start
    s = Script([False, False, False])
    (ex,) = electra_examples(docs, 20, s.chance, s.randint)
    assert ex.first == [(0, 5), (11, 13)] and ex.second == [(5, 11), (13, 17)]  # B cut to 20 - 7 - 3 = 10
    assert ex.cut_tokens == 5


def test_one_segment_draw_and_the_first_segments_cut():
    s = Script([True, False])
    (ex,) = electra_examples(documents([15, 15]), 20, s.chance, s.randint)
    assert s.asked == [0.1, 0.05] and ex.single_draw
    assert ex.first == [(0, 15), (15, 18)] and ex.second == [] and ex.cut_tokens == 12  # A cut to 20 - 2


def test_a_random_target_applies_to_the_next_example_and_carries_across_documents():
    # the first example reaches 20 (10 + 10; B cut to 20 - 10 - 3 = 7); its 0.05 draw fires and randint
    # gives 7: the next example ends as soon as it holds 7 tokens (4 + 4), then the target is the maximum
    docs = documents([10, 10], [4, 4, 4], [3])
    s = Script([False, True, False, False, False, False, False, False], ints=[7])
    exs = list(electra_examples(docs, 20, s.chance, s.randint))
    assert s.asked[:3] == [0.1, 0.05, (5, 20)]  # randint(5, max_length), both ends included
    assert [(e.document, tokens(e.first) + tokens(e.second), e.random_target) for e in exs] == [
        (0, 17, False), (1, 8, True), (1, 4, False), (2, 3, False)]  # a document's end ends its example
    assert exs[1].first == [(20, 24)] and exs[1].second == [(24, 28)]  # half = (7 - 3) // 2 = 2


def test_a_long_sentence_alone_is_cut_not_split():
    s = Script([False, False])
    (ex,) = electra_examples(documents([50]), 20, s.chance, s.randint)
    assert ex.first == [(0, 18)] and ex.second == [] and ex.cut_tokens == 32


@pytest.mark.parametrize("dupe", [1, 3])
def test_builder_on_the_sample_accounts_for_every_token(sample_documents, dupe):
    masking = MaskingConfig(scheme="none")
    cfg = InstanceConfig(mode="electra", max_seq_length=128, dupe_factor=dupe, cls_id=101, sep_id=102,
                         masking=masking)
    builder = InstanceBuilder(cfg, seed=7)
    batch = builder.build(sample_documents)
    text = sum(len(ids) for d in sample_documents for ids, _ in d.sentences)
    content = int(len(batch.special_tokens_mask) - batch.special_tokens_mask.sum())
    assert content + builder.stats["cut_tokens"] == dupe * text
    assert batch.lengths.max() <= 128 and batch.labels is None
    # word ids stay whole words: dense from 0 in every instance, -1 exactly on [CLS] / [SEP]
    off = np.concatenate([[0], np.cumsum(batch.lengths)])
    for i in range(0, len(batch.lengths), 97):
        words, special = batch.word_ids[off[i]:off[i + 1]], batch.special_tokens_mask[off[i]:off[i + 1]]
        assert ((words == -1) == special.astype(bool)).all()
        real = words[words >= 0]
        assert real[0] == 0 and set(np.diff(real)) <= {0, 1}
    # each document's examples are its own: a record id names its document
    ids = {d.doc_id for d in sample_documents}
    assert all(r.rsplit("/", 2)[0] in ids for r in batch.record_ids)
