"""build pretraining --mode t5 end to end on the sample corpus: exact lengths, reconstruction, statistics,
determinism, the SentencePiece sentinels of build vocab, bad input."""
import json
import shutil
from collections import Counter

import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from tests.conftest import ROOT, SAMPLE, run_cli

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
SEP = 102
SENTINELS = set(range(1, 100))  # bert-base-chinese's [unused1..99]
# T5's random_spans_helper (tests/objectives/test_t5.py transcribes it): inputs -> (raw tokens, targets)
T5_LENGTHS = {128: (141, 29), 512: (568, 114)}


def build(out, source, *args, ok=True):
    return run_cli("build", "pretraining", "--input", source, "--output", out, "--mode", "t5", *args, ok=ok)


def manifest(out):
    return json.loads((out / "manifest.json").read_text())


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("data-*.arrow"))}


def rows(out):
    table = load_table(str(out))
    return list(zip(table.column("input_ids").to_pylist(), table.column("labels").to_pylist()))


def reconstruct(inputs, labels, sentinels, eos):
    """The raw block: each sentinel of the inputs replaced by what follows it in the labels."""
    assert inputs[-1] == eos and labels[-1] == eos and labels[0] in sentinels
    spans, current = {}, None
    for t in labels[:-1]:
        if t in sentinels:
            current = spans.setdefault(t, [])
        else:
            current.append(t)
    raw = [t for i in inputs[:-1] for t in (spans.pop(i) if i in sentinels else [i])]
    assert not spans
    return raw


@pytest.fixture(scope="module")
def tokenized(tmp_path_factory):
    out = tmp_path_factory.mktemp("t5") / "tokenized"
    run_cli("build", "tokenized", "--input", SAMPLE, "--tokenizer", VOCAB, "--output", out)
    return out


@pytest.fixture(scope="module")
def t5_512(tmp_path_factory, tokenized):
    out = tmp_path_factory.mktemp("t5") / "t5-512"
    build(out, tokenized, "--max-seq-length", "512", "--dupe-factor", "2", "--num-shards", "2")
    return out


def document_tokens(tokenized) -> Counter:
    """Brute-force recount: every token of every document of the tokenized dataset."""
    return Counter(t for doc in load_table(str(tokenized)).column("input_ids").to_pylist() for s in doc for t in s)


@pytest.mark.parametrize("length", [128, 512])
def test_exact_lengths_and_every_token_once_per_copy(tmp_path, tokenized, t5_512, length):
    """Inputs of exactly --max-seq-length (128 is the default) and T5's target length, but for each bucket
    copy's last block; the examples put back together are every token of the corpus once per copy."""
    out = t5_512
    if length == 128:
        out = tmp_path / "t5-128"
        build(out, tokenized)
    m = manifest(out)
    copies = m["params"]["dupe_factor"]
    assert verify_dataset(str(out)) == [] and m["kind"] == "t5" and m["params"]["masking"] == "none"
    raw_length, targets_length = T5_LENGTHS[length]
    assert (m["params"]["raw_length"], m["params"]["inputs_length"], m["params"]["targets_length"]) == (
        raw_length, length, targets_length)
    table = load_table(str(out))
    assert table.column_names == ["input_ids", "labels"] and str(table.schema.field("labels").type) == "list<item: uint16>"
    examples = rows(out)
    full = [(i, t) for i, t in examples if len(i) == length]
    assert len(examples) - len(full) <= m["params"]["buckets"] * copies
    assert all(len(t) == targets_length for _, t in full) and all(len(i) <= length for i, _ in examples)
    raws = [reconstruct(i, t, SENTINELS, SEP) for i, t in examples]
    assert all(len(r) == raw_length for r, (i, _) in zip(raws, examples) if len(i) == length)
    assert Counter(t for r in raws for t in r) == Counter({t: copies * n for t, n in document_tokens(tokenized).items()})
    noise = sum(len(t) - 1 - sum(x in SENTINELS for x in t) for _, t in examples)
    spans = sum(sum(x in SENTINELS for x in t) for _, t in examples)
    raw = sum(map(len, raws))
    assert abs(noise / raw - 0.15) <= 0.005 and abs(noise / spans - 3) <= 0.1
    stats = m["statistics"]
    assert stats == {"examples": len(examples), "raw_tokens": raw,
                     "full_block_share": round(len(full) / len(examples), 4),
                     "noise_share": round(noise / raw, 4), "spans_per_example": round(spans / len(examples), 3),
                     "mean_span_length": round(noise / spans, 3),
                     "input_tokens_per_example": round(sum(len(i) for i, _ in examples) / len(examples), 3),
                     "target_tokens_per_example": round(sum(len(t) for _, t in examples) / len(examples), 3)}
    assert run_cli("inspect", out, "--stats").output.startswith("examples:")


def test_the_same_with_two_workers_and_replaced_with_overwrite(tmp_path, t5_512, tokenized):
    args = ("--max-seq-length", "512", "--dupe-factor", "2", "--num-shards", "2")
    build(tmp_path / "two", tokenized, *args, *TWO_WORKERS)
    assert shard_bytes(tmp_path / "two") == shard_bytes(t5_512)
    build(tmp_path / "two", tokenized, *args, "--overwrite")  # provably ours: replaced, same bytes on one worker
    assert shard_bytes(tmp_path / "two") == shard_bytes(t5_512)


def test_sentinels_of_a_trained_sentencepiece_model(tmp_path):
    """build vocab -m unigram reserves <extra_id_0..99> as control pieces 5..104, so text spelling one out
    stays text; --mode t5 over raw text with that model uses them, in span order."""
    import sentencepiece as spm

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE / "plain", corpus)
    (corpus / "forged.txt").write_text("A line that spells out <extra_id_0> and <extra_id_1> as plain text.\n",
                                       encoding="utf-8")
    run_cli("build", "vocab", "--input", corpus, "--model", "unigram", "--vocab-size", "600", "--output", tmp_path / "v")
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "v" / "spiece.model"))
    assert sp.get_piece_size() == 600
    assert [sp.id_to_piece(i) for i in range(5, 105)] == [f"<extra_id_{i}>" for i in range(100)]
    assert all(sp.is_control(i) for i in range(2, 105)) and not sp.is_control(105)
    assert manifest(tmp_path / "v")["params"]["extra_ids"] == 100
    out = tmp_path / "t5"
    build(out, corpus, "--tokenizer", tmp_path / "v", "--max-seq-length", "32")  # the folder: its spiece.model
    m = manifest(out)
    assert m["params"]["eos_id"] == 3 and m["params"]["sentinel_ids"] == list(range(5, 105))  # [SEP]: no </s>
    sentinels = set(range(5, 105))
    raws = [reconstruct(i, t, sentinels, 3) for i, t in rows(out)]
    tokens = [t for r in raws for t in r]
    assert not sentinels & set(tokens) and len(tokens) == m["statistics"]["raw_tokens"]
    assert sum(len(sp.encode(line)) for f in sorted(corpus.iterdir())
               for line in f.read_text(encoding="utf-8").splitlines() if line.strip()) == len(tokens)


def test_extra_ids_zero_gives_the_albert_layout_and_t5_refuses_it(tmp_path):
    run_cli("build", "vocab", "--input", SAMPLE / "plain", "--model", "unigram", "--vocab-size", "500",
            "--extra-ids", "0", "--output", tmp_path / "v")
    result = build(tmp_path / "x", SAMPLE / "plain", "--tokenizer", tmp_path / "v" / "spiece.model", ok=False)
    assert result.exit_code == 1 and result.output.strip().splitlines()[-1] == (
        "Error: a block of 128 inputs has 7 noise spans, but the vocabulary has 0 sentinel tokens (<extra_id_N> or "
        "[unusedN]); train one with `corpusforge build vocab -m unigram --extra-ids 100`")
    assert not (tmp_path / "x").exists()


def test_the_sentinels_need_the_tokenizer_file(tmp_path):
    vocab = tmp_path / "vocab.txt"
    shutil.copy(VOCAB, vocab)
    run_cli("build", "tokenized", "--input", SAMPLE / "plain", "--tokenizer", vocab, "--output", tmp_path / "tok")
    vocab.unlink()
    result = build(tmp_path / "x", tmp_path / "tok", "--eos-token", "102", ok=False)
    assert result.exit_code == 1 and "so the sentinel tokens cannot be looked up" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()


@pytest.mark.parametrize("args, message", [
    (("--masking", "span"), "--mode t5 takes neither --masking"),
    (("--no-cross-document",), "--mode t5 takes neither --masking"),
    (("--eos-token", "[unused1]"), "the end-of-sequence id 1 is one of the sentinel tokens"),
    (("--max-seq-length", "8192"), "has 455 noise spans, but the vocabulary has 99 sentinel tokens"),
    (("--mean-noise-span-length", "0.5"), "Invalid value for '--mean-noise-span-length'"),
])
def test_bad_arguments_fail_fast(tmp_path, tokenized, args, message):
    result = build(tmp_path / "x", tokenized, *args, ok=False)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_extra_ids_are_for_unigram_only(tmp_path):
    result = run_cli("build", "vocab", "--input", SAMPLE / "plain", "--model", "bpe", "--extra-ids", "10",
                     "--output", tmp_path / "v", ok=False)
    assert result.exit_code == 1 and "--extra-ids applies to -m unigram only" in result.output
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize("mode", ["t5", "causal"])
def test_no_word_segmentation_and_the_same_bytes(tmp_path, monkeypatch, mode):
    """t5 and causal never read word ids, so their raw input is not segmented (and SentencePiece maps no
    offsets); the shards must equal byte for byte those of the segmenting path every mode took before."""
    import corpusforge.pipelines.pretraining as pretraining

    tokenizer = VOCAB
    if mode == "t5":  # a SentencePiece model: the path whose offsets are skipped
        run_cli("build", "vocab", "--input", SAMPLE / "wiki_zh", "--model", "unigram", "--vocab-size", "6000",
                "--output", tmp_path / "v")
        tokenizer = tmp_path / "v"
    args = ("--tokenizer", tokenizer, "--mode", mode, "--max-seq-length", "128")
    fast, segmented = tmp_path / "fast", tmp_path / "segmented"
    run_cli("build", "pretraining", "--input", SAMPLE / "wiki_zh", "--output", fast, *args)
    monkeypatch.setattr(pretraining, "WORDLESS_MODES", ())
    run_cli("build", "pretraining", "--input", SAMPLE / "wiki_zh", "--output", segmented, *args)
    assert shard_bytes(fast) and shard_bytes(fast) == shard_bytes(segmented)
    assert (fast / "manifest.json").read_bytes() == (segmented / "manifest.json").read_bytes()
