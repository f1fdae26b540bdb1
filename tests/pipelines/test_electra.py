"""build pretraining --mode electra on the sample wiki + news text: the packing's figures match those of
google-research/electra's own ExampleBuilder on the same text (tests/data/electra/reference.json, made by
make_reference.py beside it), the dataset contract, every token accounted for, two workers, bad input."""
import json

import numpy as np
import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from tests.conftest import DATA, SAMPLE, VOCAB, run_cli

TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
TEXT = ("--input", SAMPLE / "wiki_zh", "--input", SAMPLE / "news2016zh", "--tokenizer", VOCAB)
REFERENCE = json.loads((DATA / "electra" / "reference.json").read_text(encoding="utf-8"))


def build(out, *args, ok=True):
    return run_cli("build", "pretraining", *TEXT, "--output", out, "--mode", "electra", *args, ok=ok)


@pytest.fixture(scope="module")
def electra(tmp_path_factory):
    # ten copies (Google's dupe factor), each packed with its own draws: about 23,000 examples, so the
    # shares below carry a sampling error of about 0.003 and the length distribution's KS distance 0.006
    out = tmp_path_factory.mktemp("electra") / "electra"
    build(out, "--dupe-factor", "10", "--num-shards", "2")
    return out


def segments(table):
    """Per row: (one segment?, first segment's tokens, content tokens)."""
    types = table.column("token_type_ids").to_pylist()
    special = table.column("special_tokens_mask").to_pylist()
    one = np.array([not any(t) for t in types])
    first = np.array([len(t) - sum(t) - 2 for t in types])  # [CLS] A [SEP]: the tokens of type 0 but two
    content = np.array([len(s) - sum(s) for s in special])
    return one, first, content


def test_the_figures_match_electras_own_builder(electra):
    table = load_table(str(electra))
    one, first, _ = segments(table)
    stats = json.loads((electra / "manifest.json").read_text())["statistics"]["electra"]
    assert REFERENCE["max_seq_length"] == 128
    assert one.mean() == pytest.approx(REFERENCE["one_segment_share"], abs=0.02)
    # not observable in a row: the builder's tally, against the reference's count of its random targets
    assert stats["random_target_share"] == pytest.approx(REFERENCE["random_target_share"], abs=0.02)
    # the first segment's length where there are two: the largest gap between the two distribution functions
    ref_counts = np.zeros(128)
    for length, count in REFERENCE["first_segment_tokens"].items():
        ref_counts[int(length)] = count
    ours = np.bincount(first[~one], minlength=128)
    ks = np.abs(np.cumsum(ours) / ours.sum() - np.cumsum(ref_counts) / ref_counts.sum()).max()
    assert ks <= 0.02, ks
    assert first[~one].mean() == pytest.approx((np.arange(128) * ref_counts).sum() / ref_counts.sum(), rel=0.02)


def test_dataset_contract_and_statistics(electra):
    assert verify_dataset(str(electra)) == []
    manifest = json.loads((electra / "manifest.json").read_text())
    table = load_table(str(electra))
    assert table.column_names == ["input_ids", "token_type_ids", "special_tokens_mask", "word_ids",
                                  "masked_lm_positions", "masked_lm_labels"]  # no pair label
    assert manifest["kind"] == "pretraining" and manifest["params"]["masking"] == "none"  # the trainer masks
    assert all(len(p) == 0 for p in table.column("masked_lm_positions").to_pylist())
    ids = table.column("input_ids").to_pylist()
    assert max(map(len, ids)) == 128 and all(r[0] == 101 and r[-1] == 102 for r in ids)  # [CLS] ... [SEP]
    one, first, content = segments(table)
    stats = manifest["statistics"]
    electra_stats = stats["electra"]
    assert stats["instances"] == table.num_rows == manifest["rows"]
    assert electra_stats["one_segment_share"] == round(one.mean(), 4)
    assert electra_stats["first_segment_tokens"]["mean"] == round(first[~one].mean(), 3)
    assert electra_stats["first_segment_tokens"]["p50"] == int(np.sort(first[~one])[(len(first[~one]) - 1) // 2])
    # a single-segment draw puts everything in the first segment; one segment also comes from short texts
    assert 0.09 <= electra_stats["single_segment_draw_share"] <= 0.11 < electra_stats["one_segment_share"]
    # nothing lost unseen: each copy holds every token of the text but those ELECTRA's cut drops (counted)
    tokens = manifest["totals"]["tokens"]  # the tokenizer's count of the text
    assert content.sum() + electra_stats["cut_tokens"] == 10 * tokens
    assert electra_stats["cut_token_share"] == round(electra_stats["cut_tokens"] / (10 * tokens), 4)
    assert manifest["input"]["read"] == manifest["input"]["kept"] + manifest["input"]["filtered"]


def test_static_masking_is_allowed_and_two_workers_give_the_same_bytes(tmp_path):
    for name, workers in (("one", ()), ("two", TWO_WORKERS)):
        build(tmp_path / name, "--masking", "token", "--num-shards", "2", *workers)
    shards = [{p.name: p.read_bytes() for p in sorted((tmp_path / n).glob("data-*.arrow"))} for n in ("one", "two")]
    assert shards[0] == shards[1]
    stats = json.loads((tmp_path / "one" / "manifest.json").read_text())["statistics"]
    assert stats["masked_share_of_maskable"] == pytest.approx(0.15, abs=0.01)
    assert stats["shown_as"]["mask"] == pytest.approx(0.8, abs=0.03)


def test_bad_arguments(tmp_path):
    for args, words in ((("--eos-token", "[SEP]"), "--eos-token"), (("--no-cross-document",), "--no-cross-document"),
                        (("--permute-sentences",), "--permute-sentences")):
        result = build(tmp_path / "bad", *args, ok=False)
        assert result.exit_code != 0 and words in result.output and "Traceback" not in result.output
        assert not (tmp_path / "bad").exists()
