"""--near-dedup end to end on real text: a near-duplicate set made from the sample news and wiki
articles by known edits, checked against exact Jaccard similarities computed brute force."""
import json
import os
import re
import shutil

import pytest

from corpusforge.dataset.reader import load_table, read_manifest
from corpusforge.text import normalize_text, split_sentences
from tests.conftest import SAMPLE, build_documents, run_cli
from tests.pipelines.test_portable import portable_args  # noqa: F401 (the job service and worker pool fixture)

NEAR = ["--near-dedup", "--format", "jsonl"]


def _articles(path, field):
    with open(path, encoding="utf-8") as f:
        return [split_sentences(normalize_text(json.loads(line)[field])) for line in f]


def shingles(text, n=5):
    """Exact shingle set, written out independently: characters without whitespace/punctuation."""
    s = re.sub(r"[\W_]+", "", text.lower())
    return {s[i:i + n] for i in range(max(1, len(s) - n + 1))}


def jaccard(a, b):
    return len(a & b) / len(a | b)


def delete_until(sentences, low):
    """Deletes the shortest sentence (not the first) again and again while the exact Jaccard to the
    whole stays >= low."""
    base, kept = shingles("".join(sentences)), list(sentences)
    while len(kept) > 2:
        k = min(range(1, len(kept)), key=lambda k: len(kept[k]))
        shorter = kept[:k] + kept[k + 1:]
        if jaccard(base, shingles("".join(shorter))) < low:
            break
        kept = shorter
    return "".join(kept)


def near_corpus():
    """name -> text: families of a base article and edited copies (the edit is in the name), a chain
    of overlapping windows over one long article, and 150 notices sharing one boilerplate text."""
    def plain(s):  # long enough, and not repeating itself (its first half is about half its shingles)
        text = "".join(s)
        return len(s) >= 12 and 0.45 <= jaccard(shingles(text[:len(text) // 2]), shingles(text)) <= 0.55

    news = [s for s in _articles(SAMPLE / "news2016zh" / "news2016zh_train.json", "content")
            if re.search("[\u4e00-\u9fff]", s[0]) and plain(s)]
    wiki = [s for s in _articles(SAMPLE / "wiki_zh" / "AA" / "wiki_00", "text") if plain(s)]
    bases = news[:12] + wiki[:12]
    docs = {}
    for i, s in enumerate(bases):
        m, other = len(s), bases[(i + 1) % len(bases)]
        docs[f"{i}/base"] = "".join(s)
        shortest = min(range(1, m), key=lambda k: (len(s[k]) < 10, len(s[k])))  # of >= 10 characters
        docs[f"{i}/delete1"] = "".join(s[:shortest] + s[shortest + 1:])
        inserted = min((x for x in other if len(x) >= 10), key=len)  # another article's shortest sentence
        docs[f"{i}/insert1"] = "".join(s[:m // 3] + [inserted] + s[m // 3:])
        docs[f"{i}/punctuation"] = " ".join(s).replace("，", ", ").replace("。", ". ").replace("、", " ")
        docs[f"{i}/delete_to_0.8"] = delete_until(s, 0.8)
        docs[f"{i}/delete_to_0.6"] = delete_until(s, 0.6)
        text = "".join(s)
        docs[f"{i}/first_half"] = text[:len(text) // 2]  # J about 0.5 and 0.33 to the base
        docs[f"{i}/first_third"] = text[:len(text) // 3]
    rest = news[12:]  # none of the bases
    long = max(rest, key=len)
    assert len(long) >= 60
    for i in range(30):
        docs[f"chain/{i:02d}"] = "".join(long[i:i + 24])
    boiler = max(("".join(s) for s in rest if s is not long), key=len)
    unique = [x for s in wiki[12:] for x in s if 12 <= len(x) <= 40]
    for i in range(150):
        docs[f"notice/{i:03d}"] = f"第{i}号通知。" + boiler + unique[i]
    return docs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The corpus as one JSON lines file in a seeded order; (dir, name -> doc_id, name -> text)."""
    import random

    docs = near_corpus()
    names = sorted(docs)
    random.Random(3).shuffle(names)  # so the kept (smallest doc_id) copy is not always the base
    root = tmp_path_factory.mktemp("near") / "corpus"
    root.mkdir()
    ids, offset = {}, 0
    with open(root / "near.jsonl", "wb") as f:
        for name in names:
            line = (json.dumps({"text": docs[name]}, ensure_ascii=False) + "\n").encode()
            ids[name], offset = f"near.jsonl:{offset}", offset + len(line)
            f.write(line)
    return root, ids, docs


@pytest.fixture(scope="module")
def truth(corpus):
    """Exact Jaccard of every pair; the connected components of the pairs at >= 0.8 (union-find)."""
    _, ids, docs = corpus
    names = sorted(docs)
    sets = {n: shingles(docs[n]) for n in names}
    parent = {n: n for n in names}

    def find(n):
        while parent[n] != n:
            n = parent[n]
        return n

    similar = set()
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            small, large = sorted((len(sets[a]), len(sets[b])))
            if small >= 0.8 * large and jaccard(sets[a], sets[b]) >= 0.8:  # J <= small/large
                similar.add((a, b))
                parent[find(a)] = find(b)
    return {n: find(n) for n in names}, similar, sets


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    root, _, _ = corpus
    out = tmp_path_factory.mktemp("near") / "out"
    build_documents(out, root, args=NEAR)
    return out


def removed_of(out):
    with open(out / "near_duplicates.jsonl", encoding="utf-8") as f:
        return {r["doc_id"]: r["kept_doc_id"] for r in map(json.loads, f)}


def pairs(clusters):
    groups = {}
    for n, c in clusters.items():
        groups.setdefault(c, []).append(n)
    return {(a, b) for g in groups.values() for a in g for b in g if a < b}


def test_stated_jaccard_levels_of_the_edits(corpus, truth):
    _, _, docs = corpus
    _, _, sets = truth
    for i in range(24):
        j = {edit: jaccard(sets[f"{i}/base"], sets[f"{i}/{edit}"])
             for edit in ("delete1", "insert1", "punctuation", "delete_to_0.8", "delete_to_0.6", "first_half",
                          "first_third")}
        assert j["punctuation"] == 1.0 and docs[f"{i}/punctuation"] != docs[f"{i}/base"]
        assert 0.85 <= j["delete1"] < 1 and 0.85 <= j["insert1"] < 1
        assert 0.8 <= j["delete_to_0.8"] < 0.87 and 0.6 <= j["delete_to_0.6"] < 0.7, j
        assert 0.45 <= j["first_half"] <= 0.55 and 0.25 <= j["first_third"] <= 0.4
    chain = [sets[f"chain/{i:02d}"] for i in range(30)]
    assert min(jaccard(a, b) for a, b in zip(chain, chain[1:])) >= 0.85
    assert jaccard(chain[0], chain[-1]) < 0.2  # one cluster only through its links
    notices = [sets[f"notice/{i:03d}"] for i in range(150)]
    assert min(jaccard(notices[0], n) for n in notices[1:]) >= 0.9


def test_clusters_match_the_exact_jaccard_components(corpus, truth, built):
    _, ids, docs = corpus
    components, similar, _ = truth
    by_id = {v: k for k, v in ids.items()}
    removed = {by_id[d]: by_id[k] for d, k in removed_of(built).items()}
    kept = {by_id[d] for d in load_table(str(built)).column("doc_id").to_pylist()}
    assert kept | set(removed) == set(docs) and not kept & set(removed)
    assert all(k in kept for k in removed.values())
    predicted = {n: removed.get(n, n) for n in docs}
    expected, found = pairs(components), pairs(predicted)
    recall, precision = len(expected & found) / len(expected), len(expected & found) / len(found)
    assert recall >= 0.95 and precision >= 0.99, (recall, precision)
    # every directly similar pair (J >= 0.8) ends in one cluster
    assert sum(predicted[a] == predicted[b] for a, b in similar) / len(similar) >= 0.95
    # what a cluster keeps: its smallest doc_id
    for n, k in removed.items():
        assert ids[k] == min(ids[m] for m in docs if predicted[m] == k)
    # documents at J <= 0.6 to every other document stay
    assert all(f"{i}/first_third" in kept for i in range(24))
    assert sum(f"{i}/first_half" in kept for i in range(24)) >= 23
    assert len({predicted[f"chain/{i:02d}"] for i in range(30)}) == 1
    assert len({predicted[f"notice/{i:03d}"] for i in range(150)}) == 1  # a hot bucket: 150 members


def test_accounting_and_the_near_duplicates_file(built):
    m = read_manifest(str(built))
    acc = m["input"]
    removed = removed_of(built)
    assert acc["read"] == acc["kept"] + acc["filtered"] + acc["rejected"] == 372
    assert acc["filtered_by_reason"] == {"near_duplicate": len(removed)} and acc["kept"] == m["rows"]
    assert [f["file"] for f in m["files"]] == ["filtered_examples.jsonl", "near_duplicates.jsonl"]
    assert m["files"][1]["rows"] == len(removed) and m["files"][0]["rows"] == 5  # 5 examples of near_duplicate
    assert m["params"]["near_dedup"] is True and m["params"]["bands"] == 18
    lines = (built / "near_duplicates.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines == sorted(lines, key=lambda line: json.loads(line)["doc_id"])
    assert run_cli("verify", built).exit_code == 0


def shard_bytes(out):
    return {n: (out / n).read_bytes() for n in sorted(os.listdir(out)) if n.endswith((".arrow", ".jsonl"))}


def test_one_and_two_workers_give_identical_bytes(corpus, built, tmp_path):
    root, _, _ = corpus
    two = tmp_path / "two"
    build_documents(two, root, args=NEAR + ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    assert shard_bytes(built) == shard_bytes(two)
    assert read_manifest(str(built)) == read_manifest(str(two))


@pytest.mark.portable
def test_portable_runner_gives_identical_bytes(corpus, built, tmp_path, portable_args):  # noqa: F811
    out = tmp_path / "portable"
    build_documents(out, corpus[0], args=NEAR + portable_args)
    assert shard_bytes(built) == shard_bytes(out)
    assert read_manifest(str(built)) == read_manifest(str(out))


def test_build_dedup_over_a_documents_dataset(corpus, built, tmp_path):
    root, _, _ = corpus
    plain, deduped = tmp_path / "plain", tmp_path / "deduped"
    build_documents(plain, root, args=["--format", "jsonl"])
    m = read_manifest(str(plain))
    assert "near_dedup" not in m["params"] and "files" not in m and m["rows"] == 372
    run_cli("build", "dedup", "-i", plain, "-o", deduped)
    assert removed_of(deduped) == removed_of(built)
    assert read_manifest(str(deduped))["input"]["filtered_by_reason"] == read_manifest(str(built))["input"][
        "filtered_by_reason"]


def test_exact_copies_stay_exact_duplicates_and_rows_are_unchanged(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE / "wiki_zh", corpus / "a")
    shutil.copytree(SAMPLE / "wiki_zh", corpus / "b")
    with_near, without = tmp_path / "near", tmp_path / "plain"
    build_documents(with_near, corpus, args=["--near-dedup"])
    build_documents(without, corpus)
    assert read_manifest(str(with_near))["input"]["filtered_by_reason"] == {"duplicate": 180}
    assert (with_near / "near_duplicates.jsonl").read_bytes() == b""
    a, b = shard_bytes(with_near), shard_bytes(without)
    assert a.pop("near_duplicates.jsonl") == b"" and a.pop("filtered_examples.jsonl") == b"" and a == b


def test_bad_options_fail_with_one_sentence(tmp_path):
    r = run_cli("build", "documents", "-i", SAMPLE / "plain", "-o", tmp_path / "o", "--near-dedup", "--bands", "200",
                ok=False)
    assert r.exit_code == 2 and "--bands 200 is more than --num-perm 128" in r.output and "Traceback" not in r.output
    r = run_cli("build", "documents", "-i", SAMPLE / "plain", "-o", tmp_path / "o", "--near-dedup",
                "--near-threshold", "0", ok=False)
    assert r.exit_code == 2 and "--near-threshold" in r.output
    assert not (tmp_path / "o").exists()


def _components(edges, rounds):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from corpusforge.beam.neardedup import Components
    from corpusforge.beam.runner import make_pipeline, pipeline_options

    nodes = sorted({n for e in edges for n in e})
    root = {n: n for n in nodes}  # the reference: union-find, each component labelled by its smallest node
    for a, b in edges:
        ra, rb = root[a], root[b]
        while root[ra] != ra:
            ra = root[ra]
        while root[rb] != rb:
            rb = root[rb]
        root[max(ra, rb)] = min(ra, rb)

    def find(n):
        while root[n] != n:
            n = root[n]
        return n

    with make_pipeline(pipeline_options([])) as p:
        labels = p | beam.Create(edges) | Components(rounds)
        assert_that(labels, equal_to([(n, find(n)) for n in nodes]))


def test_components_follow_long_chains_in_few_rounds():
    import random

    rng = random.Random(5)
    path = [f"{i:04d}" for i in range(1000)]
    rng.shuffle(path)  # a path of 999 edges through the nodes in a random order, plus three stars
    edges = list(zip(path, path[1:])) + [(f"s{k}", f"s{k}-{i}") for k in range(3) for i in range(40)]
    _components(edges, rounds=8)


def test_components_refuse_an_unconverged_result():
    path = [f"{i:04d}" for i in range(300)]
    with pytest.raises(Exception, match="did not converge in 2 rounds"):
        _components(list(zip(path[::-1], path[::-1][1:])), rounds=2)


def test_clusters_that_do_not_converge_end_the_build_with_one_sentence(corpus, tmp_path, monkeypatch):
    from corpusforge.beam import neardedup

    monkeypatch.setattr(neardedup, "ROUNDS", 1)  # the chain of 30 windows needs more
    r = run_cli("build", "documents", "-i", corpus[0], "-o", tmp_path / "o", *NEAR, ok=False)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "Error: near-duplicate clusters did not converge in 1 rounds (at near.jsonl:" in r.output
    assert r.output.rstrip().endswith("more near-duplicates than that; nothing was written") and not (tmp_path / "o").exists()
