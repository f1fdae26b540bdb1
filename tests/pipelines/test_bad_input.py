"""Bad input never crashes a build and never disappears: corrupted copies of real files."""
import gzip
import json
import zipfile

import pytest

from corpusforge.dataset.reader import load_table, read_manifest, read_rejects, verify_dataset
from tests.conftest import SAMPLE, build_documents

WIKI = (SAMPLE / "wiki_zh" / "AA" / "wiki_00").read_bytes().splitlines(keepends=True)
NEWS = (SAMPLE / "news2016zh" / "news2016zh_valid.json").read_bytes().splitlines(keepends=True)
WEB = (SAMPLE / "webtext2019zh" / "web_text_zh_valid.json").read_bytes().splitlines(keepends=True)[:200]


def news_with(**changes):
    obj = json.loads(NEWS[3])
    obj.update(changes)
    for key in [k for k, v in changes.items() if v is KeyError]:
        del obj[key]
    return (json.dumps(obj, ensure_ascii=False) + "\n").encode()


# file name -> (bytes, good records in it, {reason: count})
CASES = {
    "malformed.json": (NEWS[:10] + [NEWS[10][: len(NEWS[10]) // 2] + b"\n",  # truncated line
                                    b'["a", "JSON", "list"]\n',  # wrong type
                                    news_with(content=12345),  # text field of the wrong type
                                    NEWS[11].rstrip() + b' {"trailing": "garbage"}\n'] + NEWS[12:20],
                       18, {"malformed_json": 2, "not_an_object": 1, "wrong_field_type": 1}),
    "invalid_utf8.json": (NEWS[:5] + [NEWS[5][:40] + b"\xff\xfe\xc3" + NEWS[5][40:]] + NEWS[6:12],
                          11, {"invalid_utf8": 1}),
    "bom_crlf.json": (b"\xef\xbb\xbf" + b"".join(l.rstrip(b"\n") + b"\r\n" for l in NEWS[20:30]), 10, {}),
    "missing_text.json": (NEWS[30:35] + [news_with(content=KeyError), news_with(content=None)], 5,
                          {"missing_text_field": 2}),
    "empty_text.json": (NEWS[35:38] + [news_with(content=""), news_with(content="  \n ")], 3, {"empty_text": 2}),
    "huge_line.json": (WEB[:50] + [news_with(content="长" * ((50 << 20) // 3))] + WEB[50:100], 100,
                       {"record_too_large": 1}),
    "nul_bytes.json": (WEB[100:110] + [WEB[110][:30] + b"\0\0" + WEB[110][30:]] + WEB[111:120], 19, {"nul_bytes": 1}),
}


def write_corpus(root):
    for name, (data, _, _) in CASES.items():
        (root / name).write_bytes(b"".join(data) if isinstance(data, list) else data)
    # a .gz cut off two thirds of the way: the records before the cut are kept
    packed = gzip.compress(b"".join(WIKI[:60]))
    (root / "truncated.json.gz").write_bytes(packed[: len(packed) * 2 // 3])
    # a zip with a text member and a binary member
    with zipfile.ZipFile(root / "mixed.zip", "w") as z:
        z.writestr("wiki_zh/AA/wiki_00", b"".join(WIKI[:30]))
        z.writestr("wiki_zh/AA/image.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    corpus = root / "corpus"
    corpus.mkdir()
    write_corpus(corpus)
    out = root / "out"
    build_documents(out, corpus, args=["--no-dedup", "--min-chars", "0"])
    rejects = read_rejects(str(out))
    return out, read_manifest(str(out)), rejects, load_table(str(out)).column("doc_id").to_pylist()


def test_the_build_finishes_and_the_accounting_adds_up(built):
    out, manifest, rejects, _ = built
    acc = manifest["input"]
    assert acc["read"] == acc["kept"] + acc["filtered"] + acc["rejected"]
    assert acc["rejected"] == len(rejects) > 0
    assert verify_dataset(str(out)) == []


@pytest.mark.parametrize("name", list(CASES))
def test_good_records_kept_and_bad_ones_rejected_with_reason(built, name):
    _, _, rejects, doc_ids = built
    _, good, reasons = CASES[name]
    assert sum(d.startswith(name + ":") for d in doc_ids) == good
    found = {}
    for r in rejects:
        if r["file"] == name:
            found[r["reason"]] = found.get(r["reason"], 0) + 1
            assert r["offset"] >= 0 and r["line"] >= 1  # where it was: byte offset and line number
    assert found == reasons


def test_reject_records_carry_location_and_excerpt(built):
    _, _, rejects, _ = built
    [bad] = [r for r in rejects if r["file"] == "invalid_utf8.json"]
    data = b"".join(CASES["invalid_utf8.json"][0])
    assert bad["line"] == 6 and data[bad["offset"]:].startswith(NEWS[5][:40])
    assert "\ufffd" in bad["excerpt"] and "can't decode" in bad["detail"]
    [huge] = [r for r in rejects if r["reason"] == "record_too_large"]
    assert len(huge["excerpt"]) <= 200 and huge["line"] == 51


def test_truncated_gzip_keeps_what_came_before(built):
    _, _, rejects, doc_ids = built
    kept = sum(d.startswith("truncated.json.gz:") for d in doc_ids)
    assert 10 < kept < 60
    reasons = [r["reason"] for r in rejects if r["file"] == "truncated.json.gz"]
    assert "truncated_archive" in reasons
    # the last, cut-off line is either rejected as malformed or lost with the truncation
    assert kept + reasons.count("malformed_json") <= 60


def test_zip_binary_member_is_rejected_text_member_kept(built):
    _, _, rejects, doc_ids = built
    assert sum(d.startswith("mixed.zip/wiki_zh/AA/wiki_00:") for d in doc_ids) == 30
    [binary] = [r for r in rejects if r["file"] == "mixed.zip/wiki_zh/AA/image.png"]
    assert binary["reason"] == "binary_file"


def test_bom_and_crlf_leave_no_trace_in_the_text(built):
    out, _, _, _ = built
    table = load_table(str(out)).to_pylist()
    rows = [r for r in table if r["doc_id"].startswith("bom_crlf.json:")]
    assert len(rows) == 10 and rows[0]["doc_id"] in {f"bom_crlf.json:{i}" for i in range(0, 10**7)}
    assert not any("\r" in s or "\ufeff" in s for r in rows for s in r["sentences"])
