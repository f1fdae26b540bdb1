"""Co-occurrence datasets on disk: reading the shards, and GloVe's binary record format.

GloVe's tools (cooccur, shuffle, glove) exchange `struct {int word1; int word2; double val;}`
records, 16 bytes each, native (little-endian on x86/ARM) byte order, ids 1-based vocab.txt lines.
"""
from __future__ import annotations


import numpy as np

from corpusforge.dataset.reader import dataset_file, open_shard, read_manifest, shard_paths

GLOVE_RECORD = np.dtype([("word1", "<i4"), ("word2", "<i4"), ("val", "<f8")])


def matrix_dataset(directory: str) -> dict:
    """The manifest of a cooccurrence dataset; ValueError with one sentence if it is something else."""
    manifest = read_manifest(directory)
    if manifest.get("kind") != "cooccurrence":
        raise ValueError(f"{directory} is a {manifest.get('kind')} dataset, not a cooccurrence dataset")
    shard_paths(directory, manifest)  # DatasetError (a ValueError) now, not when a shard is opened
    return manifest


def iter_matrix(directory: str, shards: list[str] | None = None):
    """(rows int32, cols int32, values float64) per shard, in (row, col) order when shards is None."""
    manifest = matrix_dataset(directory)
    for name in shards if shards is not None else [s["file"] for s in manifest["shards"]]:
        table = open_shard(dataset_file(directory, name))
        yield (table.column("row").to_numpy(), table.column("col").to_numpy(), table.column("value").to_numpy())


def export_glove_bin(directory: str, path: str) -> int:
    """The matrix as GloVe's cooccurrence.bin (1-based ids, sorted by (row, col)); returns records written."""
    n = 0
    with open(path, "wb") as f:
        for rows, cols, values in iter_matrix(directory):
            rec = np.empty(len(rows), dtype=GLOVE_RECORD)
            rec["word1"], rec["word2"], rec["val"] = rows + 1, cols + 1, values
            f.write(rec.tobytes())
            n += len(rec)
    return n
