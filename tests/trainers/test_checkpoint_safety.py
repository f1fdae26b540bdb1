"""Checkpoints are data, never code: a checkpoint.pt whose pickle would run code when loaded is refused
with one sentence by every command that reads one, and the code never runs."""
import json

import pytest
import torch

from tests.conftest import DATA, run_cli


class RunsCode:
    """What a hostile checkpoint holds: unpickling it calls exec(source)."""

    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return exec, (self.source,)


def hostile_checkpoint(path, marker, **fields):
    payload = RunsCode(f"open({str(marker)!r}, 'w').write('ran')")
    torch.save({**fields, "model": {"w": torch.zeros(2)}, "payload": payload}, path)
    return path


def one_line(result):
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    (line,) = result.output.strip().splitlines()
    return line


def assert_refused(result, path, marker):
    assert [one_line(result)] == [
        f"Error: {path} holds objects other than tensors, numbers, strings, lists and dicts; loading it would run "
        "code from the file, so it is refused"]
    assert not marker.exists()


def prove_live(path, marker):
    """The crafted file does run its code under the unsafe load (so the refusal above is what saved us)."""
    torch.load(path, map_location="cpu", weights_only=False)
    assert marker.read_text() == "ran"


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "matrix"
    run_cli("build", "cooccurrence", "-i", DATA / "glove" / "corpus.txt", "--format", "pretokenized", "--vocab",
            DATA / "glove" / "vocab.txt", "-o", out)
    return out


def test_glove_resume_refuses_a_checkpoint_that_runs_code(matrix, tmp_path):
    run = tmp_path / "run"
    args = ["train", "glove", "-i", matrix, "--dim", "4", "--device", "cpu", "--threads", "1", "-o", run]
    run_cli(*args, "--epochs", "1")
    settings = torch.load(run / "checkpoint.pt", weights_only=True)["settings"]  # a real run's: only the payload differs
    marker = tmp_path / "marker"
    path = hostile_checkpoint(run / "checkpoint.pt", marker, params={}, epoch=0, settings=settings)
    assert_refused(run_cli(*args, "--epochs", "2", "--resume", ok=False), path, marker)
    prove_live(path, marker)


def test_export_hf_refuses_a_checkpoint_that_runs_code(tmp_path):
    marker = tmp_path / "marker"
    path = hostile_checkpoint(tmp_path / "checkpoint.pt", marker, model_config={}, step=1)
    assert_refused(run_cli("export", "hf", path, "-o", tmp_path / "hf", ok=False), path, marker)
    assert not (tmp_path / "hf").exists()
    prove_live(path, marker)


def test_bert_resume_and_init_from_refuse_a_checkpoint_that_runs_code(sample_nsp64, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    marker = tmp_path / "marker"
    path = hostile_checkpoint(run / "checkpoint.pt", marker, step=1)
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1}) + "\n")
    base = ["train", "bert", "--data", sample_nsp64, "--preset", "tiny", "--batch-size", "8", "--quiet",
            "--max-steps", "2"]
    assert_refused(run_cli(*base, "--out", run, "--resume", ok=False), path, marker)
    assert_refused(run_cli(*base, "--out", tmp_path / "new", "--init-from", path, ok=False), path, marker)
    prove_live(path, marker)


def test_a_damaged_checkpoint_is_one_sentence(matrix, tmp_path):
    run = tmp_path / "run"
    args = ["train", "glove", "-i", matrix, "--dim", "4", "--device", "cpu", "--threads", "1", "-o", run]
    run_cli(*args, "--epochs", "1")
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])  # a run killed while copying it
    result = run_cli(*args, "--epochs", "2", "--resume", ok=False)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith(f"Error: {run / 'checkpoint.pt'} is not a readable checkpoint (")
    torch.save({"params": {}, "epoch": 0}, run / "checkpoint.pt")  # loadable, but not what train glove wrote
    result = run_cli(*args, "--epochs", "2", "--resume", ok=False)
    assert one_line(result) == (f"Error: {run / 'checkpoint.pt'} is not a corpusforge checkpoint of this trainer: "
                                "it has no settings")
