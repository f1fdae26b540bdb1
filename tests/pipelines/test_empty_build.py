"""A build that produced nothing says so: one sentence naming the main reason and a hint, exit 1, no
dataset (an existing one left as it was); --allow-empty writes the empty dataset, which `datasets` opens;
more than --max-reject-share rejected warns with the counts by reason (recounted here with json)."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusforge.dataset.reader import verify_dataset
from tests.conftest import DATA, run_cli

NEWS = DATA / "text" / "news2016zh_sample.jsonl"  # real news2016zh records: the text is in "content"


def build(out, *args, ok=True):
    return run_cli("build", "documents", "-o", out, *args, ok=ok)


def fails_with(result, *phrases):
    assert result.exit_code == 1
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: nothing to write: ") and "Traceback" not in result.output
    assert message.endswith("or pass --allow-empty to write an empty dataset") and message.count(". ") == 0
    for phrase in phrases:
        assert phrase in message, message


def no_dataset(tmp_path, out):
    assert not out.exists() and not list(tmp_path.glob(".*incomplete*"))


@pytest.mark.parametrize("workers", [(), ("--direct_num_workers=2", "--direct_running_mode=multi_processing")])
def test_wrong_text_field_names_the_field(tmp_path, workers):
    out = tmp_path / "docs"  # on worker processes the runner hands the error back as traceback text
    fails_with(build(out, "-i", NEWS, "--format", "jsonl", "--text-field", "body", *workers, ok=False),
               "none of the 4 records read was kept", "rejected as missing_text_field (4)", "--text-field body")
    no_dataset(tmp_path, out)


def test_parquet_without_the_text_column(tmp_path):
    rows = [json.loads(line) for line in NEWS.read_text(encoding="utf-8").splitlines()]
    pq.write_table(pa.table({"content": [r["content"] for r in rows]}), tmp_path / "news.parquet")
    out = tmp_path / "docs"
    fails_with(build(out, "-i", tmp_path / "news.parquet", ok=False), "missing_text_field", "--text-field text")
    no_dataset(tmp_path, out)
    build(out, "-i", tmp_path / "news.parquet", "--text-field", "content")  # the hint's fix works
    assert json.loads((out / "manifest.json").read_text())["rows"] == 4


def test_everything_filtered_names_the_filter(tmp_path):
    out = tmp_path / "docs"
    fails_with(build(out, "-i", NEWS, "--min-chars", "1000000", ok=False),
               "filtered as too_short (4)", "--min-chars 1000000; lower it")
    no_dataset(tmp_path, out)


def test_empty_input_and_allow_empty(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    out = tmp_path / "docs"
    fails_with(build(out, "-i", tmp_path / "empty.txt", ok=False), "the input holds no records")
    no_dataset(tmp_path, out)
    build(out, "-i", tmp_path / "empty.txt", "--allow-empty")
    from datasets import load_from_disk

    assert load_from_disk(str(out)).num_rows == 0 and verify_dataset(str(out)) == []


def test_an_empty_rebuild_leaves_the_existing_dataset(tmp_path):
    out = tmp_path / "docs"
    build(out, "-i", NEWS)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    fails_with(build(out, "-i", NEWS, "--text-field", "body", "--format", "jsonl", "--overwrite", ok=False))
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_rejecting_more_than_the_share_warns_with_the_reasons(tmp_path):
    good = NEWS.read_text(encoding="utf-8").splitlines()[:1]
    lines = good + ['{"content": "截断的记录', "not json at all", '{"content": 42}']
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def parses(line):
        try:
            return isinstance(json.loads(line).get("content"), str)
        except ValueError:
            return False
    bad = sum(not parses(line) for line in lines)  # the reference recount: 3 of 4
    result = build(tmp_path / "docs", "-i", mixed, "--format", "jsonl", "--text-field", "content")
    acc = json.loads((tmp_path / "docs" / "manifest.json").read_text())["input"]
    assert acc["rejected"] == bad == 3 and acc["read"] == 4
    warning = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    reasons = ", ".join(f"{k} {v}" for k, v in acc["rejected_by_reason"].items())
    assert warning == [f"Warning: 3 of 4 records (75%) were rejected, more than --max-reject-share 0.5: {reasons}"]
    assert "malformed_json 2" in reasons and "wrong_field_type 1" in reasons
    quiet = build(tmp_path / "docs2", "-i", mixed, "--format", "jsonl", "--text-field", "content",
                  "--max-reject-share", "0.75")
    assert "Warning:" not in quiet.stderr


@pytest.mark.parametrize("share", ["-0.1", "1.5", "x"])
def test_bad_max_reject_share(tmp_path, share):
    result = build(tmp_path / "docs", "-i", NEWS, "--max-reject-share", share, ok=False)
    assert result.exit_code == 2 and "--max-reject-share" in result.output and "Traceback" not in result.output
