import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusforge.sources.formats import Document, Reject, detect_format
from tests.conftest import DATA, SAMPLE
from tests.sources.test_files import read_all


@pytest.mark.parametrize("path, fmt", [
    (SAMPLE / "wiki_zh" / "AA" / "wiki_00", "wiki2019zh"),
    (SAMPLE / "news2016zh" / "news2016zh_train.json", "news2016zh"),
    (SAMPLE / "webtext2019zh" / "web_text_zh_valid.json", "webtext2019zh"),
    (DATA / "layouts" / "baike2018qa.json", "baike2018qa"),
    (DATA / "layouts" / "translation2019zh.json", "translation2019zh"),
    (SAMPLE / "plain" / "bert_sample_text.txt", "plain"),
])
def test_layout_is_detected_from_the_fields(path, fmt):
    assert detect_format(path.read_bytes()[:65536], str(path)) == fmt
    assert {r.source for r in read_all([path])} == {fmt}


def test_generic_json_lines_and_binary_detection():
    assert detect_format(b'{"body": "x"}\n{"body": "y"}\n', "a.jsonl") == "jsonl"
    assert detect_format(bytes(range(256)) * 8, "blob.bin") == "binary"
    # JSON lines whose first record is broken and whose second is cut off by the head: still JSON lines
    news = (SAMPLE / "news2016zh" / "news2016zh_train.json").read_bytes().split(b"\n")
    assert detect_format(b"\xfb" + news[0][1:] + b"\n" + news[1][:100], "news.json") == "jsonl"


def test_wiki_text_drops_the_repeated_title():
    first = json.loads((SAMPLE / "wiki_zh" / "AA" / "wiki_00").open(encoding="utf-8").readline())
    doc = read_all([SAMPLE / "wiki_zh" / "AA" / "wiki_00"])[0]
    assert doc.title == first["title"] == "战国无双3"
    assert first["text"].startswith("战国无双3\n\n")
    assert doc.text == first["text"][len("战国无双3"):]
    assert doc.doc_id == "wiki_00:0"


def test_news_uses_content_and_webtext_its_comment():
    news = read_all([SAMPLE / "news2016zh" / "news2016zh_train.json"])
    assert news[0].text.startswith("QDII今年来大幅跑输A股基金") and news[0].title == ""
    web = read_all([SAMPLE / "webtext2019zh" / "web_text_zh_valid.json"])
    assert web[0].text == "因为森林人即将换代，这套系统没必要装在一款即将换代的车型上，因为肯定会影响价格。"
    assert web[0].title == "价格"


def test_baike_joins_description_and_answer():
    rows = [json.loads(l) for l in (DATA / "layouts" / "baike2018qa.json").open(encoding="utf-8")]
    docs = read_all([DATA / "layouts" / "baike2018qa.json"])
    assert docs[0].title == rows[0]["title"]
    assert docs[0].text == rows[0]["desc"] + "\n" + rows[0]["answer"]
    assert docs[1].text == rows[1]["answer"]  # empty desc


@pytest.mark.parametrize("side", ["english", "chinese"])
def test_translation_side_is_selectable(side):
    rows = [json.loads(l) for l in (DATA / "layouts" / "translation2019zh.json").open(encoding="utf-8")]
    docs = read_all([DATA / "layouts" / "translation2019zh.json"], side=side)
    assert [d.text for d in docs] == [r[side] for r in rows]


def test_plain_text_documents_are_separated_by_blank_lines():
    docs = read_all([SAMPLE / "plain" / "bert_sample_text.txt"])
    assert len(docs) == 3
    assert docs[0].text.splitlines()[0].startswith("This text is included to make sure Unicode")
    assert docs[1].text.splitlines()[0].startswith("The rain had only ceased")
    assert docs[2].text.splitlines()[0] == "The fountain of classic wisdom, Hypatia herself."


def test_generic_jsonl_with_text_and_title_fields(tmp_path):
    src = [json.loads(l) for l in (SAMPLE / "webtext2019zh" / "web_text_zh_valid.json").open(encoding="utf-8")][:20]
    path = tmp_path / "comments.jsonl"
    path.write_text("".join(json.dumps({"body": r["content"], "aspect": r["topic"]}, ensure_ascii=False) + "\n"
                            for r in src), encoding="utf-8")
    docs = read_all([path], text_field="body", title_field="aspect")
    assert [(d.title, d.text) for d in docs] == [(r["topic"], r["content"]) for r in src]
    missing = read_all([path], text_field="text")
    assert {r.reason for r in missing} == {"missing_text_field"} and len(missing) == 20


def test_parquet_row_groups(tmp_path):
    src = [json.loads(l) for l in (SAMPLE / "webtext2019zh" / "web_text_zh_valid.json").open(encoding="utf-8")][:50]
    texts = [r["content"] for r in src]
    texts[7] = None
    path = tmp_path / "comments.parquet"
    pq.write_table(pa.table({"text": texts, "title": [r["title"] for r in src]}), path, row_group_size=16)
    records = read_all([path], title_field="title")
    docs = [r for r in records if isinstance(r, Document)]
    assert [d.text for d in docs] == [t for t in texts if t is not None]
    assert docs[0].title == src[0]["title"] and docs[0].source == "parquet"
    [bad] = [r for r in records if isinstance(r, Reject)]
    assert (bad.reason, bad.offset) == ("missing_text_field", 7)


def test_pretokenized_lines_are_documents_kept_exactly(tmp_path):
    # GloVe / KenLM input: one document per line, tokens separated by spaces, taken as written
    from corpusforge.beam.prepare import PrepareOptions, prepare_document
    from corpusforge.text import DocumentFilter

    english = (SAMPLE / "plain" / "bert_sample_text.txt").read_text(encoding="utf-8").splitlines()[:40]
    lines = [" ".join(line.split()) for line in english if line.strip()]
    path = tmp_path / "tokens.txt"
    path.write_bytes(("\n".join(lines[:10]) + "\n\n  \n" + "\n".join(lines[10:]) + "\nbad\0line\n").encode())
    records = read_all([path], fmt="pretokenized")
    docs = [r for r in records if isinstance(r, Document)]
    assert [d.text for d in docs] == lines  # blank lines skipped, every other line one document
    assert {d.source for d in docs} == {"pretokenized"}
    assert [r.reason for r in records if isinstance(r, Reject)] == ["nul_bytes"]
    row, _ = prepare_document(Document("x:0", "pretokenized", "", " Ｆull-width  text. Two? "),
                              PrepareOptions(filter=DocumentFilter(min_chars=0)))
    assert row["sentences"] == [" Ｆull-width  text. Two? "]  # neither normalised nor split


def test_translation_pairs_are_read_whole():
    """--side pair: one document per pair, its text the Chinese side, a line break, the English side (real pairs)."""
    path = DATA / "translation" / "django-zh_Hans.json"
    rows = [json.loads(l) for l in path.open(encoding="utf-8")]
    docs = read_all([path], side="pair")
    assert {d.source for d in docs} == {"translation2019zh-pairs"}
    assert [d.text for d in docs] == [r["chinese"] + "\n" + r["english"] for r in rows]


def test_bad_translation_pairs_are_rejected_with_a_reason(tmp_path):
    lines = [
        {"english": "Enter a valid date.", "chinese": "输入一个有效的日期。"},
        {"english": "No chinese side."},
        {"english": "Empty chinese side.", "chinese": "  "},
        {"english": 42, "chinese": "英文不是字符串。"},
        {"english": "Two\nlines.", "chinese": "两\n行。"},
    ]
    path = tmp_path / "pairs.json"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in lines) + '\n{"english": "cut', encoding="utf-8")
    out = read_all([path], side="pair", fmt="translation2019zh")
    docs = [r for r in out if isinstance(r, Document)]
    assert [d.text for d in docs] == ["输入一个有效的日期。\nEnter a valid date.", "两 行。\nTwo lines."]
    assert [r.reason for r in out if isinstance(r, Reject)] == ["missing_text_field", "empty_side", "wrong_field_type",
                                                                "malformed_json"]


def test_hostile_pairs_are_each_a_document_or_a_reject(tmp_path):
    """Real pair lines cut, nested, retyped, mis-encoded: nothing raises, nothing is lost (one record per line)."""
    import random

    rng = random.Random(5)
    real = (DATA / "translation" / "django-zh_Hans.json").read_bytes().splitlines()
    lines = []
    for line in real:
        row = json.loads(line)
        lines += [line, line[:rng.randrange(1, len(line))], b"[" * 5000 + b"]" * 5000,
                  json.dumps({"english": row["english"], "chinese": [row["chinese"]]}).encode(),
                  json.dumps({"english": row["english"], "chinese": None}).encode(),
                  line.replace(b"\xe7", b"\xff", 1), line.replace(b"e", b"\0", 1)]
    path = tmp_path / "hostile.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = read_all([path], side="pair", fmt="translation2019zh")
    kept = [r for r in out if isinstance(r, Document)]
    assert len(out) == len(lines) and len(kept) >= len(real)
    assert all(r.source == "translation2019zh-pairs" and r.text.count("\n") == 1 for r in kept)
