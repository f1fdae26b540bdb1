"""The `corpusforge` command: build datasets, inspect them, verify them."""
from __future__ import annotations

import json
import logging
import os

import click

# Beam's import warns about Google Cloud client libraries a local run does not need.
logging.getLogger().addFilter(lambda record: "apitools not found" not in str(record.msg))

from corpusforge import __version__

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="corpusforge")
def main():
    """corpusforge: raw pretraining corpora -> sharded Apache Arrow datasets, with Apache Beam.

    \b
    corpusforge build documents -i CORPUS -o OUT    raw corpora -> cleaned, sentence-split documents
    corpusforge build tokenized -i DOCS -t VOCAB -o OUT   token ids + word boundaries per sentence
    corpusforge build vocab -i DOCS --model M -o OUT      train WordPiece / byte-level BPE / unigram
    corpusforge build ngrams -i CORPUS --order N -o OUT   exact 1..N-gram counts + count-of-counts
    corpusforge build lm -i NGRAMS --smoothing S -o LM    smoothed n-gram LM as ARPA
    corpusforge build stats -i CORPUS -o OUT         Zipf / Heaps / lengths: tables, plots, report.md
    corpusforge eval lm LM TEXT                     perplexity with and without OOVs
    corpusforge inspect OUT                         schema, rows, shards, parameters, a few rows
    corpusforge verify OUT                          re-check checksums and counts (exit 1 on mismatch)
    """


@main.group(context_settings=CONTEXT)
def build():
    """Build a dataset with an Apache Beam pipeline (Beam options pass through)."""


@main.group("eval", context_settings=CONTEXT)
def evaluate():
    """Evaluate a built model on text (e.g. an n-gram LM's perplexity)."""


def _add_pipelines():
    from pipelines import documents, lm, ngrams, statistics, tokenized, vocab

    build.add_command(documents.main, "documents")
    build.add_command(tokenized.main, "tokenized")
    build.add_command(vocab.main, "vocab")
    build.add_command(ngrams.main, "ngrams")
    build.add_command(lm.build_lm, "lm")
    build.add_command(statistics.main, "stats")
    evaluate.add_command(lm.eval_lm, "lm")


_add_pipelines()


def _dataset_dir(path: str) -> str:
    if not os.path.exists(os.path.join(path, "manifest.json")):
        raise click.ClickException(f"{path} is not a corpusforge dataset: it has no manifest.json")
    return path


def _short(value, width: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


@main.command(context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--rows", "-n", type=click.IntRange(min=0), default=3, show_default=True, help="Rows to print.")
def inspect(dataset, rows):
    """Print a dataset's schema, row and shard counts, build parameters and a few rows."""
    from corpusforge.dataset.reader import open_shard, read_manifest

    manifest = read_manifest(_dataset_dir(dataset))
    click.echo(f"{dataset}: kind {manifest['kind']}, schema v{manifest.get('schema_version', '-')}, "
               f"corpusforge {manifest['corpusforge_version']}")
    for entry in manifest.get("files", []):
        click.echo(f"  {entry['file']}  {entry['bytes']} bytes  sha256 {entry['sha256'][:16]}...")
    if "shards" in manifest:
        click.echo(f"rows: {manifest['rows']} in {len(manifest['shards'])} shard(s) ({manifest.get('format')})")
    for shard in manifest.get("shards", []):
        click.echo(f"  {shard['file']}  {shard['rows']} rows  sha256 {shard['sha256'][:16]}...")
    if "input" in manifest:
        acc = manifest["input"]
        click.echo(f"input: read {acc['read']} = kept {acc['kept']} + filtered {acc['filtered']} + "
                   f"rejected {acc['rejected']}")
        for what in ("filtered", "rejected"):
            if acc.get(f"{what}_by_reason"):
                click.echo(f"  {what}: " + ", ".join(f"{k} {v}" for k, v in acc[f"{what}_by_reason"].items()))
    click.echo("params:")
    for key, value in manifest["params"].items():
        click.echo(f"  {key}: {_short(value)}")
    shown = 0
    for shard in manifest.get("shards", []):
        if shown >= rows:
            break
        table = open_shard(os.path.join(dataset, shard["file"]))
        if shown == 0:
            click.echo("schema:")
            for field in table.schema:
                click.echo(f"  {field.name}: {field.type}")
        for row in table.slice(0, rows - shown).to_pylist():
            click.echo(f"--- row {shown}")
            for key, value in row.items():
                click.echo(f"  {key}: {_short(value)}")
            shown += 1


@main.command(context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(file_okay=False))
def verify(dataset):
    """Re-check every shard's sha256 and row count and the input accounting; exit 1 on any mismatch."""
    from corpusforge.dataset.reader import verify_dataset

    problems = verify_dataset(_dataset_dir(dataset))
    for problem in problems:
        click.echo(f"MISMATCH {problem}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{dataset}: OK")


if __name__ == "__main__":
    main()
