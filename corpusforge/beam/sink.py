"""WriteDataset: rows -> a finished dataset directory (shards, rejects/, manifest), deterministically.

How it stays deterministic and memory-flat on any runner and worker count:
1. every row carries `_key` (a seeded hash of its stable id) and optionally `_dedup` (a content
   hash); the shard of a row is a function of those bytes, never of bundle or worker;
2. workers append rows to small spill files per shard (only file names are shuffled, not rows);
3. one task per shard reads its spills, drops duplicates, sorts by `_key` and writes the shard;
4. a last single task checks the accounting, writes the metadata and renames the temporary
   directory to the output name, so a dataset appears only when complete.

Retries (Dataflow and Flink rerun failed bundles): every step is safe to run twice on the same input.
A spill has a fresh name per attempt, and a merge reads only the paths that reach it through the
PCollection (a retried bundle's outputs replace the failed attempt's; its orphan files are never read);
a merge writes under a name fixed by (stage, destination), so a retry overwrites it with the same bytes.
No step deletes its input: the intermediate directories (INTERMEDIATE) go once, in the last task
(finish_dataset), after every merge has finished and before the temporary directory is renamed.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from corpusforge.beam.counting import MergeCounts, log
from corpusforge.beam.resume import DONE
from corpusforge.dataset.schema import REJECT_FIELDS
from corpusforge.dataset.writer import (BATCH_ROWS, commit, remove_tree, shard_name, write_bytes, write_metadata,
                                        write_shard)

KEY = "_key"
GROUP_BYTES = 16  # with dedup, rows whose keys share these leading bytes are duplicates
SPILL_ROWS = 5_000  # rows a worker buffers before it writes a spill file (bounds its memory)
INTERMEDIATE = ("_spill", "_spill_rejects", "_segments", DONE)  # under the temporary directory; removed by finish_dataset
FAIL_ONCE, FAIL_DIR = "CORPUSFORGE_FAIL_ONCE", "CORPUSFORGE_FAIL_DIR"


class InjectedFault(RuntimeError):
    """The failure fail_point raises (a test switch: a worker lost after writing part of its output)."""


def fail_point(stage: str) -> None:
    """Raises InjectedFault once per stage named in $CORPUSFORGE_FAIL_ONCE (comma-separated): the first caller
    creates $CORPUSFORGE_FAIL_DIR/STAGE, so "once" holds across worker processes. Off when the variable is unset.
    Each stage calls it after it has written part of its output, where a lost worker hurts a retry most."""
    stages = os.environ.get(FAIL_ONCE)
    if not stages or stage not in stages.split(","):
        return
    try:
        os.close(os.open(os.path.join(os.environ[FAIL_DIR], stage), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    raise InjectedFault(f"{FAIL_ONCE}: {stage} fails once")


def spill_path(spill_dir: str, destination: int | None = None) -> str:
    """A new spill file's name: fresh per attempt (a retried bundle never appends to a failed attempt's file);
    only the paths a step outputs are read downstream, so a failed attempt's files are never read."""
    prefix = "" if destination is None else f"{destination:05d}-"
    return f"{spill_dir}/{prefix}{uuid.uuid4().hex}.arrow"


def seeded_key(seed: int, record_id: str, content: bytes | None = None) -> bytes:
    """The sort key of a row: a seeded hash, then the id itself so keys are unique.

    Rows sort by it, so the output order is a seeded shuffle that no worker or bundle can
    change. With `content` (a content hash) the hash is of the content, so exact duplicates get
    equal leading GROUP_BYTES, meet in one shard and sort next to each other.
    """
    hashed = content if content is not None else record_id.encode()
    prefix = hashlib.blake2b(hashed, digest_size=GROUP_BYTES, key=str(seed).encode()[:64]).digest()
    return prefix + record_id.encode()


def write_spill(path: str, table: pa.Table) -> None:
    """One spill file (an Arrow stream); its bytes are the data this design moves instead of a
    Beam shuffle of rows, so they are counted (Beam metrics spill_bytes / spill_files). A local file
    appears complete or not at all (written under a per-attempt name, then renamed): a retry that
    rewrites a file under a fixed name never truncates one a reader has memory-mapped."""
    local = "://" not in path  # a local file is streamed straight to it (building the stream in memory
    if local:  # first cost a fresh buffer's page faults); elsewhere the bytes go through Beam's FileSystems
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        attempt = f"{path}.{uuid.uuid4().hex[:8]}.part"
    sink = pa.OSFile(attempt, "wb") if local else pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    size = sink.tell()
    if local:
        sink.close()
        os.replace(attempt, path)
    else:
        write_bytes(path, sink.getvalue())  # a pyarrow Buffer, written as it is (no bytes copy)
    Metrics.counter("corpusforge", "spill_bytes").inc(size)
    Metrics.counter("corpusforge", "spill_files").inc()


def shard_of(key: bytes, num_shards: int) -> int:
    return int.from_bytes(key[:8], "big") % num_shards


def open_arrow(path: str) -> pa.Table:
    """A spill file as a table; memory-mapped where the file is local, so rows are not copied."""
    if "://" not in path:
        with pa.memory_map(path) as source:
            return pa.ipc.open_stream(source).read_all()
    with FileSystems.open(path) as f:
        return pa.ipc.open_stream(f).read_all()


class RowGather:
    """table.take(indices), many times over one table; faster for a list<number> column (BENCHMARKS.md).

    pyarrow 25's take on a list column builds an index per value and gathers value by value. Here
    such a column is viewed, without a copy, as a large_binary column of each row's value bytes, whose
    take copies a row with one memcpy; the taken bytes are viewed back as the list column. Other
    columns, and any with nulls, use pyarrow's take. The result equals table.take(indices).
    """

    def __init__(self, table: pa.Table):
        self.schema = table.schema
        self.columns = []  # per column: (array, None) or (its large_binary view, value width in bytes)
        for field, column in zip(table.schema, table.columns):
            arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
            value_type = field.type.value_type if pa.types.is_list(field.type) else None
            if (not len(arr) or arr.null_count or value_type is None or arr.values.null_count
                    or not (pa.types.is_integer(value_type) or pa.types.is_floating(value_type))):
                self.columns.append((arr, None))
                continue
            width, values = value_type.bit_width // 8, arr.values
            offsets = (arr.offsets.to_numpy().astype(np.int64) + values.offset) * width
            view = pa.Array.from_buffers(pa.large_binary(), len(arr), [None, pa.py_buffer(offsets), values.buffers()[1]])
            self.columns.append((view, width))

    def take(self, indices) -> pa.Table:
        indices = pa.array(np.asarray(indices, dtype=np.int64))
        out = []
        for field, (arr, width) in zip(self.schema, self.columns):
            taken = arr.take(indices)
            if width is not None:  # bytes back to a list: offsets in values, the data buffer as the values
                _, offsets, data = taken.buffers()
                offsets = np.frombuffer(offsets, np.int64, len(taken) + 1, taken.offset * 8) // width
                values = pa.Array.from_buffers(field.type.value_type, int(offsets[-1] - offsets[0]), [None, data],
                                               offset=int(offsets[0]))
                taken = pa.ListArray.from_arrays(pa.array(offsets - offsets[0], pa.int32()), values, type=field.type)
            out.append(taken)
        return pa.table(out, schema=self.schema)


def first_of_groups(sorted_keys: pa.Array) -> pa.Array:
    """Of keys in sorted order, True for the first of each content group (equal leading GROUP_BYTES: exact
    duplicates, which seeded_key sorts next to each other); the exact dedup of rows that meet in one task."""
    groups = [k[:GROUP_BYTES] for k in sorted_keys.to_pylist()]
    return pa.array([True] * bool(groups) + [groups[i] != groups[i - 1] for i in range(1, len(groups))])


class _FirstOfEqual(beam.CombineFn):
    """Equal rows (same content key) -> the one with the smallest key, and how many there were."""

    def create_accumulator(self):
        return None, 0

    def add_input(self, acc, row):
        best, n = acc
        return (row if best is None or row[KEY] < best[KEY] else best), n + 1

    def merge_accumulators(self, accs):
        best, n = None, 0
        for b, m in accs:
            if b is not None and (best is None or b[KEY] < best[KEY]):
                best = b
            n += m
        return best, n

    def extract_output(self, acc):
        return acc


class Deduplicated(NamedTuple):
    rows: beam.PCollection
    counts: beam.PCollection


class DropDuplicates(beam.PTransform):
    """Rows keyed by content (seeded_key with content) -> one row per content (the smallest key), and
    {"filtered:duplicate": n} counts: the exact dedup of rows before a step that does not sort them by key."""

    def expand(self, rows):
        firsts = (rows
                  | "ByContent" >> beam.Map(lambda r: (r[KEY][:GROUP_BYTES], r))
                  | "FirstOfEqual" >> beam.CombinePerKey(_FirstOfEqual())
                  | "Values" >> beam.Values())
        kept = firsts | "Kept" >> beam.Map(lambda acc: acc[0])
        counts = (firsts
                  | "Duplicates" >> beam.Filter(lambda acc: acc[1] > 1)
                  | "DuplicateCounts" >> beam.Map(lambda acc: {"filtered:duplicate": acc[1] - 1}))
        return Deduplicated(kept, counts)


def sorted_batches(table: pa.Table, dedup: bool, batch_rows: int):
    """(record batches in key order without the key column, duplicates dropped)."""
    keys = table.column(KEY)
    order = pc.sort_indices(keys)
    duplicates = 0
    if dedup and len(order):
        keep = first_of_groups(keys.take(order))
        duplicates = len(keep) - keep.true_count
        order = order.filter(keep)
    # the gather combines the spills' chunks once (the shard's size in memory, not the corpus's): take()
    # on a many-chunk table concatenates every chunk on each call (pyarrow 25)
    gather, order = RowGather(table.drop_columns([KEY])), order.to_numpy()
    batches = (gather.take(order[i:i + batch_rows]).to_batches()[0] for i in range(0, len(order), batch_rows))
    return batches, duplicates


class SpillRows(beam.DoFn):
    """Rows -> sorted spill files per shard; outputs (shard, path). Only paths are shuffled."""

    def __init__(self, spill_dir: str, schema: pa.Schema, num_shards: int):
        self.spill_dir, self.schema, self.num_shards = spill_dir, schema, num_shards

    def start_bundle(self):
        self.buffers: dict[int, list] = {}
        self.buffered = 0

    def process(self, row):
        self.buffers.setdefault(shard_of(row[KEY], self.num_shards), []).append(row)
        self.buffered += 1
        if self.buffered >= SPILL_ROWS:
            yield from self._flush()

    def finish_bundle(self):
        for shard_and_path in self._flush():
            yield GlobalWindows.windowed_value(shard_and_path)

    def _flush(self):
        for shard, rows in sorted(self.buffers.items()):
            path = spill_path(self.spill_dir, shard)
            write_spill(path, pa.Table.from_pylist(rows, schema=self.schema))
            fail_point("spill_rows")
            yield shard, path
        self.buffers, self.buffered = {}, 0


class MergeShard(beam.DoFn):
    """(shard, spill paths) -> the finished shard, written by `write(batches, schema, shard)`.

    The spills are memory-mapped, combined once into one shard-sized table and written in key
    order one batch at a time, so memory follows the shard size (fixed by --num-shards or 64 MiB
    of input per shard), not the corpus size.
    """

    def __init__(self, schema: pa.Schema, dedup: bool, write, markers=None, stage: str = "shards"):
        """markers (resume.Markers): a shard whose completion marker is intact is not merged again."""
        self.schema, self.dedup, self.write, self.markers, self.stage = schema, dedup, write, markers, stage

    def process(self, shard_and_paths):
        shard, paths = shard_and_paths
        done = self.markers and self.markers.read(self.stage, shard)
        if done:
            yield done["info"]
            return
        paths = sorted(p for p in paths if p)
        tables = [open_arrow(p) for p in paths]
        table = pa.concat_tables(tables) if tables else self.schema.empty_table()
        if table.num_rows:  # the largest key group (an empty rejects shard is no group)
            Metrics.distribution("corpusforge", "shard_group_bytes").update(table.nbytes)
        batches, duplicates = sorted_batches(table, self.dedup, BATCH_ROWS)
        info = self.write(batches, self.schema.remove(self.schema.get_field_index(KEY)), shard)
        del table, tables, batches
        info = {**info, "duplicates": duplicates}
        if self.markers:
            self.markers.write(self.stage, shard, [info["file"]], info=info)
        fail_point("merge_shard")  # the spills stay: a retry reads them again (finish_dataset removes them)
        yield info


class WriteShards(beam.PTransform):
    def __init__(self, spill_dir: str, schema: pa.Schema, num_shards: int, write, dedup: bool = False,
                 spilled: bool = False, markers=None, stage: str = "shards"):
        """spilled: the input is already (shard, spill path) pairs written to spill_dir; markers, stage: see
        MergeShard."""
        super().__init__()
        self.spilled, self.markers, self.stage = spilled, markers, stage
        self.spill_dir, self.schema, self.num_shards = spill_dir, schema, num_shards
        self.write, self.dedup = write, dedup

    def expand(self, rows):
        spills = rows if self.spilled else rows | "Spill" >> beam.ParDo(
            SpillRows(self.spill_dir, self.schema, self.num_shards))
        # every shard exists, even an empty one, so names are always "-of-N"
        every = rows.pipeline | "EveryShard" >> beam.Create([(k, None) for k in range(self.num_shards)])
        return (
            (spills, every)
            | "AllSpills" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "Merge" >> beam.ParDo(MergeShard(self.schema, self.dedup, self.write, self.markers,
                                                               self.stage))
        )


REJECTS_SCHEMA = pa.schema(
    [pa.field("reason", pa.string()), pa.field("file", pa.string()), pa.field("line", pa.int64()),
     pa.field("offset", pa.int64()), pa.field("excerpt", pa.string()), pa.field("detail", pa.string()),
     pa.field(KEY, pa.binary())]
)


def reject_row(reject) -> dict:
    row = reject.as_dict()
    row[KEY] = f"{row['file']}\0{row['offset'] + 1:020d}\0{row['reason']}\0{row['excerpt']}".encode()
    return row


class WriteRejects(beam.PTransform):
    """Reject records -> TMP/rejects/rejects.jsonl, one file in (file, offset) order; outputs its manifest entry."""

    def __init__(self, tmp: str, markers=None):
        super().__init__()
        self.tmp, self.markers = tmp, markers

    def expand(self, rejects):
        tmp = self.tmp
        return (rejects
                | "RejectRows" >> beam.Map(reject_row)
                | "WriteShards" >> WriteShards(f"{tmp}/_spill_rejects", REJECTS_SCHEMA, 1,
                                               lambda batches, schema, k: write_jsonl(batches,
                                                                                      f"{tmp}/rejects/rejects.jsonl"),
                                               markers=self.markers, stage="rejects"))


class WriteDataset(beam.PTransform):
    """{"rows", "rejects", "counts"} -> OUTPUT/ with shards, rejects/, manifest.json.

    rows: dicts with the `schema` columns plus `_key` (seeded_key; with dedup, of the content).
    """

    def __init__(self, output: str, kind: str, schema: pa.Schema, num_shards: int, params: dict,
                 dedup: bool = False, extra: dict | None = None, rows_are_records: bool = True, summarize=None,
                 tmp: str | None = None, spilled: bool = False, markers=None):
        """rows_are_records=False: rows are built from the input records (e.g. instances from
        documents), so "kept" input records come from the counts, not from the row count;
        summarize(totals) -> dict goes into the manifest as "statistics"; spilled=True: the input
        is {"spills": (shard, path) pairs already written under TMP/_spill, "rejects", "counts"};
        tmp: the temporary directory, when the caller needs to know it in advance; markers (resume.Markers):
        shards and rejects whose completion markers are intact are reused, not merged again."""
        super().__init__()
        self.rows_are_records, self.summarize, self.spilled = rows_are_records, summarize, spilled
        self.output, self.kind, self.schema = output.rstrip("/"), kind, schema
        self.num_shards, self.params, self.dedup, self.extra, self.markers = num_shards, params, dedup, extra, markers
        parent, _, name = self.output.rpartition("/")
        self.tmp = tmp or (f"{parent}/." if parent else ".") + f"{name}.incomplete-{uuid.uuid4().hex[:8]}"

    def expand(self, inputs):
        tmp, n = self.tmp, self.num_shards
        spill_schema = self.schema.append(pa.field(KEY, pa.binary()))
        shards = inputs["spills" if self.spilled else "rows"] | "WriteShards" >> WriteShards(
            f"{tmp}/_spill", spill_schema, n,
            lambda batches, schema, k: write_shard(batches, schema, f"{tmp}/{shard_name(k, n)}"), self.dedup,
            self.spilled, self.markers)
        rejects = inputs["rejects"] | "WriteRejects" >> WriteRejects(tmp, self.markers)
        counts = inputs["counts"] | "MergeCounts" >> beam.CombineGlobally(MergeCounts())
        # "files": optional entries of further files the caller wrote into tmp (e.g. near_duplicates.jsonl)
        files = inputs["files"] if "files" in inputs else shards.pipeline | "NoFiles" >> beam.Create([])
        finalize = Finalize(tmp, self.output, self.kind, self.schema, self.params, self.extra, self.rows_are_records,
                            self.summarize)
        return (
            shards.pipeline
            | "Start" >> beam.Create([None])
            | "Finalize" >> beam.ParDo(finalize, beam.pvalue.AsList(shards), beam.pvalue.AsList(rejects),
                                       beam.pvalue.AsSingleton(counts), beam.pvalue.AsList(files))
        )


def input_accounting(counts: dict, kept: int, duplicates: int) -> dict:
    """read == kept + filtered + rejected, with the reasons; raises if the numbers disagree."""
    filtered = {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("filtered:")}
    if duplicates:
        filtered["duplicate"] = duplicates
    rejected = {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("rejected:")}
    accounting = {
        "read": counts.get("read", 0),
        "kept": kept,
        "filtered": sum(filtered.values()),
        "rejected": sum(rejected.values()),
        "filtered_by_reason": dict(sorted(filtered.items())),
        "rejected_by_reason": dict(sorted(rejected.items())),
    }
    if accounting["read"] != kept + accounting["filtered"] + accounting["rejected"]:
        raise RuntimeError(f"input accounting does not add up: {accounting}")
    return accounting


def check_rejects(accounting: dict, rejects: list[dict]) -> None:
    """The rejects written (their files' rows) are the records the accounting counts as rejected."""
    if accounting["rejected"] != sum(r["rows"] for r in rejects):
        raise RuntimeError(f"{accounting['rejected']} records rejected but {rejects} written")


class Finalize(beam.DoFn):
    """Checks the accounting, writes the metadata, and makes the dataset appear."""

    def __init__(self, tmp: str, output: str, kind: str, schema: pa.Schema, params: dict, extra: dict | None,
                 rows_are_records: bool = True, summarize=None):
        self.tmp, self.output, self.kind, self.schema, self.params, self.extra = tmp, output, kind, schema, params, extra
        self.rows_are_records, self.summarize = rows_are_records, summarize

    def process(self, _, shards: list[dict], rejects: list[dict], counts: dict, files: list[dict] = ()):
        shards = sorted((dict(s) for s in shards), key=lambda s: s["file"])  # copies: a retry gets the same input
        duplicates = sum(s.pop("duplicates") for s in shards)
        rejects = [{k: v for k, v in r.items() if k != "duplicates"} for r in rejects]
        counts = dict(counts)
        rows = sum(s["rows"] for s in shards)
        kept = rows if self.rows_are_records else counts.pop("kept", 0)
        accounting = input_accounting(counts, kept, duplicates)
        totals = {k: v for k, v in counts.items() if ":" not in k and k != "read"}  # e.g. tokens
        extra = {**(self.extra or {}), **({"totals": totals} if totals else {})}
        by_source: dict = {}  # "source:<source>:<reason>" counts, kept with a cleaning option (the report's)
        for key, n in counts.items():
            if key.startswith("source:"):
                source, reason = key[len("source:"):].rsplit(":", 1)
                by_source.setdefault(source, {})[reason] = n
        if by_source:
            extra["filtered_by_source"] = {s: dict(sorted(r.items())) for s, r in sorted(by_source.items())}
        if files:
            extra["files"] = sorted(({k: v for k, v in f.items() if k != "duplicates"} for f in files),
                                    key=lambda f: f["file"])
        if self.summarize:
            extra["statistics"] = self.summarize(totals)
        yield finish_dataset(self.tmp, self.output, kind=self.kind, schema=self.schema, shards=shards,
                             accounting=accounting, rejects=rejects, params=self.params, extra=extra)


def remove_intermediate(tmp: str) -> None:
    """The one cleanup of a build: spills, merge rounds, segments and samples, all under TMP's INTERMEDIATE
    directories, removed after the last step that reads them and before TMP becomes the dataset."""
    for name in INTERMEDIATE:
        remove_tree(f"{tmp}/{name}")


def committed(tmp: str, output: str, shards: list[dict]) -> dict | None:
    """OUTPUT's manifest if TMP was already renamed to it (its shards are these, gone from TMP): the last task
    is then a retry of one that committed (its worker lost before the runner recorded the task)."""
    if FileSystems.exists(f"{tmp}/{shards[0]['file']}") or not FileSystems.exists(f"{output}/manifest.json"):
        return None
    with FileSystems.open(f"{output}/manifest.json") as f:
        manifest = json.load(f)
    return manifest if [s["sha256"] for s in manifest["shards"]] == [s["sha256"] for s in shards] else None


def rejects_entry(accounting: dict, rejects: list[dict]) -> dict:
    """The manifest's "rejects": the files written, the rows the accounting rejected, the files' sha256."""
    return {"files": [r["file"] for r in rejects], "rows": accounting["rejected"],
            "sha256": [r["sha256"] for r in rejects]}


def publish(tmp: str, output: str, accounting: dict, rejects: list[dict], write_manifest) -> dict:
    """The one commit of every build (finish_dataset's, and build vocab's, whose manifest lists files, not shards):
    checks the rejects against the accounting, removes the intermediate files (every merge has finished: nothing
    reads them any more), writes the manifest (`write_manifest()` returns it) and renames TMP to OUTPUT."""
    check_rejects(accounting, rejects)
    remove_intermediate(tmp)
    manifest = write_manifest()
    commit(tmp, output)
    return manifest


def finish_dataset(tmp: str, output: str, *, kind: str, schema: pa.Schema, shards: list[dict], accounting: dict,
                   rejects: list[dict], params: dict, extra: dict, rows: str = "rows") -> dict:
    """The last task of every dataset pipeline: writes the metadata and publishes TMP as OUTPUT (publish); returns
    the manifest (a retry after the rename returns the committed one)."""
    done = committed(tmp, output, shards)
    if done is not None:
        return done
    manifest = publish(tmp, output, accounting, rejects, lambda: write_metadata(
        tmp, kind=kind, schema=schema, shards=shards, input_counts=accounting, params=params, extra=extra,
        rejects=rejects_entry(accounting, rejects)))
    fail_point("finalize")
    # the launcher prints the one "wrote ..." line (at the final path, which a build stats stage is not)
    log.debug("committed %s: %d %s in %d shards", output, manifest["rows"], rows, len(shards))
    return manifest


def write_jsonl(batches, path: str) -> dict:
    lines = [json.dumps({k: row[k] for k in REJECT_FIELDS}, ensure_ascii=False) + "\n"
             for batch in batches for row in batch.to_pylist()]
    data = "".join(lines).encode()
    write_bytes(path, data)
    return {"file": "rejects/" + path.rsplit("/", 1)[-1], "rows": len(lines), "sha256": hashlib.sha256(data).hexdigest()}
