"""The command line: help everywhere, bad arguments fail fast in one sentence, no network."""
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SAMPLE, build_documents, run_cli


@pytest.mark.parametrize("command", [[], ["build"], ["build", "documents"], ["inspect"], ["verify"]])
def test_help_on_every_command(command):
    out = run_cli(*command, "--help").output
    assert "Usage:" in out and len(out.splitlines()) > 3


def test_build_help_documents_beam_passthrough():
    out = run_cli("build", "documents", "--help").output
    assert "--direct_num_workers" in out and "--format" in out and "wiki2019zh" in out


def error_of(*args):
    """Runs the real console entry point; returns (exit code, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "corpusforge.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("args, message", [
    (["-i", "no/such/corpus.json", "-o", "{out}"], "input path no/such/corpus.json does not exist"),
    (["-i", str(SAMPLE), "--format", "xml", "-o", "{out}"], "'xml' is not one of"),
    (["-i", str(SAMPLE), "-o", "{out}", "--min-char", "3"], "no such option: --min-char"),
    (["-i", str(SAMPLE), "-o", "{out}", "--min-chars", "50", "--max-chars", "10"], "larger than --max-chars"),
    (["-i", str(SAMPLE), "-o", "{existing}"], "already exists; pass --overwrite"),
])
def test_bad_arguments_fail_fast_with_one_clear_sentence(tmp_path, args, message):
    (tmp_path / "existing").mkdir()
    args = [a.format(out=tmp_path / "new", existing=tmp_path / "existing") for a in args]
    code, err = error_of("build", "documents", *args)
    assert code != 0
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "new").exists()


def test_inspect_of_a_non_dataset_is_one_sentence(tmp_path):
    code, err = error_of("inspect", tmp_path)
    assert code == 1 and "is not a corpusforge dataset" in err and "Traceback" not in err


def test_default_build_opens_no_network_socket(tmp_path, monkeypatch):
    """The embedded default runner must not try to download Prism (or anything else)."""
    attempts = []
    real_connect = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1") and not str(host).startswith("/"):
            attempts.append(address)
            raise OSError("network disabled in this test")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: attempts.append(address))
    build_documents(tmp_path / "docs", SAMPLE / "plain")
    assert attempts == []
    assert (tmp_path / "docs" / "manifest.json").exists()
