"""build pretraining end to end on the sample corpus: dataset contract, statistics, determinism, bad arguments."""
import json

import numpy as np
import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from corpusforge.objectives.instances import LABELS, MODES
from tests.conftest import ROOT, SAMPLE, VOCAB, run_cli

TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
BERT_VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"


def build(out, source, *args, ok=True):
    return run_cli("build", "pretraining", "--input", source, "--output", out, *args, ok=ok)


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("data-*.arrow"))}


@pytest.fixture(scope="module")
def nsp(tmp_path_factory, sample_tokenized):
    out = tmp_path_factory.mktemp("pretraining") / "nsp"
    build(out, sample_tokenized, "--dupe-factor", "2", "--num-shards", "3")
    return out


def test_nsp_dataset_contract_and_statistics(nsp, sample_tokenized):
    assert verify_dataset(str(nsp)) == []
    manifest = json.loads((nsp / "manifest.json").read_text())
    table = load_table(str(nsp))
    assert table.column_names == ["input_ids", "token_type_ids", "special_tokens_mask", "word_ids",
                                  "next_sentence_label", "masked_lm_positions", "masked_lm_labels"]
    assert str(table.schema.field("input_ids").type) == "list<item: uint16>"
    stats = manifest["statistics"]
    assert stats["instances"] == table.num_rows == manifest["rows"]
    assert stats["label_share"]["1"] == pytest.approx(0.5, abs=0.03)
    assert stats["shown_as"]["mask"] == pytest.approx(0.8, abs=0.02)
    assert stats["tokens_per_instance"]["p90"] == 128
    tokenized = json.loads((sample_tokenized / "manifest.json").read_text())
    # every tokenized document is accounted for, and the tokenizer's fingerprint travels on
    assert manifest["input"]["read"] == tokenized["rows"] == manifest["input"]["kept"] + manifest["input"]["filtered"]
    assert manifest["tokenizer"] == tokenized["tokenizer"]
    lengths = np.array([len(x) for x in table.column("input_ids").to_pylist()])
    assert lengths.max() <= 128
    # the seeded shuffle spreads one document's copies and pairs across shards
    assert len(manifest["shards"]) == 3 and min(s["rows"] for s in manifest["shards"]) > 0.25 * table.num_rows


def test_inspect_stats(nsp):
    result = run_cli("inspect", nsp, "--stats")
    assert "label_share" in result.output and "masked_per_instance" in result.output


def test_the_same_with_two_workers(tmp_path, nsp, sample_tokenized):
    build(tmp_path / "two", sample_tokenized, "--dupe-factor", "2", "--num-shards", "3", *TWO_WORKERS)
    assert shard_bytes(tmp_path / "two") == shard_bytes(nsp)


def test_span_masking_the_same_with_two_workers(tmp_path, sample_tokenized):
    for name, workers in (("one", ()), ("two", TWO_WORKERS)):
        build(tmp_path / name, sample_tokenized, "--masking", "span", "--num-shards", "2", *workers)
    assert shard_bytes(tmp_path / "one") == shard_bytes(tmp_path / "two")


def test_512_from_the_same_tokenized_dataset(tmp_path, sample_tokenized):
    build(tmp_path / "long", sample_tokenized, "--max-seq-length", "512", "--mode", "sop", "--masking", "wwm",
          "--max-predictions-per-seq", "80")
    table = load_table(str(tmp_path / "long"))
    lengths = np.array([len(x) for x in table.column("input_ids").to_pylist()])
    assert lengths.max() == 512 and (lengths > 128).mean() > 0.3
    stats = json.loads((tmp_path / "long" / "manifest.json").read_text())["statistics"]
    assert stats["masked_share_of_maskable"] == pytest.approx(0.15, abs=0.01)


def test_from_raw_text_with_a_tokenizer(tmp_path):
    out = tmp_path / "raw"
    result = build(out, SAMPLE / "wiki_zh", "--tokenizer", VOCAB, "--mode", "full-sentences", "--masking", "span")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["mode"] == "full-sentences" and "sentence_order_label" not in manifest["schema"]
    assert manifest["statistics"]["unit_words"]["mean"] > 2
    assert manifest["input"]["read"] == manifest["input"]["kept"]
    assert "read" in result.output


@pytest.mark.parametrize("args, message", [
    (("--tokenizer", VOCAB), "brings its own tokenizer"),
    (("--mode", "mlm"), "Invalid value for '--mode'"),
    (("--max-seq-length", "4"), "Invalid value for '--max-seq-length'"),
])
def test_bad_arguments_fail_fast(tmp_path, sample_tokenized, args, message):
    result = build(tmp_path / "x", sample_tokenized, *args, ok=False)
    assert result.exit_code != 0 and message in result.output
    assert not (tmp_path / "x").exists()


def test_documents_input_needs_a_tokenizer(tmp_path, sample_dataset):
    result = build(tmp_path / "x", sample_dataset, ok=False)
    assert result.exit_code == 1 and "needs --tokenizer" in result.output


def recount(out) -> dict:
    """The manifest's statistics recomputed from the shards themselves."""
    manifest = json.loads((out / "manifest.json").read_text())
    table = load_table(str(out))
    lengths = np.array([len(x) for x in table.column("input_ids").to_pylist()])
    predicted = [len(x) for x in table.column("masked_lm_positions").to_pylist()]
    special = sum(sum(x) for x in table.column("special_tokens_mask").to_pylist())
    mask_id = manifest["special_ids"]["mask"]
    shown_mask = sum(int((np.array(ids)[pos] == mask_id).sum()) for ids, pos in
                     zip(table.column("input_ids").to_pylist(), table.column("masked_lm_positions").to_pylist()))
    out = {"instances": len(lengths), "tokens": int(lengths.sum()),
           "tokens_per_instance": {"mean": round(lengths.mean(), 3),
                                   "p50": int(np.quantile(lengths, 0.5, method="inverted_cdf")),
                                   "p90": int(np.quantile(lengths, 0.9, method="inverted_cdf")),
                                   "share_at_max_length": round(float((lengths == manifest["params"]["max_seq_length"])
                                                                      .mean()), 4)},
           "masked_per_instance": round(sum(predicted) / len(lengths), 3),
           "masked_share_of_maskable": round(sum(predicted) / (lengths.sum() - special), 4),
           "shown_mask": round(shown_mask / sum(predicted), 4)}
    label = LABELS.get(manifest["params"]["mode"])
    if label:
        out["label_share"] = {"0": round(1 - np.mean(table.column(label).to_pylist()), 4),
                              "1": round(np.mean(table.column(label).to_pylist()), 4)}
    return out


@pytest.mark.parametrize("mode", MODES)
def test_statistics_are_sums_over_the_shards(tmp_path, mode):
    """From raw text (tokenized in the same job, whose token count must not leak into the instances')."""
    out = tmp_path / mode
    build(out, SAMPLE / "wiki_zh", "--tokenizer", BERT_VOCAB, "--mode", mode, "--dupe-factor", "2", "--masking", "span")
    stats = json.loads((out / "manifest.json").read_text())["statistics"]
    expected = recount(out)
    assert stats["shown_as"]["mask"] == expected.pop("shown_mask")
    assert {k: stats[k] for k in expected} == expected
    assert stats["tokens_per_instance"]["mean"] <= 128


def shuffled_vocab(tmp_path, drop=()) -> tuple:
    """A WordPiece vocab that is not BERT's: bert-base-chinese's ordinary entries, specials moved
    ([MASK] = 7, [CLS] = 1000, ...), [unused*] gone."""
    lines = BERT_VOCAB.read_text(encoding="utf-8").split("\n")
    ordinary = [t for t in lines if t and not (t.startswith("[") and t.endswith("]")) and t not in ("<S>", "<T>")]
    for at, token in [(7, "[MASK]"), (500, "[UNK]"), (1000, "[CLS]"), (2000, "[SEP]"), (len(ordinary), "[PAD]")]:
        if token not in drop:
            ordinary.insert(at, token)
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(ordinary) + "\n", encoding="utf-8")
    return path, ordinary


def test_ids_come_from_the_tokenizer(tmp_path):
    """Static masking and the dynamic-masking collator use the given vocabulary's [MASK] and draw
    random replacements from its non-special ids."""
    from corpusforge.torch import IGNORE, PretrainingCollator, PretrainingDataset, masking_config

    vocab, lines = shuffled_vocab(tmp_path)
    mask_id = lines.index("[MASK]")
    specials = {lines.index(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")}
    build(tmp_path / "static", SAMPLE / "wiki_zh", "--tokenizer", vocab, "--dupe-factor", "2")
    table = load_table(str(tmp_path / "static"))
    shown, labels = [], []
    for ids, pos, lab in zip(*(table.column(c).to_pylist() for c in
                               ("input_ids", "masked_lm_positions", "masked_lm_labels"))):
        shown += [ids[p] for p in pos]
        labels += lab
    shown, labels = np.array(shown), np.array(labels)
    assert (table.column("input_ids").to_pylist()[0][0], lines[mask_id]) == (lines.index("[CLS]"), "[MASK]")
    assert (shown == mask_id).mean() == pytest.approx(0.8, abs=0.02)
    replaced = shown[(shown != mask_id) & (shown != labels)]
    assert len(replaced) > 300 and not specials & set(replaced.tolist())
    assert replaced.max() > 0.8 * len(lines) and replaced.min() < 0.2 * len(lines)  # over the whole vocabulary

    build(tmp_path / "dynamic", SAMPLE / "wiki_zh", "--tokenizer", vocab, "--masking", "none")
    ds = PretrainingDataset(str(tmp_path / "dynamic"))
    batch = PretrainingCollator(masking=masking_config(ds.info, "span"), seed=3)([ds[i] for i in range(64)])
    predicted = batch["labels"] != IGNORE
    seen = batch["input_ids"][predicted]
    assert predicted.sum() > 500 and (seen == mask_id).float().mean() == pytest.approx(0.8, abs=0.1)
    assert not specials & set(seen[(seen != mask_id) & (seen != batch["labels"][predicted])].tolist())


def test_a_vocabulary_without_mask_is_refused(tmp_path):
    vocab, _ = shuffled_vocab(tmp_path, drop=("[MASK]",))
    result = build(tmp_path / "x", SAMPLE / "wiki_zh", "--tokenizer", vocab, ok=False)
    assert result.exit_code == 1 and "the vocabulary has no mask token" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()
