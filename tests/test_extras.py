"""torch and matplotlib are extras: `build documents` never imports them, and a command whose extra is
missing fails with one sentence naming the pip line."""
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SAMPLE, run_cli

NEEDS = [  # (command line, missing module, the sentence)
    (("train", "bert", "--data", "pre", "-o", "run"), "torch",
     "corpusforge train bert needs torch: pip install 'corpusforge[train]'"),
    (("train", "glove", "-i", "cooc", "-o", "vectors", "--dim", "5"), "torch",
     "corpusforge train glove needs torch: pip install 'corpusforge[train]'"),
    (("eval", "vectors", "vectors.txt"), "torch",
     "corpusforge eval vectors needs torch: pip install 'corpusforge[train]'"),
    (("export", "hf", "run/checkpoint.pt"), "torch",
     "corpusforge export hf needs torch: pip install 'corpusforge[train]'"),
    (("build", "stats", "-i", SAMPLE, "-o", "stats"), "matplotlib",
     "corpusforge build stats needs matplotlib: pip install 'corpusforge[plots]'"),
]


@pytest.mark.parametrize("args, module, sentence", NEEDS, ids=[" ".join(map(str, n[0][:2])) for n in NEEDS])
def test_a_missing_extra_fails_with_one_sentence_naming_the_pip_line(monkeypatch, tmp_path, args, module, sentence):
    monkeypatch.setitem(sys.modules, module, None)  # what `import torch` meets when torch is not installed
    monkeypatch.chdir(tmp_path)
    for extra in ((), ("--help",)):
        result = run_cli(*args, *extra, ok=False)
        assert (result.exit_code, result.output) == (1, f"Error: {sentence}\n")
    assert list(tmp_path.iterdir()) == []  # before any work


def test_the_listings_still_show_every_command_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    listing = run_cli("train", "--help").output
    assert "bert" in listing and "glove" in listing and "needs torch: pip install 'corpusforge[train]'" in listing


def test_the_readmes_first_command_runs_without_torch_and_matplotlib(tmp_path):
    """`build documents` and `inspect` (the README's first command) import neither, and run where neither can be
    imported (a bare `pip install corpusforge`)."""
    code = ("import sys\n"
            "blocked = '--blocked' in sys.argv\n"
            "if blocked: sys.modules['torch'] = sys.modules['matplotlib'] = None\n"
            "from click.testing import CliRunner; import corpusforge.cli as cli\n"
            "imported = [m for m in ('torch', 'matplotlib') if sys.modules.get(m)]\n"
            f"out = {str(tmp_path)!r} + ('/blocked' if blocked else '/docs')\n"
            f"for args in (['build', 'documents', '-i', {str(SAMPLE)!r}, '-o', out], ['inspect', out]):\n"
            "    r = CliRunner().invoke(cli.main, args, catch_exceptions=False)\n"
            "    assert r.exit_code == 0, r.output\n"
            "print(imported, [m for m in ('torch', 'matplotlib') if sys.modules.get(m)])\n")
    for flag in ((), ("--blocked",)):
        done = subprocess.run([sys.executable, "-c", code, *flag], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.splitlines()[-1] == "[] []"
    assert (tmp_path / "docs" / "manifest.json").exists() and (tmp_path / "blocked" / "manifest.json").exists()
