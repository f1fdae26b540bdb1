"""Reading datasets back: manifest, memory-mapped tables, and verification.

Manifests and shards are read through Beam's FileSystems where the path is a URL (gs://, s3://), so a
pipeline can take a dataset in an object store as its input; local paths do not import Beam (about 2 s),
so build lm, eval lm and the trainers start quickly.
"""
from __future__ import annotations

import hashlib
import json
import os

import pyarrow as pa


def filesystems():
    """Beam's FileSystems, imported on first use (object-store paths only)."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def _manifest_path(directory) -> str:
    return f"{os.fspath(directory).rstrip('/')}/manifest.json"


def is_dataset(directory) -> bool:
    path = _manifest_path(directory)
    return filesystems().exists(path) if "://" in path else os.path.isfile(path)


def read_manifest(directory) -> dict:
    if not is_dataset(directory):
        raise FileNotFoundError(f"{directory} is not a corpusforge dataset: it has no manifest.json")
    path = _manifest_path(directory)
    with filesystems().open(path) if "://" in path else open(path, "rb") as f:
        return json.load(f)


def open_shard(path) -> pa.Table:
    """One shard, memory-mapped: the buffers point into the file, nothing is copied (an object store's
    shard is read into memory)."""
    if "://" in str(path):
        with filesystems().open(str(path)) as f:
            return pa.ipc.open_stream(f.read()).read_all()
    with pa.memory_map(path) as source:
        return pa.ipc.open_stream(source).read_all()


def load_table(directory) -> pa.Table:
    """All shards of a dataset as one (zero-copy, memory-mapped) Arrow table, in manifest order."""
    manifest = read_manifest(directory)
    tables = [open_shard(f"{os.fspath(directory).rstrip('/')}/{s['file']}") for s in manifest["shards"]]
    return pa.concat_tables(tables) if tables else pa.table({})


def read_rejects(directory: str) -> list[dict]:
    rejects = []
    folder = os.path.join(directory, "rejects")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            rejects.extend(json.loads(line) for line in f)
    return rejects


def file_sha256(path: str) -> str:
    """A local file's sha256, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_dataset(directory: str) -> list[str]:
    """Re-checks every shard's checksum and row count and the input accounting.

    Returns the problems found; an empty list means the dataset is intact.
    """
    problems = []
    manifest = read_manifest(directory)
    for entry in manifest.get("files", []):  # outputs that are not row shards, e.g. a vocab's files
        path = os.path.join(directory, entry["file"])
        if not os.path.exists(path):
            problems.append(f"{entry['file']}: missing")
        elif (digest := file_sha256(path)) != entry["sha256"]:
            problems.append(f"{entry['file']}: sha256 {digest} != manifest {entry['sha256']}")
    total = 0
    for shard in manifest.get("shards", []):
        path = os.path.join(directory, shard["file"])
        if not os.path.exists(path):
            problems.append(f"{shard['file']}: missing")
            continue
        digest = file_sha256(path)
        if digest != shard["sha256"]:
            problems.append(f"{shard['file']}: sha256 {digest} != manifest {shard['sha256']}")
            continue
        try:
            rows = open_shard(path).num_rows
        except pa.ArrowInvalid as e:
            problems.append(f"{shard['file']}: unreadable ({e})")
            continue
        total += rows
        if rows != shard["rows"]:
            problems.append(f"{shard['file']}: {rows} rows != manifest {shard['rows']}")
    if "rows" in manifest and total != manifest["rows"] and not problems:
        problems.append(f"shards hold {total} rows != manifest rows {manifest['rows']}")
    counts = manifest.get("input")
    if counts:
        if counts["read"] != counts["kept"] + counts["filtered"] + counts["rejected"]:
            problems.append(f"input accounting: read {counts['read']} != kept {counts['kept']} + "
                            f"filtered {counts['filtered']} + rejected {counts['rejected']}")
        if manifest["kind"] == "documents" and counts["kept"] != manifest["rows"]:
            problems.append(f"input kept {counts['kept']} != rows {manifest['rows']}")
        if "rejects" in manifest:
            found = len(read_rejects(directory))
            if found != counts["rejected"]:
                problems.append(f"rejects/ holds {found} records != rejected {counts['rejected']}")
    return problems
