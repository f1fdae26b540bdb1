"""The `corpusforge` command: build datasets, inspect them, verify them."""
from __future__ import annotations

import json
import logging
import os

import click

# Beam's import warns about Google Cloud client libraries a local run does not need.
logging.getLogger().addFilter(lambda record: "apitools not found" not in str(record.msg))

from corpusforge import __version__
from corpusforge.extras import lazy_command  # an extra's command fails with one sentence when it is missing

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="corpusforge")
def main():
    """corpusforge: raw pretraining corpora -> sharded Apache Arrow datasets, with Apache Beam.

    \b
    corpusforge build documents -i CORPUS -o OUT    raw corpora -> cleaned, sentence-split documents
    corpusforge build tokenized -i DOCS -t VOCAB -o OUT   token ids + word boundaries per sentence
    corpusforge build vocab -i DOCS --model M -o OUT      train WordPiece / byte-level BPE / unigram
    corpusforge build pretraining -i TOK -o OUT     NSP/SOP pairs or RoBERTa packing, masked (token/wwm/ngram/span)
    corpusforge build cooccurrence -i CORPUS -o OUT GloVe vocab.txt + co-occurrence matrix
    corpusforge export cooccurrence OUT -o FILE     the matrix in GloVe's binary format
    corpusforge train glove -i MATRIX -o VECTORS    train GloVe vectors (torch, CPU or CUDA)
    corpusforge eval vectors VECTORS ...            nearest neighbours, analogies
    corpusforge train bert --data PRE -o RUN        pretrain BERT / ALBERT / RoBERTa-style encoders (torch)
    corpusforge train gpt --data CAUSAL -o RUN      pretrain a GPT-2 decoder (transformers' GPT2LMHeadModel)
    corpusforge train seq2seq --data T5 -o RUN      pretrain an encoder-decoder (transformers' T5 / BART)
    corpusforge train electra --data PRE -o RUN     pretrain ELECTRA: generator + replaced-token detection
    corpusforge export hf RUN/checkpoint.pt         a checkpoint in the layout transformers loads
    corpusforge export megatron DATA -o PREFIX      a tokenized or causal dataset as Megatron-LM's .bin/.idx
    corpusforge build ngrams -i CORPUS --order N -o OUT   exact 1..N-gram counts + count-of-counts
    corpusforge build lm -i NGRAMS --smoothing S -o LM    smoothed n-gram LM as ARPA
    corpusforge build stats -i CORPUS -o OUT         Zipf / Heaps / lengths: tables, plots, report.md
    corpusforge eval lm LM TEXT                     perplexity with and without OOVs
    corpusforge inspect OUT                         schema, rows, shards, parameters, a few rows
    corpusforge verify OUT                          re-check checksums and counts (exit 1 on mismatch)
    """


class LazyGroup(click.Group):
    """A group whose subcommands are imported when they are used (click's documented lazy loading):
    `build documents` does not import torch, `inspect` does not import Beam; start-up stays small."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx, name):
        if name in self.lazy:
            return lazy_command(self.lazy[name], f"corpusforge {self.name} {name}")
        return super().get_command(ctx, name)


@main.group(cls=LazyGroup, context_settings=CONTEXT, lazy={
    "documents": "pipelines.documents:main", "dedup": "pipelines.documents:dedup", "tokenized": "pipelines.tokenized:main", "vocab": "pipelines.vocab:main",
    "pretraining": "pipelines.pretraining:main", "cooccurrence": "pipelines.cooccurrence:main",
    "ngrams": "pipelines.ngrams:main", "lm": "pipelines.lm:build_lm", "stats": "pipelines.statistics:main"})
def build():
    """Build a dataset with an Apache Beam pipeline (Beam options pass through)."""


@main.group(name="eval", cls=LazyGroup, context_settings=CONTEXT,
            lazy={"lm": "pipelines.lm:eval_lm", "vectors": "trainers.glove:eval_vectors"})
def evaluate():
    """Evaluate a built model: an n-gram LM's perplexity, word vectors' neighbours and analogies."""


@main.group(cls=LazyGroup, context_settings=CONTEXT,
            lazy={"glove": "trainers.glove:main", "bert": "trainers.commands:train_bert",
                  "gpt": "trainers.gpt:train_gpt", "seq2seq": "trainers.seq2seq:train_seq2seq",
                  "electra": "trainers.electra:train_electra"})
def train():
    """Train a model on a built dataset (thin PyTorch trainers)."""


@main.group(cls=LazyGroup, context_settings=CONTEXT, lazy={"hf": "trainers.commands:export_hf"})
def export():
    """Write a dataset or a trained model in another tool's format."""


@export.command("cooccurrence", context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["glove-bin"]), default="glove-bin", show_default=True,
              help="glove-bin: GloVe's records (int32 row, int32 col, float64 value; 1-based ids), sorted by "
                   "(row, col), for GloVe's shuffle/glove and other GloVe trainers; use with the dataset's vocab.txt.")
@click.option("--output", "-o", required=True, help="File to write (e.g. cooccurrence.bin).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file at --output.")
def export_cooccurrence(dataset, fmt, output, overwrite):
    """Export a cooccurrence dataset's matrix."""
    from corpusforge.dataset.cooccurrence import export_glove_bin, matrix_dataset

    try:
        matrix_dataset(_dataset_dir(dataset))
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    real, inside = os.path.realpath(output), os.path.realpath(dataset) + os.sep
    if real.startswith(inside):
        raise click.ClickException(f"output {output} is inside the dataset {dataset}; write it elsewhere")
    if os.path.lexists(output) and (os.path.islink(output) or not os.path.isfile(output)):
        raise click.ClickException(f"output {output} exists and is not a regular file; refusing to replace it")
    if os.path.lexists(output) and not overwrite:
        raise click.ClickException(f"output {output} already exists; pass --overwrite to replace it")
    # written beside it, then renamed: a failed export leaves the old file (or none), never half a file
    tmp = os.path.join(os.path.dirname(os.path.abspath(output)), f".{os.path.basename(output)}.incomplete-{os.getpid()}")
    try:
        n = export_glove_bin(dataset, tmp)
        os.replace(tmp, output)
    except OSError as e:
        raise click.ClickException(f"cannot write {output}: {e.strerror}") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    click.echo(f"wrote {output}: {n} records ({fmt}); vocabulary: {os.path.join(dataset, 'vocab.txt')}")


@export.command("megatron", context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--output", "-o", "prefix", required=True,
              help="Writes PREFIX.bin and PREFIX.idx (Megatron-LM's --data-path PREFIX).")
@click.option("--split-sentences", is_flag=True,
              help="Tokenized input: one sequence per sentence (Megatron's --split-sentences, for BERT); "
                   "default one per document.")
@click.option("--append-eod", is_flag=True,
              help="Tokenized input: end each document with the EOS token (Megatron's --append-eod, for GPT).")
@click.option("--eos-token", default=None,
              help="With --append-eod: the EOS token or id (default as in build pretraining --mode causal).")
def export_megatron(dataset, prefix, split_sentences, append_eod, eos_token):
    """Export a tokenized or causal dataset as Megatron-LM's indexed dataset (MMapIndexedDataset)."""
    from corpusforge.dataset.megatron import export_megatron as export
    from corpusforge.dataset.reader import read_manifest

    manifest = read_manifest(_dataset_dir(dataset))
    if manifest["kind"] not in ("tokenized", "causal"):
        raise click.ClickException(f"{dataset} is a {manifest['kind']} dataset; give a tokenized or causal dataset")
    if manifest["kind"] == "causal" and (split_sentences or append_eod or eos_token):
        raise click.ClickException("a causal dataset's blocks are its sequences and hold their EOS tokens; drop "
                                   "--split-sentences / --append-eod / --eos-token")
    if eos_token and not append_eod:
        raise click.ClickException("--eos-token goes with --append-eod")
    for path in (f"{prefix}.bin", f"{prefix}.idx"):
        if os.path.exists(path):
            raise click.ClickException(f"{path} already exists; remove it or choose another prefix")
    if not os.path.isdir(os.path.dirname(os.path.abspath(prefix))):
        raise click.ClickException(f"the directory of {prefix} does not exist")
    eod = None
    if append_eod:
        from corpusforge.objectives.causal import resolve_eos
        from pipelines.pretraining import recorded_vocab

        try:
            eod = resolve_eos(eos_token, recorded_vocab(manifest), manifest["special_ids"],
                              manifest["tokenizer"]["vocab_size"])
        except ValueError as e:
            raise click.ClickException(str(e)) from None
    n = export(dataset, prefix, split_sentences=split_sentences, eod=eod)
    click.echo(f"wrote {prefix}.bin and {prefix}.idx: {n['sequences']} sequences, {n['documents']} documents, "
               f"{n['tokens']} tokens ({n['dtype']})")


def _dataset_dir(path: str) -> str:
    """`path` if it holds a manifest that corpusforge wrote (read_manifest's checks); else one sentence."""
    from corpusforge.dataset.reader import DatasetError, read_manifest

    try:
        read_manifest(path)
    except (DatasetError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    return path


def _short(value, width: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


@main.command(context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--rows", "-n", type=click.IntRange(min=0), default=3, show_default=True, help="Rows to print.")
@click.option("--stats", "stats_only", is_flag=True,
              help="Print only the dataset's statistics (pretraining: tokens per instance, label balance, masking).")
def inspect(dataset, rows, stats_only):
    """Print a dataset's schema, row and shard counts, build parameters and a few rows."""
    from corpusforge.dataset.reader import DatasetError, open_shard, read_manifest, shard_paths

    try:
        manifest = read_manifest(_dataset_dir(dataset))
        paths = shard_paths(dataset, manifest) if "shards" in manifest else []
    except DatasetError as e:
        raise click.ClickException(str(e)) from None
    if stats_only:
        stats = manifest.get("statistics") or manifest.get("totals")
        if not stats:
            raise click.ClickException(f"{dataset} ({manifest['kind']}) has no statistics in its manifest")
        _echo_tree(stats)
        return
    click.echo(f"{dataset}: kind {manifest['kind']}, schema v{manifest.get('schema_version', '-')}, "
               f"corpusforge {manifest['corpusforge_version']}")
    for entry in manifest.get("files", []):
        click.echo(f"  {entry['file']}  {entry.get('bytes', '?')} bytes  sha256 {entry['sha256'][:16]}...")
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
    for key, value in manifest.get("params", {}).items():
        click.echo(f"  {key}: {_short(value)}")
    if manifest.get("statistics"):
        click.echo("statistics: (corpusforge inspect --stats for all)")
        for key, value in manifest["statistics"].items():
            click.echo(f"  {key}: {_short(value)}")
    shown = 0
    for path in paths:
        if shown >= rows:
            break
        table = open_shard(path)
        if shown == 0:
            click.echo("schema:")
            for field in table.schema:
                click.echo(f"  {field.name}: {field.type}")
        for row in table.slice(0, rows - shown).to_pylist():
            click.echo(f"--- row {shown}")
            for key, value in row.items():
                click.echo(f"  {key}: {_short(value)}")
            shown += 1


def _echo_tree(value, indent: int = 0) -> None:
    for key, item in value.items():
        if isinstance(item, dict):
            click.echo(f"{'  ' * indent}{key}:")
            _echo_tree(item, indent + 1)
        else:
            click.echo(f"{'  ' * indent}{key}: {item}")


@main.command(context_settings=CONTEXT)
@click.argument("dataset", type=click.Path(file_okay=False))
def verify(dataset):
    """Re-check every file the manifest names, the metadata and the accounting; exit 1 on any mismatch."""
    from corpusforge.dataset.reader import DatasetError, verify_dataset

    try:
        problems = verify_dataset(_dataset_dir(dataset))
    except DatasetError as e:
        raise click.ClickException(str(e)) from None
    for problem in problems:
        click.echo(f"MISMATCH {problem}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{dataset}: OK")


if __name__ == "__main__":
    main()
