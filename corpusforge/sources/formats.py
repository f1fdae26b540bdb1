"""Raw corpus layouts -> Document records, and Reject records for everything unreadable.

One reader per layout. The JSON-lines layouts differ only in which fields hold the text and
the title, so they share one line reader and a small table of field rules (FORMATS).
"""
from __future__ import annotations

import codecs
import json
import shutil
import tempfile
from dataclasses import dataclass
from typing import Callable, Iterator

from corpusforge.sources.files import (
    InputFile,
    Split,
    TooLong,
    Unreadable,
    byte_ranges,
    compression_of,
    is_utf8,
    iter_lines,
    open_raw,
    open_stream,
    read_head,
    zip_members,
)


@dataclass(frozen=True)
class ReadOptions:
    fmt: str = "auto"  # a FORMATS name, "plain", "parquet", or "auto" (per file)
    text_field: str = "text"  # jsonl / parquet
    title_field: str | None = None  # jsonl / parquet
    side: str = "chinese"  # translation2019zh: which side is the text; "pair": both (a PAIRS document)
    max_record_bytes: int = 16 << 20  # a longer record is rejected, never held whole
    split_bytes: int = 64 << 20
    encoding: str = "utf-8"  # of the raw text; anything else is transcoded to UTF-8 as it is read


class Document:
    """One raw record as read from a corpus file, before cleaning and sentence splitting (a tokenized
    document, as instances are built from it, is corpusforge.objectives.instances.TokenizedDocument)."""

    __slots__ = ("doc_id", "source", "title", "text")

    def __init__(self, doc_id: str, source: str, title: str, text: str):
        self.doc_id, self.source, self.title, self.text = doc_id, source, title, text

    def __repr__(self):
        return f"Document({self.doc_id!r}, {self.source!r}, {self.title!r}, {self.text[:40]!r})"


class Reject:
    """A record that could not be read, with where it came from and why."""

    __slots__ = ("reason", "file", "line", "offset", "excerpt", "detail")

    def __init__(self, reason, file, offset, excerpt=b"", line=None, detail=""):
        self.reason, self.file, self.offset, self.line = reason, file, offset, line
        if isinstance(excerpt, bytes):
            excerpt = excerpt[:300].decode("utf-8", "replace")
        self.excerpt, self.detail = excerpt[:200], detail[:300]

    def as_dict(self) -> dict:
        return {s: getattr(self, s) for s in self.__slots__}

    def __repr__(self):
        return f"Reject({self.reason!r}, {self.file!r}@{self.offset})"


class BadRecord(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _reason(e: Exception, default: str) -> str:
    """The reject reason for any exception from reading: the layer's own (BadRecord, Unreadable), the
    decoder's kind, else `default`."""
    if isinstance(e, (BadRecord, Unreadable)):
        return e.reason
    if isinstance(e, UnicodeDecodeError):
        return "invalid_utf8"
    if isinstance(e, RecursionError):
        return "nested_too_deep"  # deeper than the JSON parser's recursion limit
    return default


def _detail(e: Exception) -> str:
    if isinstance(e, BadRecord):
        return e.detail
    return str(e) if isinstance(e, Unreadable) else f"{type(e).__name__}: {e}"


def _field(obj: dict, key: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise BadRecord("missing_text_field", f"field {key!r} is missing or null")
        return ""
    if not isinstance(value, str):
        raise BadRecord("wrong_field_type", f"field {key!r} is {type(value).__name__}, not a string")
    return value


def _wiki(obj: dict, opts: ReadOptions) -> tuple[str, str]:
    title, text = _field(obj, "title", False), _field(obj, "text")
    # wiki2019zh repeats the title as the text's first paragraph
    if title and text.startswith(title + "\n"):
        text = text[len(title):]
    return title, text


def _baike(obj: dict, opts: ReadOptions) -> tuple[str, str]:
    answer = _field(obj, "answer")
    desc = _field(obj, "desc", False)
    return _field(obj, "title", False), f"{desc}\n{answer}" if desc else answer


def _by_fields(text_key: str, title_key: str | None = None) -> Callable:
    def get(obj: dict, opts: ReadOptions) -> tuple[str, str]:
        return (_field(obj, title_key, False) if title_key else ""), _field(obj, text_key)

    return get


def _translation(obj: dict, opts: ReadOptions) -> tuple[str, str]:
    if opts.side != "pair":
        return "", _field(obj, opts.side)
    # a pair: each side on one line (a translation pair is a sentence per side), Chinese first
    sides = [" ".join(_field(obj, key).splitlines()) for key in ("chinese", "english")]
    if not all(side.strip() for side in sides):
        raise BadRecord("empty_side", "the chinese or the english side is empty")
    return "", "\n".join(sides)


def _jsonl(obj: dict, opts: ReadOptions) -> tuple[str, str]:
    title = _field(obj, opts.title_field, False) if opts.title_field else ""
    return title, _field(obj, opts.text_field)


# JSON-lines layouts: name -> (fields that identify it, how to get (title, text))
FORMATS: dict[str, tuple[frozenset, Callable]] = {
    "wiki2019zh": (frozenset({"id", "url", "title", "text"}), _wiki),
    "news2016zh": (frozenset({"news_id", "content"}), _by_fields("content", "title")),
    "webtext2019zh": (frozenset({"qid", "answer_id", "content"}), _by_fields("content", "title")),
    "baike2018qa": (frozenset({"qid", "category", "answer"}), _baike),
    "translation2019zh": (frozenset({"english", "chinese"}), _translation),
    "jsonl": (frozenset(), _jsonl),
}
# "pretokenized": one document per line, tokens separated by whitespace (the input of GloVe's tools,
# KenLM and SRILM); never detected, only chosen. Its lines are taken as they are (PrepareDocuments
# neither normalises nor sentence-splits them).
PRETOKENIZED = "pretokenized"
# the source of a translation2019zh pair read with side "pair": its text is the Chinese side, a line break,
# the English side; PrepareDocuments makes it a document of exactly these two sentences
PAIRS = "translation2019zh-pairs"
FORMAT_NAMES = ["auto", *FORMATS, "plain", PRETOKENIZED, "parquet"]
BINARY = "binary"
# Raw control characters inside strings are cleaned later, not a reason to lose the record.
_parse_json = json.JSONDecoder(strict=False).decode


def looks_binary(head: bytes) -> bool:
    """Most of the first lines are not UTF-8 text: a binary file or another encoding. Judged by lines,
    not bytes, so one bad record in a small UTF-8 file stays one rejected record and the rest are kept."""
    sample = head[:8192]
    lines = [line for line in sample.splitlines() if line.strip()]
    cut = len(head) > len(sample)  # the last line may end inside a character
    bad = sum(not _utf8_text(line, final=not cut or i < len(lines) - 1) for i, line in enumerate(lines))
    return bad * 2 > len(lines)


def _utf8_text(line: bytes, final: bool) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(line, final=final)
    except UnicodeDecodeError:
        return False
    return b"\0" not in line


def other_encoding(head: bytes) -> str | None:
    """The encoding charset-normalizer names for text that is not UTF-8 (gb18030, utf-16, big5, ...), or None."""
    from charset_normalizer import from_bytes

    best = from_bytes(head[: 1 << 16]).best()
    name = best and codecs.lookup(best.encoding).name
    return None if not name or name in ("utf-8", "ascii") else name


def detect_format(head: bytes, path: str) -> str:
    """The layout of a file from its name and first bytes: a FORMATS name, plain, parquet or binary."""
    if path.lower().endswith(".parquet") or head.startswith(b"PAR1"):
        return "parquet"
    if looks_binary(head):
        return BINARY
    lines = starts = head.lstrip(b"\xef\xbb\xbf").splitlines()[:20]
    if len(lines) > 1 and not head.endswith((b"\n", b"\r")):
        lines = lines[:-1]  # the last line may be cut off (its start still tells JSON from prose)
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            for name, (keys, _) in FORMATS.items():
                if keys <= obj.keys():
                    return name
    if any(line.lstrip().startswith(b"{") for line in starts[:5]):
        return "jsonl"
    return "plain"


# -- planning ----------------------------------------------------------------------------


def plan_splits(file: InputFile, opts: ReadOptions) -> Iterator[Split | Reject]:
    """The splits of one input file: byte ranges, whole streams, zip members or row groups. A file or
    member that cannot be read, for whatever reason, is a Reject saying why."""
    if compression_of(file.path) != "zip":
        yield from _guarded(_plan_stream(Split(file, ""), opts), file.name)
        return
    try:
        members = zip_members(file.path)
    except Exception as e:
        yield Reject(_reason(e, "corrupt_archive"), file.name, 0, detail=_detail(e))
        return
    for m in members:
        yield from _guarded(_plan_stream(Split(file, "", member=m), opts), f"{file.name}/{m}")


def _guarded(items: Iterator, name: str) -> Iterator:
    """Passes the items on; an exception ends them with a Reject saying why."""
    try:
        yield from items
    except Exception as e:
        yield Reject(_reason(e, "read_error"), name, 0, detail=_detail(e))


def _plan_stream(split: Split, opts: ReadOptions) -> Iterator[Split | Reject]:
    path = split.member or split.file.path
    # a stream is read whole: compressed, a zip member, or transcoded (byte ranges of the raw file mean nothing then)
    whole = bool(split.member or compression_of(split.file.path)) or not is_utf8(opts.encoding)
    if opts.fmt == "parquet" or opts.fmt == "auto" and path.lower().endswith(".parquet"):
        yield from _plan_parquet(split, whole)
        return
    with open_stream(split, opts.encoding) as f:
        head = read_head(f, opts.max_record_bytes + 1)
    encoding = other_encoding(head) if is_utf8(opts.encoding) and looks_binary(head) else None
    if encoding:
        yield Reject("not_utf8", split.name, 0, head[:200], detail=f"the file looks like {encoding} text, not UTF-8; "
                     f"read it with --encoding {encoding}")
        return
    fmt = detect_format(head, path) if opts.fmt == "auto" else opts.fmt
    if fmt == "parquet":  # found by its magic bytes under another name
        yield from _plan_parquet(split, whole)
        return
    if fmt == BINARY:
        yield Reject("binary_file", split.name, 0, head[:200],
                     detail=f"NUL bytes or bytes that are not {opts.encoding} text in the first bytes")
        return
    cr = b"\r" in head and b"\n" not in head  # lone-CR line ends (classic Mac OS)
    if whole:
        yield Split(split.file, fmt, member=split.member, cr=cr)
    else:
        for start, end in byte_ranges(split.file.size, opts.split_bytes):
            yield Split(split.file, fmt, start, end, cr=cr)


def _plan_parquet(split: Split, whole: bool) -> Iterator[Split]:
    if whole:  # inside a compressed file or a zip: one split that decodes it once
        yield Split(split.file, "parquet", member=split.member, index=-1)
        return
    import pyarrow.parquet as pq

    with open_raw(split.file.path) as f:
        try:
            n = pq.ParquetFile(f).num_row_groups
        except Exception as e:  # pyarrow raises ArrowInvalid / OSError for a broken footer
            raise Unreadable("corrupt_parquet", f"{type(e).__name__}: {e}") from None
    for i in range(n):
        yield Split(split.file, "parquet", index=i)


# -- reading ------------------------------------------------------------------------------


def read_split(split: Split, opts: ReadOptions) -> Iterator[Document | Reject]:
    """Every record of a split, as a Document or a Reject; never raises: an error that ends the split
    early (a damaged archive, a failing read) is a Reject after the records read before it."""
    whole = split.start == 0  # line numbers are known only when reading from the start
    reached = [split.start]  # where reading got to (byte offset; parquet: row), for the reject

    def tracked(lines):
        for offset, line in lines:
            reached[0] = offset
            yield offset, line

    try:
        if split.fmt == "parquet":
            yield from _read_parquet(split, opts, reached)
            return
        with open_stream(split, opts.encoding) as f:
            lines = tracked(iter_lines(f, split.start, split.end, opts.max_record_bytes))
            if split.fmt == "plain":
                yield from _plain_documents(split, lines, opts)
            elif split.fmt == PRETOKENIZED:
                yield from _pretokenized_lines(split, lines, opts)
            else:
                yield from _json_records(split, lines, opts, whole)
            failure = getattr(f, "failure", None)
        if failure:
            raise failure
    except Exception as e:
        where = f"row {reached[0]}" if split.fmt == "parquet" else f"byte {reached[0]} of the decoded stream"
        yield Reject(_reason(e, "corrupt_parquet" if split.fmt == "parquet" else "read_error"), split.name,
                     reached[0], detail=f"{_detail(e)} (after {where})")


def _decode(line: bytes, offset: int) -> str:
    text = line.decode("utf-8")  # UnicodeDecodeError is a ValueError: the caller rejects
    if offset == 0 and text.startswith("\ufeff"):
        text = text[1:]
    return text


def _json_records(split, lines, opts, whole) -> Iterator[Document | Reject]:
    get = FORMATS[split.fmt][1]
    for lineno, (offset, line) in enumerate(lines, 1):
        if not isinstance(line, TooLong) and not line.strip():
            continue  # blank lines between records are layout, not records
        try:
            yield _json_record(split, get, offset, line, opts)
        except Exception as e:  # whatever a record's decoding raises makes it a reject, never a crash
            excerpt = line.excerpt if isinstance(line, TooLong) else line.replace(b"\0", b"\\0")
            reason = _reason(e, "malformed_json" if isinstance(e, ValueError) else "read_error")
            yield Reject(reason, split.name, offset, excerpt, lineno if whole else None, _detail(e))


def _json_record(split, get, offset, line, opts) -> Document:
    """One JSON line -> a Document; raises BadRecord (with its reason), or whatever the decoder raises."""
    if isinstance(line, TooLong):
        raise BadRecord("record_too_large", f"{line.size} bytes > {opts.max_record_bytes}")
    if b"\0" in line:
        raise BadRecord("nul_bytes")
    obj = _parse_json(_decode(line, offset))
    if not isinstance(obj, dict):
        raise BadRecord("not_an_object", f"a JSON {type(obj).__name__}, not an object")
    title, text = get(obj, opts)
    if not text.strip():
        raise BadRecord("empty_text")
    source = PAIRS if split.fmt == "translation2019zh" and opts.side == "pair" else split.fmt
    return Document(f"{split.name}:{offset}", source, title, text)


def _pretokenized_lines(split, lines, opts) -> Iterator[Document | Reject]:
    """One document per non-blank line, kept as it is (tokens separated by whitespace)."""
    name, whole = split.name, split.start == 0
    for lineno, (offset, line) in enumerate(lines, 1):
        num = lineno if whole else None
        if isinstance(line, TooLong):
            yield Reject("record_too_large", name, offset, line.excerpt, num, f"{line.size} bytes > {opts.max_record_bytes}")
        elif b"\0" in line:
            yield Reject("nul_bytes", name, offset, line.replace(b"\0", b"\\0"), num)
        elif line.strip():
            try:
                text = _decode(line, offset).rstrip("\r\n")
            except Exception as e:
                yield Reject(_reason(e, "read_error"), name, offset, line, num, _detail(e))
                continue
            yield Document(f"{name}:{offset}", PRETOKENIZED, "", text)


def _plain_documents(split, lines, opts) -> Iterator[Document | Reject]:
    """BERT's input format: one sentence per line, blank lines between documents.

    A split owns the documents whose separating blank line (or file start) lies inside its
    byte range, and reads past its end to finish the last one.
    """
    name, end = split.name, split.end
    doc: list[str] = []
    doc_offset, size, bad = None, 0, None
    started = split.start == 0
    for offset, line in lines if end < 0 else _past_end(split, lines):
        blank = not isinstance(line, TooLong) and not line.strip()
        if blank:
            if doc_offset is not None:
                yield _plain_doc(name, doc_offset, doc, bad)
                doc, doc_offset, size, bad = [], None, 0, None
            if end >= 0 and offset >= end:
                return
            started = True
            continue
        if not started:
            continue  # the tail of a document the previous split owns
        if doc_offset is None:
            doc_offset = offset
        if bad:
            continue
        if isinstance(line, TooLong):
            bad = Reject("record_too_large", name, offset, line.excerpt, detail=f"a {line.size}-byte line")
            continue
        size += len(line)
        if size > opts.max_record_bytes:
            bad = Reject("record_too_large", name, doc_offset, detail=f"document over {opts.max_record_bytes} bytes")
        elif b"\0" in line:
            bad = Reject("nul_bytes", name, offset, line.replace(b"\0", b"\\0"))
        else:
            try:
                doc.append(_decode(line, offset).rstrip("\r\n"))
            except Exception as e:
                bad = Reject(_reason(e, "read_error"), name, offset, line, detail=_detail(e))
    if doc_offset is not None:
        yield _plain_doc(name, doc_offset, doc, bad)


def _past_end(split, lines):
    """Lines of the split, then of the rest of the file, so the last document can finish."""
    yield from lines
    with open_stream(split) as f:
        yield from iter_lines(f, split.end, -1, 1 << 62)


def _plain_doc(name, offset, lines, bad) -> Document | Reject:
    if bad:
        return bad
    return Document(f"{name}:{offset}", "plain", "", "\n".join(lines))


def _read_parquet(split: Split, opts: ReadOptions, reached: list) -> Iterator[Document | Reject]:
    import pyarrow.parquet as pq

    if split.index < 0:  # inside a compressed file or a zip: decoded once into a local temporary file
        source = tempfile.TemporaryFile()
        with open_stream(split) as f:
            shutil.copyfileobj(f, source, 1 << 20)
            failure = getattr(f, "failure", None)
        if failure:
            source.close()
            raise failure
        source.seek(0)
    else:
        source = open_raw(split.file.path)
    with source:
        pf = pq.ParquetFile(source)
        names = set(pf.schema_arrow.names)
        if opts.text_field not in names:
            yield Reject("missing_text_field", split.name, max(split.index, 0),
                         detail=f"no column {opts.text_field!r} in {sorted(names)}")
            return
        cols = [opts.text_field] + ([opts.title_field] if opts.title_field in names else [])
        for group in range(pf.num_row_groups) if split.index < 0 else [split.index]:
            row = reached[0] = sum(pf.metadata.row_group(i).num_rows for i in range(group))
            # batch by batch: a corrupt page loses only the rows from it on
            for batch in pf.iter_batches(batch_size=1024, row_groups=[group], columns=cols):
                texts = batch.column(opts.text_field).to_pylist()
                titles = batch.column(opts.title_field).to_pylist() if len(cols) > 1 else [""] * len(texts)
                for text, title in zip(texts, titles):
                    reached[0] = row
                    if not isinstance(text, str):
                        reason = "missing_text_field" if text is None else "wrong_field_type"
                        yield Reject(reason, split.name, row, repr(text)[:200], detail=f"row {row}")
                    elif not text.strip():
                        yield Reject("empty_text", split.name, row, detail=f"row {row}")
                    else:
                        yield Document(f"{split.name}:{row}", "parquet", title if isinstance(title, str) else "", text)
                    row += 1
