"""build pretraining --mode xlnet on the sample wiki + news text at the CLI defaults: the record layout of
data_utils.py (reuse part, A [SEP] B [SEP] [CLS], seg_id, num_predict targets split in halves), A and B
recovered from the tokenized documents themselves, every token of the stream accounted for, two workers,
bad input."""
import json
import os

import numpy as np
import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from tests.conftest import SAMPLE, VOCAB, run_cli

TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
CLS, SEP = 101, 102  # bert-base-chinese; [SEP] is also the end-of-document token (the vocabulary has no <eod>)


def build(out, *args, ok=True):
    return run_cli("build", "pretraining", "--output", out, "--mode", "xlnet", *args, ok=ok)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("xlnet")
    run_cli("build", "tokenized", "--input", SAMPLE / "wiki_zh", "--input", SAMPLE / "news2016zh", "--tokenizer", VOCAB,
            "--output", root / "tokenized")
    build(root / "xlnet", "--input", root / "tokenized", "--num-shards", "2")
    return root


def text(ids):
    return "".join(map(chr, ids))  # token ids as a string, for substring search


@pytest.fixture(scope="module")
def documents(built):
    table = load_table(str(built / "tokenized"))
    docs = [[i for s in d for i in s] for d in table.column("input_ids").to_pylist()]
    sentences = {text(s[:4]) for d in table.column("input_ids").to_pylist() for s in d if s}
    heads = {text(d[:4]) for d in docs}
    return "\n".join(text(d) for d in docs if d), sentences, sum(map(len, docs)), sum(1 for d in docs if d), heads


def pieces(ids):
    """Runs between end-of-document tokens: each must lie inside one document."""
    return [p for p in text(ids).split(chr(SEP)) if p]


def test_layout_and_num_predict(built):
    out = built / "xlnet"
    assert verify_dataset(str(out)) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "xlnet"
    p = manifest["params"]
    settings = (p["max_seq_length"], p["reuse_length"], p["num_predict"], p["mask_alpha"], p["mask_beta"])
    assert settings == (128, 64, 21, 6, 1)
    table = load_table(str(out))
    assert table.column_names == ["input_ids", "seg_id", "is_masked", "label"]
    ids = np.array(table.column("input_ids").to_pylist())
    seg = np.array(table.column("seg_id").to_pylist())
    masked = np.array(table.column("is_masked").to_pylist())
    assert ids.shape == (manifest["rows"], 128) and table.num_rows > 4000
    # num_predict per record: 21 - 21 // 2 = 11 in the reuse part, 10 in A [SEP] B [SEP] [CLS]
    assert (masked[:, :64].sum(1) == 11).all() and (masked[:, 64:].sum(1) == 10).all()
    assert (ids[:, -1] == CLS).all() and (ids[:, -2] == SEP).all() and (seg[:, -1] == 2).all()
    assert (seg[:, :64] == 0).all() and (np.diff(seg, axis=1) >= 0).all() and (seg[:, -2] == 1).all()
    a_sep = (seg == 0).sum(1) - 1  # A's [SEP]: the last position of segment 0
    assert (ids[np.arange(len(ids)), a_sep] == SEP).all() and (a_sep > 64).all() and (a_sep < 126).all()
    stats = manifest["statistics"]
    labels = table.column("label").to_numpy()
    assert stats["records"] == table.num_rows and stats["continuation_share"] == round(labels.mean(), 4)
    assert 0.3 < labels.mean() < 0.5  # 0.5 where A can end at a sentence boundary inside the budget
    assert stats["a_tokens_per_record"] == round((a_sep - 64).mean(), 3)
    masked_specials = (masked.astype(bool) & np.isin(ids, (CLS, SEP))).sum()
    assert stats["masked_specials_per_record"] == round(masked_specials / len(ids), 4)


def test_a_and_b_come_from_the_text(built, documents):
    corpus, sentence_heads, _, _, document_heads = documents
    table = load_table(str(built / "xlnet"))
    ids = table.column("input_ids").to_pylist()
    seg = table.column("seg_id").to_pylist()
    labels = table.column("label").to_pylist()
    rng = np.random.default_rng(0)
    near = 0
    for r in rng.choice(len(ids), 400, replace=False):
        row, s = ids[r], seg[r]
        a_end = s.count(0) - 1  # A's [SEP]
        reuse_a, b = row[:a_end], row[a_end + 1:-2]
        # the reuse part runs straight on into A; B is a run of text from a sentence start (maybe trimmed on
        # the right, as A may be)
        assert all(p in corpus for p in pieces(reuse_a)) and all(p in corpus for p in pieces(b)), r
        assert b[0] == SEP or text(b[:4]) in sentence_heads or len(b) < 4, r
        # the continuation: B follows A's end closely in its document, or (A's trimmed tail held the end of a
        # document) B starts the next one of the stream
        if labels[r] and reuse_a[-1] != SEP and b[0] != SEP and text(b[:4]) not in document_heads:
            last, first = pieces(reuse_a)[-1], pieces(b)[0]
            at = corpus.find(last)
            while at >= 0:
                gap = corpus.find(first, at + len(last)) - (at + len(last))
                if 0 <= gap <= 61 and "\n" not in corpus[at:at + len(last) + gap]:
                    near += 1
                    break
                at = corpus.find(last, at + 1)
            else:
                raise AssertionError(f"record {r}: B does not continue A")
    assert near > 50


def test_every_stream_token_is_accounted_for(built, documents):
    _, _, tokens, docs, _ = documents
    manifest = json.loads((built / "xlnet" / "manifest.json").read_text())
    stats = manifest["statistics"]
    assert stats["stream_tokens"] == tokens + docs  # every token and one end-of-document token per document
    # each record's reuse part is the next 64 tokens of its stream; the rest of a stream is its tail
    assert stats["records"] * 64 + stats["tail_tokens"] == stats["stream_tokens"]


def test_one_and_two_workers_write_the_same_bytes(built, tmp_path):
    build(tmp_path / "two", "--input", built / "tokenized", "--num-shards", "2", *TWO_WORKERS)
    one, two = built / "xlnet", tmp_path / "two"
    names = sorted(n for n in os.listdir(one) if n.endswith(".arrow"))
    assert len(names) == 2 and names == sorted(n for n in os.listdir(two) if n.endswith(".arrow"))
    assert all((one / n).read_bytes() == (two / n).read_bytes() for n in names)


def one_sentence(result, *phrases):
    assert result.exit_code != 0 and "Traceback" not in result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: ") and message.count(". ") == 0, message
    for phrase in phrases:
        assert phrase in message, message


def test_bad_input_is_one_sentence(built, tmp_path):
    tok = ("--input", built / "tokenized")
    one_sentence(build(tmp_path / "a", *tok, "--max-seq-length", "8", ok=False), "--max-seq-length 8", "no room")
    one_sentence(build(tmp_path / "b", *tok, "--reuse-length", "124", ok=False), "--reuse-length of at most 123")
    one_sentence(build(tmp_path / "c", *tok, "--num-predict", "200", ok=False), "--num-predict 200 does not fit")
    one_sentence(build(tmp_path / "d", *tok, "--masking", "wwm", ok=False), "--mode xlnet takes neither --masking")
    one_sentence(run_cli("build", "pretraining", *tok, "-o", tmp_path / "e", "--reuse-length", "32", ok=False),
                 "--reuse-length and --num-predict apply to --mode xlnet only")
    short = tmp_path / "short"
    short.mkdir()
    two_documents = "北京是中国的首都，也是一座历史悠久的城市。\n\n上海是中国最大的城市之一，人口很多。\n"
    (short / "a.txt").write_text(two_documents, encoding="utf-8")
    one_sentence(build(tmp_path / "f", "--input", short, "--tokenizer", VOCAB, ok=False),
                 "XLNet's records need a stream of more than --max-seq-length 128 tokens")
    for name in "abcdef":
        assert not (tmp_path / name).exists()
