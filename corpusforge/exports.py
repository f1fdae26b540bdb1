"""`corpusforge export tfrecord` and `export parquet`: a dataset's shards in another tool's format, one file per
shard (data-00000-of-00004.tfrecord / .parquet, in the dataset's row order), written into a temporary
directory beside the output and renamed, so a failed export leaves the old output (or none), never part of one."""
from __future__ import annotations

import os
import re

import click

from corpusforge.cliutil import input_argument
from corpusforge.errors import BadInput, BadOutput, OutputExists
from corpusforge.pipelines.command import Command, check_inputs, lock_output, temporary_dir

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
OWN_FILES = re.compile(r"data-\d{5}-of-\d{5}\.(tfrecord|parquet)")  # what an export writes, and all it may replace


def dataset_shards(dataset: str) -> tuple[dict, list[str]]:
    """The manifest and shard paths of a dataset with rows; BadInput with one sentence otherwise."""
    from corpusforge.dataset.reader import DatasetError, read_manifest, shard_paths

    try:
        manifest = read_manifest(dataset)
        if "shards" not in manifest:
            files = ", ".join(f["file"] for f in manifest.get("files", []))
            raise BadInput(f"{dataset} is a {manifest['kind']} dataset, made of files ({files}), not rows; use "
                           "its files as they are")
        return manifest, shard_paths(dataset, manifest)
    except (DatasetError, FileNotFoundError) as e:
        raise BadInput(str(e)) from None


def replace_problem(output: str) -> str | None:
    """None if `output` is a directory holding only files an export writes (so --overwrite may replace it)."""
    if os.path.islink(output) or not os.path.isdir(output):
        return "is not a directory"
    for entry in sorted(os.listdir(output)):
        path = os.path.join(output, entry)
        if not OWN_FILES.fullmatch(entry) or os.path.islink(path) or not os.path.isfile(path):
            return f"holds {entry}, which an export does not write"
    return None


def write_export(dataset: str, shards: list[str], output: str, overwrite: bool, suffix: str, write_one) -> list:
    """Runs write_one(shard path, file path) for each shard into a temporary directory, then makes it `output`;
    returns what each call returned. The output's lock is held until the command ends."""
    if not output.strip():
        raise BadOutput("--output is empty; give the directory to create")
    if "://" in output:
        raise BadOutput(f"export writes a local directory; {output} is not one")
    check_inputs(output, [dataset])
    lock = lock_output(output)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(lock.release)  # removes the temporary directory too, whatever happened
    exists = os.path.lexists(output)
    if exists and not overwrite:
        raise OutputExists(f"output {output} already exists; pass --overwrite to replace it")
    if exists and (problem := replace_problem(output)):
        raise BadOutput(f"output {output} {problem}; refusing to replace it")
    tmp = temporary_dir(output)
    os.makedirs(tmp)
    results = [write_one(path, os.path.join(tmp, os.path.basename(path).removesuffix(".arrow") + suffix))
               for path in shards]
    if exists:
        old = f"{tmp}-replaced"
        os.rename(output, old)
        os.rename(tmp, output)
    else:
        os.rename(tmp, output)
    if ctx is None:
        lock.release()
    return results


def _options(what: str):
    def apply(f):
        f = click.option("--overwrite", is_flag=True,
                         help="Replace an existing export at --output (a directory holding only export files).")(f)
        f = click.option("--output", "-o", required=True, help=f"Directory to create: {what}.")(f)
        return input_argument("dataset", type=click.Path(file_okay=False))(f)

    return apply


@click.command("tfrecord", cls=Command, context_settings=CONTEXT)
@_options("one data-XXXXX-of-NNNNN.tfrecord per shard, for run_pretraining.py --input_file='DIR/*.tfrecord'")
def export_tfrecord(dataset, output, overwrite):
    """Export a pretraining dataset (--mode nsp or sop, masked) as Google BERT's and ALBERT's run_pretraining.py
    input: tf.train.Example records with input_ids, input_mask, segment_ids, masked_lm_positions, masked_lm_ids,
    masked_lm_weights, next_sentence_labels (and ALBERT's token_boundary), zero-padded to the dataset's
    --max-seq-length and --max-predictions-per-seq as create_pretraining_data.py pads them. No TensorFlow needed.
    """
    from corpusforge.dataset.tfrecord import ExportError, check_exportable, shard_examples, write_records

    manifest, shards = dataset_shards(dataset)
    try:
        length, predictions, label = check_exportable(manifest, dataset)
        counts = write_export(dataset, shards, output, overwrite, ".tfrecord", lambda src, dst: write_records(
            shard_examples(src, length, predictions, label, dataset), dst))
    except ExportError as e:
        raise BadInput(str(e)) from None
    click.echo(f"wrote {output}: {sum(counts)} examples in {len(counts)} file(s); train with run_pretraining.py "
               f"--input_file='{output}/*.tfrecord' --max_seq_length={length} "
               f"--max_predictions_per_seq={predictions}")


def write_parquet(src: str, dst: str) -> int:
    """One shard as a Parquet file (pyarrow's defaults: snappy, the Arrow schema kept in its metadata)."""
    import pyarrow.parquet as pq

    from corpusforge.dataset.reader import open_shard

    table = open_shard(src)
    pq.write_table(table, dst)
    return table.num_rows


@click.command("parquet", cls=Command, context_settings=CONTEXT)
@_options("one data-XXXXX-of-NNNNN.parquet per shard")
def export_parquet(dataset, output, overwrite):
    """Export any dataset with rows (documents, tokenized, pretraining, causal, t5, cooccurrence, ngrams, ...) as
    Parquet files with the same columns and rows, for datasets.load_dataset("parquet", ...), pandas, Spark,
    DuckDB.
    """
    manifest, shards = dataset_shards(dataset)
    counts = write_export(dataset, shards, output, overwrite, ".parquet", write_parquet)
    click.echo(f"wrote {output}: {sum(counts)} rows of the {manifest['kind']} dataset in {len(counts)} Parquet "
               f"file(s)")
