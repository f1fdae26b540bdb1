"""Writing shards and the metadata that describes them; committing a finished dataset.

Object-store paths (gs://, s3://) go through Beam's FileSystems, local paths through the os module, so
the same code writes to either and a local write does not import Beam.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil

import pyarrow as pa

from corpusforge import __version__
from corpusforge.dataset.empty import check_produced
from corpusforge.dataset.reader import DatasetError, filesystems, read_manifest
from corpusforge.dataset.schema import SCHEMA_VERSION, hf_features

BATCH_ROWS = 1000  # record batch size inside a shard; fixed, so shard bytes are reproducible


def shard_name(index: int, count: int) -> str:
    return f"data-{index:05d}-of-{count:05d}.arrow"


def create(path: str):
    """A new file for writing (its directory made, as Beam's FileSystems.create does for local paths)."""
    if "://" in path:
        return filesystems().create(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return open(path, "wb")


def write_bytes(path: str, data: bytes) -> None:
    with create(path) as f:
        f.write(data)


class _HashingFile:
    """A writable file that hashes what passes through, so a shard is written and hashed in one pass."""

    def __init__(self, f):
        self.f, self.sha256, self.closed = f, hashlib.sha256(), False

    def write(self, data) -> int:
        self.sha256.update(data)
        return self.f.write(data)

    def flush(self):
        pass


def write_shard(batches, schema: pa.Schema, path: str) -> dict:
    """Streams record batches into one Arrow IPC stream shard; returns its manifest entry."""
    rows = 0
    with create(path) as f:
        out = _HashingFile(f)
        with pa.ipc.new_stream(pa.PythonFile(out, mode="w"), schema) as writer:
            written = False
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
                written = True
            if not written:  # a stream without batches reads as a table without chunks, which `datasets` rejects
                writer.write_batch(pa.RecordBatch.from_pylist([], schema=schema))
    return {"file": path.rsplit("/", 1)[-1], "rows": rows, "sha256": out.sha256.hexdigest()}


def json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()


def write_json(path: str, obj) -> None:
    write_bytes(path, json_bytes(obj))


def write_metadata(directory: str, *, kind: str, schema: pa.Schema, shards: list[dict], input_counts: dict,
                   params: dict, rejects: dict | None = None, extra: dict | None = None) -> dict:
    """manifest.json plus dataset_info.json and state.json, so `datasets.load_from_disk` works."""
    check_produced(input_counts, sum(s["rows"] for s in shards), params)  # before any metadata: no empty dataset
    manifest = {
        "kind": kind,
        "schema_version": SCHEMA_VERSION,
        "corpusforge_version": __version__,
        "rows": sum(s["rows"] for s in shards),
        "shards": shards,
        "input": input_counts,
        "params": params,
        "seed": params.get("seed"),
        "format": "arrow-ipc-stream",
        "schema": {f.name: str(f.type) for f in schema},
        **(extra or {}),
    }
    if rejects is not None:
        manifest["rejects"] = rejects
    write_json(f"{directory}/manifest.json", manifest)
    write_json(f"{directory}/dataset_info.json", {
        "citation": "", "description": f"corpusforge {kind} dataset", "features": hf_features(schema),
        "homepage": "", "license": "",
    })
    fingerprint = hashlib.sha256("".join(s["sha256"] for s in shards).encode()).hexdigest()[:16]
    write_json(f"{directory}/state.json", {
        "_data_files": [{"filename": s["file"]} for s in shards],
        "_fingerprint": fingerprint,
        "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
        "_output_all_columns": False, "_split": None,
    })
    return manifest


METADATA = ("manifest.json", "dataset_info.json", "state.json")


class UnsafeOutput(Exception):
    """An existing output that corpusforge must not replace (its one-sentence reason)."""


def _listing(path: str) -> tuple[list[str], list[str], list[str]]:
    """(files, directories, other entries) under `path`, relative to it. Symbolic links, FIFOs and the
    like are "other" and never followed; an object-store prefix has files only."""
    if "://" in path:
        found = filesystems().match([path.rstrip("/") + "/**"])[0].metadata_list
        return [m.path[len(path.rstrip("/")) + 1:] for m in found], [], []
    files, dirs, other = [], [], []
    for root, subdirs, names in os.walk(path):  # does not descend into linked directories
        for name in subdirs + names:
            full = os.path.join(root, name)
            entry = os.path.relpath(full, path)
            kind = other if os.path.islink(full) else dirs if os.path.isdir(full) else \
                files if os.path.isfile(full) else other
            kind.append(entry)
    return files, dirs, other


def output_exists(path: str) -> bool:
    """A local path that exists (a dangling link too), or an object-store prefix with any object under it."""
    if "://" not in path:
        return os.path.lexists(path)
    return bool(filesystems().match([path.rstrip("/") + "/**"])[0].metadata_list)


def replace_problem(path: str) -> str | None:
    """None if `path` is provably a corpusforge dataset that may be replaced: its manifest.json has
    corpusforge's kind and version and lists its files, and the directory holds nothing else (shards,
    manifest.json, dataset_info.json, state.json, rejects/ and the files the manifest names); else why not."""
    if "://" not in path:
        if os.path.islink(path):
            return "is a symbolic link"
        if not os.path.isdir(path):
            return "is not a directory"
    try:
        manifest = read_manifest(path)  # corpusforge's fields for its kind, plain relative file names
    except (DatasetError, OSError) as e:
        return f"is not a corpusforge dataset ({str(e).split(': ', 1)[-1]})"
    named = set(METADATA)
    for entry in [*manifest.get("shards", []), *manifest.get("files", [])]:
        named.add(str(entry.get("file")) if isinstance(entry, dict) else "")
    rejects = manifest.get("rejects") if isinstance(manifest.get("rejects"), dict) else {}
    named.update(str(f) for f in rejects.get("files", []) if isinstance(rejects.get("files"), list))
    holders = {"rejects"} | {d for n in named for d in _parents(n)}
    files, dirs, other = _listing(path)
    foreign = [f for f in files if f not in named] + other + [d for d in dirs if d not in holders]
    if foreign:
        return f"holds {sorted(foreign)[0]}, which its manifest does not name"
    return None


def _parents(name: str) -> list[str]:
    parts = name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def remove_tree(path: str) -> None:
    """Deletes a directory (or an object-store prefix) if it exists; a symbolic link is not followed."""
    if "://" not in path:
        shutil.rmtree(path, ignore_errors=True)
    elif filesystems().exists(path):
        filesystems().delete([path])


def commit(tmp_dir: str, out_dir: str) -> None:
    """Makes a finished dataset appear under its final name in one step, replacing an old one only
    if it is still a replaceable dataset (checked again here: the user may have added a file since
    the build started). The old one is moved into the run's temporary name first, so a kill leaves
    it where the next build to this output removes it."""
    exists = output_exists(out_dir)
    if exists and (problem := replace_problem(out_dir)):
        raise UnsafeOutput(f"output {out_dir} {problem}; refusing to replace it")
    if "://" not in out_dir:
        if exists:
            old = f"{tmp_dir}-replaced"
            os.rename(out_dir, old)
            os.rename(tmp_dir, out_dir)
            remove_tree(old)
        else:
            os.rename(tmp_dir, out_dir)
        return
    # object stores have no directories and no atomic rename: copy file by file, manifest last
    if exists:
        remove_tree(out_dir)
    files = sorted(m.path for m in filesystems().match([tmp_dir + "/**"])[0].metadata_list)
    files.sort(key=lambda p: p.endswith("manifest.json"))
    filesystems().rename(files, [out_dir + p[len(tmp_dir):] for p in files])
