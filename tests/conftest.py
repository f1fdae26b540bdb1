import os
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "corpora"
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared" / "corpora"


def run_cli(*args, ok=True):
    """Runs the corpusforge CLI in-process; asserts success (or failure with ok=False)."""
    from corpusforge.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def build_documents(output, *inputs, args=()):
    return run_cli("build", "documents", *[x for i in inputs for x in ("--input", i)], "--output", output, *args)


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory):
    """The documents dataset built from the bundled sample corpus (built once per test session)."""
    out = tmp_path_factory.mktemp("built") / "documents"
    build_documents(out, SAMPLE)
    return out
