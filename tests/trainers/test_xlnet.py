"""train xlnet on the sample's wiki + news records (build pretraining --mode xlnet, defaults): the loss falls in
a short CPU run, the held-out loss is the exported XLNetLMHeadModel's, --resume continues exactly, bad
arguments fail with one sentence."""
import json
import math

import pytest
import torch

from corpusforge.torch import IGNORE, XLNetCollator, XLNetDataset
from tests.conftest import SAMPLE, VOCAB, run_cli
from corpusforge.trainers.common import read_metrics
from corpusforge.trainers.xlnet import EVAL_EPOCH

FAST = ("--preset", "tiny", "--batch-size", "8", "--threads", "1", "--quiet")
V, CLS, SEP = 21128, 101, 102


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("xlnet") / "xlnet"
    run_cli("build", "pretraining", "--input", SAMPLE / "wiki_zh", "--input", SAMPLE / "news2016zh",
            "--tokenizer", VOCAB, "--output", out, "--mode", "xlnet")
    return out


def train(data, out, *args, ok=True):
    return run_cli("train", "xlnet", "--input", data, "--output", out, *FAST, *args, ok=ok)


RUN = ("--max-steps", "60", "--lr", "2e-3", "--warmup-steps", "6", "--log-every", "10", "--eval-rows", "32",
       "--eval-every", "30")


@pytest.fixture(scope="module")
def trained(records, tmp_path_factory):
    # 60 steps of 8 records (about 25 s on one core): from ln(21128) = 9.96 the loss must lose 2 nats
    out = tmp_path_factory.mktemp("runs") / "run"
    train(records, out, *RUN)
    return out


def test_loss_falls_on_real_text(trained):
    records = [r for r in read_metrics(trained / "metrics.jsonl") if "loss" in r]
    assert [r["step"] for r in records] == list(range(10, 61, 10))
    assert records[0]["loss"] < math.log(V) + 0.1
    assert sum(r["loss"] for r in records[-3:]) / 3 < math.log(V) - 2.0, [r["loss"] for r in records]
    evals = [r["eval_loss"] for r in read_metrics(trained / "metrics.jsonl") if "eval_loss" in r]
    assert len(evals) == 2 and evals[1] < evals[0] < math.log(V) - 1.0


@torch.no_grad()
def test_held_out_loss_is_the_exported_models(trained, records):
    """eval_loss at the last step: the target-weighted mean loss of the held-out records (their fixed
    permutations), recomputed one record at a time with the exported model."""
    from transformers import XLNetLMHeadModel

    model = XLNetLMHeadModel.from_pretrained(trained / "hf").eval()
    dataset = XLNetDataset(str(records))
    p = dataset.params
    collate = XLNetCollator(SEP, CLS, p["reuse_length"], p["num_predict"], seed=0, epoch=EVAL_EPOCH)
    total = count = 0
    for i in range(32):
        batch = collate([dataset[i]])
        n = int((batch["labels"] != IGNORE).sum())
        total += model(**batch).loss.item() * n
        count += n
    logged = [r for r in read_metrics(trained / "metrics.jsonl") if "eval_loss" in r][-1]
    assert logged["step"] == 60
    assert logged["eval_loss"] == pytest.approx(total / count, rel=1e-4)
    config = json.loads((trained / "hf" / "config.json").read_text())
    assert config["model_type"] == "xlnet" and config["vocab_size"] == V and config["d_model"] == 128


def test_resume_continues_exactly(records, trained, tmp_path):
    out = tmp_path / "run"
    train(records, out, *RUN, "--stop-after", "30")
    train(records, out, *RUN, "--resume")
    ours = [r for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    theirs = [r for r in read_metrics(trained / "metrics.jsonl") if "loss" in r]
    assert [r["loss"] for r in ours] == pytest.approx([r["loss"] for r in theirs], rel=1e-6)


def one_sentence(result, *phrases):
    assert result.exit_code != 0 and "Traceback" not in result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: ") and message.count(". ") == 0, message
    for phrase in phrases:
        assert phrase in message, message


def test_bad_arguments_are_one_sentence(records, tmp_path):
    one_sentence(train(records, tmp_path / "a", "--perm-size", "48", ok=False),
                 "--perm-size 48 must divide both the reuse part (64 tokens) and the A/B part (64)")
    one_sentence(train(records, tmp_path / "b", "--batch-size", "100000", ok=False), "fewer than one step's 100000")
    other = tmp_path / "causal"
    run_cli("build", "pretraining", "--input", SAMPLE / "wiki_zh", "--tokenizer", VOCAB, "--output", other,
            "--mode", "causal")
    one_sentence(train(other, tmp_path / "c", ok=False), "is a causal dataset", "build pretraining --mode xlnet")
    one_sentence(train(tmp_path / "missing", tmp_path / "d", ok=False))
