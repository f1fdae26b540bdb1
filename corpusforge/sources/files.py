"""Finding input files, planning parallel splits, and reading lines with byte offsets.

Every path goes through Beam's FileSystems, so local paths, gs:// and s3:// all work.
Uncompressed files are cut into byte ranges that workers read in parallel; a compressed
file (.gz, .bz2, .xz) or a zip member is one split, streamed, never slurped whole.
"""
from __future__ import annotations

import bz2
import codecs
import io
import lzma
import os
import posixpath
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator


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
    index: int = 0  # parquet row group; -1: every row group (a parquet file inside a compressed stream)
    cr: bool = False  # lone-CR line ends: read as LF

    @property
    def name(self) -> str:
        return f"{self.file.name}/{self.member}" if self.member else self.file.name


def compression_of(path: str) -> str | None:
    lower = path.lower()
    for ext in ("gz", "bz2", "xz", "zip"):
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
    from apache_beam.io.filesystems import FileSystems
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


class Unreadable(Exception):
    """A file, archive member or stream that cannot be read (any further), with the reject reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
          (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))


def open_raw(path: str) -> BinaryIO:
    """A file's bytes. A local FIFO, socket or device is never opened (opening a FIFO waits for a
    writer forever): it is Unreadable, a counted reject."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems
    if "://" not in path:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "special file")
            raise Unreadable("not_a_regular_file", f"{path} is a {kind}, not a regular file; it was skipped")
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


class _Layer(io.RawIOBase):
    """A read-only byte stream over another; `failure` is the Unreadable that ended it early, if any."""

    error: Unreadable | None = None

    def __init__(self, inner):
        self.inner = inner

    def readable(self):
        return True

    def readinto(self, b) -> int:
        data = self._read(len(b))
        b[: len(data)] = data
        return len(data)

    @property
    def failure(self) -> Unreadable | None:
        return self.error or getattr(self.inner, "failure", None)

    def close(self):
        if not self.closed:
            self.inner.close()
        super().close()


RAW_CHUNK = 1 << 14  # compressed bytes per decompressor call
_MAGIC = {"gz": b"\x1f\x8b", "bz2": b"BZh", "xz": b"\xfd7zXZ\x00"}  # a further member of a multi-member file


def _decompressor(kind: str | None):
    if kind == "gz":
        return zlib.decompressobj(31)  # gzip header and trailer: CRC-32 and length are checked
    if kind == "deflate":
        return zlib.decompressobj(-15)  # a zip member's raw deflate data
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor()
    return None  # stored


class Decompressed(_Layer):
    """The decompressed bytes of a .gz/.bz2/.xz file or a zip member, keeping every byte decoded
    before any damage: a decoder error ends the stream there (kept as `error`) instead of raising,
    which would drop what the failing call and the buffers above it had already decoded."""

    def __init__(self, inner, kind: str | None, size: int = -1, crc: int | None = None):
        super().__init__(inner)
        self.kind, self.left, self.crc = kind, size, crc  # size, crc: a zip member's compressed size and CRC-32
        self.d = _decompressor(kind)
        self.pending = b""  # compressed input the zlib decoder has not consumed yet
        self.out = b""  # decoded bytes not returned yet
        self.done, self.seen_crc = False, 0

    def _read(self, n: int) -> bytes:
        while not self.out and not self.done:
            try:
                self._step(n)
            except Exception as e:  # whatever the decoder raises ends the stream, as a counted reject
                self.done = True
                self.error = e if isinstance(e, Unreadable) else Unreadable("corrupt_archive", f"{type(e).__name__}: {e}")
        out, self.out = self.out[:n], self.out[n:]
        return out

    def _raw(self) -> bytes:
        n = RAW_CHUNK if self.left < 0 else min(RAW_CHUNK, self.left)
        chunk = self.inner.read(n) if n else b""
        self.left -= len(chunk)
        return chunk

    def _emit(self, data: bytes):
        if self.crc is not None:
            self.seen_crc = zlib.crc32(data, self.seen_crc)
        self.out += data

    def _finish(self):
        self.done = True
        if self.crc is not None and self.seen_crc != self.crc:
            raise Unreadable("corrupt_archive", f"bad CRC-32 {self.seen_crc:08x}, the archive says {self.crc:08x}")

    def _step(self, n: int):
        d = self.d
        if d is None:
            chunk = self._raw()
            self._emit(chunk) if chunk else self._finish()
            return
        if d.eof:  # the end of one member; another may follow (multi-member .gz, .bz2, .xz)
            rest = d.unused_data
            while True:
                if self.kind == "gz":
                    rest = rest.lstrip(b"\0")  # gzip allows zero padding after a member
                more = self._raw() if len(rest) < 6 else b""
                if not more:
                    break
                rest += more
            if not rest or self.kind not in _MAGIC:
                return self._finish()
            if not rest.startswith(_MAGIC[self.kind]):
                raise Unreadable("corrupt_archive", f"bytes that are not {self.kind} data after the end of the compressed stream")
            self.d, self.pending = _decompressor(self.kind), rest
            return
        zlib_like = self.kind in ("gz", "deflate")
        data = b""
        need_input = not self.pending if zlib_like else d.needs_input
        if need_input:
            data = self._raw()
            if not data:
                raise Unreadable("truncated_archive", "the compressed data ends before its end marker")
        if not zlib_like:
            self._emit(d.decompress(data, n))
            return
        self.pending += data
        saved = d.copy()
        try:
            out = d.decompress(self.pending, n)
        except zlib.error:
            self._emit(_salvage(saved, self.pending))
            raise
        self.pending = d.unconsumed_tail
        self._emit(out)


def _salvage(d, data: bytes) -> bytes:
    """What a zlib decoder yields from `data` before the byte where it fails (a failing call yields nothing)."""
    out = []
    for i in range(len(data)):
        try:
            out.append(d.decompress(data[i:i + 1]))
        except zlib.error:
            break
    return b"".join(out)


def _undecodable(e: UnicodeDecodeError):
    return "\udcff" * (e.end - e.start), e.end  # comes back as byte 0xff: invalid UTF-8, the record is rejected


codecs.register_error("corpusforge.undecodable", _undecodable)


def is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


class Transcoded(_Layer):
    """A stream in another encoding (--encoding) as UTF-8; an undecodable byte becomes invalid UTF-8, so
    only its record is rejected."""

    def __init__(self, inner, encoding: str):
        super().__init__(inner)
        self.decoder = codecs.getincrementaldecoder(encoding)("corpusforge.undecodable")
        self.buf, self.eof = b"", False

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n and not self.eof:
            chunk = self.inner.read(1 << 16)
            self.eof = not chunk
            self.buf += self.decoder.decode(chunk, final=self.eof).encode("utf-8", "surrogateescape")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


class CrLines(_Layer):
    """Lone-CR line ends (classic Mac OS files) read as LF, byte for byte, so offsets and seeks hold."""

    def _read(self, n: int) -> bytes:
        return self.inner.read(n).translate(_CR_AS_LF)

    def seekable(self):
        return self.inner.seekable()

    def seek(self, pos, whence=0):
        return self.inner.seek(pos, whence)

    def tell(self):
        return self.inner.tell()


_CR_AS_LF = bytes.maketrans(b"\r", b"\n")


class Stream(io.BufferedReader):
    @property
    def failure(self) -> Unreadable | None:
        return self.raw.failure


def open_member(path: str, member: str) -> _Layer:
    """A zip member's bytes, decoded from the archive's own bytes (so damage keeps what came before it)."""
    raw = open_raw(path)
    try:
        info = zipfile.ZipFile(raw).getinfo(member)
    except zipfile.BadZipFile as e:
        raw.close()
        raise Unreadable("corrupt_archive", str(e)) from None
    if info.flag_bits & 1:
        raw.close()
        raise Unreadable("encrypted_member", f"{member} is encrypted; decrypt the archive and give the files")
    kind = {zipfile.ZIP_STORED: None, zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bz2"}.get(info.compress_type, "?")
    if kind == "?":  # LZMA and the like: zipfile's own reader, where it has one
        try:
            return Decompressed(zipfile.ZipFile(raw).open(member), None)
        except NotImplementedError as e:
            raw.close()
            raise Unreadable("unsupported_compression", f"{member}: {e}; recompress it with deflate") from None
    raw.seek(info.header_offset)
    header = raw.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raw.close()
        raise Unreadable("corrupt_archive", f"{member}: no local file header at byte {info.header_offset}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    raw.seek(info.header_offset + 30 + name_len + extra_len)
    return Decompressed(raw, kind, info.compress_size, info.CRC)


def open_stream(split: Split, encoding: str = "utf-8") -> BinaryIO:
    """The decoded bytes of a split's file or zip member, as UTF-8 (transcoded from `encoding`), lone
    CRs read as LF when the split says so. Damage ends the stream early: its `failure` says why."""
    comp = compression_of(split.file.path)
    if comp == "zip":
        f = open_member(split.file.path, split.member)
    elif comp:
        f = Decompressed(open_raw(split.file.path), comp)
    else:
        f = open_raw(split.file.path)
        if not split.cr and is_utf8(encoding):
            return f
    if not is_utf8(encoding):
        f = Transcoded(f, encoding)
    if split.cr:
        f = CrLines(f)
    return Stream(f, 1 << 16)


PARQUET_MAGIC = b"PAR1"


def read_head(f: BinaryIO, limit: int) -> bytes:
    """The first HEAD_BYTES of a stream, and on as far as the end of its first record (line), up to
    `limit` bytes: layout detection needs one whole record, however long it is."""
    head = f.read(min(HEAD_BYTES, limit))
    while len(head) < limit and not head.startswith(PARQUET_MAGIC):
        start = head.lstrip()
        if b"\n" in start or b"\r" in start:
            break
        more = f.read(min(1 << 20, limit - len(head)))
        if not more:
            break
        head += more
    return head


def zip_members(path: str) -> list[str]:
    try:
        with zipfile.ZipFile(open_raw(path)) as z:
            return sorted(i.filename for i in z.infolist() if not i.is_dir() and not _ignored(i.filename))
    except (zipfile.BadZipFile, EOFError) as e:
        raise Unreadable("corrupt_archive", str(e)) from None

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
