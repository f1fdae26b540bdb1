"""The encoder trainer on the sample corpus: loss falls, exact resume, transformers loads the export,
the objective variants run, bad arguments fail with one sentence."""
import json
import math
import shutil

import pytest
import torch

from tests.conftest import VOCAB, run_cli
from corpusforge.trainers.common import read_metrics

FAST = ("--preset", "tiny", "--batch-size", "8", "--quiet")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # one intra-op thread: on two shared cores a second thread costs more in contention than it gains
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def train(data, out, *args, ok=True):
    return run_cli("train", "bert", "--data", data, "--out", out, *FAST, *args, ok=ok)


def test_mlm_loss_falls_on_real_text(sample_nsp64, tmp_path):
    # 100 steps of 8 x 64 tokens (about 20 s on one core): from ln(21128) = 9.96 at the start
    # the MLM loss must lose at least 2 nats (the model learns the token distribution and more)
    train(sample_nsp64, tmp_path / "run", "--max-steps", "100", "--lr", "2e-3", "--warmup-steps", "10",
          "--log-every", "10")
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(10, 101, 10))
    assert all({"loss", "mlm_loss", "mlm_acc", "sentence_acc", "lr", "tokens_per_s"} <= set(r) for r in records)
    assert records[0]["mlm_loss"] < math.log(21128) + 0.1
    last = sum(r["mlm_loss"] for r in records[-3:]) / 3
    assert last < math.log(21128) - 2.0, [r["mlm_loss"] for r in records]
    assert (tmp_path / "run" / "hf" / "config.json").exists() and (tmp_path / "run" / "hf" / "vocab.txt").exists()


@pytest.fixture(scope="module")
def uninterrupted(sample_nsp64, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "full"
    train(sample_nsp64, out, "--max-steps", "16", "--log-every", "1", "--save-every", "8", "--lr", "1e-3",
          "--grad-accum", "2")
    return out


def test_interrupted_and_resumed_run_gives_the_same_loss_curve(sample_nsp64, uninterrupted, tmp_path):
    out = tmp_path / "resumed"
    args = ("--max-steps", "16", "--log-every", "1", "--save-every", "8", "--lr", "1e-3", "--grad-accum", "2")
    train(sample_nsp64, out, *args, "--stop-after", "11")  # dies after step 11; the checkpoint is step 8's
    assert read_metrics(out / "metrics.jsonl")[-1]["step"] == 11
    result = train(sample_nsp64, out, *args, ok=False)
    assert result.exit_code != 0 and "pass --resume" in result.output
    train(sample_nsp64, out, *args, "--resume")
    keys = ("step", "loss", "mlm_loss", "mlm_acc", "sentence_loss", "sentence_acc", "lr")
    want = [{k: r[k] for k in keys} for r in read_metrics(uninterrupted / "metrics.jsonl")]
    got = [{k: r[k] for k in keys} for r in read_metrics(out / "metrics.jsonl")]
    assert got == want  # bit for bit: weights, optimiser, schedule, dropout and data position restored
    a = torch.load(uninterrupted / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    changed = train(sample_nsp64, out, *args, "--resume", "--lr", "2e-3", ok=False)
    assert "--resume with different --lr" in changed.output


def _one_batch(data, n=6):
    from corpusforge.torch import PretrainingCollator, PretrainingDataset

    ds = PretrainingDataset(str(data))
    return PretrainingCollator(label=ds.info.label)([ds[i] for i in range(n)])


def test_export_loads_in_transformers_with_the_same_logits(sample_nsp64, uninterrupted, tmp_path):
    from transformers import BertForPreTraining, BertTokenizer

    from corpusforge.trainers.encoder import Encoder, EncoderConfig

    run_cli("export", "hf", uninterrupted / "checkpoint.pt", "--out", tmp_path / "hf")
    ckpt = torch.load(uninterrupted / "checkpoint.pt", weights_only=False)
    ours = Encoder(EncoderConfig(**ckpt["model_config"]))
    ours.load_state_dict(ckpt["model"])
    ours.eval()
    hf = BertForPreTraining.from_pretrained(tmp_path / "hf", attn_implementation="sdpa").eval()
    batch = _one_batch(sample_nsp64)
    with torch.no_grad():
        h = ours.encode(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        out = hf(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                 attention_mask=batch["attention_mask"])
        real = batch["attention_mask"].bool()
        torch.testing.assert_close(out.prediction_logits[real], ours.mlm_logits(h)[real], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(out.seq_relationship_logits, ours.sentence_logits(h), atol=1e-4, rtol=1e-4)
    tok = BertTokenizer(vocab=str(tmp_path / "hf" / "vocab.txt"))
    assert len(tok) == 21128 and tok.convert_tokens_to_ids("我") == 2769
    # the end-of-run export is the same model
    assert json.loads((uninterrupted / "hf" / "config.json").read_text())["architectures"] == ["BertForPreTraining"]


@pytest.mark.parametrize("share", ["all", "attention"])
def test_albert_export_loads_as_albert_for_pretraining(sample_nsp64, tmp_path, share):
    from transformers import AlbertForPreTraining

    from corpusforge.trainers.encoder import Encoder, EncoderConfig
    from corpusforge.trainers.hf import load_hf, save_hf

    torch.manual_seed(0)
    c = EncoderConfig.preset("tiny", 21128, arch="albert", embedding_size=64, share=share, layers=3)
    ours = Encoder(c).eval()
    save_hf(tmp_path / "hf", c, ours.state_dict(), {"pad": 0, "cls": 101, "sep": 102}, str(VOCAB))
    hf = AlbertForPreTraining.from_pretrained(tmp_path / "hf").eval()
    batch = _one_batch(sample_nsp64)
    with torch.no_grad():
        h = ours.encode(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        out = hf(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"],
                 attention_mask=batch["attention_mask"])
        real = batch["attention_mask"].bool()
        torch.testing.assert_close(out.prediction_logits[real], ours.mlm_logits(h)[real], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(out.sop_logits, ours.sentence_logits(h), atol=1e-4, rtol=1e-4)
    c2, state = load_hf(tmp_path / "hf")  # and back (for --init-from)
    assert c2.share == share
    again = Encoder(c2).eval()
    again.load_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(again.encode(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]), h)


def test_objective_variants_run(sample_nsp64, sample_full64, tmp_path):
    # RoBERTa: MLM only, dynamic whole-word masking on FULL-SENTENCES
    train(sample_full64, tmp_path / "roberta", "--max-steps", "3", "--log-every", "1", "--masking", "wwm",
          "--num-workers", "1")
    r = read_metrics(tmp_path / "roberta" / "metrics.jsonl")
    assert len(r) == 3 and "sentence_acc" not in r[0]
    assert json.loads((tmp_path / "roberta" / "hf" / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]
    # SpanBERT: dynamic span masking + span-boundary objective
    train(sample_full64, tmp_path / "spanbert", "--max-steps", "2", "--log-every", "1", "--masking", "span", "--sbo")
    assert "sbo_loss" in read_metrics(tmp_path / "spanbert" / "metrics.jsonl")[0]
    # ALBERT: factorised embedding, partial sharing, LAMB, sentence head
    train(sample_nsp64, tmp_path / "albert", "--max-steps", "2", "--log-every", "1", "--arch", "albert",
          "--embedding-size", "32", "--share", "ffn", "--eval-rows", "16", "--eval-every", "2")
    records = read_metrics(tmp_path / "albert" / "metrics.jsonl")
    assert "sentence_acc" in records[0] and "eval_mlm_acc" in records[-1]
    config = json.loads((tmp_path / "albert" / "hf" / "config.json").read_text())
    assert config["architectures"] == ["AlbertForPreTraining"] and config["embedding_size"] == 32
    # continued pretraining from the export
    train(sample_nsp64, tmp_path / "continued", "--max-steps", "1", "--init-from", tmp_path / "albert" / "hf")
    assert json.loads((tmp_path / "continued" / "train_config.json").read_text())["model"]["embedding_size"] == 32


def test_bad_arguments_fail_with_one_sentence(sample_nsp64, sample_tokenized, tmp_path):
    def error(data, *args):
        result = train(data, tmp_path / "bad", "--max-steps", "1", *args, ok=False)
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
        return result.output

    assert "not a pretraining dataset" in error(sample_tokenized)
    assert "no manifest.json" in error(tmp_path)
    assert "use it with --arch albert" in error(sample_nsp64, "--share", "all")
    assert "statically masked (token)" in error(sample_nsp64, "--masking", "wwm")
    assert "--sbo needs span-masked data" in error(sample_nsp64, "--sbo")
    assert "neither a checkpoint file nor a directory" in error(sample_nsp64, "--init-from", tmp_path / "nothing")
    # a model with another vocabulary
    (tmp_path / "other").mkdir()
    from corpusforge.trainers.encoder import Encoder, EncoderConfig
    from corpusforge.trainers.hf import save_hf

    c = EncoderConfig.preset("tiny", 30522)
    save_hf(tmp_path / "other", c, Encoder(c).state_dict(), {"pad": 0}, None)
    assert "different vocabulary" in error(sample_nsp64, "--init-from", tmp_path / "other")
    shutil.rmtree(tmp_path / "other")


def test_ddp_on_cpu_with_torchrun_resumes_exactly(sample_nsp64, tmp_path):
    """Two processes (gloo): every rank's dropout stream and data share survive an interruption."""
    import os
    import subprocess
    import sys

    def torchrun(out, *args):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "corpusforge.cli", "train", "bert", "--data", str(sample_nsp64), "--out", str(out), *FAST,
               "--threads", "1", "--max-steps", "4", "--log-every", "1", "--save-every", "2", "--lr", "1e-3", *args]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]

    torchrun(tmp_path / "full")
    torchrun(tmp_path / "cut", "--stop-after", "3")
    torchrun(tmp_path / "cut", "--resume")
    want = read_metrics(tmp_path / "full" / "metrics.jsonl")
    got = read_metrics(tmp_path / "cut" / "metrics.jsonl")
    assert [r["step"] for r in want] == [1, 2, 3, 4]
    assert [(r["loss"], r["mlm_acc"], r["sentence_acc"]) for r in got] == \
           [(r["loss"], r["mlm_acc"], r["sentence_acc"]) for r in want]
    assert json.loads((tmp_path / "full" / "train_config.json").read_text())["world_size"] == 2
