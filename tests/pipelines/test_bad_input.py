"""Bad input never crashes a build and never disappears: corrupted copies of real files."""
import gzip
import json
import os
import signal
import socket
import zipfile

import pyarrow.parquet as pq
import pytest

from corpusforge.dataset.reader import load_table, read_manifest, read_rejects, verify_dataset
from tests.conftest import SAMPLE, build_documents, run_cli
from tests.sources.test_hostile import PLAIN, json_lines_kept, news_parquet, zlib_decode

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


def write_hostile(root) -> dict:
    """Files no reader may crash or hang on, nor lose the readable records of: name -> (good, {reason: n})."""
    expect = {}
    packed = gzip.compress(b"".join(WIKI[:3]))  # smaller than any read buffer
    (root / "small_truncated.json.gz").write_bytes(packed[: len(packed) // 2])
    prefix, archive = zlib_decode(packed[: len(packed) // 2], 31)
    good, bad = json_lines_kept(prefix, "text")
    expect["small_truncated.json.gz"] = (good, {**archive, **bad})
    (root / "garbage.json.gz").write_bytes(gzip.compress(b"".join(NEWS[:25])) + b"trailing garbage\n")
    expect["garbage.json.gz"] = (25, {"corrupt_archive": 1})
    with zipfile.ZipFile(root / "members.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("wiki_zh/AA/wiki_00", b"".join(WIKI[:30]))
        z.writestr("wiki_zh/AA/wiki_01", b"".join(WIKI[30:80]))
    info = zipfile.ZipFile(root / "members.zip").getinfo("wiki_zh/AA/wiki_01")
    start = info.header_offset + 30 + len(info.filename)
    data = bytearray((root / "members.zip").read_bytes())
    data[start + info.compress_size // 2:start + info.compress_size] = b"\0" * (info.compress_size - info.compress_size // 2)
    (root / "members.zip").write_bytes(bytes(data))
    prefix, archive = zlib_decode(bytes(data[start:start + info.compress_size]), -15)
    good, bad = json_lines_kept(prefix, "text")
    expect["members.zip"] = (30 + good, {**archive, **bad})
    deep = b'{"content": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    (root / "deep.json").write_bytes(b"".join(NEWS[:3]) + deep + b"".join(NEWS[3:6]))
    expect["deep.json"] = (6, {"nested_too_deep": 1})
    news_parquet(root / "rows.parquet")
    (root / "rows.parquet.gz").write_bytes(gzip.compress((root / "rows.parquet").read_bytes()))
    os.rename(root / "rows.parquet", root / "rowgroups.dat")  # parquet known by its magic bytes only
    expect["rows.parquet.gz"] = expect["rowgroups.dat"] = (40, {})
    news_parquet(root / "damaged.parquet")
    column = pq.ParquetFile(root / "damaged.parquet").metadata.row_group(1).column(0)
    data = bytearray((root / "damaged.parquet").read_bytes())
    at = column.dictionary_page_offset or column.data_page_offset
    data[at:at + 16] = b"\xff" * 16
    (root / "damaged.parquet").write_bytes(bytes(data))
    expect["damaged.parquet"] = (24, {"corrupt_parquet": 1})
    text = b"".join(NEWS[:20]).decode()
    (root / "gb18030.json").write_bytes(text.encode("gb18030"))
    (root / "utf16.txt").write_bytes(text.encode("utf-16"))
    expect["gb18030.json"] = expect["utf16.txt"] = (0, {"not_utf8": 1})
    (root / "cr.json").write_bytes(b"".join(line.rstrip(b"\n") + b"\r" for line in NEWS[:15]))
    expect["cr.json"] = (15, {})
    (root / "cr_plain.txt").write_bytes(PLAIN.replace(b"\n", b"\r"))
    expect["cr_plain.txt"] = (3, {})
    big = json.loads(NEWS[3])
    big["content"] = big["content"] * (70_000 // len(big["content"]) + 1)  # a first record over 64 KiB
    (root / "big_first.json").write_bytes((json.dumps(big, ensure_ascii=False) + "\n").encode() + b"".join(NEWS[:9]))
    expect["big_first.json"] = (10, {})
    os.mkfifo(root / "pipe.json")  # opening it would wait for a writer forever
    expect["pipe.json"] = (0, {"not_a_regular_file": 1})
    return expect


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


EXPECTED, SOURCES = {}, {}  # filled by `built`: hostile file -> (good records, {reason: n}); doc_id -> layout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    corpus = root / "corpus"
    corpus.mkdir()
    write_corpus(corpus)
    hostile = write_hostile(corpus)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(corpus / "sock"))
    hostile["sock"] = (0, {"not_a_regular_file": 1})
    out = root / "out"
    signal.alarm(300)  # a build that hangs (on the FIFO) fails the test instead of hanging it
    try:
        result = build_documents(out, corpus, args=["--no-dedup", "--min-chars", "0"])
    finally:
        signal.alarm(0)
        sock.close()
    assert "Traceback" not in result.output
    rejects = read_rejects(str(out))
    table = load_table(str(out))
    EXPECTED.update(hostile)
    SOURCES.update(zip(table.column("doc_id").to_pylist(), table.column("source").to_pylist()))
    return out, read_manifest(str(out)), rejects, table.column("doc_id").to_pylist()


HOSTILE = ["small_truncated.json.gz", "garbage.json.gz", "members.zip", "deep.json", "rows.parquet.gz", "rowgroups.dat",
           "damaged.parquet", "gb18030.json", "utf16.txt", "cr.json", "cr_plain.txt", "big_first.json", "pipe.json", "sock"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_files_keep_every_readable_record_and_reject_the_rest(built, name):
    _, manifest, rejects, doc_ids = built
    good, reasons = EXPECTED[name]
    ours = [d for d in doc_ids if d.startswith((name + ":", name + "/"))]
    assert len(ours) == good
    found = {}
    for r in rejects:
        if r["file"] == name or r["file"].startswith(name + "/"):
            found[r["reason"]] = found.get(r["reason"], 0) + 1
            assert r["detail"]
    assert found == reasons
    for reason, n in reasons.items():
        assert manifest["input"]["rejected_by_reason"][reason] >= n
    if name == "big_first.json":
        assert {SOURCES[d] for d in ours} == {"news2016zh"}


def test_not_utf8_names_the_encoding_and_encoding_reads_it(built, tmp_path):
    _, _, rejects, _ = built
    details = {r["file"]: r["detail"] for r in rejects if r["reason"] == "not_utf8"}
    assert "--encoding gb18030" in details["gb18030.json"] and "--encoding utf-16" in details["utf16.txt"]
    for name, data in (("in", b"".join(NEWS[:20]).decode().encode("gb18030")), ("ref", b"".join(NEWS[:20]))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "news.json").write_bytes(data)
    result = build_documents(tmp_path / "out", tmp_path / "in", args=["--no-dedup", "--encoding", "gb18030"])
    build_documents(tmp_path / "out_ref", tmp_path / "ref", args=["--no-dedup"])  # the same text in UTF-8
    acc = read_manifest(str(tmp_path / "out"))["input"]
    assert (acc["read"], acc["rejected"]) == (20, 0) and "Traceback" not in result.output
    rows = sorted(load_table(str(tmp_path / "out")).to_pylist(), key=lambda r: r["doc_id"])
    assert rows == sorted(load_table(str(tmp_path / "out_ref")).to_pylist(), key=lambda r: r["doc_id"]) and len(rows) > 15


def test_unknown_encoding_is_one_sentence(tmp_path):
    result = run_cli("build", "documents", "-i", SAMPLE / "plain", "-o", tmp_path / "out", "--encoding", "klingon", ok=False)
    assert result.exit_code == 2 and "'klingon' is not a text encoding" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


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
    packed = gzip.compress(b"".join(WIKI[:60]))
    prefix, archive = zlib_decode(packed[: len(packed) * 2 // 3], 31)
    good, bad = json_lines_kept(prefix, "text")  # brute force: what the intact prefix holds
    assert kept == good > 10
    found = {}
    for r in rejects:
        if r["file"] == "truncated.json.gz":
            found[r["reason"]] = found.get(r["reason"], 0) + 1
    assert found == {**archive, **bad}


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
