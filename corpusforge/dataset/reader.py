"""Reading datasets back: manifest, memory-mapped tables, and verification.

Manifests and shards are read through Beam's FileSystems where the path is a URL (gs://, s3://), so a
pipeline can take a dataset in an object store as its input; local paths do not import Beam (seconds of start-up),
so build lm, eval lm and the trainers start quickly.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat

import pyarrow as pa


def filesystems():
    """Beam's FileSystems, imported on first use (object-store paths only)."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


# The kinds corpusforge writes: row shards (with dataset_info.json and state.json), or files only.
SHARD_KINDS = ("documents", "tokenized", "pretraining", "causal", "bilm", "stream", "t5", "bart", "mass", "translation",
               "tlm", "xlnet", "cooccurrence", "word2vec", "ngrams", "stats")
FILE_KINDS = ("vocab", "lm")


class DatasetError(ValueError):
    """A manifest, or a file it names, that is not what corpusforge writes (one sentence, for the CLI)."""


def _manifest_path(directory) -> str:
    return f"{os.fspath(directory).rstrip('/')}/manifest.json"


def is_dataset(directory) -> bool:
    path = _manifest_path(directory)
    return filesystems().exists(path) if "://" in path else os.path.isfile(path)


def read_manifest(directory) -> dict:
    """The manifest, checked to have corpusforge's fields (check_manifest) before anyone uses it."""
    if not is_dataset(directory):
        raise FileNotFoundError(f"{directory} is not a corpusforge dataset: it has no manifest.json")
    path = _manifest_path(directory)
    try:
        with filesystems().open(path) if "://" in path else open(path, "rb") as f:
            manifest = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatasetError(f"{directory} is not a corpusforge dataset: its manifest.json is not JSON ({e})") from None
    except RecursionError:
        raise DatasetError(f"{directory} is not a corpusforge dataset: its manifest.json is nested too deeply") from None
    check_manifest(manifest, directory)
    return manifest


def _bad_name(name) -> bool:
    """Not a plain relative path inside the dataset: absolute, `..`, `.`, empty parts, backslashes, URLs."""
    return (not isinstance(name, str) or not name or name.startswith("/") or "\\" in name or "\0" in name
            or ":" in name or any(part in ("", ".", "..") for part in name.split("/")))


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_sha256(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def check_manifest(manifest, directory) -> None:
    """Raises DatasetError unless the manifest has the fields corpusforge writes for its kind and every file
    name in it is a plain relative name (so no reader ever follows a name out of the dataset)."""

    def fail(problem: str):
        raise DatasetError(f"{directory} is not a corpusforge dataset: its manifest.json {problem}")

    if not isinstance(manifest, dict):
        fail("is not a JSON object")
    kind = manifest.get("kind")
    if kind not in SHARD_KINDS + FILE_KINDS:
        fail(f"has kind {kind!r}, not one of {', '.join(SHARD_KINDS + FILE_KINDS)}")
    if not isinstance(manifest.get("corpusforge_version"), str):
        fail("has no corpusforge_version")
    entries = []
    if kind in SHARD_KINDS:
        if not _is_count(manifest.get("schema_version")):
            fail("has no schema_version")
        if not _is_count(manifest.get("rows")):
            fail("has no row count (rows)")
        if not isinstance(manifest.get("shards"), list):
            fail("has no shard list (shards)")
        for shard in manifest["shards"]:
            if not (isinstance(shard, dict) and _is_count(shard.get("rows")) and _is_sha256(shard.get("sha256"))):
                fail(f"lists a shard without file, rows and sha256 ({str(shard)[:80]})")
            entries.append(shard)
    if kind in FILE_KINDS and not isinstance(manifest.get("files"), list):
        fail("has no file list (files)")
    for entry in manifest.get("files", []):
        if not (isinstance(entry, dict) and _is_sha256(entry.get("sha256"))):
            fail(f"lists a file without file and sha256 ({str(entry)[:80]})")
        entries.append(entry)
    counts = manifest.get("input")
    if counts is not None and not (isinstance(counts, dict)
                                   and all(_is_count(counts.get(k)) for k in ("read", "kept", "filtered", "rejected"))):
        fail("has an input accounting without read, kept, filtered and rejected counts")
    if not isinstance(manifest.get("params", {}), dict):
        fail("has params that are not a JSON object")
    names = [e.get("file") for e in entries]
    rejects = manifest.get("rejects")
    if rejects is not None:
        if not (isinstance(rejects, dict) and isinstance(rejects.get("files"), list)
                and isinstance(rejects.get("sha256"), list) and len(rejects["files"]) == len(rejects["sha256"])
                and all(_is_sha256(h) for h in rejects["sha256"])):
            fail("has a rejects entry without files and their sha256")
        names += rejects["files"]
    for name in names:
        if _bad_name(name):
            fail(f"names the file {name!r}, which is not a relative path inside the dataset")


def dataset_file(directory, name: str) -> str:
    """The path of a file the manifest names, confined to the dataset: every reader opens files through this.

    The name must be a plain relative path (no `..`, not absolute) and, locally, resolve (symlinks followed)
    to a regular file inside the directory; it is checked with stat, so a FIFO or device is refused
    without being opened (opening a FIFO blocks).
    """
    if _bad_name(name):
        raise DatasetError(f"{directory}: the manifest names the file {name!r}, which is not a relative path "
                           "inside the dataset")
    root = os.fspath(directory).rstrip("/") or "/"
    path = f"{root}/{name}"
    if "://" in root:
        return path
    inside = os.path.realpath(root)
    if os.path.commonpath([inside, os.path.realpath(path)]) != inside:
        raise DatasetError(f"{path} points outside the dataset (to {os.path.realpath(path)})")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DatasetError(f"{path} is missing") from None
    except OSError as e:
        raise DatasetError(f"{path} cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(mode):
        raise DatasetError(f"{path} is not a regular file")
    return path


def shard_paths(directory, manifest: dict | None = None) -> list[str]:
    """Every shard's path, checked by dataset_file, in manifest order."""
    manifest = manifest if manifest is not None else read_manifest(directory)
    return [dataset_file(directory, s["file"]) for s in manifest["shards"]]


def open_shard(path) -> pa.Table:
    """One shard, memory-mapped: the buffers point into the file, nothing is copied (an object store's
    shard is read into memory). The path comes from dataset_file."""
    if "://" in str(path):
        with filesystems().open(str(path)) as f:
            return pa.ipc.open_stream(f.read()).read_all()
    with pa.memory_map(path) as source:
        return pa.ipc.open_stream(source).read_all()


def load_table(directory) -> pa.Table:
    """All shards of a dataset as one (zero-copy, memory-mapped) Arrow table, in manifest order."""
    tables = [open_shard(path) for path in shard_paths(directory)]
    return pa.concat_tables(tables) if tables else pa.table({})


def read_rejects(directory: str) -> list[dict]:
    """The dead-letter records of the rejects files the manifest names."""
    rejects = []
    for name in (read_manifest(directory).get("rejects") or {}).get("files", []):
        with open(dataset_file(directory, name), encoding="utf-8") as f:
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
    """Re-checks everything the manifest promises: each file it names (shards, other files, rejects) by
    sha256, the shards' rows and schema, state.json and dataset_info.json against the shards, the input
    accounting, and that the directory holds nothing the manifest does not name.

    Returns the problems found; an empty list means the dataset is intact. A manifest without
    corpusforge's fields raises DatasetError (there is nothing to check against).
    """
    from corpusforge.dataset.schema import hf_features

    manifest = read_manifest(directory)
    problems, named = [], {"manifest.json"}

    def checked(name: str, sha256: str) -> str | None:
        """The file's path if it is a regular file inside the dataset with the recorded sha256."""
        named.add(name)
        try:
            path = dataset_file(directory, name)
        except DatasetError as e:
            problems.append(str(e))
            return None
        if (digest := file_sha256(path)) != sha256:
            problems.append(f"{name}: sha256 {digest} != manifest {sha256}")
            return None
        return path

    for entry in manifest.get("files", []):  # outputs that are not row shards, e.g. a vocab's files
        checked(entry["file"], entry["sha256"])
    rejects = manifest.get("rejects")
    checked_rejects = [checked(name, sha) for name, sha in zip(rejects["files"], rejects["sha256"])] if rejects else []
    total, schema = 0, None
    for shard in manifest.get("shards", []):
        path = checked(shard["file"], shard["sha256"])
        if path is None:
            continue
        try:
            table = open_shard(path)
        except pa.ArrowInvalid as e:
            problems.append(f"{shard['file']}: unreadable ({e})")
            continue
        total += table.num_rows
        if table.num_rows != shard["rows"]:
            problems.append(f"{shard['file']}: {table.num_rows} rows != manifest {shard['rows']}")
        if schema is not None and not table.schema.equals(schema):
            problems.append(f"{shard['file']}: its schema differs from the first shard's")
        schema = schema or table.schema
    if "rows" in manifest and total != manifest["rows"] and not problems:
        problems.append(f"shards hold {total} rows != manifest rows {manifest['rows']}")
    if manifest["kind"] in SHARD_KINDS:
        names = [s["file"] for s in manifest["shards"]]
        state = _metadata(directory, "state.json", problems, named)
        if state is not None and [f.get("filename") if isinstance(f, dict) else f
                                  for f in state.get("_data_files", [])] != names:
            problems.append(f"state.json: _data_files do not list the manifest's shards {names}")
        info = _metadata(directory, "dataset_info.json", problems, named)
        if info is not None and schema is not None and info.get("features") != hf_features(schema):
            problems.append("dataset_info.json: its features do not match the shards' schema")
        if schema is not None and manifest.get("schema") != {f.name: str(f.type) for f in schema}:
            problems.append("manifest schema does not match the shards' schema")
    counts = manifest.get("input")
    if counts:
        if counts["read"] != counts["kept"] + counts["filtered"] + counts["rejected"]:
            problems.append(f"input accounting: read {counts['read']} != kept {counts['kept']} + "
                            f"filtered {counts['filtered']} + rejected {counts['rejected']}")
        if manifest["kind"] == "documents" and counts["kept"] != manifest["rows"]:
            problems.append(f"input kept {counts['kept']} != rows {manifest['rows']}")
        if rejects and all(checked_rejects):
            try:
                found = len(read_rejects(directory))
            except ValueError as e:
                problems.append(f"rejects: unreadable ({e})")
            else:
                if found != counts["rejected"]:
                    problems.append(f"rejects/ holds {found} records != rejected {counts['rejected']}")
    problems += [f"{name}: in the dataset directory but not named by the manifest"
                 for name in _unnamed(directory, named)]
    return problems


def _metadata(directory: str, name: str, problems: list, named: set) -> dict | None:
    """state.json / dataset_info.json as a dict, or None with the problem recorded."""
    named.add(name)
    try:
        with open(dataset_file(directory, name), encoding="utf-8") as f:
            value = json.load(f)
    except DatasetError as e:
        problems.append(str(e))
        return None
    except ValueError as e:
        problems.append(f"{name}: not valid JSON ({e})")
        return None
    if not isinstance(value, dict):
        problems.append(f"{name}: not a JSON object")
        return None
    return value


def _unnamed(directory: str, named: set) -> list[str]:
    """Entries under the directory (files, links, FIFOs; not folders that hold only named files) the
    manifest does not name."""
    found = []
    for root, dirs, files in os.walk(directory):
        rel = os.path.relpath(root, directory)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = name if rel == "." else f"{rel}/{name}"
            if path not in named:
                found.append(path)
    return sorted(found)
