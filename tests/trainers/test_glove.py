"""train glove / eval vectors on the GloVe fixture matrix (real text): glove.c's update, files gensim reads."""
import math

import numpy as np
import pytest
import torch

from tests.conftest import DATA, run_cli
from corpusforge.trainers import glove

GLOVE = DATA / "glove"


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "matrix"
    run_cli("build", "cooccurrence", "-i", GLOVE / "corpus.txt", "--format", "pretokenized", "--vocab",
            GLOVE / "vocab.txt", "-o", out)
    return out


def glove_c_update(p, i, j, x, lr=0.05, x_max=100.0, alpha=0.75, clip=100.0):
    """glove.c's glove_thread body for one record, transcribed loop for loop (numpy float64)."""
    W, C, bw, bc, gW, gC, gbw, gbc = (p[k] for k in ("W", "C", "bw", "bc", "gW", "gC", "gbw", "gbc"))
    diff = W[i] @ C[j] + bw[i] + bc[j] - math.log(x)
    fdiff = diff if x > x_max else (x / x_max) ** alpha * diff
    cost = 0.5 * fdiff * diff
    fdiff *= lr
    t1 = np.clip(fdiff * C[j], -clip, clip)
    t2 = np.clip(fdiff * W[i], -clip, clip)
    u1, u2 = t1 / np.sqrt(gW[i]), t2 / np.sqrt(gC[j])
    gW[i] += t1 * t1
    gC[j] += t2 * t2
    W[i] -= u1
    C[j] -= u2
    bw[i] -= fdiff / math.sqrt(gbw[i])
    bc[j] -= fdiff / math.sqrt(gbc[j])
    gbw[i] += fdiff * fdiff
    gbc[j] += fdiff * fdiff
    return cost


def test_one_entry_per_step_is_glove_c_update(matrix):
    _, vocab, rows, cols, values = glove.load_matrix(str(matrix))
    p = glove.init_params(len(vocab), 8, 1, "cpu")
    ref = {k: v.numpy().copy() for k, v in p.items()}
    pick = np.random.default_rng(0).choice(len(values), 300, replace=False)
    ours = theirs = 0.0
    for k in pick:
        i, j, x = int(rows[k]), int(cols[k]), float(values[k])
        ours += glove.train_step(p, torch.tensor([i]), torch.tensor([j]), torch.tensor([math.log(x)], dtype=torch.float64),
                                 torch.tensor([min(1.0, (x / 100) ** 0.75)], dtype=torch.float64), 0.05)
        theirs += glove_c_update(ref, i, j, x)
    assert abs(ours - theirs) <= 1e-9 * theirs
    for name in ref:
        np.testing.assert_allclose(p[name].numpy(), ref[name], rtol=1e-9, atol=1e-12)


def test_train_writes_glove_and_word2vec_files(matrix, tmp_path):
    out = tmp_path / "vec"
    result = run_cli("train", "glove", "-i", matrix, "-o", out, "--dim", "16", "--epochs", "4", "--device", "cpu", "--threads", "1")
    costs = [float(line.split("cost: ")[1].split()[0]) for line in result.output.splitlines() if line.startswith("iter:")]
    assert len(costs) == 4 and costs[-1] < costs[0]
    lines = (out / "vectors.txt").read_text(encoding="utf-8").splitlines()
    vocab = (GLOVE / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(vocab) == 1798
    assert [ln.split(" ")[0] for ln in lines] == [v.split(" ")[0] for v in vocab]
    assert all(len(ln.split(" ")) == 17 for ln in lines)
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(str(out / "vectors.w2v.txt"), binary=False)
    assert len(kv.index_to_key) == 1798 and kv.vector_size == 16
    first = lines[0].split(" ")
    np.testing.assert_allclose(kv[first[0]], np.asarray(first[1:], dtype=np.float32))
    # deterministic: same seed, same bytes
    again = tmp_path / "again"
    run_cli("train", "glove", "-i", matrix, "-o", again, "--dim", "16", "--epochs", "4", "--device", "cpu", "--threads", "1")
    assert (again / "vectors.txt").read_bytes() == (out / "vectors.txt").read_bytes()
    # eval: neighbours and an analogy file in the `a b c d` format
    questions = tmp_path / "questions.txt"
    words = [v.split(" ")[0] for v in vocab[:8]]
    questions.write_text(": section\n" + " ".join(words[:4]) + "\n" + " ".join(words[4:8]) + "\n不在 词表 里 的\n",
                         encoding="utf-8")
    shown = run_cli("eval", "vectors", out / "vectors.txt", "--word", words[0], "--word", "不在词表", "-k", "3",
                    "--analogies", questions).output
    assert shown.startswith(f"{words[0]}: ") and shown.splitlines()[0].count(", ") == 2
    assert "不在词表: not in the vocabulary" in shown
    assert "3 questions, 2 with all four words known" in shown


def test_interrupted_and_resumed_equals_uninterrupted(matrix, tmp_path):
    """The shared trainer machinery: metrics.jsonl per epoch, checkpoint.pt, exact --resume."""
    from corpusforge.trainers.common import read_metrics

    args = ["-i", matrix, "--dim", "8", "--device", "cpu", "--threads", "1"]
    run_cli("train", "glove", *args, "-o", tmp_path / "whole", "--epochs", "4")
    run_cli("train", "glove", *args, "-o", tmp_path / "parts", "--epochs", "2")  # stopped after epoch 2
    run_cli("train", "glove", *args, "-o", tmp_path / "parts", "--epochs", "4", "--resume")
    whole, parts = read_metrics(tmp_path / "whole" / "metrics.jsonl"), read_metrics(tmp_path / "parts" / "metrics.jsonl")
    assert [m["step"] for m in parts] == [1, 2, 3, 4]
    assert [m["loss"] for m in parts] == [m["loss"] for m in whole]
    assert (tmp_path / "parts" / "vectors.txt").read_bytes() == (tmp_path / "whole" / "vectors.txt").read_bytes()
    r = run_cli("train", "glove", *args, "-o", tmp_path / "parts", "--epochs", "4", ok=False)
    assert "pass --overwrite" in r.output
    r = run_cli("train", "glove", *args[:-2], "--threads", "1", "--lr", "0.1", "-o", tmp_path / "parts", "--resume",
                ok=False)
    assert "other lr" in r.output


def test_bad_arguments(matrix, sample_dataset, tmp_path):
    r = run_cli("train", "glove", "-i", sample_dataset, "-o", tmp_path / "v", ok=False)
    assert r.exit_code != 0 and "not a cooccurrence dataset" in r.output
    if not torch.cuda.is_available():
        r = run_cli("train", "glove", "-i", matrix, "-o", tmp_path / "v", "--device", "cuda", ok=False)
        assert "no CUDA device" in r.output


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_matches_cpu_cost(matrix):
    _, vocab, rows, cols, values = glove.load_matrix(str(matrix))
    _, cpu, _ = glove.train_glove(rows, cols, values, len(vocab), 16, 2, device="cpu", log=lambda s: None)
    _, gpu, _ = glove.train_glove(rows, cols, values, len(vocab), 16, 2, device="cuda", log=lambda s: None)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-6)
