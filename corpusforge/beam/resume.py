"""Completion markers: what lets `--resume` reuse the stage outputs a killed build finished.

A stage that writes the outputs of one destination (a shard, a bucket) records them, after they are
written, in TMP/_done/STAGE/DEST.json: the files relative to TMP with their sha256, what the stage
yields downstream, and the fingerprint of the inputs and options of the build. A resumed build (the
killed run's TMP adopted, see corpusforge.pipelines.command.resume_dir) finds its stage outputs from these markers,
never by listing (spill names are random per attempt), and reuses a destination only if every file
listed is there with its sha256; anything else is built again. Like datatrove's and dolma's executors,
which skip the ranks whose completion file exists.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import uuid
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from corpusforge.dataset.writer import write_bytes

DONE = "_done"  # under the temporary directory; removed with the other intermediate directories
FINGERPRINT = "fingerprint.json"
log = logging.getLogger("corpusforge")
KILL_AFTER = "CORPUSFORGE_KILL_AFTER"  # test switch: "STAGE:N" SIGKILLs the process at the Nth marker of STAGE


def fingerprint_digest(fingerprint: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()


def file_sha256(path: str) -> str | None:
    """None for a missing file."""
    h = hashlib.sha256()
    try:
        with FileSystems.open(path, compression_type="uncompressed") as f:
            while chunk := f.read(8 << 20):
                h.update(chunk)
    except (OSError, IOError):
        return None
    return h.hexdigest()


def write_atomic(path: str, data: bytes) -> None:
    """A local file appears whole or not at all (a kill mid-write leaves no half marker); object stores
    publish an object only when it is closed."""
    if "://" in path:
        write_bytes(path, data)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    part = f"{path}.{uuid.uuid4().hex[:8]}.part"
    with open(part, "wb") as f:
        f.write(data)
    os.replace(part, path)


def read_fingerprint(tmp: str) -> dict | None:
    try:
        with open(os.path.join(tmp, DONE, FINGERPRINT), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_fingerprint(tmp: str, fingerprint: dict) -> None:
    write_atomic(f"{tmp}/{DONE}/{FINGERPRINT}", json.dumps(fingerprint, sort_keys=True, indent=1).encode())


class Markers:
    """The completion markers of one build (picklable: workers get a copy)."""

    def __init__(self, tmp: str, digest: str):
        self.tmp, self.digest = tmp.rstrip("/"), digest

    def _path(self, stage: str, destination: int) -> str:
        return f"{self.tmp}/{DONE}/{stage}/{destination:05d}.json"

    def write(self, stage: str, destination: int, files: list[str], **record) -> None:
        """After `files` (paths relative to TMP) are complete: records them with their sha256 and `record`."""
        listed = [{"file": f, "sha256": file_sha256(f"{self.tmp}/{f}")} for f in files]
        marker = {"fingerprint": self.digest, "stage": stage, "destination": destination, "files": listed, **record}
        write_atomic(self._path(stage, destination), json.dumps(marker, ensure_ascii=False).encode())
        kill_point(stage)

    def write_output(self, stage: str, destination: int, value) -> None:
        """After the files `value` names under TMP are complete: a marker of `value`, what the stage yields for
        `destination` (its paths recorded relative to TMP, its files with their sha256)."""
        files: list = []
        recorded = _to_marker(self.tmp, value, files)
        self.write(stage, destination, sorted(set(files)), output=recorded)

    def read_output(self, stage: str, destination: int):
        """What write_output recorded, if its marker is intact (else None): the stage's output, reused."""
        done = self.read(stage, destination)
        return None if done is None else _from_marker(self.tmp, done["output"])

    def read(self, stage: str, destination: int) -> dict | None:
        """The marker if it was written by a build with this fingerprint and every file it lists is intact."""
        try:
            with FileSystems.open(self._path(stage, destination), compression_type="uncompressed") as f:
                marker = json.loads(f.read())
        except (OSError, IOError, ValueError):
            return None
        if marker.get("fingerprint") != self.digest:
            return None
        if any(file_sha256(f"{self.tmp}/{f['file']}") != f["sha256"] for f in marker["files"]):
            return None
        return marker


def kill_point(stage: str) -> None:
    """$CORPUSFORGE_KILL_AFTER=STAGE:N (a test switch, off when unset): the Nth marker of STAGE written in
    this build (counted in $CORPUSFORGE_FAIL_DIR, across processes) SIGKILLs its process, as a lost machine."""
    spec = os.environ.get(KILL_AFTER)
    if not spec or spec.rpartition(":")[0] != stage:
        return
    counter = os.path.join(os.environ["CORPUSFORGE_FAIL_DIR"], f"kill-{stage}")
    fd = os.open(counter, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, b".")
        reached = os.fstat(fd).st_size >= int(spec.rpartition(":")[2])
    finally:
        os.close(fd)
    if reached:
        os.kill(os.getpid(), signal.SIGKILL)


def _to_marker(tmp: str, value, files: list):
    """A JSON value with every path under TMP as {"$tmp": relative path} (collected in `files`): a resumed
    build may name the adopted directory by another path (another working directory)."""
    if isinstance(value, str) and value.startswith(tmp + "/"):
        files.append(value[len(tmp) + 1:])
        return {"$tmp": value[len(tmp) + 1:]}
    if isinstance(value, dict):
        return {k: _to_marker(tmp, v, files) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_marker(tmp, v, files) for v in value]
    return value


def _from_marker(tmp: str, value):
    """_to_marker inverted; lists come back as tuples (keyed pairs for a GroupByKey, sample entries)."""
    if isinstance(value, dict):
        if list(value) == ["$tmp"]:
            return f"{tmp}/{value['$tmp']}"
        return {k: _from_marker(tmp, v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_from_marker(tmp, v) for v in value)
    return value


class RecordInputs(beam.DoFn):
    """The one marker for everything before a pipeline's merges, written once all of it is: the records the merges
    read (spill paths and what travels with them), the counts and the rejects of reading (and of the steps up to
    there), and `extra` (e.g. a vocabulary's layout). A resumed build that finds it intact reads nothing again
    (reused_inputs). Yields True, for merges that must not start before it (pretraining's buckets; the merges of the
    counting pipelines need not wait: their outputs are the same whatever spills they were merged from)."""

    def __init__(self, markers: Markers, stage: str, files: tuple = ()):
        """files: further files under TMP the merges read (e.g. a vocabulary), checked on reuse."""
        self.markers, self.stage, self.files = markers, stage, files

    def process(self, _, records: list, counts: list, rejects: list, extra=None):
        tmp = self.markers.tmp
        files: list = [f[len(tmp) + 1:] for f in self.files]
        listed = sorted((_to_marker(tmp, r, files) for r in records), key=lambda r: json.dumps(r, sort_keys=True))
        extra = _to_marker(tmp, extra, files)
        total: dict = {}
        for c in counts:
            for key, n in c.items():
                total[key] = total.get(key, 0) + n
        self.markers.write(self.stage, 0, sorted(set(files)), records=listed, counts=dict(sorted(total.items())),
                           rejects=sorted((r.as_dict() for r in rejects), key=lambda r: (r["file"], r["offset"])),
                           extra=extra)
        yield True


class Reused(NamedTuple):
    records: beam.PCollection
    counts: beam.PCollection  # one dict: every count up to the merges
    rejects: beam.PCollection  # Reject records
    extra: object


def reused_inputs(pipeline, markers: Markers | None, stage: str) -> Reused | None:
    """What RecordInputs recorded, as PCollections, if its marker is intact; else None (build from the input)."""
    done = markers and markers.read(stage, 0)
    if not done:
        return None
    from corpusforge.sources.formats import Reject

    log.info("resume: %s reused (%d records): reading nothing again", stage, len(done["records"]))
    return Reused(pipeline | f"Reused{stage.title()}" >> beam.Create(list(_from_marker(markers.tmp, done["records"]))),
                  pipeline | f"Reused{stage.title()}Counts" >> beam.Create([done["counts"]]),
                  pipeline | f"Reused{stage.title()}Rejects" >> beam.Create([Reject(**r) for r in done["rejects"]]),
                  _from_marker(markers.tmp, done["extra"]))


def record_inputs(pipeline, markers: Markers, stage: str, records, counts: list, rejects, extra=None,
                  files: tuple = ()):
    """RecordInputs once `records`, `counts` (PCollections of dicts), `rejects` and `extra` (a side input) are
    complete: a PCollection of one True, for the merges to wait on (beam.pvalue.AsSingleton)."""
    counts = tuple(counts) | f"Recorded{stage.title()}Counts" >> beam.Flatten()
    side = [beam.pvalue.AsList(records), beam.pvalue.AsList(counts), beam.pvalue.AsList(rejects)]
    if extra is not None:
        side.append(extra)
    return (pipeline | f"Start{stage.title()}Record" >> beam.Create([None])
            | f"Record{stage.title()}" >> beam.ParDo(RecordInputs(markers, stage, files), *side))
