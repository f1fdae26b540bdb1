"""Cleaning end to end on the sample corpus: --lang-filter scopes and columns against the known
Chinese/English split, --quality against datatrove's filters run document by document, the accounting
with the new reasons, 1 vs 2 workers, and the cleaning report."""
import json
import os
import struct

import pytest

from corpusforge.dataset.reader import load_table, read_manifest, verify_dataset
from corpusforge.text import normalize_text, split_sentences
from corpusforge.text.normalize import cjk_ratio
from corpusforge.text.quality import CJK_DOCUMENT_RATIO, words_of
from tests.conftest import SAMPLE, build_documents, run_cli

# The news sample's articles are Chinese (Sina) or English (BBC News, lower-cased, no CJK character at all):
# whether an article holds a CJK ideograph tells them apart, independently of any language identifier.
NEWS = SAMPLE / "news2016zh" / "news2016zh_train.json"
WIKI = SAMPLE / "wiki_zh" / "AA" / "wiki_00"
PLAIN = (SAMPLE / "plain" / "bert_sample_text.txt").read_text(encoding="utf-8")


def line_ids(path, name):
    """doc_id of each line of a JSON-lines file (the reader's "<file>:<byte offset>")."""
    ids, at = [], 0
    for line in path.read_bytes().splitlines(keepends=True):
        ids.append(f"{name}:{at}")
        at += len(line)
    return ids


def news_split():
    ids = line_ids(NEWS, NEWS.name)
    chinese = [cjk_ratio(json.loads(line)["content"]) > 0 for line in NEWS.open(encoding="utf-8")]
    assert (sum(chinese), len(chinese)) == (121, 160)  # 121 Chinese, 39 English articles
    return {i for i, c in zip(ids, chinese) if c}, {i for i, c in zip(ids, chinese) if not c}


@pytest.mark.parametrize("scope", ["document", "paragraph"])
def test_the_known_chinese_english_split_of_the_news(tmp_path, scope):
    zh, en = news_split()
    rows = {}
    for langs in ("zh", "en"):
        out = tmp_path / langs
        build_documents(out, NEWS, args=["--lang-filter", langs, "--lang-scope", scope])
        m = read_manifest(str(out))
        assert m["input"]["filtered_by_reason"] == {"wrong_language": 39 if langs == "zh" else 121}
        assert m["schema"]["language"] == "string" and m["schema"]["language_score"] == "float"
        rows[langs] = load_table(str(out)).to_pylist()
    assert {r["doc_id"] for r in rows["zh"]} == zh and {r["doc_id"] for r in rows["en"]} == en
    assert {r["language"] for r in rows["zh"]} == {"zh"} and {r["language"] for r in rows["en"]} == {"en"}
    assert all(0.5 <= r["language_score"] <= 1 for r in rows["zh"] + rows["en"])
    # the sentence rules come from the language: Chinese rules for the Chinese articles, English for the others
    raw = {i: json.loads(line)["content"] for i, line in zip(line_ids(NEWS, NEWS.name), NEWS.open(encoding="utf-8"))}
    for lang in ("zh", "en"):
        for r in rows[lang]:
            assert r["sentences"] == split_sentences(normalize_text(raw[r["doc_id"]], form="none"), lang)


def mixed_corpus(path):
    """Documents of two real Chinese wiki articles with one English paragraph of BERT's sample text between
    them: {doc_id: ([chinese article, chinese article], english paragraph)}."""
    english = [p.replace("\n", " ")[:300] for p in PLAIN.split("\n\n") if len(p) > 200]
    bodies = []
    for line in WIKI.read_text(encoding="utf-8").splitlines()[:40]:
        obj = json.loads(line)
        body = obj["text"][len(obj["title"]):].strip("\n")
        if "\n" not in body and len(body) >= 200:
            bodies.append(body)
    lines, truth, at = [], {}, 0
    for i in range(0, len(bodies) - 1, 2):
        chinese, eng = bodies[i:i + 2], english[i // 2 % len(english)]
        data = (json.dumps({"id": str(i), "url": "", "title": f"t{i}", "text": "\n".join([chinese[0], eng, chinese[1]])},
                           ensure_ascii=False) + "\n").encode()
        truth[f"mixed.json:{at}"] = (chinese, eng)
        lines.append(data)
        at += len(data)
    path.write_bytes(b"".join(lines))
    return truth


def test_paragraph_scope_keeps_the_paragraphs_in_the_wanted_language(tmp_path):
    corpus = tmp_path / "in" / "mixed.json"
    corpus.parent.mkdir()
    truth = mixed_corpus(corpus)
    assert len(truth) >= 10
    for langs, scope in (("zh", "paragraph"), ("en", "paragraph"), ("zh", "document")):
        out = tmp_path / f"{langs}-{scope}"
        build_documents(out, corpus.parent, args=["--lang-filter", langs, "--lang-scope", scope, "--no-dedup"])
        rows = {r["doc_id"]: r for r in load_table(str(out)).to_pylist()}
        assert set(rows) == set(truth), (langs, scope)
        for doc_id, (chinese, english) in truth.items():
            if (langs, scope) == ("zh", "paragraph"):
                want = split_sentences("\n".join(normalize_text(p, form="none") for p in chinese), "zh")
            elif langs == "en":
                want = split_sentences(normalize_text(english, form="none"), "en")
            else:  # the whole document, each paragraph split by its own language's rules
                want = (split_sentences(normalize_text(chinese[0], form="none"), "zh")
                        + split_sentences(normalize_text(english, form="none"), "en")
                        + split_sentences(normalize_text(chinese[1], form="none"), "zh"))
            assert rows[doc_id]["sentences"] == want, (langs, scope, doc_id)
            assert rows[doc_id]["language"] == langs


def test_lang_scope_without_lang_filter_fails_with_one_sentence(tmp_path):
    r = run_cli("build", "documents", "-i", NEWS, "-o", tmp_path / "o", "--lang-scope", "paragraph", ok=False)
    assert r.exit_code == 2 and "--lang-scope goes with --lang-filter" in r.output and "Traceback" not in r.output


# --- quality rules -------------------------------------------------------------------------------------------

@pytest.fixture
def datatrove_ours(monkeypatch):
    """datatrove's filters over our words and symbol set (tests/text/test_quality.py checks each measure)."""
    dt = pytest.importorskip("datatrove.pipeline.filters")
    import unicodedata

    from datatrove.pipeline.filters import gopher_quality_filter as dq
    from datatrove.pipeline.filters import gopher_repetition_filter as dr

    class Symbols:  # Unicode punctuation, symbols and controls
        def __contains__(self, ch):
            return unicodedata.category(ch)[0] in "PSC"

    monkeypatch.setattr(dq, "PUNCTUATION_SET", Symbols())
    for module in (dq, dr):
        monkeypatch.setattr(module, "split_into_words", lambda t, language=None: words_of(t))
    return dt


DATATROVE_NAMES = {
    "gopher_short_doc": "min_words", "gopher_long_doc": "max_words",
    "gopher_below_avg_threshold": "min_mean_word_length", "gopher_above_avg_threshold": "max_mean_word_length",
    "gopher_too_many_hashes": "hash_word_ratio", "gopher_too_many_ellipsis": "ellipsis_word_ratio",
    "gopher_too_many_bullets": "bullet_lines_frac", "gopher_too_many_end_ellipsis": "ellipsis_lines_frac",
    "gopher_below_alpha_threshold": "alpha_words_frac", "gopher_enough_stop_words": "stop_words"}


def datatrove_reason(text):
    """datatrove's verdict on one normalized document: GopherQualityFilter then GopherRepetitionFilter at their
    defaults (the order Gopher applies them), with our two CJK adaptations (no English word-length and
    stop-word rules; character n-grams without spaces); our rule name for its reason."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import gopher_quality_filter as dq
    from datatrove.pipeline.filters import gopher_repetition_filter as dr

    cjk = cjk_ratio(text) >= CJK_DOCUMENT_RATIO
    extra = dict(min_avg_word_length=None, max_avg_word_length=None, min_stop_words=None) if cjk else {}
    get_n_grams = dr.get_n_grams
    try:
        if cjk:
            dr.get_n_grams = lambda words, n: ["".join(words[i:i + n]) for i in range(len(words) - n + 1)]
        for f in (dq.GopherQualityFilter(**extra), dr.GopherRepetitionFilter()):
            result = f.filter(Document(text=text, id="x"))
            if result is not True:
                reason = result[1]
                if reason.startswith("duplicated_"):
                    return f"dup_{reason.split('_')[1]}_gram_frac"
                if reason.startswith("top_"):
                    return reason + "_frac"
                return DATATROVE_NAMES.get(reason, reason)
        return None
    finally:
        dr.get_n_grams = get_n_grams


def test_gopher_preset_removes_what_datatrove_removes(tmp_path, datatrove_ours):
    from collections import Counter

    web = SAMPLE / "webtext2019zh" / "web_text_zh_valid.json"
    docs = [("news2016zh", json.loads(line)["content"]) for line in NEWS.open(encoding="utf-8")]
    docs += [("webtext2019zh", json.loads(line)["content"]) for line in web.open(encoding="utf-8")][:400]
    for line in WIKI.open(encoding="utf-8"):
        obj = json.loads(line)
        text = obj["text"][len(obj["title"]):] if obj["text"].startswith(obj["title"] + "\n") else obj["text"]
        docs.append(("wiki2019zh", text))
    expected, per_source = Counter(), {}
    for source, raw in docs:
        text = normalize_text(raw, form="none")
        reason = "too_short" if sum(map(len, split_sentences(text))) < 10 else datatrove_reason(text)
        expected[reason] += 1
        if reason:
            per_source.setdefault(source, Counter())[reason] += 1
    kept = expected.pop(None)
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "news.json").write_bytes(NEWS.read_bytes())
    (inp / "web.json").write_bytes(b"".join(web.read_bytes().splitlines(keepends=True)[:400]))
    (inp / "wiki.json").write_bytes(WIKI.read_bytes())
    out = tmp_path / "out"
    build_documents(out, inp, args=["--quality", "gopher", "--no-dedup"])
    m = read_manifest(str(out))
    assert m["input"]["filtered_by_reason"] == dict(sorted(expected.items())) and m["rows"] == kept
    assert m["filtered_by_source"] == {s: dict(sorted(c.items())) for s, c in sorted(per_source.items())}
    assert len(expected) >= 5 and kept >= 100  # several rules at work, and most articles kept
    assert m["params"]["quality"]["dup_line_frac"] == 0.3 and len(m["params"]["quality"]) == 23


@pytest.mark.parametrize("args, words", [
    (["--quality", "gopher,nonsense"], "'nonsense' is neither a quality rule nor a preset"),
    (["--quality", "gopher", "--quality-threshold", "dup_line_frac=lots"], "'lots' is not a number"),
    (["--quality-threshold", "dup_line_frac=0.2"], "names a rule that --quality does not turn on"),
])
def test_bad_quality_options_fail_with_one_sentence(tmp_path, args, words):
    r = run_cli("build", "documents", "-i", NEWS, "-o", tmp_path / "o", *args, ok=False)
    assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_quality_threshold_overrides_the_default(tmp_path):
    strict, loose = tmp_path / "strict", tmp_path / "loose"
    build_documents(strict, WIKI, args=["--quality", "min_words"])
    build_documents(loose, WIKI, args=["--quality", "min_words", "--quality-threshold", "min_words=400"])
    objs = [json.loads(line) for line in WIKI.open(encoding="utf-8")]
    texts = [normalize_text(o["text"][len(o["title"]):], form="none") for o in objs]  # the reader drops the title
    counts = [len([w for w in words_of(t) if any(c.isalnum() for c in w)]) for t in texts]
    assert read_manifest(str(strict))["input"]["filtered_by_reason"].get("min_words", 0) == sum(c < 50 for c in counts)
    assert read_manifest(str(loose))["input"]["filtered_by_reason"]["min_words"] == sum(c < 400 for c in counts) > 0


# --- accounting, determinism, the report ----------------------------------------------------------------------

CLEAN = ["--lang-filter", "zh,en", "--lang-scope", "paragraph", "--quality", "gopher,line_punct_frac",
         "--near-dedup", "--num-shards", "2"]


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    """The whole sample corpus plus a copy of some news articles and a broken line, cleaned with every option."""
    root = tmp_path_factory.mktemp("clean")
    inp = root / "in"
    inp.mkdir()
    news = NEWS.read_bytes().splitlines(keepends=True)
    (inp / "news.json").write_bytes(b"".join(news[:60]) + b'{"news_id": "x", "content": \n' + b"".join(news[120:]))
    (inp / "news_repost.json").write_bytes(b"".join(news[:20]))  # exact copies: duplicate
    (inp / "wiki.json").write_bytes(WIKI.read_bytes())
    (inp / "web.json").write_bytes(b"".join((SAMPLE / "webtext2019zh" / "web_text_zh_valid.json").read_bytes()
                                            .splitlines(keepends=True)[:300]))
    (inp / "plain.txt").write_text(PLAIN, encoding="utf-8")
    one = root / "one"
    build_documents(one, inp, args=CLEAN + ["--direct_num_workers=1"])
    return inp, one


def test_accounting_with_the_new_reasons(cleaned):
    _, out = cleaned
    m = read_manifest(str(out))
    acc = m["input"]
    assert acc["read"] == acc["kept"] + acc["filtered"] + acc["rejected"] == 60 + 40 + 20 + 120 + 300 + 3 + 1
    # each of the 20 reposted articles that passes the filters is kept once, its copy counted as a duplicate
    inp, _ = cleaned
    kept_ids = set(load_table(str(out)).column("doc_id").to_pylist())
    reposted = zip(line_ids(inp / "news.json", "news.json")[:20], line_ids(inp / "news_repost.json", "news_repost.json"))
    survivors = sum(bool({a, b} & kept_ids) for a, b in reposted)
    assert acc["rejected_by_reason"] == {"malformed_json": 1} and acc["filtered_by_reason"]["duplicate"] == survivors > 5
    assert {"wrong_language", "min_words", "line_punct_frac"} <= set(acc["filtered_by_reason"])
    assert sum(acc["filtered_by_reason"].values()) == acc["filtered"] and acc["kept"] == m["rows"]
    # per source: every reason but the exact duplicates (dropped by the shard writer)
    by_reason = {}
    for reasons in m["filtered_by_source"].values():
        for reason, n in reasons.items():
            by_reason[reason] = by_reason.get(reason, 0) + n
    assert by_reason == {k: v for k, v in acc["filtered_by_reason"].items() if k != "duplicate"}
    examples = [json.loads(line) for line in (out / "filtered_examples.jsonl").read_text(encoding="utf-8").splitlines()]
    for reason, n in by_reason.items():
        mine = [e for e in examples if e["reason"] == reason]
        assert len(mine) == min(n, 5) and not {e["doc_id"] for e in mine} & kept_ids, reason
    assert verify_dataset(str(out)) == []


def test_one_and_two_workers_give_identical_bytes(cleaned, tmp_path):
    inp, one = cleaned
    two = tmp_path / "two"
    build_documents(two, inp, args=CLEAN + ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    names = sorted(n for n in os.listdir(one) if n.endswith((".arrow", ".jsonl")))
    assert names == ["data-00000-of-00002.arrow", "data-00001-of-00002.arrow", "filtered_examples.jsonl",
                     "near_duplicates.jsonl"]
    assert {n: (one / n).read_bytes() for n in names} == {n: (two / n).read_bytes() for n in names}
    assert (one / "rejects" / "rejects.jsonl").read_bytes() == (two / "rejects" / "rejects.jsonl").read_bytes()
    assert read_manifest(str(one)) == read_manifest(str(two))


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_cleaning_report(cleaned, tmp_path):
    _, out = cleaned
    m = read_manifest(str(out))
    report = tmp_path / "report"
    r = run_cli("inspect", out, "--report", report)
    assert "report.md" in r.output
    md = (report / "report.md").read_text(encoding="utf-8")
    acc = m["input"]
    assert f"read {acc['read']:,} = kept {acc['kept']:,} + filtered {acc['filtered']:,} + rejected {acc['rejected']:,}" in md
    for reason, n in acc["filtered_by_reason"].items():
        assert f"| {reason} | {n:,} |" in md
        if reason != "duplicate":
            assert f"### {reason}" in md  # its examples
    table = load_table(str(out))
    for source in set(table.column("source").to_pylist()):
        kept = table.column("source").to_pylist().count(source)
        assert f"| {source} | {kept:,} |" in md
    langs = table.column("language").to_pylist()
    assert f"| zh | {langs.count('zh'):,} |" in md and f"| en | {langs.count('en'):,} |" in md
    near = [json.loads(x) for x in (out / "near_duplicates.jsonl").read_text(encoding="utf-8").splitlines()]
    assert f"{len(near):,} documents removed" in md
    for name in ("removed_by_rule.png", "by_source.png", "cluster_sizes.png", "languages.png"):
        w, h = png_size(report / name)
        assert w >= 500 and h >= 200, name
    assert verify_dataset(str(out)) == []  # the dataset is untouched
    again = run_cli("inspect", out, "--report", report, ok=False)
    assert again.exit_code == 1 and "pass --overwrite" in again.output
    run_cli("inspect", out, "--report", report, "--overwrite")
    inside = run_cli("inspect", out, "--report", out / "r", ok=False)
    assert inside.exit_code == 1 and "inside the dataset" in inside.output and not (out / "r").exists()


def test_the_report_of_a_plain_build_and_its_default_directory(tmp_path):
    out = tmp_path / "docs"
    build_documents(out, SAMPLE / "news2016zh")
    run_cli("inspect", out, "--report")
    md = (tmp_path / "docs-report" / "report.md").read_text(encoding="utf-8")
    assert "built without --near-dedup" in md and "CLD2 on the first 200 of 200 documents" in md
    assert "| zh | 161 |" in md and "| en | 39 |" in md  # the sample news: 161 Chinese, 39 English articles
    assert "Removals per source are recorded by builds with" in md


def test_the_report_refuses_other_kinds(tmp_path, sample_tokenized):
    r = run_cli("inspect", sample_tokenized, "--report", tmp_path / "r", ok=False)
    assert r.exit_code == 1 and "is a tokenized dataset" in r.output and "Traceback" not in r.output


def test_a_damaged_examples_file_is_one_sentence(cleaned, tmp_path):
    import shutil

    _, out = cleaned
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "filtered_examples.jsonl").write_bytes(b'{"reason": 1}\n[\n\xff')
    r = run_cli("inspect", copy, "--report", tmp_path / "r", ok=False)
    assert r.exit_code == 1 and "is not the JSON lines the build wrote" in r.output and "Traceback" not in r.output
    (copy / "filtered_examples.jsonl").write_text('{"reason": 1}\n', encoding="utf-8")
    r = run_cli("inspect", copy, "--report", tmp_path / "r", ok=False)
    assert r.exit_code == 1 and "has rows without the string fields" in r.output


def test_build_dedup_keeps_the_language_columns_and_refuses_to_reclean(cleaned, tmp_path):
    _, out = cleaned
    again = tmp_path / "again"
    run_cli("build", "dedup", "-i", out, "-o", again)
    rows = lambda d: sorted(load_table(str(d)).to_pylist(), key=lambda r: r["doc_id"])  # noqa: E731
    assert rows(again) == rows(out)  # nothing left to remove; language and language_score kept
    r = run_cli("build", "dedup", "-i", out, "-o", tmp_path / "x", "--quality", "gopher", ok=False)
    assert r.exit_code == 1 and "is not cleaned again" in r.output and not (tmp_path / "x").exists()
