"""torch Datasets over a pretraining dataset's shards: memory-mapped, zero copy.

`PretrainingDataset` is map-style (random access; DataLoader workers, any sampler, DistributedSampler);
`PretrainingStream` is iterable (shards in a seeded order through a seeded shuffle buffer, split
between DDP ranks and DataLoader workers) for corpora read once. Both yield one dict per instance:
numpy views into the memory-mapped shard (nothing copied until the collator pads the batch) plus
`index`, the instance's global row number, which seeds its dynamic masking.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from corpusforge.dataset.reader import DatasetError, read_manifest, shard_paths

LABEL_COLUMNS = ("next_sentence_label", "sentence_order_label")


class NotPretrainingData(ValueError):
    """The directory is not a pretraining dataset (one sentence, for the CLI)."""


@dataclass
class DatasetInfo:
    """What a trainer needs from a pretraining dataset's manifest."""

    directory: str
    rows: int
    mode: str  # nsp | sop | full-sentences | doc-sentences
    masking: str  # the static masking; "none" = the trainer masks dynamically
    label: str | None  # next_sentence_label | sentence_order_label | None
    vocab_size: int
    special_ids: dict
    tokenizer: dict  # the fingerprint: file, kind, sha256, vocab_size, lowercase
    max_seq_length: int
    params: dict = field(default_factory=dict)

    @classmethod
    def read(cls, directory: str) -> "DatasetInfo":
        try:
            manifest = read_manifest(directory)
            shard_paths(directory, manifest)  # every shard a regular file inside the dataset, before training starts
        except (FileNotFoundError, DatasetError) as e:
            raise NotPretrainingData(str(e)) from None
        if manifest.get("kind") != "pretraining":
            raise NotPretrainingData(f"{directory} is a {manifest.get('kind')} dataset, not a pretraining dataset "
                                     "(build one with `corpusforge build pretraining`)")
        params = manifest["params"]
        label = next((c for c in LABEL_COLUMNS if c in manifest.get("schema", {})), None)
        return cls(directory=directory, rows=manifest["rows"], mode=params["mode"], masking=params["masking"],
                   label=label, vocab_size=manifest["tokenizer"]["vocab_size"], special_ids=manifest["special_ids"],
                   tokenizer=manifest["tokenizer"], max_seq_length=params["max_seq_length"], params=params)


class _Shards:
    """The shards' record batches as numpy views (offsets + values per list column), opened lazily.

    Opened on first use in each process (a DataLoader worker re-opens the memory maps instead of
    receiving pickled copies of the tables).
    """

    def __init__(self, directory: str, columns: tuple | None = None):
        manifest = read_manifest(directory)
        self.paths = shard_paths(directory, manifest)
        self.rows = int(manifest["rows"])
        self.columns = columns  # None: all of them
        self._batches = None

    def __getstate__(self):
        return {"paths": self.paths, "rows": self.rows, "columns": self.columns, "_batches": None}

    def open(self):
        if self._batches is None:
            batches, starts, n = [], [], 0
            for path in self.paths:
                source = pa.memory_map(path)  # stays open as long as the views live
                for batch in pa.ipc.open_stream(source):
                    cols = {}
                    for name in batch.schema.names:
                        if self.columns is not None and name not in self.columns:
                            continue
                        col = batch.column(name)
                        if pa.types.is_list(col.type):
                            cols[name] = (col.offsets.to_numpy(), col.values.to_numpy(zero_copy_only=True))
                        else:
                            cols[name] = col.to_numpy(zero_copy_only=True)
                    batches.append(cols)
                    starts.append(n)
                    n += batch.num_rows
            if n != self.rows:
                raise ValueError(f"the shards hold {n} rows but the manifest says {self.rows}")
            self._batches, self._starts = batches, np.array(starts + [n])
        return self._batches

    def row(self, index: int) -> dict:
        batches = self.open()
        if not 0 <= index < self.rows:
            raise IndexError(f"row {index} out of range (0..{self.rows - 1})")
        b = int(np.searchsorted(self._starts, index, side="right")) - 1
        i = index - int(self._starts[b])
        out = {"index": index}
        for name, col in batches[b].items():
            if isinstance(col, tuple):
                offsets, values = col
                out[name] = values[offsets[i]:offsets[i + 1]]
            else:
                out[name] = int(col[i])
        return out


class PretrainingDataset(Dataset):
    """Random access to the instances of a pretraining dataset, in manifest (shard, row) order."""

    def __init__(self, directory: str):
        self.info = DatasetInfo.read(directory)
        self.shards = _Shards(directory)

    def __len__(self) -> int:
        return self.shards.rows

    def __getitem__(self, index: int) -> dict:
        return self.shards.row(int(index))


class PretrainingStream(IterableDataset):
    """Streams the instances through a seeded shuffle buffer; `set_epoch` changes the order.

    Rows are dealt to consumers (DDP ranks x DataLoader workers) round-robin in shard order, so
    every row is read by exactly one of them; each consumer then shuffles its rows through a
    buffer of `buffer_size` seeded by (seed, epoch, consumer).
    """

    def __init__(self, directory: str, buffer_size: int = 10_000, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.info = DatasetInfo.read(directory)
        self.shards = _Shards(directory)
        self.buffer_size, self.seed, self.rank, self.world_size = buffer_size, seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        worker = get_worker_info()
        workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        consumers = self.world_size * workers
        consumer = self.rank * workers + worker_id
        rng = np.random.default_rng([self.seed, self.epoch, consumer])
        order = rng.permutation(len(self.shards.paths))  # shard order, then rows within them
        starts = np.concatenate([[0], np.cumsum([self._shard_rows(s) for s in range(len(self.shards.paths))])])
        buffer: list = []
        for s in order:
            first = int(starts[s]) + (consumer - int(starts[s])) % consumers
            for index in range(first, int(starts[s + 1]), consumers):
                row = self.shards.row(index)
                if len(buffer) < self.buffer_size:
                    buffer.append(row)
                    continue
                j = int(rng.integers(len(buffer)))
                buffer[j], row = row, buffer[j]
                yield row
        for j in rng.permutation(len(buffer)):
            yield buffer[j]

    def _shard_rows(self, s: int) -> int:
        if not hasattr(self, "_rows_per_shard"):
            self._rows_per_shard = [e["rows"] for e in read_manifest(self.info.directory)["shards"]]
        return self._rows_per_shard[s]


class EpochSampler(torch.utils.data.Sampler):
    """A seeded permutation per epoch, this rank's share of it, from a given position on.

    The order depends only on (seed, epoch, rank, world size), so a resumed run that starts at
    `start` sees exactly the rows an uninterrupted run would have. Each rank gets the same number of
    rows (the tail that does not divide evenly is dropped, as DistributedSampler(drop_last=True)).
    """

    def __init__(self, n: int, seed: int, epoch: int, start: int = 0, rank: int = 0, world_size: int = 1,
                 exclude: int = 0):
        self.order = exclude + np.random.default_rng([seed, epoch]).permutation(n - exclude)
        per_rank = len(self.order) // world_size
        self.order = self.order[rank * per_rank:(rank + 1) * per_rank][start:]

    def __iter__(self):
        return iter(self.order.tolist())

    def __len__(self) -> int:
        return len(self.order)


# the encoder-decoder dataset kinds (build pretraining --mode ...) and the columns a trainer feeds from each:
# the encoder's input_ids, the decoder's labels and, where the data gives them, its decoder_input_ids
SEQ2SEQ_KINDS = {"t5": ("input_ids", "labels"), "bart": ("input_ids", "labels"),
                 "mass": ("input_ids", "labels", "decoder_input_ids", "decoder_position_ids"),
                 "translation": ("input_ids", "labels")}


@dataclass
class Seq2SeqInfo:
    """What a trainer needs from an encoder-decoder dataset's manifest."""

    directory: str
    rows: int
    kind: str  # t5 | bart | ...
    vocab_size: int
    special_ids: dict
    tokenizer: dict  # the fingerprint: file, kind, sha256, vocab_size, lowercase
    max_seq_length: int
    params: dict = field(default_factory=dict)

    @classmethod
    def read(cls, directory: str) -> "Seq2SeqInfo":
        try:
            manifest = read_manifest(directory)
            shard_paths(directory, manifest)
        except (FileNotFoundError, DatasetError) as e:
            raise NotPretrainingData(str(e)) from None
        kind = manifest.get("kind")
        if kind not in SEQ2SEQ_KINDS:
            raise NotPretrainingData(f"{directory} is a {kind} dataset; an encoder-decoder reads one of kind "
                                     f"{', '.join(SEQ2SEQ_KINDS)} (build pretraining --mode "
                                     f"{'|'.join(SEQ2SEQ_KINDS)})")
        params = manifest["params"]
        return cls(directory=directory, rows=manifest["rows"], kind=kind, vocab_size=manifest["tokenizer"]["vocab_size"],
                   special_ids=manifest.get("special_ids", {}), tokenizer=manifest["tokenizer"],
                   max_seq_length=params["max_seq_length"], params=params)


class Seq2SeqDataset(Dataset):
    """Random access to the examples of an encoder-decoder dataset: dicts of its kind's columns
    (SEQ2SEQ_KINDS) as numpy views into the memory-mapped shards, plus index."""

    def __init__(self, directory: str):
        self.info = Seq2SeqInfo.read(directory)
        self.columns = SEQ2SEQ_KINDS[self.info.kind]
        self.shards = _Shards(directory, self.columns)

    def __len__(self) -> int:
        return self.shards.rows

    def __getitem__(self, index: int) -> dict:
        row = self.shards.row(int(index))
        return {"index": row["index"], **{c: row[c] for c in self.columns}}

    def longest(self) -> int:
        """The longest sequence of any column (from the offsets: nothing is read)."""
        return max((int(np.diff(b[c][0]).max(initial=0)) for b in self.shards.open() for c in self.columns), default=0)


class XLNetDataset(Dataset):
    """Random access to the records of an xlnet dataset (build pretraining --mode xlnet): dicts of input_ids,
    seg_id and is_masked as numpy views into the memory-mapped shards, plus index (it seeds the permutation)."""

    COLUMNS = ("input_ids", "seg_id", "is_masked")

    def __init__(self, directory: str):
        try:
            manifest = read_manifest(directory)
            shard_paths(directory, manifest)
        except (FileNotFoundError, DatasetError) as e:
            raise NotPretrainingData(str(e)) from None
        if manifest.get("kind") != "xlnet":
            raise NotPretrainingData(f"{directory} is a {manifest.get('kind')} dataset; XLNet reads one of kind xlnet "
                                     "(build pretraining --mode xlnet)")
        self.manifest, self.params = manifest, manifest["params"]
        self.shards = _Shards(directory, self.COLUMNS)

    def __len__(self) -> int:
        return self.shards.rows

    def __getitem__(self, index: int) -> dict:
        return self.shards.row(int(index))
