"""Finding input files, planning parallel splits, and reading lines with byte offsets.

Every path goes through Beam's FileSystems, so local paths, gs:// and s3:// all work.
Uncompressed files are cut into byte ranges that workers read in parallel; a compressed
file (.gz, .bz2) or a zip member is one split, streamed, never slurped whole.
"""
from __future__ import annotations

import bz2
import gzip
import os
import posixpath
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

SPLIT_BYTES = 64 << 20  # largest byte range per parallel read of an uncompressed file
MIN_SPLIT_BYTES = 1 << 20
SPLITS_PER_INPUT = 32  # aim for at least this many ranges over the whole input
HEAD_BYTES = 64 << 10  # how much of a file format detection looks at
# Files a directory walk leaves out: documentation next to the data, and hidden files.
IGNORED_PREFIXES = ("readme", "license", "licence", "changelog", ".")


class InputError(ValueError):
    """An input path that cannot be used; raised before any work starts."""


@dataclass(frozen=True)
class InputFile:
    path: str  # what FileSystems opens
    name: str  # stable name relative to the inputs' common root: goes into doc ids and rejects
    size: int


@dataclass(frozen=True)
class Split:
    """One unit of parallel reading: a byte range of a file, a whole stream, or a row group."""

    file: InputFile
    fmt: str
    start: int = 0
    end: int = -1  # -1: to the end of the stream
    member: str | None = None  # zip member
    index: int = 0  # parquet row group

    @property
    def name(self) -> str:
        return f"{self.file.name}/{self.member}" if self.member else self.file.name


def compression_of(path: str) -> str | None:
    lower = path.lower()
    for ext in ("gz", "bz2", "zip"):
        if lower.endswith("." + ext):
            return ext
    return None


def _is_dir(path: str) -> bool:
    return "://" not in path and os.path.isdir(path) or path.endswith("/")


def _has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def _ignored(path: str) -> bool:
    return posixpath.basename(path).lower().startswith(IGNORED_PREFIXES)


def expand_inputs(paths: list[str]) -> list[InputFile]:
    """Files, directories (walked recursively) and globs -> sorted, de-duplicated InputFiles.

    Raises InputError naming the first path that matches nothing.
    """
    found: dict[str, int] = {}
    for raw in paths:
        path = raw.rstrip("/") if _is_dir(raw) else raw
        pattern = path + "/**" if _is_dir(raw) else path
        try:
            results = FileSystems.match([pattern])[0].metadata_list
        except Exception as e:  # Beam raises BeamIOError for a missing path
            raise InputError(f"input path {raw} does not exist or cannot be listed ({e})") from None
        walked = pattern != path or _has_glob(path)
        files = [m for m in results if not (walked and _ignored(m.path)) and not _is_dir(m.path)]
        if not files:
            raise InputError(f"input path {raw} does not exist or matches no files")
        for m in files:
            found[m.path] = m.size_in_bytes
    ordered = sorted(found)
    root = _common_dir(ordered)
    return [InputFile(p, p[len(root):].lstrip("/\\") if root else p, found[p]) for p in ordered]


def _common_dir(paths: list[str]) -> str:
    dirs = [p.rsplit("/", 1)[0] if "/" in p else "" for p in paths]
    root = os.path.commonprefix(dirs)
    # commonprefix works on characters; cut back to a directory boundary
    if any(d != root and not d.startswith(root + "/") for d in dirs):
        root = root.rsplit("/", 1)[0] if "/" in root else ""
    return root


def open_raw(path: str) -> BinaryIO:
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def open_stream(split: Split) -> BinaryIO:
    """The decompressed byte stream of a split's file or zip member."""
    comp = compression_of(split.file.path)
    raw = open_raw(split.file.path)
    if comp == "gz":
        return gzip.GzipFile(fileobj=raw)
    if comp == "bz2":
        return bz2.BZ2File(raw)
    if comp == "zip":
        return zipfile.ZipFile(raw).open(split.member)
    return raw


def read_head(f: BinaryIO) -> bytes:
    """Up to HEAD_BYTES from a stream; an archive that ends early yields what was readable."""
    chunks, size = [], 0
    try:
        while size < HEAD_BYTES:
            chunk = f.read(min(8192, HEAD_BYTES - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (EOFError, OSError, zlib.error, zipfile.BadZipFile):
        pass
    return b"".join(chunks)


def zip_members(path: str) -> list[str]:
    with zipfile.ZipFile(open_raw(path)) as z:
        return sorted(i.filename for i in z.infolist() if not i.is_dir() and not _ignored(i.filename))


def split_bytes_for(total_bytes: int) -> int:
    """The byte range per parallel read for an input of this size: small enough that the input is
    some SPLITS_PER_INPUT units (with 64 MiB ranges a 143 MB input was 3 units, and one of two workers
    sat idle for a third of the run), large enough that a unit's start-up cost stays negligible.
    A function of the input's size only, so every worker count reads the same units."""
    return int(min(SPLIT_BYTES, max(MIN_SPLIT_BYTES, total_bytes // SPLITS_PER_INPUT)))


def byte_ranges(size: int, split_bytes: int = SPLIT_BYTES) -> list[tuple[int, int]]:
    if size <= split_bytes:
        return [(0, -1)]
    starts = list(range(0, size, split_bytes))
    return [(s, s + split_bytes if s + split_bytes < size else -1) for s in starts]


# -- line reading -------------------------------------------------------------------------

ARCHIVE_ERRORS = (EOFError, OSError, zlib.error, zipfile.BadZipFile)


class TooLong:
    """Stands in for a line longer than the record limit; keeps only an excerpt."""

    __slots__ = ("excerpt", "size")

    def __init__(self, excerpt: bytes, size: int):
        self.excerpt, self.size = excerpt, size


def _skip_line(f: BinaryIO, chunk: int = 1 << 20, stop: int | None = None) -> int:
    """Consumes the rest of the current line, or at least `stop` bytes of it; returns the bytes consumed."""
    n = 0
    while stop is None or n < stop:
        part = f.readline(chunk if stop is None else min(chunk, stop - n))
        n += len(part)
        if not part or part.endswith(b"\n"):
            break
    return n


def iter_lines(f: BinaryIO, start: int, end: int, max_bytes: int) -> Iterator[tuple[int, bytes | TooLong]]:
    """(offset, line) for every line that starts in [start, end) (end -1: to EOF).

    Lines keep their terminator. A line longer than max_bytes is never held whole: it comes
    back as TooLong. Archive errors (truncated .gz, corrupt data) propagate to the caller
    after the good lines before them.
    """
    pos = start
    if start > 0:
        f.seek(start - 1)
        # the line we landed in may run past `end`: then no record starts in this range, stop skipping there
        pos = start - 1 + _skip_line(f, stop=None if end < 0 else end - start + 1)
    while end < 0 or pos < end:
        line = f.readline(max_bytes + 1)
        if not line:
            return
        n = len(line)
        if n > max_bytes and not line.endswith(b"\n"):
            n += _skip_line(f)
            yield pos, TooLong(line[:400], n)
        else:
            yield pos, line
        pos += n
