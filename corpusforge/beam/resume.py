"""Completion markers: what lets `--resume` reuse the stage outputs a killed build finished.

A stage that writes the outputs of one destination (a shard, a bucket) records them, after they are
written, in TMP/_done/STAGE/DEST.json: the files relative to TMP with their sha256, what the stage
yields downstream, and the fingerprint of the inputs and options of the build. A resumed build (the
killed run's TMP adopted, see pipelines.command.resume_dir) finds its stage outputs from these markers,
never by listing (spill names are random per attempt), and reuses a destination only if every file
listed is there with its sha256; anything else is built again. Like datatrove's and dolma's executors,
which skip the ranks whose completion file exists.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import uuid

from apache_beam.io.filesystems import FileSystems

from corpusforge.dataset.writer import write_bytes

DONE = "_done"  # under the temporary directory; removed with the other intermediate directories
FINGERPRINT = "fingerprint.json"
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
