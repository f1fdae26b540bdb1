"""The CLI behaves like its neighbours: -i/--input and -o/--output everywhere (old spellings still parse), an
example in every --help, help without importing Beam / torch / pyarrow, Ctrl-C as exit 130 with one line, a
progress line on builds, "wrote" once at the final path, eval results as training reaches them, inspect
showing rows as Google's create_pretraining_data.py logs them."""
import json
import os
import signal
import subprocess
import sys

import click
import pytest

from tests.conftest import ROOT, SAMPLE, VOCAB, run_cli

HEAVY = ("apache_beam", "torch", "pyarrow")


def imported_by(*args):
    """The heavy modules a run of the CLI with `args` imports (in a fresh interpreter)."""
    code = ("import sys\nfrom corpusforge.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    assert "Usage:" in proc.stdout, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1].replace("'", '"'))


@pytest.mark.parametrize("args", [["--help"], ["build", "--help"], ["train", "--help"], ["export", "--help"],
                                  ["eval", "--help"], ["inspect", "--help"]])
def test_help_and_listings_import_no_beam_torch_or_pyarrow(args):
    assert imported_by(*args) == []


def test_a_commands_own_help_imports_neither_beam_nor_torch():
    """A command's --help is its click options only: Apache Beam and torch (each about a second to import) load
    when the command runs."""
    from corpusforge.torch import SEQ2SEQ_KINDS
    from corpusforge.trainers.options import SEQ2SEQ_MODES

    assert tuple(SEQ2SEQ_KINDS) == SEQ2SEQ_MODES  # the torch-free copy train seq2seq's --help lists
    names = [name for name, _ in all_commands()]
    assert len(names) >= 19
    for name in names:
        heavy = imported_by(*name.split(), "--help")
        assert "apache_beam" not in heavy and "torch" not in heavy, (name, heavy)


def all_commands():
    from corpusforge.cli import main

    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        cmd = main.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            sub = click.Context(cmd, parent=ctx, info_name=name)
            for child in cmd.list_commands(sub):
                yield f"{name} {child}", cmd.get_command(sub, child)
        else:
            yield name, cmd


# commands that write nothing a user names: no -o
READ_ONLY = {"inspect", "verify", "eval vectors"}


def test_every_command_has_input_output_and_an_example():
    from corpusforge.cli import SUMMARIES, build, evaluate, export, train

    lazy = {f"{g.name} {n}" for g in (build, evaluate, export, train) for n in g.lazy}
    seen = 0
    for name, cmd in all_commands():
        opts = {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}
        assert {"-i", "--input"} <= opts, name
        assert ({"-o", "--output"} <= opts) is (name not in READ_ONLY), name
        help_text = cmd.get_help(click.Context(cmd, info_name=name))
        assert "Example:\n" in help_text and f"corpusforge {name} " in help_text.split("Example:")[-1], name
        if name in lazy:  # listed from SUMMARIES, without importing it
            assert SUMMARIES.get(name), name
        seen += 1
    assert seen >= 19


@pytest.mark.parametrize("command, old, param", [
    ("train bert", ["--data", "D", "--out", "O"], {"data": "D", "out": "O"}),
    ("train bert", ["-d", "D", "-o", "O"], {"data": "D", "out": "O"}),
    ("train gpt", ["--data", "D", "--out", "O"], {"data": "D", "out": "O"}),
    ("export hf", ["{ckpt}", "--out", "O"], {"checkpoint": "{ckpt}", "out": "O"}),
    ("eval lm", ["M", "{ckpt}", "--scores", "S"], {"model_path": "M", "text": "{ckpt}", "scores": "S"}),
])
def test_old_spellings_still_parse_and_are_hidden(tmp_path, command, old, param):
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"")
    (tmp_path / "D").mkdir()
    cmd = dict(all_commands())[command]
    old = [a.format(ckpt=ckpt) for a in old]
    ctx = cmd.make_context(command, list(old))  # click consumes the list it parses
    assert {k: ctx.params[k] for k in param} == {k: v.format(ckpt=ckpt) for k, v in param.items()}
    renamed = {"--data": "--input", "-d": "-i", "--out": "--output", "--scores": "-o"}
    new = [renamed.get(a, a) for a in old]
    parsed = cmd.make_context(command, new).params
    assert {k: parsed[k] for k in param} == {k: ctx.params[k] for k in param}
    shown = cmd.get_help(click.Context(cmd, info_name=command))
    assert "--data" not in shown and "--out " not in shown and "--scores" not in shown


def test_positional_input_also_as_an_option(sample_dataset):
    assert run_cli("verify", "-i", sample_dataset).output == run_cli("verify", sample_dataset).output
    result = run_cli("verify", sample_dataset, "-i", SAMPLE, ok=False)
    assert result.exit_code == 2 and "not both" in result.output
    result = run_cli("verify", ok=False)
    assert result.exit_code == 2 and "missing DATASET" in result.output


def build_cmd(out, corpus=SAMPLE, *extra):
    return [sys.executable, "-m", "corpusforge.cli", "build", "pretraining", "-i", str(corpus), "-t", str(VOCAB),
            "-o", str(out), *extra]


def test_ctrl_c_exits_130_with_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "nsp"
    proc = subprocess.Popen(build_cmd(out, SAMPLE, "--dupe-factor", "5"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    for line in proc.stderr:  # the pipeline has started (imports, checks and planning are done)
        if "MB of input" in line:
            break
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    after = [line for line in stderr.splitlines() if "dictionary loaded" not in line]  # logged before the signal
    assert proc.returncode == 130 and after == ["corpusforge: interrupted (Ctrl-C)"], stderr
    assert sorted(os.listdir(tmp_path)) == []  # no dataset, no temporary data, no lock file


def test_progress_line_with_percentage_and_eta(tmp_path):
    proc = subprocess.run(build_cmd(tmp_path / "a", SAMPLE / "plain", "--progress"), capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "of input [" in line]
    assert lines and lines[-1].startswith("pretraining: 100% |") and "<" in lines[-1].split("[")[1]  # elapsed<eta
    assert "records" in lines[-1] and "\r" not in proc.stderr  # lines, not a rewritten line, in a log
    quiet = subprocess.run(build_cmd(tmp_path / "b", SAMPLE / "plain"), capture_output=True, text=True, cwd=ROOT)
    assert quiet.returncode == 0 and "of input [" not in quiet.stderr  # not a terminal, no --progress
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["params"] == \
        json.loads((tmp_path / "b" / "manifest.json").read_text())["params"]  # --progress is not a build parameter


def test_build_stats_prints_wrote_once_at_its_final_path(tmp_path):
    out = tmp_path / "stats"
    result = run_cli("build", "stats", "-i", SAMPLE / "plain", "-o", out)
    wrote = [line for line in result.output.splitlines() if line.lstrip().startswith("wrote")]
    assert wrote == [line for line in wrote if line.startswith(f"wrote {out}: ")] and len(wrote) == 1
    assert ".incomplete" not in result.output and ".stats." not in result.output


@pytest.fixture(scope="module")
def nsp_plain(tmp_path_factory):
    root = tmp_path_factory.mktemp("nsp")
    run_cli("build", "tokenized", "-i", SAMPLE / "plain", "-t", VOCAB, "-o", root / "tok")
    run_cli("build", "pretraining", "-i", root / "tok", "-o", root / "nsp", "--max-seq-length", "64")
    return root / "nsp"


def test_inspect_shows_rows_as_create_pretraining_data_logs_them(nsp_plain, tmp_path):
    from corpusforge.dataset.reader import load_table

    vocab = VOCAB.read_text(encoding="utf-8").split("\n")  # id = line number, as BERT's load_vocab
    out = run_cli("inspect", nsp_plain, "-n", "2").output
    examples = out.split("*** Example ")[1:]
    rows = load_table(str(nsp_plain)).slice(0, 2).to_pylist()
    assert len(examples) == 2
    for text, row in zip(examples, rows):
        fields = dict(line.strip().split(": ", 1) for line in text.splitlines()[1:] if ": " in line)
        tokens = fields["tokens"].split(" ")
        assert len(tokens) == len(row["input_ids"])
        marked = [i for i, t in enumerate(tokens) if t.startswith("⟨") and t.endswith("⟩")]
        assert marked == row["masked_lm_positions"] and len(marked) > 0
        assert [t.strip("⟨⟩") for t in tokens] == [vocab[i] for i in row["input_ids"]]
        assert fields["masked_lm_labels"].split(" ") == [vocab[i] for i in row["masked_lm_labels"]]
        assert fields["segment_ids"].split(" ") == [str(t) for t in row["token_type_ids"]]
        assert fields["is_random_next"] == str(bool(row["next_sentence_label"]))
    other = tmp_path / "other.txt"
    other.write_text("[PAD]\n[UNK]\n", encoding="utf-8")
    result = run_cli("inspect", nsp_plain, "-t", other, ok=False)
    assert result.exit_code == 1 and "is not the vocabulary" in result.output


def test_train_bert_prints_eval_results_as_it_reaches_them(nsp_plain, tmp_path):
    out = run_cli("train", "bert", "-i", nsp_plain, "-o", tmp_path / "run", "--max-steps", "2", "--batch-size", "4",
                  "--eval-rows", "8", "--eval-every", "1").output
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [m for m in metrics if "eval_mlm_loss" in m]
    assert [m["step"] for m in evals] == [1, 2]
    for m in evals:
        assert f"step {m['step']}: eval_mlm_loss {m['eval_mlm_loss']:.4f} eval_mlm_acc {m['eval_mlm_acc']:.4f}" in out
