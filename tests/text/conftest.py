import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data" / "text"


def _jsonl(name, key, text_field):
    with open(DATA / name, encoding="utf-8") as f:
        return {d[key]: d[text_field] for d in map(json.loads, f)}


@pytest.fixture(scope="session")
def wiki():
    """wiki2019zh sample: id -> text."""
    return _jsonl("wiki_zh_sample.jsonl", "id", "text")


@pytest.fixture(scope="session")
def news():
    """news2016zh sample: news_id -> content."""
    return _jsonl("news2016zh_sample.jsonl", "news_id", "content")


@pytest.fixture(scope="session")
def webtext():
    """webtext2019zh sample: qid -> content."""
    return _jsonl("webtext2019zh_sample.jsonl", "qid", "content")


@pytest.fixture(scope="session")
def bert_docs():
    """BERT sample text: documents as lists of lines (one sentence per line)."""
    docs = [[]]
    for line in (DATA / "bert_sample_text.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            docs[-1].append(line.strip())
        elif docs[-1]:
            docs.append([])
    return [d for d in docs if d]


@pytest.fixture(scope="session")
def all_texts(wiki, news, webtext, bert_docs):
    return [*wiki.values(), *news.values(), *webtext.values(), *("\n".join(d) for d in bert_docs)]
