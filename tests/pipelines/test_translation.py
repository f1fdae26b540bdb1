"""build pretraining --mode translation / tlm end to end from raw translation2019zh-layout pairs (real ones: Django's
zh_Hans catalogs): ids against transformers' BertTokenizerFast, too-long pairs counted, bad records rejected,
determinism on two workers, bad arguments."""
import json

import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from tests.conftest import DATA, ROOT, run_cli

VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
PAIRS_FILE = DATA / "translation" / "django-zh_Hans.json"
TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
SEP, MASK = 102, 103
BAD = ['{"english": "No chinese side here."}', '{"english": "An empty side.", "chinese": ""}', '{"english": "cut']


def build(out, source, mode, *args, ok=True):
    return run_cli("build", "pretraining", "--input", source, "--output", out, "--tokenizer", VOCAB, "--mode", mode,
                   *args, ok=ok)


def manifest(out):
    return json.loads((out / "manifest.json").read_text())


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("data-*.arrow"))}


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """The real pairs: all but the first in one file, the first followed by bad records in another."""
    out = tmp_path_factory.mktemp("pairs") / "raw"
    out.mkdir()
    first, *rest = PAIRS_FILE.read_text(encoding="utf-8").splitlines()
    (out / "pairs.json").write_text("\n".join(rest) + "\n", encoding="utf-8")
    (out / "more.json").write_text("\n".join([first, *BAD]) + "\n", encoding="utf-8")
    # plain text of two sentences: a document, but not a pair
    (out / "notes.txt").write_text("这不是一个翻译对。它是两句普通的话。\n", encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def reference():
    """(chinese ids, english ids) of every good pair, as BertTokenizerFast (Google BERT's ids) tokenizes them."""
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(vocab=str(VOCAB))
    assert tok.vocab_size == 21128
    rows = [json.loads(line) for line in PAIRS_FILE.open(encoding="utf-8")]
    return [(tok(r["chinese"], add_special_tokens=False)["input_ids"],
             tok(r["english"], add_special_tokens=False)["input_ids"]) for r in rows]


@pytest.fixture(scope="module")
def translation(tmp_path_factory, raw):
    out = tmp_path_factory.mktemp("pairs") / "translation"
    build(out, raw, "translation", "--direction", "both", "--max-seq-length", "24", "--num-shards", "2")
    return out


def test_translation_examples_are_the_pairs(translation, reference):
    m = manifest(translation)
    assert verify_dataset(str(translation)) == [] and m["kind"] == "translation"
    table = load_table(str(translation))
    assert table.column_names == ["input_ids", "labels", "source_lang", "target_lang"]
    fits = [(zh, en) for zh, en in reference if max(len(zh), len(en)) + 1 <= 24]
    expected = sorted([(tuple(zh + [SEP]), tuple(en + [SEP]), "zh", "en") for zh, en in fits]
                      + [(tuple(en + [SEP]), tuple(zh + [SEP]), "en", "zh") for zh, en in fits])
    got = sorted((tuple(r["input_ids"]), tuple(r["labels"]), r["source_lang"], r["target_lang"])
                 for r in table.to_pylist())
    assert got == expected
    import datasets

    assert datasets.load_from_disk(str(translation)).to_list() == table.to_pylist()
    acc = m["input"]
    assert acc["read"] == len(reference) + len(BAD) + 1 == acc["kept"] + acc["filtered"] + acc["rejected"]
    assert acc["filtered_by_reason"] == {"pair_too_long": len(reference) - len(fits), "not_a_pair": 1}
    assert acc["rejected_by_reason"] == {"missing_text_field": 1, "empty_side": 1, "malformed_json": 1}
    assert m["statistics"]["pairs_too_long"] == len(reference) - len(fits) and m["params"]["direction"] == "both"


def test_the_same_with_two_workers(tmp_path, raw, translation):
    build(tmp_path / "two", raw, "translation", "--direction", "both", "--max-seq-length", "24", "--num-shards", "2",
          *TWO_WORKERS)
    assert shard_bytes(tmp_path / "two") == shard_bytes(translation)


def test_tlm_from_a_documents_dataset_of_pairs(tmp_path, raw, reference):
    """build documents --side pair keeps each pair as two sentences; tlm masks 15% of each pair jointly."""
    run_cli("build", "documents", "--input", raw, "--side", "pair", "--output", tmp_path / "docs")
    docs = load_table(str(tmp_path / "docs"))
    assert sorted(set(zip(docs.column("source").to_pylist(), map(len, docs.column("sentences").to_pylist())))) == [
        ("plain", 2), ("translation2019zh-pairs", 2)]
    build(tmp_path / "tlm", tmp_path / "docs", "tlm", "--max-seq-length", "64")
    build(tmp_path / "tlm2", tmp_path / "docs", "tlm", "--max-seq-length", "64", *TWO_WORKERS)
    assert shard_bytes(tmp_path / "tlm2") == shard_bytes(tmp_path / "tlm")
    m = manifest(tmp_path / "tlm")
    assert m["kind"] == "tlm" and m["params"]["languages"] == {"en": 0, "zh": 1} and m["params"]["masking"] == "token"
    rows = load_table(str(tmp_path / "tlm")).to_pylist()
    fits = {(tuple(zh), tuple(en)) for zh, en in reference if len(zh) + len(en) + 4 <= 64}
    assert len(rows) == len(fits) == m["input"]["kept"]
    for r in rows:
        ids = list(r["input_ids"])
        for p, label in zip(r["masked_lm_positions"], r["masked_lm_labels"]):
            ids[p] = label
        first = r["position_ids"].index(0, 1)  # the second sentence's first EOS
        zh, en = tuple(ids[1:first - 1]), tuple(ids[first + 1:-1])
        assert (zh, en) in fits and ids[0] == ids[first - 1] == ids[first] == ids[-1] == SEP
        assert r["langs"] == [1] * first + [0] * (len(ids) - first)
        assert len(r["masked_lm_positions"]) == min(20, max(1, round(0.15 * (len(ids) - 4))))


def test_an_input_without_pairs_says_so(tmp_path):
    """Text that is not translation pairs: no dataset, one sentence naming --side pair."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "notes.txt").write_text("这不是一个翻译对。它是两句普通的话。\n\n另一个文档。也是两句。\n", encoding="utf-8")
    result = build(tmp_path / "x", raw, "translation", ok=False)
    assert result.exit_code == 1 and "filtered as not_a_pair (2)" in result.output
    assert "read translation2019zh JSON lines with --side pair" in result.output and not (tmp_path / "x").exists()


@pytest.mark.parametrize("mode, args, message", [
    ("translation", ("--side", "english"), "--mode translation reads translation pairs: use --side pair"),
    ("nsp", ("--side", "pair"), "--side pair reads translation pairs, for --mode translation or tlm"),
    ("translation", ("--masking", "token"), "--mode translation takes no --masking and no --dupe-factor"),
    ("translation", ("--dupe-factor", "2"), "--mode translation takes no --masking and no --dupe-factor"),
    ("tlm", ("--direction", "zh-fr"), "Invalid value for '--direction'"),
    ("tlm", ("--mask-ratio", "0.5"), "--mask-ratio applies to --mode bart and mass only"),
])
def test_bad_arguments_fail_fast(tmp_path, raw, mode, args, message):
    result = build(tmp_path / "x", raw, mode, *args, ok=False)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()
