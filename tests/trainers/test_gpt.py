"""The GPT trainer on the sample corpus: loss falls, documents do not see each other, exact resume,
transformers loads the export and generates, bad arguments fail with one sentence."""
import math

import numpy as np
import pytest
import torch

from tests.conftest import ROOT, SAMPLE, run_cli
from corpusforge.trainers.common import read_metrics

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
FAST = ("--preset", "tiny", "--batch-size", "8", "--threads", "1", "--quiet")
V = 21128


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    """GPT blocks of 64 tokens from the sample's wiki2019zh and news2016zh articles."""
    root = tmp_path_factory.mktemp("gpt")
    run_cli("build", "tokenized", "--input", SAMPLE / "wiki_zh", "--input", SAMPLE / "news2016zh", "--tokenizer", VOCAB,
            "--output", root / "tokenized", "--segmenter", "chars")
    run_cli("build", "pretraining", "--input", root / "tokenized", "--output", root / "causal", "--mode", "causal",
            "--max-seq-length", "64")
    return root / "causal"


def train(data, out, *args, ok=True):
    return run_cli("train", "gpt", "--data", data, "--out", out, *FAST, *args, ok=ok)


@pytest.fixture(scope="module")
def trained(blocks, tmp_path_factory):
    # 60 steps of 8 x 64 tokens (about 15 s on one core): from ln(21128) = 9.96 the loss must lose 2 nats
    out = tmp_path_factory.mktemp("runs") / "run"
    train(blocks, out, "--max-steps", "60", "--lr", "2e-3", "--warmup-steps", "6", "--log-every", "10",
          "--eval-rows", "32", "--eval-every", "30")
    return out


def test_loss_falls_on_real_text(trained):
    records = [r for r in read_metrics(trained / "metrics.jsonl") if "loss" in r]
    assert [r["step"] for r in records] == list(range(10, 61, 10))
    assert all({"loss", "ppl", "lr", "tokens_per_s", "sequences_per_s"} <= set(r) for r in records)
    assert records[0]["loss"] < math.log(V) + 0.1
    assert sum(r["loss"] for r in records[-3:]) / 3 < math.log(V) - 2.0, [r["loss"] for r in records]


def test_held_out_loss_is_the_exported_models(trained, blocks):
    """eval_loss at the last step: the token-weighted mean loss of the held-out blocks, recomputed one block
    at a time with the exported model."""
    from transformers import GPT2LMHeadModel

    from corpusforge.trainers.gpt import CausalBlocks

    evals = [r for r in read_metrics(trained / "metrics.jsonl") if "eval_loss" in r]
    assert [r["step"] for r in evals] == [30, 60] and evals[1]["eval_loss"] < evals[0]["eval_loss"]
    model, data = GPT2LMHeadModel.from_pretrained(trained / "hf").eval(), CausalBlocks(str(blocks))
    total = count = 0
    with torch.no_grad():
        for i in range(32):
            ids, bounds = data[i]
            ids = torch.tensor(ids.astype(np.int64))
            edges = [0, *bounds.tolist(), len(ids)]
            for a, b in zip(edges[:-1], edges[1:]):  # each document alone predicts its next tokens (the
                logits = model(input_ids=ids[a:b][None]).logits[0]  # last: the next document's first, if any)
                targets = ids[a + 1:b + 1]
                total += torch.nn.functional.cross_entropy(logits[:len(targets)], targets, reduction="sum").item()
                count += len(targets)
    assert evals[1]["eval_loss"] == pytest.approx(total / count, rel=1e-4)


def test_export_loads_in_transformers_and_generates(trained):
    from transformers import GPT2LMHeadModel

    ckpt = torch.load(trained / "checkpoint.pt", map_location="cpu", weights_only=True)  # no code from the file
    model = GPT2LMHeadModel.from_pretrained(trained / "hf").eval()
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in ckpt["model"].items())
    prompt = torch.tensor([[2769, 1762]])  # 我 们
    out = model.generate(prompt, max_new_tokens=10, do_sample=False, pad_token_id=102)
    assert out.shape == (1, 12) and out[0, :2].tolist() == [2769, 1762] and int(out.max()) < V


def test_a_block_attends_within_its_documents(trained, blocks):
    """With --reset-attention the logits of a block of several documents equal each document fed alone
    (the brute-force reference); without it, later documents see earlier ones."""
    from transformers import GPT2LMHeadModel

    from corpusforge.trainers.gpt import CausalBlocks, CausalCollator

    model = GPT2LMHeadModel.from_pretrained(trained / "hf").eval()
    data = CausalBlocks(str(blocks))
    i = next(i for i in range(len(data)) if len(data[i][1]) >= 1 and len(data[i][0]) == 64)
    ids, bounds = data[i]
    batch = CausalCollator(102, True)([data[i], data[i - 1]])  # a padded neighbour in the batch too
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       position_ids=batch["position_ids"]).logits[0, :64]
        edges = [0, *bounds.tolist(), 64]
        alone = torch.cat([model(input_ids=torch.tensor(ids[a:b].astype(np.int64))[None]).logits[0]
                           for a, b in zip(edges[:-1], edges[1:])])
        plain = CausalCollator(102, False)([data[i]])
        crossed = model(input_ids=plain["input_ids"], attention_mask=plain["attention_mask"],
                        position_ids=plain["position_ids"]).logits[0, :64]
    assert torch.allclose(packed, alone, atol=1e-4)
    assert not torch.allclose(crossed[edges[1]:], alone[edges[1]:], atol=1e-2)


def test_interrupted_and_resumed_run_gives_the_same_loss_curve(blocks, tmp_path):
    args = ("--max-steps", "8", "--log-every", "1", "--save-every", "4", "--lr", "1e-3", "--grad-accum", "2")
    train(blocks, tmp_path / "full", *args)
    out = tmp_path / "resumed"
    train(blocks, out, *args, "--stop-after", "6")  # dies after step 6; the checkpoint is step 4's
    result = train(blocks, out, *args, ok=False)
    assert result.exit_code == 1 and "pass --resume" in result.output
    changed = train(blocks, out, *args[:-2], "--grad-accum", "1", "--resume", ok=False)
    assert changed.exit_code == 1 and "--resume with different --grad-accum" in changed.output
    train(blocks, out, *args, "--resume")
    assert read_metrics(out / "metrics.jsonl") == [
        {**r, "tokens_per_s": m["tokens_per_s"], "sequences_per_s": m["sequences_per_s"]}
        for r, m in zip(read_metrics(tmp_path / "full" / "metrics.jsonl"), read_metrics(out / "metrics.jsonl"))]
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == list(range(1, 9))


def test_bad_arguments_fail_with_one_sentence(blocks, tmp_path):
    tokenized = blocks.parent / "tokenized"
    for args, message in [(("--data", tokenized), "is a tokenized dataset; train gpt reads a causal dataset"),
                          (("--data", tmp_path), "is not a corpusforge dataset"),
                          (("--data", blocks, "--batch-size", "100000"), "fewer than one step's"),
                          (("--data", blocks, "--eval-every", "5"), "--eval-every needs --eval-rows")]:
        result = run_cli("train", "gpt", "--out", tmp_path / "x", "--quiet", *args, ok=False)
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_ddp_on_cpu_with_torchrun_resumes_exactly(blocks, tmp_path):
    """Two processes (gloo): every rank's dropout stream and data share survive an interruption."""
    import json
    import os
    import subprocess
    import sys

    def torchrun(out, *args):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "corpusforge.cli", "train", "gpt", "--data", str(blocks), "--out", str(out), *FAST,
               "--max-steps", "4", "--log-every", "1", "--save-every", "2", "--lr", "1e-3", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                              timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]

    torchrun(tmp_path / "full")
    torchrun(tmp_path / "cut", "--stop-after", "3")
    torchrun(tmp_path / "cut", "--resume")
    want, got = (read_metrics(tmp_path / run / "metrics.jsonl") for run in ("full", "cut"))
    assert [r["step"] for r in want] == [1, 2, 3, 4] and [r["loss"] for r in got] == [r["loss"] for r in want]
    assert json.loads((tmp_path / "full" / "train_config.json").read_text())["world_size"] == 2
