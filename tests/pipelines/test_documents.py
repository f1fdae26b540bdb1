"""The documents pipeline end to end on the bundled real text: cleaning, filters, dedup."""
import json
import re
import shutil

from corpusforge.dataset.reader import load_table, read_manifest
from tests.conftest import SAMPLE, build_documents


def test_exact_duplicates_are_dropped_keeping_one(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE / "wiki_zh", corpus / "a")
    shutil.copytree(SAMPLE / "wiki_zh", corpus / "b")
    out = tmp_path / "out"
    build_documents(out, corpus)
    m = read_manifest(str(out))
    assert m["input"]["read"] == 360 and m["rows"] == 180
    assert m["input"]["filtered_by_reason"] == {"duplicate": 180}
    ids = load_table(str(out)).column("doc_id").to_pylist()
    assert all(i.startswith("a/") for i in ids)  # of two copies, the smaller doc_id is kept


def test_cjk_ratio_filter_drops_the_english_news(tmp_path):
    contents = [json.loads(line)["content"] for f in sorted((SAMPLE / "news2016zh").iterdir())
                for line in f.open(encoding="utf-8")]
    english = sum(not re.search("[\u4e00-\u9fff]", c) for c in contents)
    assert english == 39
    out = tmp_path / "out"
    build_documents(out, SAMPLE / "news2016zh", args=["--min-cjk-ratio", "0.5"])
    m = read_manifest(str(out))
    assert m["input"]["filtered_by_reason"] == {"low_cjk_ratio": english}
    assert m["rows"] == len(contents) - english
    assert all(r["source"] == "news2016zh" for r in load_table(str(out)).to_pylist())


def test_cleaning_normalises_and_converts_to_simplified(tmp_path):
    out = tmp_path / "out"
    build_documents(out, SAMPLE / "wiki_zh", args=["--t2s", "--normalize", "NFKC"])
    rows = {r["doc_id"]: r for r in load_table(str(out)).to_pylist()}
    text = "".join(s for r in rows.values() for s in r["sentences"])
    assert "（" not in text and "，" not in text  # NFKC: full-width punctuation -> half-width
    titles = {r["title"] for r in rows.values()}
    assert "马祖列岛" in titles and "馬祖列島" not in titles  # traditional -> simplified
    first = rows["wiki_00:0"]
    assert first["title"] == "战国无双3"
    assert first["sentences"][0].startswith("《战国无双3》()是由光荣和ω-force开发的战国无双系列的正统第三续作。")
