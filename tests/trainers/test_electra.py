"""train electra on the sample's --mode electra data: replaced-token detection beats the all-original guess
on held-out rows, both exports load in transformers with our logits, exact resume, bad arguments."""
import json

import pytest
import torch

from tests.conftest import build_pretraining, run_cli
from corpusforge.trainers.common import read_metrics

FAST = ("--preset", "tiny", "--batch-size", "8", "--quiet", "--threads", "1")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def sample_electra64(tmp_path_factory, sample_tokenized):
    """ELECTRA examples of the sample at 64 tokens, unmasked (the trainer masks)."""
    return build_pretraining(tmp_path_factory, sample_tokenized, "electra64", "--mode", "electra",
                             "--max-seq-length", "64")


def train(data, out, *args, ok=True):
    return run_cli("train", "electra", "--data", data, "--out", out, *FAST, *args, ok=ok)


@pytest.fixture(scope="module")
def short_run(sample_electra64, tmp_path_factory):
    out = tmp_path_factory.mktemp("electra") / "short"
    train(sample_electra64, out, "--max-steps", "8", "--log-every", "1", "--save-every", "4", "--lr", "1e-3",
          "--grad-accum", "2")
    return out


def test_replaced_token_detection_beats_the_all_original_guess(sample_electra64, tmp_path):
    # 40 steps of 16 x 64 tokens (about 20 s on one core) at ELECTRA-Large's 25% masking; with 15% the
    # discriminator needs over a hundred steps to leave the all-original answer (measured)
    out = tmp_path / "run"
    train(sample_electra64, out, "--batch-size", "16", "--max-steps", "40", "--warmup-steps", "5", "--lr", "1e-3",
          "--masked-lm-prob", "0.25", "--eval-rows", "128", "--eval-every", "10", "--log-every", "10")
    evals = [r for r in read_metrics(out / "metrics.jsonl") if "eval_rtd_acc" in r]
    assert [r["step"] for r in evals] == [10, 20, 30, 40]
    first, last = evals[0], evals[-1]
    # about a quarter of the real tokens are replaced (a sample equal to the original counts as original)
    assert 0.18 < last["eval_replaced_share"] < 0.26
    assert last["eval_rtd_baseline_acc"] == pytest.approx(1 - last["eval_replaced_share"])
    assert last["eval_rtd_acc"] > last["eval_rtd_baseline_acc"] + 0.03, evals
    assert last["eval_rtd_loss"] < first["eval_rtd_loss"] and last["eval_mlm_loss"] < first["eval_mlm_loss"]


def _batch(data, n=6):
    from corpusforge.torch import PretrainingDataset, masking_config
    from corpusforge.trainers.electra import ElectraCollator

    ds = PretrainingDataset(str(data))
    collate = ElectraCollator(mask_id=ds.info.special_ids["mask"], masking=masking_config(ds.info, "token"), seed=3)
    return collate([ds[i] for i in range(n)])


def test_both_exports_load_in_transformers_with_our_logits(sample_electra64, short_run):
    from transformers import BertTokenizer, ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

    from corpusforge.trainers.electra import Electra

    ckpt = torch.load(short_run / "checkpoint.pt", weights_only=True)
    ours = Electra(ElectraConfig(**ckpt["discriminator_config"]), ElectraConfig(**ckpt["generator_config"]))
    ours.load_state_dict(ckpt["model"])
    ours.eval()
    disc = ElectraForPreTraining.from_pretrained(short_run / "hf" / "discriminator").eval()
    gen = ElectraForMaskedLM.from_pretrained(short_run / "hf" / "generator").eval()
    assert gen.config.hidden_size == disc.config.hidden_size // 4 == 32  # --generator-size 0.25 of tiny's 128
    b = _batch(sample_electra64)
    inputs = {k: b[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        assert torch.equal(disc(**inputs).logits, ours.discriminator(**inputs).logits)
        assert torch.equal(gen(**inputs).logits, ours.generator(**inputs).logits)
        predicted = b["labels"] != -100
        # the trainer's own path to the generator's logits (predicted positions only) is the same function
        torch.testing.assert_close(ours.generator_logits(*inputs.values(), predicted), gen(**inputs).logits[predicted])
    # one embedding module: the generator's exported embeddings (and its tied output layer) are the discriminator's
    for name, p in disc.electra.embeddings.state_dict().items():
        assert torch.equal(p, gen.electra.embeddings.state_dict()[name])
    assert torch.equal(gen.generator_lm_head.weight, disc.electra.embeddings.word_embeddings.weight)
    tok = BertTokenizer.from_pretrained(short_run / "hf" / "discriminator")
    assert len(tok.vocab) == 21128 and tok.convert_tokens_to_ids("[MASK]") == 103


def test_interrupted_and_resumed_run_gives_the_same_curve(sample_electra64, short_run, tmp_path):
    out = tmp_path / "resumed"
    args = ("--max-steps", "8", "--log-every", "1", "--save-every", "4", "--lr", "1e-3", "--grad-accum", "2")
    train(sample_electra64, out, *args, "--stop-after", "6")  # dies after step 6; the checkpoint is step 4's
    assert "pass --resume" in train(sample_electra64, out, *args, ok=False).output
    train(sample_electra64, out, *args, "--resume")
    want, got = read_metrics(short_run / "metrics.jsonl"), read_metrics(out / "metrics.jsonl")
    drop = ("tokens_per_s", "sequences_per_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in got] == \
        [{k: v for k, v in r.items() if k not in drop} for r in want]  # masks, samples, dropout, data restored
    a = torch.load(short_run / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert "--resume with different --generator-size" in train(sample_electra64, out, *args, "--resume",
                                                               "--generator-size", "0.5", ok=False).output


def test_bad_arguments_fail_with_one_sentence(sample_electra64, sample_tokenized, sample_nsp64, tmp_path):
    def error(data, *args):
        result = train(data, tmp_path / "bad", "--max-steps", "1", *args, ok=False)
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert result.output.strip().splitlines()[-1].startswith("Error: "), result.output
        return result.output

    assert "not a pretraining dataset" in error(sample_tokenized)
    assert "no manifest.json" in error(tmp_path)
    assert "statically masked (token)" in error(sample_nsp64, "--masking", "wwm")
    assert "not in the range" in error(sample_electra64, "--generator-size", "1.5")
    assert "fewer than one step's" in error(sample_electra64, "--batch-size", "100000")
    assert not (tmp_path / "bad").exists()
    # the statically masked nsp data trains as it is (its NSP label is not ELECTRA's)
    train(sample_nsp64, tmp_path / "nsp", "--max-steps", "2")
    assert json.loads((tmp_path / "nsp" / "train_config.json").read_text())["dynamic_masking"] is None
