"""A test-only object store with the scheme mem://, registered with Beam's FileSystems on import.

It behaves like gs:// or s3:// where it matters here: no directories (a "folder" is a key prefix),
no atomic rename of a prefix, files appear when their writer closes. The store lives in this process
only, so pipelines using it must run on the in-process runner.
"""
from __future__ import annotations

import io
import re
import time

from apache_beam.io.filesystem import (BeamIOError, CompressedFile, CompressionTypes, FileMetadata, FileSystem,
                                       MatchResult)

STORE: dict[str, bytes] = {}


def _glob(pattern: str) -> re.Pattern:
    """Object-store globbing: '**' crosses '/', '*' and '?' stay inside one level."""
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    return re.compile("".join({"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(x, re.escape(x)) for x in parts))


class _Writer(io.BytesIO):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def close(self):
        if not self.closed:
            STORE[self.path] = self.getvalue()
        super().close()


class MemoryFileSystem(FileSystem):
    @classmethod
    def scheme(cls):
        return "mem"

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path):
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def mkdirs(self, path):
        pass

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        for path, data in sorted(STORE.items()):
            if path.startswith(dir_or_prefix):
                yield FileMetadata(path, len(data), 0.0)

    def match(self, patterns, limits=None):
        return [MatchResult(pattern, [FileMetadata(p, len(d), 0.0) for p, d in sorted(STORE.items())
                                      if _glob(pattern).fullmatch(p)]) for pattern in patterns]

    def _wrap(self, raw, path, compression_type):
        if compression_type == CompressionTypes.AUTO:
            compression_type = CompressionTypes.detect_compression_type(path)
        if compression_type == CompressionTypes.UNCOMPRESSED:
            return raw
        return CompressedFile(raw, compression_type=compression_type)

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return self._wrap(_Writer(path), path, compression_type)

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        if path not in STORE:
            raise BeamIOError("open failed", {path: FileNotFoundError(path)})
        return self._wrap(io.BytesIO(STORE[path]), path, compression_type)

    def copy(self, source_file_names, destination_file_names):
        for s, d in zip(source_file_names, destination_file_names):
            STORE[d] = STORE[s]

    def rename(self, source_file_names, destination_file_names):
        for s, d in zip(source_file_names, destination_file_names):
            STORE[d] = STORE.pop(s)

    def exists(self, path):
        return path in STORE or any(p.startswith(path.rstrip("/") + "/") for p in STORE)

    def size(self, path):
        return len(STORE[path])

    def last_updated(self, path):
        return time.time()

    def checksum(self, path):
        return str(len(STORE[path]))

    def metadata(self, path):
        return FileMetadata(path, len(STORE[path]), 0.0)

    def delete(self, paths):
        for path in paths:
            prefix = path.rstrip("/") + "/"
            for p in [p for p in STORE if p == path or p.startswith(prefix)]:
                del STORE[p]
