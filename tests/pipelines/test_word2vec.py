"""build word2vec: GloVe's vocabulary, word2vec.c's subsampling rate per word, determinism, bad input."""
import math
import os
from collections import Counter

import pytest

from corpusforge.dataset.reader import load_table, read_manifest, verify_dataset
from corpusforge.objectives import cooccurrence as co
from tests.conftest import DATA, run_cli

GLOVE = DATA / "glove"
CORPUS = ["--input", GLOVE / "corpus.txt", "--format", "pretokenized", "--min-count", "3"]


def build(out, *args, ok=True):
    return run_cli("build", "word2vec", "--output", out, *args, ok=ok)


def rows_of(out):
    return load_table(str(out)).column("ids").to_pylist()


def line_tokens():
    """The in-vocabulary tokens of each corpus line, as GloVe's vocab_count reads them (its vocab.txt)."""
    vocab = {w for w, _ in co.parse_vocab((GLOVE / "vocab.txt").read_bytes())}
    lines = (GLOVE / "corpus.txt").read_bytes().decode("utf-8").split("\n")  # not read_text: keep "\r"
    return [[t for t in co.glove_tokens(line) if t in vocab] for line in lines]


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    out = tmp_path_factory.mktemp("w2v") / "copies"
    build(out, *CORPUS, "--epochs-static", "20", "--num-shards", "2")
    return out


def test_vocab_is_glove_vocab_count_and_sample_0_keeps_every_token(tmp_path):
    out = tmp_path / "all"
    build(out, *CORPUS, "--sample", "0")
    assert (out / "vocab.txt").read_bytes() == (GLOVE / "vocab.txt").read_bytes()  # vocab_count -min-count 3
    words = [w for w, _ in co.parse_vocab((out / "vocab.txt").read_bytes())]
    got = Counter(tuple(words[i] for i in row) for row in rows_of(out))
    assert got == Counter(tuple(t) for t in line_tokens() if t)  # one row per line, in text order
    assert verify_dataset(str(out)) == []
    m = read_manifest(out)
    assert m["unigram_table"] == {"power": 0.75, "counts": "vocab.txt"}
    assert m["input"]["read"] == m["input"]["kept"] == 233


def test_kept_share_per_word_is_word2vec_c_keep_probability(copies):
    """20 copies at --sample 1e-3: per word, kept ~ Binomial(20 f, p) with word2vec.c's
    p = (sqrt(f / (t N)) + 1) t N / f, N the vocabulary's total count; within 4.5 standard deviations."""
    vocab = co.parse_vocab((copies / "vocab.txt").read_bytes())
    total = sum(c for _, c in vocab)
    kept = Counter(i for row in rows_of(copies) for i in row)
    tn = 1e-3 * total
    checked = 0
    for i, (_, f) in enumerate(vocab):
        p = min(1.0, (math.sqrt(f / tn) + 1) * tn / f)
        n = 20 * f
        if p == 1.0:
            assert kept[i] == n
            continue
        checked += 1
        assert abs(kept[i] - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)) + 1, (i, f, kept[i], n * p)
    assert checked >= 40  # the frequent words (count > t N = 20) are thinned: 45 of them here
    assert kept[0] < 0.2 * 20 * vocab[0][1]


def test_copies_differ_and_keep_text_order(copies):
    rows = rows_of(copies)
    by_line = Counter(tuple(t) for t in line_tokens())
    long = [tuple(r) for r in rows if len(r) >= 50]  # copies of a long line are drawn independently: all differ
    assert len(long) > 1000 and len(set(long)) == len(long)
    words = [w for w, _ in co.parse_vocab((copies / "vocab.txt").read_bytes())]
    lines = [t for t in by_line if t]

    def subsequence(row, line):
        it = iter(line)
        return all(w in it for w in row)

    for row in rows[:60]:
        assert any(subsequence([words[i] for i in row], line) for line in lines)


def test_same_seed_same_bytes_on_one_and_two_workers(tmp_path):
    args = [*CORPUS, "--num-shards", "3", "--epochs-static", "2"]
    one, two, other = tmp_path / "one", tmp_path / "two", tmp_path / "other"
    build(one, *args, "--direct_num_workers=1")
    build(two, *args, "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    build(other, *args, "--seed", "7")
    names = sorted(n for n in os.listdir(one) if n.endswith(".arrow"))
    assert len(names) == 3
    for name in names + ["vocab.txt", "manifest.json"]:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert (one / names[0]).read_bytes() != (other / names[0]).read_bytes()


@pytest.mark.parametrize("args,message", [
    (["--sample", "-1"], "-1"),
    (["--epochs-static", "0"], "0 is not in the range"),
    (["--min-count", "100000"], "no unit occurs at least 100000 times"),
    (["--units", "words", "--segmenter", "nosuch"], "nosuch"),
])
def test_bad_arguments_fail_with_one_sentence(tmp_path, args, message):
    result = build(tmp_path / "out", "--input", GLOVE / "corpus.txt", "--format", "pretokenized", *args, ok=False)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".out")]


def test_bad_input_is_counted_and_kept_with_a_reason(tmp_path):
    corpus = tmp_path / "corpus.txt"
    good = (GLOVE / "corpus.txt").read_bytes().split(b"\n")[:40]
    corpus.write_bytes(b"\n".join(good[:20] + [b"\xff\xfe broken utf-8 \x80", b"nul \x00 byte", b"", b"   "]
                                  + good[20:]) + b"\n")
    out = tmp_path / "out"
    build(out, "--input", corpus, "--format", "pretokenized", "--min-count", "1")
    acc = read_manifest(out)["input"]
    assert acc["rejected_by_reason"] == {"invalid_utf8": 1, "nul_bytes": 1}
    assert acc["read"] == acc["kept"] + acc["filtered"] + acc["rejected"]
    assert verify_dataset(str(out)) == []
