"""The exceptions a build or an export ends with, for the CLI and the Python API alike.

Each is a click.ClickException whose message is the one sentence the command prints after "Error:", so
the commands raise them unchanged and the CLI shows them as before; corpusforge.build() raises them to
Python callers (a plain ClickException or usage error of a command reaches them as BuildError or BadOption,
with the same sentence). Importing this module imports click only.
"""
from __future__ import annotations

import click


class BuildError(click.ClickException):
    """A build or an export that cannot start or did not finish; str(error) is the CLI's sentence."""


class BadOption(BuildError, ValueError):
    """An option value the command refuses (a wrong type, out of range, options that do not go together)."""


class BadInput(BuildError):
    """An input that does not exist, cannot be read, or is a dataset of the wrong kind."""


class OutputExists(BuildError):
    """The output exists and overwrite was not given."""


class BadOutput(BuildError):
    """An output that cannot be created, or an existing one corpusforge must not replace (not a dataset it wrote)."""


class OutputBusy(BuildError):
    """Another corpusforge run is building the same output (it holds the output's lock)."""


class WriteFailed(BuildError):
    """Writing the output failed (disk full, quota, read-only file system); nothing was written."""


class MissingExtra(BuildError):
    """The command needs an optional dependency that is not installed; the sentence names the pip line."""
