"""train seq2seq on t5 and bart datasets of the sample corpus: loss falls, padding changes no loss, exact
resume, the export loads in transformers (T5ForConditionalGeneration / BartForConditionalGeneration /
AutoModelForSeq2SeqLM, the tokenizer with AutoTokenizer) and generates, bad arguments fail with one sentence."""
import json
import math

import numpy as np
import pytest
import torch

from tests.conftest import DATA, SAMPLE, run_cli
from corpusforge.trainers.common import read_metrics

SPM = DATA / "seq2seq" / "spm.model"  # 3,000 unigram pieces, <extra_id_0..99> = 5..104 (tests/data/seq2seq)
V = 3000
FAST = ("--preset", "tiny", "--batch-size", "16", "--threads", "1", "--quiet")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    out = tmp_path_factory.mktemp("s2s") / "tokenized"
    run_cli("build", "tokenized", "--input", SAMPLE / "wiki_zh", "--input", SAMPLE / "news2016zh", "--tokenizer", SPM,
            "--output", out)
    return out


@pytest.fixture(scope="module")
def t5_data(tokenized):
    out = tokenized.parent / "t5"
    run_cli("build", "pretraining", "--input", tokenized, "--output", out, "--mode", "t5", "--max-seq-length", "32")
    return out


@pytest.fixture(scope="module")
def bart_data(tokenized):
    out = tokenized.parent / "bart"
    run_cli("build", "pretraining", "--input", tokenized, "--output", out, "--mode", "bart", "--max-seq-length", "32")
    return out


def train(data, out, *args, ok=True):
    return run_cli("train", "seq2seq", "--data", data, "--out", out, *FAST, *args, ok=ok)


def run(data, tmp_path_factory, name):
    # 40 steps of 16 examples (seconds on one core): from ln(3000) = 8.0 the loss must lose 1.5 nats
    out = tmp_path_factory.mktemp("runs") / name
    train(data, out, "--max-steps", "40", "--lr", "3e-3", "--warmup-steps", "4", "--log-every", "10",
          "--eval-rows", "32", "--eval-every", "20")
    return out


@pytest.fixture(scope="module")
def t5_run(t5_data, tmp_path_factory):
    return run(t5_data, tmp_path_factory, "t5")


@pytest.fixture(scope="module")
def bart_run(bart_data, tmp_path_factory):
    return run(bart_data, tmp_path_factory, "bart")


def rows(data, n):
    from corpusforge.torch import Seq2SeqDataset

    dataset = Seq2SeqDataset(str(data))
    return [dataset[i] for i in range(n)]


def one_by_one_loss(model, examples) -> float:
    """Token-weighted mean loss of the examples fed one at a time, unpadded, with the model's own loss."""
    total = count = 0
    with torch.no_grad():
        for r in examples:
            labels = torch.tensor(r["labels"].astype(np.int64))[None]
            loss = model(input_ids=torch.tensor(r["input_ids"].astype(np.int64))[None], labels=labels).loss
            total, count = total + loss.item() * labels.numel(), count + labels.numel()
    return total / count


@pytest.mark.parametrize("name", ["t5_run", "bart_run"])
def test_loss_falls_on_real_text(name, request):
    out = request.getfixturevalue(name)
    records = read_metrics(out / "metrics.jsonl")
    losses = [r for r in records if "loss" in r]
    assert [r["step"] for r in losses] == [10, 20, 30, 40]
    assert all({"loss", "ppl", "lr", "tokens_per_s", "sequences_per_s"} <= set(r) for r in losses)
    assert losses[0]["loss"] < math.log(V) + 0.5
    assert losses[-1]["loss"] < math.log(V) - 1.5, [r["loss"] for r in losses]
    evals = [r for r in records if "eval_loss" in r]
    assert [r["step"] for r in evals] == [20, 40] and evals[1]["eval_loss"] < evals[0]["eval_loss"]
    config = json.loads((out / "train_config.json").read_text())
    assert config["train"]["arch"] == name[:-4] and config["world_size"] == 1


@pytest.mark.parametrize("name,data,cls", [("t5_run", "t5_data", "T5ForConditionalGeneration"),
                                           ("bart_run", "bart_data", "BartForConditionalGeneration")])
def test_export_loads_computes_the_held_out_loss_and_generates(name, data, cls, request):
    import transformers
    from transformers import AutoModelForSeq2SeqLM

    out, data = request.getfixturevalue(name), request.getfixturevalue(data)
    ckpt = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)  # no code from the file
    model = getattr(transformers, cls).from_pretrained(out / "hf").eval()
    auto = AutoModelForSeq2SeqLM.from_pretrained(out / "hf").eval()
    assert type(auto).__name__ == cls
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in ckpt["model"].items())
    # eval_loss at step 40: the mean over the 32 held-out examples' target tokens, padded in batches of 16;
    # here each example alone, so padding, masks and the decoder's shifted inputs are checked at once
    evals = [r for r in read_metrics(out / "metrics.jsonl") if "eval_loss" in r]
    assert evals[-1]["eval_loss"] == pytest.approx(one_by_one_loss(model, rows(data, 32)), rel=1e-4)
    example = rows(data, 1)[0]
    inputs = torch.tensor(example["input_ids"].astype(np.int64))[None]
    generated = auto.generate(input_ids=inputs, max_new_tokens=12, do_sample=False)
    start = model.config.decoder_start_token_id
    assert generated.shape[0] == 1 and 2 <= generated.shape[1] <= 13 and generated[0, 0] == start
    assert int(generated.max()) < V


def test_t5_export_has_t5s_tokenizer_with_the_datasets_sentinels(t5_run, t5_data):
    """AutoTokenizer reads the export with T5's input format: wiki text (<unk> pieces included) encodes as the
    SentencePiece model itself encodes it, then the dataset's EOS; <extra_id_N> are the manifest's sentinels,
    skipped on decode."""
    import sentencepiece as spm
    from transformers import AutoTokenizer

    export = t5_run / "hf"
    assert (export / "spiece.model").read_bytes() == SPM.read_bytes() and (export / "tokenizer.json").exists()
    tok = AutoTokenizer.from_pretrained(str(export))
    params = json.loads((t5_data / "manifest.json").read_text())["params"]
    assert len(tok) == V and tok.eos_token_id == params["eos_id"] == 3 and tok.pad_token_id == 0
    assert tok.convert_tokens_to_ids([f"<extra_id_{i}>" for i in range(100)]) == params["sentinel_ids"]
    sp = spm.SentencePieceProcessor(model_file=str(SPM))
    lines = (SAMPLE / "wiki_zh" / "AA" / "wiki_00").read_text(encoding="utf-8").splitlines()[:5]
    sentences = [s for line in lines for s in json.loads(line)["text"].split("\n") if s.strip()]
    assert len(sentences) >= 10  # paragraphs of five articles
    for sentence in sentences:
        assert tok(sentence)["input_ids"] == sp.encode(sentence) + [3]
    assert sum(sp.encode(s).count(sp.unk_id()) for s in sentences) > 0
    ids, sentinel = sp.encode(sentences[1]), params["sentinel_ids"][0]
    assert tok.decode([sentinel]) == "<extra_id_0>" and tok.decode(ids[:5]) == sp.decode(ids[:5])
    assert tok.decode([sentinel, *ids, 3], skip_special_tokens=True) == tok.decode(ids, skip_special_tokens=True)


def test_padding_and_the_models_shift_change_no_loss(t5_data, bart_data):
    """Seq2SeqCollator's batch: padding is -100 in labels and 0 in attention_mask, so a padded batch's loss
    is its examples' losses fed alone (brute force); the model's decoder inputs are the labels shifted right."""
    from corpusforge.torch import IGNORE, Seq2SeqCollator, Seq2SeqDataset
    from corpusforge.trainers.seq2seq import build_model, model_config, special_tokens

    for data, arch in ((t5_data, "t5"), (bart_data, "bart")):
        dataset = Seq2SeqDataset(str(data))
        examples = [dataset[i] for i in range(len(dataset)) if len(dataset[i]["input_ids"]) < 30][:3]
        examples += [dataset[i] for i in range(8)]
        assert len({len(r["labels"]) for r in examples}) > 1  # lengths differ: padding happens
        ids = special_tokens(dataset.info)
        torch.manual_seed(0)
        model = build_model(model_config(arch, "tiny", V, 64, ids, 0.0)).eval()
        batch = Seq2SeqCollator(ids["pad"])(examples)
        assert batch["input_ids"].shape[1] % 8 == 0 and "decoder_input_ids" not in batch
        for r, ids_row, mask, labels in zip(examples, batch["input_ids"], batch["attention_mask"], batch["labels"]):
            n, m = len(r["input_ids"]), len(r["labels"])
            assert ids_row[:n].tolist() == r["input_ids"].tolist() and set(ids_row[n:].tolist()) <= {ids["pad"]}
            assert mask.tolist() == [1] * n + [0] * (len(mask) - n)
            assert labels[:m].tolist() == r["labels"].tolist() and set(labels[m:].tolist()) <= {IGNORE}
        shifted = model.prepare_decoder_input_ids_from_labels(labels=batch["labels"])
        start = model.config.decoder_start_token_id
        assert start == (0 if arch == "t5" else 3)  # T5: pad; BART: EOS ([SEP] here)
        for r, row in zip(examples, shifted):
            assert row[:len(r["labels"])].tolist() == [start, *r["labels"][:-1].tolist()]
        with torch.no_grad():
            padded = model(**batch).loss.item()
        assert padded == pytest.approx(one_by_one_loss(model, examples), rel=1e-5)


def test_interrupted_and_resumed_run_gives_the_same_loss_curve(t5_data, tmp_path):
    args = ("--max-steps", "8", "--log-every", "1", "--save-every", "4", "--lr", "1e-3", "--grad-accum", "2",
            "--batch-size", "4")
    train(t5_data, tmp_path / "full", *args)
    out = tmp_path / "resumed"
    train(t5_data, out, *args, "--stop-after", "6")  # dies after step 6; the checkpoint is step 4's
    assert not (out / "hf").exists()
    result = train(t5_data, out, *args, ok=False)
    assert result.exit_code == 1 and "pass --resume" in result.output
    changed = train(t5_data, out, *args, "--arch", "bart", "--resume", ok=False)
    assert changed.exit_code == 1 and "--resume with different --arch" in changed.output
    train(t5_data, out, *args, "--resume")
    want, got = read_metrics(tmp_path / "full" / "metrics.jsonl"), read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in got] == list(range(1, 9))
    assert got == [{**r, "tokens_per_s": m["tokens_per_s"], "sequences_per_s": m["sequences_per_s"]}
                   for r, m in zip(want, got)]
    from safetensors.torch import load_file

    a, b = load_file(tmp_path / "full" / "hf" / "model.safetensors"), load_file(out / "hf" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_ddp_on_cpu_with_torchrun_resumes_exactly(bart_data, tmp_path):
    """Two processes (gloo): each rank's share of the data and dropout stream survive an interruption."""
    import os
    import subprocess
    import sys

    def torchrun(out, *args):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "corpusforge.cli", "train", "seq2seq", "--data", str(bart_data), "--out", str(out), *FAST,
               "--batch-size", "4", "--max-steps", "4", "--log-every", "1", "--save-every", "2", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                              timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]

    torchrun(tmp_path / "full")
    torchrun(tmp_path / "cut", "--stop-after", "3")
    torchrun(tmp_path / "cut", "--resume")
    want, got = (read_metrics(tmp_path / run / "metrics.jsonl") for run in ("full", "cut"))
    assert [r["step"] for r in want] == [1, 2, 3, 4] and [r["loss"] for r in got] == [r["loss"] for r in want]
    assert json.loads((tmp_path / "full" / "train_config.json").read_text())["world_size"] == 2


def test_export_hf_writes_the_checkpoint_as_the_run_did(t5_run, tmp_path):
    result = run_cli("export", "hf", t5_run / "checkpoint.pt", "--out", tmp_path / "hf")
    assert "T5ForConditionalGeneration layout, step 40" in result.output
    for name in ("config.json", "model.safetensors", "spiece.model", "tokenizer_config.json"):
        assert (tmp_path / "hf" / name).read_bytes() == (t5_run / "hf" / name).read_bytes(), name


def test_bad_arguments_fail_with_one_sentence(t5_data, tokenized, tmp_path):
    for args, message in [(("--data", tokenized), "is a tokenized dataset; an encoder-decoder reads one of kind t5"),
                          (("--data", tmp_path), "is not a corpusforge dataset"),
                          (("--data", t5_data, "--batch-size", "100000"), "fewer than one step's"),
                          (("--data", t5_data, "--eval-every", "5"), "--eval-every needs --eval-rows"),
                          (("--data", t5_data, "--tokenizer", tmp_path / "none.model"), "does not exist"),
                          (("--data", t5_data, "--tokenizer", SAMPLE.parent / "vocab" / "bert-base-chinese-vocab.txt"),
                           "is not the vocabulary the dataset was tokenized with")]:
        result = run_cli("train", "seq2seq", "--out", tmp_path / "x", "--quiet", *args, ok=False)
        assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    forged = tmp_path / "forged.pt"
    torch.save({"model_config": {"model_type": "t5"}, "model": {}, "data": {}, "step": 1, "x": object()}, forged)
    result = run_cli("export", "hf", forged, ok=False)
    assert result.exit_code == 1 and "loading it would run code from the file" in result.output


def test_mass_trains_the_decoder_on_the_fragment_at_its_positions(tokenized, tmp_path):
    """MASS data brings its decoder inputs and the fragment's positions in the segment; BART's decoder is fed
    those positions: the held-out loss equals the exported model's with the positions put in by hand
    (token embedding + position embedding of the fragment's positions, in place of 0, 1, ...)."""
    from transformers import BartForConditionalGeneration

    data = tmp_path / "mass"
    run_cli("build", "pretraining", "--input", tokenized, "--output", data, "--mode", "mass", "--max-seq-length", "32")
    out = tmp_path / "run"
    train(data, out, "--max-steps", "20", "--lr", "3e-3", "--warmup-steps", "2", "--log-every", "10",
          "--eval-rows", "16", "--eval-every", "20")
    records = read_metrics(out / "metrics.jsonl")
    assert json.loads((out / "train_config.json").read_text())["train"]["arch"] == "bart"
    assert records[-2]["loss"] < math.log(V) - 1.0, records
    model = BartForConditionalGeneration.from_pretrained(out / "hf").eval()
    decoder = model.model.decoder
    total = count = 0
    shifted = 0
    with torch.no_grad():
        for r in rows(data, 16):
            ids, dec, labels, pos = (torch.tensor(r[c].astype(np.int64))[None] for c in
                                     ("input_ids", "decoder_input_ids", "labels", "decoder_position_ids"))
            shifted += int(pos[0, 0] > 0)
            table = decoder.embed_positions.weight
            embeds = decoder.embed_tokens(dec) + table[pos + 2] - table[torch.arange(dec.shape[1]) + 2]
            loss = model(input_ids=ids, decoder_inputs_embeds=embeds, labels=labels).loss
            total, count = total + loss.item() * labels.numel(), count + labels.numel()
    assert shifted > 0  # fragments that do not start the segment: the positions matter
    assert records[-1]["eval_loss"] == pytest.approx(total / count, rel=1e-4)


def test_translation_pairs_train_and_translate(tmp_path):
    """Real translation2019zh-layout pairs (tests/data/translation: Django's zh_Hans catalog), both directions;
    the export's BertTokenizer feeds generate directly."""
    pairs = DATA / "translation" / "django-zh_Hans.json"
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    vocab = SAMPLE.parent / "vocab" / "bert-base-chinese-vocab.txt"
    data = tmp_path / "translation"
    run_cli("build", "pretraining", "--input", pairs, "--output", data, "--mode", "translation", "--tokenizer", vocab,
            "--direction", "both", "--max-seq-length", "64")
    out = tmp_path / "run"
    run_cli("train", "seq2seq", "--data", data, "--out", out, "--preset", "tiny", "--batch-size", "8", "--threads", "1",
            "--quiet", "--max-steps", "20", "--lr", "3e-3", "--warmup-steps", "2", "--log-every", "10",
            "--eval-rows", "16", "--eval-every", "20")
    records = read_metrics(out / "metrics.jsonl")
    assert json.loads((out / "train_config.json").read_text())["train"]["arch"] == "t5"
    # 20 steps over 264 examples with 21,128 output classes: the loss falls, not far
    assert records[0]["loss"] < math.log(21128) and records[1]["loss"] < records[0]["loss"] - 0.2, records
    assert records[-1]["eval_loss"] < math.log(21128) - 0.5
    model = AutoModelForSeq2SeqLM.from_pretrained(out / "hf").eval()
    assert records[-1]["eval_loss"] == pytest.approx(one_by_one_loss(model, rows(data, 16)), rel=1e-4)
    tok = AutoTokenizer.from_pretrained(out / "hf")
    inputs = tok(["输入一个有效的域名。"], return_tensors="pt")  # no token_type_ids (generate would refuse them)
    generated = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert generated[0, 0] == 0 and int(generated.max()) < 21128
