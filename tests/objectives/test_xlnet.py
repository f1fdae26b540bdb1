"""XLNet's record pieces on the sample's real text: _split_a_and_b against a token-by-token scan of its rules
(data_utils.py), _sample_mask's spans (whole words, 1..5 of them with p ∝ 1/n, never adjacent) and its exact
num_predict."""
import numpy as np
import pytest

from corpusforge.objectives.xlnet import XLNetBuilder, XLNetConfig, sample_mask, split_a_and_b

CFG = XLNetConfig(max_seq_length=128, cls_id=101, sep_id=102, eod_id=102)


@pytest.fixture(scope="module")
def stream(sample_documents):
    docs = [d for d in sample_documents if d.sentences]
    return XLNetBuilder(CFG, 0).stream(docs, np.arange(len(docs)))


def scan_split(sent_ids, begin, budget, rng):
    """data_utils.py's rules, one token at a time: the boundaries up to the first one past the budget, A to a
    random one of them (or, when there is none, to that boundary), B the continuation or a random run of whole
    sentences, the longer side trimmed on the right (ties: B) until both fit."""
    n = len(sent_ids)
    if begin + budget >= n:
        return None
    cuts, end = [], begin + 1
    while end < n:
        if sent_ids[end] != sent_ids[end - 1]:
            if end - begin >= budget:
                break
            cuts.append(end)
        end += 1
    if not cuts or rng.random() < 0.5:
        label, a_end = 0, (cuts[rng.integers(len(cuts))] if cuts else end)
        b_len = max(1, budget - (a_end - begin))
        b_begin = int(rng.integers(0, n - b_len))
        b_end = b_begin + b_len
        while b_begin > 0 and sent_ids[b_begin - 1] == sent_ids[b_begin]:
            b_begin -= 1
        while b_end < n - 1 and sent_ids[b_end - 1] == sent_ids[b_end]:
            b_end += 1
    else:
        label, a_end = 1, cuts[rng.integers(len(cuts))]
        b_begin, b_end = a_end, end
    while (a_end - begin) + (b_end - b_begin) > budget:
        if a_end - begin > b_end - b_begin:
            a_end -= 1
        else:
            b_end -= 1
    if a_end >= n or b_end >= n:
        return None
    return begin, a_end, b_begin, b_end, label


def test_split_is_the_token_by_token_rule(stream):
    _, _, bounds = stream
    n = int(bounds[-1]) + 1  # the stream ends with a document's EOD
    sent_ids = np.zeros(n, dtype=np.int64)
    sent_ids[bounds] = 1
    sent_ids = np.cumsum(sent_ids) % 2  # the ids alternate at every sentence start
    draws = np.random.default_rng(7)
    labels = []
    for trial in range(1500):
        begin = int(draws.integers(0, n - 40))
        budget = int(draws.choice([10, 61, 125]))
        ours = split_a_and_b(bounds, n, begin, budget, np.random.default_rng(trial))
        assert ours == scan_split(sent_ids, begin, budget, np.random.default_rng(trial)), (begin, budget)
        if ours:
            a0, a1, b0, b1, label = ours
            assert a0 == begin and 0 < a1 - a0 and 0 < b1 - b0 and a1 - a0 + b1 - b0 <= budget
            labels.append(label)
    assert len(labels) > 1400 and 0.25 < np.mean(labels) < 0.5  # 0.5 where A can end at a boundary


def parts(stream, length=64):
    ids, starts, _ = stream
    for s in range(0, len(ids) - length, length):
        yield np.flatnonzero(starts[s:s + length])


def test_spans_are_whole_words_one_to_five_with_p_proportional_to_1_over_n(stream):
    counts, rng, length = np.zeros(6), np.random.default_rng(1), 512  # XLNet's parts: 256 of 512
    for word_starts in parts(stream, length):
        masked = np.zeros(length, dtype=bool)
        masked[sample_mask(word_starts, length, None, rng)] = True
        edges = np.flatnonzero(np.diff(np.concatenate([[0], masked.astype(int), [0]])))
        is_start = np.zeros(length + 1, dtype=bool)
        is_start[word_starts] = True
        for beg, end in zip(edges[::2], edges[1::2]):
            assert is_start[beg] and is_start[end] and end < length  # whole words, never to the part's end
            counts[is_start[beg:end].sum()] += 1  # a run is one span: a right context of >= 1 token follows each
    assert counts[0] == 0 and counts.sum() > 10000
    expected = 1 / np.arange(1, 6) / (1 / np.arange(1, 6)).sum()  # 0.438 0.219 0.146 0.109 0.088
    # (an n-gram that would reach the part's end stops the spans: long ones a little more often)
    assert np.abs(counts[1:] / counts.sum() - expected).max() < 0.015, counts[1:] / counts.sum()


def test_exactly_num_predict_distinct_positions(stream):
    rng = np.random.default_rng(2)
    for k, word_starts in enumerate(parts(stream)):
        goal = (11, 10, 1, 64)[k % 4]
        chosen = sample_mask(word_starts, 64, goal, rng)
        assert len(chosen) == goal == len(set(chosen.tolist())) and chosen.min() >= 0 and chosen.max() < 64


def test_the_reuse_part_and_a_b_get_their_halves(sample_documents):
    builder = XLNetBuilder(CFG, 3)
    batch = builder.build([d for d in sample_documents if d.sentences][:200])
    assert batch.input_ids.shape[1] == 128 and len(batch.record_ids) > 100
    assert (batch.is_masked[:, :64].sum(1) == 11).all() and (batch.is_masked[:, 64:].sum(1) == 10).all()
    assert (batch.input_ids[:, -1] == 101).all() and (batch.input_ids[:, -2] == 102).all()


def test_settings_that_cannot_work():
    with pytest.raises(ValueError, match="leaves no room"):
        XLNetConfig(max_seq_length=8, cls_id=1, sep_id=2, eod_id=2)
    with pytest.raises(ValueError, match="does not fit"):
        XLNetConfig(max_seq_length=128, num_predict=140, cls_id=1, sep_id=2, eod_id=2)
