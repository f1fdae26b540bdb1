import bz2
import gzip
import shutil
import zipfile

import pytest

from corpusforge.sources.files import InputError, expand_inputs
from corpusforge.sources.formats import Document, ReadOptions, plan_splits, read_split
from tests.conftest import SAMPLE


def read_all(paths, **opts):
    options = ReadOptions(**opts)
    out = []
    for f in expand_inputs([str(p) for p in paths]):
        for split in plan_splits(f, options):
            out.extend(read_split(split, options))
    return out


def texts(records):
    return sorted((r.source, r.text) for r in records if isinstance(r, Document))


def test_directory_walk_is_recursive_sorted_and_skips_readme():
    files = expand_inputs([str(SAMPLE)])
    names = [f.name for f in files]
    assert names == sorted(names)
    assert "wiki_zh/AA/wiki_00" in names and "plain/bert_sample_text.txt" in names
    assert not any("README" in n for n in names)


def test_glob_and_file_inputs():
    files = expand_inputs([str(SAMPLE / "wiki_zh" / "AA" / "wiki_0*"), str(SAMPLE / "plain" / "bert_sample_text.txt")])
    assert [f.name for f in files] == ["plain/bert_sample_text.txt", "wiki_zh/AA/wiki_00", "wiki_zh/AA/wiki_01"]
    assert all(f.size > 0 for f in files)


def test_missing_input_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        expand_inputs([str(tmp_path / "nope.json")])
    with pytest.raises(InputError, match="matches no files"):
        expand_inputs([str(tmp_path / "*.json")])


@pytest.mark.parametrize("split_bytes", [50, 997, 4096])
def test_parallel_splits_read_every_record_exactly_once(split_bytes):
    """Byte-range splits (JSON lines and blank-line separated plain text) = reading each file whole."""
    whole = read_all([SAMPLE])
    split = read_all([SAMPLE], split_bytes=split_bytes)
    assert len(split) == len(whole) == len(set(r.doc_id for r in whole))
    assert sorted(r.doc_id for r in split) == sorted(r.doc_id for r in whole)
    assert texts(split) == texts(whole)


def test_compressed_inputs_read_like_the_originals(tmp_path):
    wiki = SAMPLE / "wiki_zh" / "AA" / "wiki_00"
    plain = SAMPLE / "plain" / "bert_sample_text.txt"
    with gzip.open(tmp_path / "wiki_00.gz", "wb") as f:
        f.write(wiki.read_bytes())
    with bz2.open(tmp_path / "bert.txt.bz2", "wb") as f:
        f.write(plain.read_bytes())
    expected = texts(read_all([wiki, plain]))
    assert len(expected) == 123
    assert texts(read_all([tmp_path])) == expected


def test_zip_of_the_wiki_tree(tmp_path):
    """wiki2019zh is distributed as a .zip of the wiki_zh/AA/wiki_00 ... tree."""
    archive = tmp_path / "wiki_zh_2019.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted((SAMPLE / "wiki_zh").rglob("wiki_*")):
            z.write(p, "wiki_zh/" + str(p.relative_to(SAMPLE / "wiki_zh")))
    records = read_all([archive])
    assert texts(records) == texts(read_all([SAMPLE / "wiki_zh"]))
    assert {r.source for r in records} == {"wiki2019zh"}
    assert records[0].doc_id.startswith("wiki_zh_2019.zip/wiki_zh/AA/wiki_00:")


def test_doc_ids_do_not_depend_on_where_the_corpus_lives(tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(SAMPLE, copy)
    assert sorted(r.doc_id for r in read_all([copy])) == sorted(r.doc_id for r in read_all([SAMPLE]))
