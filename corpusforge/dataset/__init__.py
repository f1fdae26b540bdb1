"""The on-disk dataset contract: Arrow IPC stream shards, manifest.json, Hugging Face metadata."""
from corpusforge.dataset.reader import DatasetError, load_table, read_manifest, verify_dataset
from corpusforge.dataset.schema import DOCUMENTS, SCHEMA_VERSION, SCHEMAS

__all__ = ["DOCUMENTS", "DatasetError", "SCHEMAS", "SCHEMA_VERSION", "load_table", "read_manifest", "verify_dataset"]
