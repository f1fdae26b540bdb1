"""Transformer-XL streams on real text: kimiyoung/transformer-xl's batchify layout, every token once."""
import json
from collections import defaultdict

import numpy as np
import pytest

from corpusforge.beam.sink import seeded_key, shard_of
from corpusforge.objectives.instances import TokenizedDocument
from corpusforge.objectives.stream import StreamBuilder, StreamConfig, cut_streams
from corpusforge.tokenization.tokenizer import TextTokenizer
from tests.conftest import ROOT, SAMPLE

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
SEP = 102


def batchify(data: np.ndarray, bsz: int) -> np.ndarray:
    """transformer-xl pytorch/data_utils.py LMOrderedIterator: trim to n_step * bsz, view(bsz, -1).t()."""
    n_step = len(data) // bsz
    return data[:n_step * bsz].reshape(bsz, -1).T  # (n_step, bsz): column i is stream i


@pytest.mark.parametrize("total, streams, segment", [(6000, 4, 128), (6000, 3, 7), (128 * 4, 4, 128)])
def test_divisible_streams_are_batchify_columns(total, streams, segment):
    """When the streams divide the text evenly, stream i is batchify's column i and segment j its rows
    [j * bptt, (j + 1) * bptt) (data_utils' get_batch inputs; the stream's last token it uses only as a target)."""
    data = np.arange(total)
    columns = batchify(data, streams)
    starts, lengths, stream, index = cut_streams(total, streams, segment)
    for s, k, a, n in zip(stream, index, starts, lengths):
        assert (data[a:a + n] == columns[k * segment:(k + 1) * segment, s]).all()
    assert lengths.sum() == total and len(starts) == streams * -(-(total // streams) // segment)


def test_uneven_streams_lose_no_token():
    """data_utils drops total % bsz tokens; here the first streams are one longer and no token is lost."""
    for total in (1, 2, 5, 1001):
        starts, lengths, stream, index = cut_streams(total, 4, 3)
        covered = np.concatenate([np.arange(a, a + n) for a, n in zip(starts, lengths)])
        assert (covered == np.arange(total)).all()  # in stream order, segment order: the text itself
        sizes = np.bincount(stream, weights=lengths, minlength=4)
        assert sizes.max() - sizes.min() <= 1 and (index == np.concatenate([np.arange(c) for c in
                                                                           np.bincount(stream)])).all()


@pytest.fixture(scope="module")
def wiki_docs():
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


def test_streams_of_a_bucket_hold_its_documents_once_per_copy(wiki_docs):
    cfg = StreamConfig(max_seq_length=64, num_streams=5, num_buckets=3, eos_id=SEP, dupe_factor=2)
    builder = StreamBuilder(cfg, seed=7)
    batch = builder.build(list(wiki_docs))
    off = np.cumsum(batch.lengths) - batch.lengths
    streams = defaultdict(list)
    for i in np.lexsort((batch.segment_index, batch.stream_ids)):
        segment = batch.input_ids[off[i]:off[i] + batch.lengths[i]]
        streams[int(batch.stream_ids[i])].append((int(batch.segment_index[i]), segment))
    bucket = shard_of(min(d.key for d in wiki_docs), 3)
    assert sorted(set(sid // 5 for sid in streams)) == [bucket * 2, bucket * 2 + 1]  # (bucket, copy) groups
    docs = sorted(tuple(int(t) for ids, _ in d.sentences for t in ids) for d in wiki_docs if d.sentences)
    for group in (bucket * 2, bucket * 2 + 1):
        text = []
        for sid in range(group * 5, group * 5 + 5):
            segments = streams[sid]
            assert [k for k, _ in segments] == list(range(len(segments)))
            assert all(len(seg) == 64 for _, seg in segments[:-1])
            text += [int(t) for _, seg in segments for t in seg]
        assert text[-1] == SEP
        split = np.split(np.array(text), np.flatnonzero(np.array(text) == SEP) + 1)[:-1]
        assert sorted(tuple(int(t) for t in d[:-1]) for d in split) == docs  # every document once, whole
    assert builder.stats["kept"] == len(docs) and builder.stats["filtered:no_instance"] == 1
