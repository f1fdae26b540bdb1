"""Every pipeline through the portability boundary: Beam's Python local job service and an external
worker pool on loopback (both ship with apache-beam; nothing is downloaded). DoFns are pickled and run
in separate SDK worker processes; the output must be byte-identical to the embedded runner's.

Marked `portable` (the slower group): `pytest -m "not portable"` skips it; .ci/run runs it.
"""
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import SAMPLE, VOCAB, run_cli

pytestmark = pytest.mark.portable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def wait_for(port: int, proc, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("localhost", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


@pytest.fixture(scope="module")
def portable_args():
    """Starts a job service and a worker pool (which runs `python` from PATH: this interpreter's)."""
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    job_port, pool_port = free_port(), free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                          "--port", str(job_port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                          "--service_port", str(pool_port)], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
    ]
    try:
        wait_for(job_port, procs[0])
        wait_for(pool_port, procs[1])
        yield ["--runner=PortableRunner", f"--job_endpoint=localhost:{job_port}", "--environment_type=EXTERNAL",
               f"--environment_config=localhost:{pool_port}"]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


def outputs(path):
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def build_both(tmp_path, portable_args, *args):
    # the same output name in two places: some outputs (stats' report) carry the dataset's name
    run_cli("build", *args, "--output", tmp_path / "embedded" / "out")
    run_cli("build", *args, "--output", tmp_path / "portable" / "out", *portable_args)
    embedded, portable = outputs(tmp_path / "embedded" / "out"), outputs(tmp_path / "portable" / "out")
    assert embedded and embedded == portable


WIKI = SAMPLE / "wiki_zh"


def test_documents(tmp_path, portable_args):
    build_both(tmp_path, portable_args, "documents", "--input", SAMPLE)


def test_tokenized(tmp_path, portable_args):
    build_both(tmp_path, portable_args, "tokenized", "--input", WIKI, "--tokenizer", VOCAB)


def test_pretraining(tmp_path, portable_args, sample_tokenized):
    build_both(tmp_path, portable_args, "pretraining", "--input", sample_tokenized, "--masking", "wwm")


def test_pretraining_from_raw(tmp_path, portable_args):
    build_both(tmp_path, portable_args, "pretraining", "--input", WIKI, "--tokenizer", VOCAB, "--mode", "sop")


def test_vocab(tmp_path, portable_args):
    build_both(tmp_path, portable_args, "vocab", "--input", WIKI, "--model", "wordpiece", "--vocab-size", "6000")


def test_cooccurrence(tmp_path, portable_args):
    build_both(tmp_path, portable_args, "cooccurrence", "--input", WIKI, "--units", "chars", "--min-count", "2")


def test_ngrams(tmp_path, portable_args):
    build_both(tmp_path, portable_args, "ngrams", "--input", WIKI, "--order", "3", "--units", "chars")


def test_stats(tmp_path, portable_args):
    build_both(tmp_path, portable_args, "stats", "--input", WIKI, "--units", "chars")
