"""What every command shares and can import without Apache Beam (about 2 s): build lm and eval lm use
only this, the Beam commands get it through pipelines.common."""
from __future__ import annotations

import functools
import logging
import os

import click

from corpusforge.dataset.reader import is_dataset

COMMAND = {"context_settings": {"ignore_unknown_options": True, "allow_extra_args": True,
                                "help_option_names": ["-h", "--help"], "max_content_width": 100}}


def check_output(output: str, overwrite: bool) -> None:
    if "://" in output:
        if is_dataset(output) and not overwrite:
            raise click.ClickException(f"output {output} already exists; pass --overwrite to replace it")
        return
    if os.path.exists(output) and not overwrite:
        raise click.ClickException(f"output {output} already exists; pass --overwrite to replace it")
    if os.path.exists(output) and not os.path.exists(os.path.join(output, "manifest.json")):
        raise click.ClickException(f"output {output} exists and is not a corpusforge dataset; refusing to replace it")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)


@functools.cache
def configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("corpusforge").setLevel(logging.INFO)
