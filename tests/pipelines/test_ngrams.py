"""build ngrams / build lm / eval lm on real text: counts, determinism on 1 and 2 workers, bad input, bad arguments."""
import json

import pyarrow as pa
import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import verify_dataset
from tests.conftest import DATA, run_cli
from tests.objectives.test_ngrams import as_counter, naive_counts

TRAIN = DATA / "lm" / "news_medium.txt"
TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")


def shard_bytes(path):
    return {p.name: p.read_bytes() for p in sorted(path.glob("data-*.arrow"))}


def test_counts_of_pretokenized_text_are_exact_sorted_and_kept_whole(tmp_path):
    text = tmp_path / "in.txt"
    lines = TRAIN.read_text(encoding="utf-8").splitlines() + ["短 句", "短 句", "", "<s> a </s>"]
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "ng"
    run_cli("build", "ngrams", "-i", text, "--format", "pretokenized", "--order", 3, "-o", out, "--num-shards", 3)
    table = load_table(out)
    keys = list(zip(table.column("order").to_pylist(), table.column("ngram").to_pylist()))
    assert keys == sorted(keys)  # shards are ranges: in name order, all n-grams sorted
    sentences = [line.split() for line in lines if line.strip()]
    sentences[-1] = ["a"]  # reserved tokens are dropped (and counted)
    assert as_counter(table) == naive_counts(sentences, 3)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input"]["read"] == manifest["input"]["kept"] == len(sentences)  # short lines and duplicates kept
    assert manifest["totals"]["reserved_tokens_dropped"] == 2
    assert manifest["ngrams"]["1"] == sum(1 for o, _ in keys if o == 1)
    assert sum(manifest["count_of_counts"]["3"].values()) <= manifest["ngrams"]["3"]
    assert verify_dataset(str(out)) == []


def test_one_and_two_workers_and_many_spills_give_identical_shards(tmp_path, monkeypatch):
    args = ("build", "ngrams", "-i", DATA / "text", "--order", 4, "--num-shards", 3)
    run_cli(*args, "-o", tmp_path / "one")
    run_cli(*args, "-o", tmp_path / "two", *TWO_WORKERS)
    import corpusforge.beam.ngrams as glue
    monkeypatch.setattr(glue, "BATCH_TOKENS", 50)
    monkeypatch.setattr(glue, "SPILL_ROWS", 400)
    run_cli(*args, "-o", tmp_path / "spilled")
    one = shard_bytes(tmp_path / "one")
    assert len(one) == 3 and one == shard_bytes(tmp_path / "two") == shard_bytes(tmp_path / "spilled")


def test_many_ranges_cut_inside_hot_prefixes_and_counts_stay_exact(tmp_path, monkeypatch):
    """Windows are ranged in token order and every order is derived inside its range: with 13 ranges
    over text where thousands of distinct windows start with 的 (so range cuts fall inside its group
    and inside "的 X" groups), each n-gram still appears once with its exact count, the shards hold
    equal shares of the rows in (order, token) order, and one range gives the same rows. A token with
    a control character sorts by its tokens (its byte order as a word)."""
    import numpy as np

    import corpusforge.beam.ngrams as glue
    words = sorted(set(TRAIN.read_text(encoding="utf-8").split()))[:400]
    rng = np.random.default_rng(7)
    lines = TRAIN.read_text(encoding="utf-8").splitlines()[:60]
    lines += [" ".join(["的", *rng.choice(words, 3)] * 4) for _ in range(300)]
    lines += ["的 的 的 的 的", "a\x01 b a c", "a b a\x01", "的"]
    text = tmp_path / "in.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(glue, "BATCH_TOKENS", 700)
    monkeypatch.setattr(glue, "BATCH_CHARS", 2000)
    args = ("build", "ngrams", "-i", text, "--format", "pretokenized", "--order", 4)
    run_cli(*args, "--num-shards", 13, "-o", tmp_path / "many")
    run_cli(*args, "--num-shards", 1, "-o", tmp_path / "one")
    table = load_table(tmp_path / "many")
    assert table.equals(load_table(tmp_path / "one"))
    assert as_counter(table) == naive_counts([line.split() for line in lines if line.strip()], 4)
    keys = [(o, tuple(w.encode() for w in g.split(" "))) for o, g in
            zip(table.column("order").to_pylist(), table.column("ngram").to_pylist())]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    rows = [s["rows"] for s in json.loads((tmp_path / "many" / "manifest.json").read_text())["shards"]]
    assert len(rows) == 13 and max(rows) - min(rows) <= 1


def test_bad_input_is_counted_and_kept_with_a_reason(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "\xe4\xb8\xad\xe6\x96\x87 ok"}\n{not json\n\xff\xfe\n')
    out = tmp_path / "ng"
    run_cli("build", "ngrams", "-i", bad, "--format", "jsonl", "-o", out, "--units", "chars")
    acc = json.loads((out / "manifest.json").read_text())["input"]
    assert acc["rejected"] >= 1 and acc["read"] == acc["kept"] + acc["filtered"] + acc["rejected"]
    assert (out / "rejects" / "rejects.jsonl").read_text().strip()


@pytest.mark.parametrize("args,message", [
    (("--order", "0"), "--order"),
    (("--min-count", "1,x"), "--min-count"),
    (("--units", "chars", "--segmenter", "jieba-rs"), "--segmenter applies to --units words"),
])
def test_bad_arguments_fail_in_one_sentence(tmp_path, args, message):
    result = run_cli("build", "ngrams", "-i", TRAIN, "--format", "pretokenized", "-o", tmp_path / "x", *args, ok=False)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_build_lm_writes_arpa_that_kenlm_loads_and_eval_prints_perplexity(tmp_path):
    counts = tmp_path / "ng"
    run_cli("build", "ngrams", "-i", DATA / "lm" / "news_train.txt", "--format", "pretokenized", "--order", 3,
            "-o", counts)
    out = tmp_path / "lm"
    run_cli("build", "lm", "-i", counts, "--smoothing", "modified-kneser-ney", "-o", out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "lm" and manifest["ngrams"]["1"] == json.loads(
        (counts / "manifest.json").read_text())["ngrams"]["1"] + 1  # + <unk>
    assert verify_dataset(str(out)) == []
    scores = tmp_path / "scores.arrow"
    result = run_cli("eval", "lm", out, DATA / "lm" / "news_heldout.txt", "--scores", scores)
    assert "perplexity including OOVs" in result.output and "perplexity excluding OOVs" in result.output
    table = pa.ipc.open_stream(pa.memory_map(str(scores))).read_all()
    assert table.num_rows == 21 and table.column("tokens").to_pylist()[0] > 0
    import kenlm  # in the test extra: the reference scorer

    model = kenlm.Model(str(out / "model.arpa"))
    first = (DATA / "lm" / "news_heldout.txt").read_text(encoding="utf-8").splitlines()[0]
    assert model.score(first) == pytest.approx(table.column("log10_prob")[0].as_py(), abs=1e-3)


def kenlm_perplexity(model, lines):
    """Corpus perplexity by KenLM's own scorer (words + </s> per sentence, as its query counts them)."""
    return 10 ** (-sum(model.score(line) for line in lines) / sum(len(line.split()) + 1 for line in lines))


def test_jelinek_mercer_tuned_on_one_heldout_text_and_scored_on_another(tmp_path):
    """λ tuned on news_heldout.txt, then scored by KenLM on news_test.txt, which the tuning never saw:
    better there than the untuned λ = 0.5, and `eval lm` agrees with KenLM sentence by sentence."""
    import kenlm

    from corpusforge.objectives import lm

    counts = tmp_path / "ng"
    run_cli("build", "ngrams", "-i", DATA / "lm" / "news_train.txt", "--format", "pretokenized", "--order", 3,
            "-o", counts)
    jm = tmp_path / "jm"
    run_cli("build", "lm", "-i", counts, "--smoothing", "jelinek-mercer", "--heldout", DATA / "lm" / "news_heldout.txt",
            "-o", jm)
    lambdas = json.loads((jm / "manifest.json").read_text())["estimate"]["lambdas"]
    assert len(lambdas) == 3 and lambdas != [0.5] * 3 and all(0 < x < 1 for x in lambdas)
    untuned = str(tmp_path / "untuned.arpa")
    lm.write_arpa(lm.build_model(lm.counts_from_table(load_table(str(counts)), 3), "jelinek-mercer",
                                 lambdas=[0.5] * 3), untuned)
    test = (DATA / "lm" / "news_test.txt").read_text(encoding="utf-8").splitlines()
    assert not set(test) & set((DATA / "lm" / "news_heldout.txt").read_text(encoding="utf-8").splitlines())
    tuned = kenlm.Model(str(jm / "model.arpa"))
    assert kenlm_perplexity(tuned, test) < 0.98 * kenlm_perplexity(kenlm.Model(untuned), test)
    scores = tmp_path / "scores.arrow"
    run_cli("eval", "lm", jm, DATA / "lm" / "news_test.txt", "--scores", scores)
    ours = pa.ipc.open_stream(pa.memory_map(str(scores))).read_all().column("log10_prob").to_pylist()
    assert ours == pytest.approx([tuned.score(line) for line in test], rel=1e-5, abs=1e-3)  # KenLM sums in float32


def test_build_lm_bad_arguments(tmp_path):
    counts = tmp_path / "ng"
    run_cli("build", "ngrams", "-i", DATA / "lm" / "news_small.txt", "--format", "pretokenized", "-o", counts)
    for args, message in [(("--smoothing", "jelinek-mercer"), "needs --heldout"),
                          (("--smoothing", "modified-kneser-ney"), "--discount-fallback"),
                          (("--order", "5"), "higher than the counts' order")]:
        result = run_cli("build", "lm", "-i", counts, "-o", tmp_path / "lm", *args, ok=False)
        assert message in result.output and "Traceback" not in result.output
    run_cli("build", "lm", "-i", counts, "-o", tmp_path / "lm", "--discount-fallback")
    result = run_cli("build", "lm", "-i", tmp_path / "nowhere", "-o", tmp_path / "lm2", ok=False)
    assert "no manifest.json" in result.output


def test_arrow_splits_presegmented_text_as_str_split_does():
    """CountNgrams splits presegmented text with Arrow: the same tokens as str.split for every whitespace
    code point (runs, ends, U+3000, \\x1c-\\x1f, U+2028), reserved tokens dropped and counted, empty
    sentences counted."""
    import sys

    from corpusforge.beam.ngrams import CountNgrams, Units
    from corpusforge.objectives.ngrams import RESERVED
    from corpusforge.tokenization.segment import get_segmenter

    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    lines = TRAIN.read_text(encoding="utf-8").splitlines()[:50]
    lines += ["", "   ", "a" + "".join(spaces) + "b", f"{spaces[3]}的 <s> 中国{spaces[-1]}</s> <unk>", "<s>", " x  y "]
    counter = CountNgrams(Units(get_segmenter("presegmented")), 3, "", 8)
    counter.start_bundle()
    counter.texts = list(lines)
    tokens, lengths = counter.split_texts()
    expected = [[t for t in line.split() if t not in RESERVED] for line in lines]
    assert tokens.to_pylist() == [t for e in expected for t in e]
    assert lengths.tolist() == [len(e) for e in expected]
    assert counter._counts["reserved_tokens_dropped"] == 4
    assert counter._counts["empty_sentences"] == sum(1 for e in expected if not e)


def test_shards_are_planned_as_equal_shares_of_the_pieces_in_one_pass():
    """plan_shards cuts the ranges' per-order pieces, in (order, range) order, into equal shares: every row
    once, in order; the totals ride on shard 0."""
    from corpusforge.beam.ngrams import plan_shards

    stats = {"count_of_counts": [[1, 0]], "unique_by_order": [1], "kept_by_order": [1]}
    ranges = [{"pieces": [{"order": 1, "range": 0, "path": "a1", "rows": 5}, {"order": 2, "range": 0, "path": "a2", "rows": 4}],
               **stats},
              {"pieces": [{"order": 1, "range": 1, "path": "b1", "rows": 2}, {"order": 2, "range": 1, "path": "b2", "rows": 3}],
               **stats}]
    plans = list(plan_shards(ranges, 4))
    rows = [(path, i) for _, slices, _ in plans for path, start, stop in slices for i in range(start, stop)]
    expected = [(p, i) for p, n in (("a1", 5), ("b1", 2), ("a2", 4), ("b2", 3)) for i in range(n)]
    assert rows == expected
    assert [sum(stop - start for _, start, stop in slices) for _, slices, _ in plans] == [3, 4, 3, 4]
    assert plans[0][2]["unique_by_order"] == [2] and all(t is None for *_, t in plans[1:])
    assert [s for s, *_ in plan_shards([{"pieces": [], **stats}], 3)] == [0, 1, 2]
