import bz2
import gzip
import shutil
import zipfile

import pytest

from corpusforge.sources.files import InputError, expand_inputs
from corpusforge.sources.formats import Document, ReadOptions, Reject, plan_splits, read_split
from tests.conftest import SAMPLE


def read_all(paths, **opts):
    options = ReadOptions(**opts)
    out = []
    for f in expand_inputs([str(p) for p in paths]):
        for split in plan_splits(f, options):
            out.extend([split] if isinstance(split, Reject) else read_split(split, options))
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


def test_split_size_follows_the_input_size():
    from corpusforge.sources.files import MIN_SPLIT_BYTES, SPLIT_BYTES, byte_ranges, split_bytes_for

    assert split_bytes_for(10_000) == MIN_SPLIT_BYTES and split_bytes_for(10 << 40) == SPLIT_BYTES
    # 143 MB (10x the shared corpora) in one file: enough ranges to keep several workers busy
    assert len(byte_ranges(143_000_000, split_bytes_for(143_000_000))) >= 32


def test_ranges_inside_one_long_line_read_only_their_own_bytes(tmp_path):
    """A range that starts inside a line running past its end owns no record and must not read the
    rest of that line (with small ranges over a 4 MB line that was quadratic)."""
    import io

    from corpusforge.sources.files import byte_ranges, iter_lines

    data = b'{"text": "short"}\n' + b"x" * (4 << 20) + b"\n" + b'{"text": "after"}\n'
    path = tmp_path / "long.jsonl"
    path.write_bytes(data)

    class Counting(io.FileIO):
        read_bytes = 0

        def readinto(self, b):
            n = super().readinto(b)
            Counting.read_bytes += n or 0
            return n

    lines = []
    for start, end in byte_ranges(len(data), 64 << 10):
        with io.BufferedReader(Counting(path), 8192) as f:
            lines += [line for _, line in iter_lines(f, start, end, 16 << 20)]
    assert [len(x) for x in lines] == [18, (4 << 20) + 1, 18]
    assert Counting.read_bytes < 3 * len(data)
