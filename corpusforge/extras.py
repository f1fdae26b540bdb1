"""Optional dependencies, declared per command module and checked before the module is imported (the
pattern of datatrove's `_requires_dependencies`): `pip install corpusforge` builds datasets; the
trainers need torch (`[train]`), `build stats` needs matplotlib for its plots (`[plots]`)."""
from __future__ import annotations

import importlib
import importlib.util

import click

EXTRA = {"torch": "train", "matplotlib": "plots"}  # module -> the extra that installs it
REQUIRES = {"corpusforge.trainers.commands": "torch", "corpusforge.pipelines.statistics": "matplotlib"}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or half-imported package is not usable either
        return False


def missing_sentence(command: str, module: str) -> str:
    return f"{command} needs {module}: pip install 'corpusforge[{EXTRA[module]}]'"


def lazy_command(spec: str, command: str) -> click.Command:
    """The click command at "module:attr", or, when its module's optional dependency is not installed, a
    stand-in that fails with one sentence naming the pip line (`--help` listings still work)."""
    module, attr = spec.split(":")
    need = REQUIRES.get(module)
    if need is None or installed(need):
        return getattr(importlib.import_module(module), attr)
    sentence = missing_sentence(command, need)

    def fail(args):
        from corpusforge.errors import MissingExtra

        raise MissingExtra(sentence)

    return click.Command(command.rsplit(" ", 1)[-1], callback=fail, help=sentence, short_help=sentence,
                         add_help_option=False, params=[click.Argument(["args"], nargs=-1)],
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
