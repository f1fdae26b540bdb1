"""The Python API: corpusforge.build(kind, **options) and corpusforge.export(format, dataset, **options).

Each runs the function its CLI command runs, with that command's own click parameters: the keyword arguments
are the options' names (`max_seq_length=` for --max-seq-length, `inputs=` or `input=` for --input, `format=`
for --format, `tokenizer=` for --tokenizer), filled in with the command's defaults and converted and checked
by the same click types and callbacks, so the API and the CLI cannot drift apart in options, defaults or
checks. Beam pipeline options go in `beam_args`, as on the command line. Failures raise
corpusforge.errors.BuildError subclasses carrying the sentence the CLI prints; an option the command does
not have raises TypeError naming it.
"""
from __future__ import annotations

import difflib
import os

import click

from corpusforge.errors import BadOption, BuildError


class Dataset:
    """A dataset corpusforge wrote: its path, its manifest, and its rows as a Hugging Face or Arrow table.

    os.fspath(dataset) is its path, so it can be the input of the next build."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self._manifest = None

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"corpusforge.Dataset({self.path!r}, kind={self.kind!r}, rows={self.rows!r})"

    @property
    def manifest(self) -> dict:
        """manifest.json: kind, parameters, shards with sha256, input accounting, statistics."""
        if self._manifest is None:
            from corpusforge.dataset.reader import read_manifest

            self._manifest = read_manifest(self.path)
        return self._manifest

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    @property
    def rows(self) -> int | None:
        """Rows in the shards; None for the kinds made of files only (vocab, lm)."""
        return self.manifest.get("rows")

    def _check_rows(self) -> None:
        if "shards" not in self.manifest:
            files = ", ".join(f["file"] for f in self.manifest.get("files", []))
            raise ValueError(f"{self.path} is a {self.kind} dataset: files ({files}), no rows")

    def to_table(self):
        """All shards as one memory-mapped pyarrow.Table, in manifest order."""
        from corpusforge.dataset.reader import load_table

        self._check_rows()
        return load_table(self.path)

    def to_datasets(self):
        """The shards as a datasets.Dataset (datasets.load_from_disk, memory-mapped; needs `pip install datasets`)."""
        self._check_rows()
        try:
            import datasets
        except ImportError:
            raise ImportError("Dataset.to_datasets() needs Hugging Face datasets: pip install datasets") from None
        return datasets.load_from_disk(self.path)


def open_dataset(path) -> Dataset:
    """A dataset built earlier (by the API or the CLI); BadInput if `path` holds no corpusforge manifest."""
    from corpusforge.dataset.reader import DatasetError, read_manifest
    from corpusforge.errors import BadInput

    dataset = Dataset(path)
    try:
        dataset._manifest = read_manifest(dataset.path)
    except (DatasetError, FileNotFoundError) as e:
        raise BadInput(str(e)) from None
    return dataset


def _group(name: str) -> click.Group:
    from corpusforge import cli

    return cli.main.commands[name]


def kinds(group: str = "build") -> list[str]:
    """The dataset kinds build() makes (group "build") or the formats export() writes (group "export")."""
    group_ = _group(group)
    return group_.list_commands(click.Context(group_))


def _command(group: str, name: str, caller: str) -> click.Command:
    group_ = _group(group)
    names = kinds(group)
    if name not in names:
        raise ValueError(f"{caller}: {name!r} is not one of {', '.join(names)}")
    spec = getattr(group_, "lazy", {}).get(name)
    if spec:  # a command whose extra is missing: its sentence now, not a TypeError for each of its options
        from corpusforge.errors import MissingExtra
        from corpusforge.extras import REQUIRES, installed, missing_sentence

        need = REQUIRES.get(spec.split(":")[0])
        if need and not installed(need):
            raise MissingExtra(missing_sentence(f"corpusforge {group} {name}", need))
    return group_.get_command(click.Context(group_), name)


def _values(command: click.Command, options: dict, caller: str) -> dict:
    """The options as the command's parameter names; TypeError for one it does not have or a list given to a
    single-valued one. Values are converted by click, as on the command line."""
    by_name = {}
    for param in command.params:
        for alias in (param.name, *(o[2:].replace("-", "_") for o in param.opts if o.startswith("--"))):
            by_name.setdefault(alias, param)
    values = {}
    for key, value in options.items():
        param = by_name.get(key)
        if param is None:
            close = difflib.get_close_matches(key, by_name, n=1)
            raise TypeError(f"{caller} got an unexpected option {key!r}"
                            + (f"; did you mean {close[0]!r}?" if close else f"; its options: {', '.join(sorted(by_name))}"))
        if param.name in values:
            raise TypeError(f"{caller} got two values for {param.name!r} ({key!r} and another name of it)")
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if param.multiple or param.nargs == -1:  # a list, or one value for a repeatable option (inputs="corpus")
            value = [value] if isinstance(value, (str, bytes)) else [os.fspath(v) if isinstance(v, os.PathLike)
                                                                     else v for v in value]
        elif isinstance(value, (list, tuple, set, dict)):
            raise TypeError(f"{caller}: {key!r} takes one value, not a {type(value).__name__}")
        values[param.name] = value
    return values


def run_command(group: str, name: str, options: dict) -> dict:
    """Runs `corpusforge GROUP NAME` with `options` (its parameters by name) in a click context of its own:
    the command's function runs exactly as under the CLI. Returns the parameters it ran with."""
    caller = f"corpusforge.{group}({name!r})"
    command = _command(group, name, caller)
    values = _values(command, options, caller)
    try:
        # default_map: each given value goes through the parameter's own type conversion, range check and
        # callback, as a value typed on the command line does; what is not given takes the command's default
        ctx = command.make_context(f"corpusforge {group} {name}", [], default_map=values)
    except click.UsageError as e:
        raise BadOption(e.format_message()) from None
    with ctx:
        try:
            command.invoke(ctx)
        except BuildError:
            raise
        except click.UsageError as e:
            raise BadOption(e.format_message()) from None
        except click.ClickException as e:
            raise BuildError(e.format_message()) from None
    return ctx.params


def build(kind: str, /, **options) -> Dataset:
    """Builds a dataset as `corpusforge build KIND` does, with the same options and defaults.

        corpusforge.build("pretraining", inputs="out/tokenized", output="out/nsp128", mode="nsp")

    `kind`: one of kinds() (documents, dedup, tokenized, vocab, pretraining, cooccurrence, ...). Options are the
    command's (see `corpusforge build KIND --help`) by their long names with underscores; repeatable ones
    (inputs) take a list or one value; Beam options go in beam_args=["--direct_num_workers=2", ...].
    Returns the Dataset written; raises BuildError (BadOption, BadInput, OutputExists, EmptyBuild, ...)."""
    params = run_command("build", kind, options)
    return Dataset(params["output"])


def export(fmt: str, /, dataset, **options) -> str:
    """Writes a dataset (or, for hf, a checkpoint) in another tool's format, as `corpusforge export FMT DATASET`
    does; returns the output path. fmt: one of kinds("export") (cooccurrence, hf, megatron, parquet, tfrecord)."""
    command = _command("export", fmt, f"corpusforge.export({fmt!r})")
    first = next(p.name for p in command.params if isinstance(p, click.Argument))
    params = run_command("export", fmt, {first: dataset, **options})
    return params.get("output") or params.get("prefix") or params.get("out")
