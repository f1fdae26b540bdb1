"""documents: raw corpora -> cleaned, sentence-split documents {doc_id, source, title, sentences}.

    python -m pipelines.documents --input CORPUS... --output OUT [options] [Beam options]
    corpusforge build documents  (the same command)
"""
from __future__ import annotations

import glob
import logging
import math
import os
import sys
import time

import apache_beam as beam
import click

from corpusforge.beam.prepare import PrepareDocuments, PrepareOptions
from corpusforge.beam.read import ReadCorpus
from corpusforge.beam.runner import BeamArgsError, make_pipeline, pipeline_options
from corpusforge.beam.sink import WriteDataset
from corpusforge.dataset.reader import read_manifest
from corpusforge.dataset.schema import DOCUMENTS
from corpusforge.sources.files import InputError, expand_inputs
from corpusforge.sources.formats import FORMAT_NAMES, ReadOptions
from corpusforge.text import DocumentFilter

SHARD_INPUT_BYTES = 64 << 20  # default: one output shard per this much raw input (bounds merge memory)

log = logging.getLogger("corpusforge")


def build_documents(pipeline, files, read_opts: ReadOptions, prep_opts: PrepareOptions, output: str,
                    num_shards: int, params: dict):
    """The documents graph: ReadCorpus -> PrepareDocuments -> WriteDataset. Returns the manifest PCollection."""
    read = pipeline | "ReadCorpus" >> ReadCorpus(files, read_opts)
    prepared = read["documents"] | "PrepareDocuments" >> beam.ParDo(PrepareDocuments(prep_opts)).with_outputs(
        "counts", main="rows")
    counts = (read["counts"], prepared.counts) | "AllCounts" >> beam.Flatten()
    return {"rows": prepared.rows, "rejects": read["rejects"], "counts": counts} | "WriteDataset" >> WriteDataset(
        output, "documents", DOCUMENTS, num_shards, params, dedup=prep_opts.dedup)


def check_output(output: str, overwrite: bool) -> None:
    if "://" in output:
        return
    if os.path.exists(output) and not overwrite:
        raise click.ClickException(f"output {output} already exists; pass --overwrite to replace it")
    if os.path.exists(output) and not os.path.exists(os.path.join(output, "manifest.json")):
        raise click.ClickException(f"output {output} exists and is not a corpusforge dataset; refusing to replace it")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        os.makedirs(parent, exist_ok=True)


def run_pipeline(pipeline, output: str) -> dict:
    """Runs to completion; removes the temporary directory of a failed run; returns the manifest."""
    try:
        pipeline.run().wait_until_finish()
    except BaseException:
        if "://" not in output:
            parent, name = os.path.split(os.path.abspath(output))
            for tmp in glob.glob(os.path.join(parent, f".{name}.incomplete-*")):
                __import__("shutil").rmtree(tmp, ignore_errors=True)
        raise
    return read_manifest(output) if "://" not in output else {}


def print_summary(manifest: dict, output: str, seconds: float, input_bytes: int) -> None:
    acc = manifest["input"]
    click.echo(f"wrote {output}: {manifest['rows']} rows in {len(manifest['shards'])} shard(s) "
               f"in {seconds:.1f} s ({input_bytes / 1e6 / max(seconds, 1e-9):.1f} MB/s of raw input)")
    click.echo(f"  read {acc['read']} = kept {acc['kept']} + filtered {acc['filtered']} + rejected {acc['rejected']}")
    for what in ("filtered", "rejected"):
        for reason, n in acc[f"{what}_by_reason"].items():
            click.echo(f"  {what} {reason}: {n}")
    if acc["rejected"]:
        click.echo(f"  rejected records with reasons: {output}/rejects/")


def configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("corpusforge").setLevel(logging.INFO)


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": ["-h", "--help"]})
@click.option("--input", "-i", "inputs", multiple=True, required=True,
              help="File, directory (walked recursively; README/LICENSE/hidden files skipped) or glob; "
                   ".gz/.bz2/.zip are read transparently. Repeat for several.")
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default="auto", show_default=True,
              help="Raw layout; auto detects it per file from its fields (wiki2019zh: id/url/title/text, "
                   "news2016zh: news_id, ...), else plain text.")
@click.option("--text-field", default="text", show_default=True, help="jsonl/parquet: the field holding the text.")
@click.option("--title-field", default=None, help="jsonl/parquet: the field holding the title (optional).")
@click.option("--side", type=click.Choice(["chinese", "english"]), default="chinese", show_default=True,
              help="translation2019zh: which side of each pair is the document.")
@click.option("--output", "-o", required=True, help="Dataset directory to create.")
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset at --output.")
@click.option("--num-shards", type=click.IntRange(min=0), default=0, show_default=True,
              help="Output shards; 0 = one per 64 MiB of raw input.")
@click.option("--seed", type=int, default=12345, show_default=True, help="Seed of the row order shuffle.")
@click.option("--normalize", type=click.Choice(["NFKC", "none"], case_sensitive=False), default="NFKC",
              show_default=True, help="Unicode normalisation (NFKC maps full-width to half-width).")
@click.option("--t2s/--no-t2s", default=False, show_default=True,
              help="Convert traditional to simplified Chinese (OpenCC t2s).")
@click.option("--lang", type=click.Choice(["auto", "zh", "en"]), default="auto", show_default=True,
              help="Sentence splitting rules; auto chooses per paragraph by its share of CJK characters.")
@click.option("--min-chars", type=click.IntRange(min=0), default=10, show_default=True,
              help="Drop documents with fewer characters.")
@click.option("--max-chars", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Drop documents with more characters.")
@click.option("--min-sentences", type=click.IntRange(min=0), default=1, show_default=True,
              help="Drop documents with fewer sentences.")
@click.option("--min-cjk-ratio", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Drop documents whose share of CJK characters is lower (0.5 keeps Chinese text only).")
@click.option("--dedup/--no-dedup", default=True, show_default=True,
              help="Drop exact duplicates (same sentences after normalisation), keeping one.")
@click.option("--max-record-mb", type=click.FloatRange(min=0.001), default=16.0, show_default=True,
              help="Reject any single record (JSON line, document) larger than this.")
@click.argument("beam_args", nargs=-1, type=click.UNPROCESSED)
def main(inputs, fmt, text_field, title_field, side, output, overwrite, num_shards, seed, normalize, t2s, lang,
         min_chars, max_chars, min_sentences, min_cjk_ratio, dedup, max_record_mb, beam_args):
    """Build a documents dataset: raw corpora -> cleaned, sentence-split documents.

    Columns: doc_id, source, title, sentences (list of strings). Any further --flags are
    Apache Beam pipeline options (--runner, --direct_num_workers=2,
    --direct_running_mode=multi_processing, --temp_location, ...); without --runner the
    in-process FnApiRunner runs the job.
    """
    configure_logging()
    try:
        options = pipeline_options(list(beam_args))
        files = expand_inputs(list(inputs))
    except (BeamArgsError, InputError) as e:
        raise click.ClickException(str(e)) from None
    if min_chars > max_chars:
        raise click.ClickException(f"--min-chars {min_chars} is larger than --max-chars {max_chars}")
    check_output(output, overwrite)
    input_bytes = sum(f.size for f in files)
    num_shards = num_shards or max(1, math.ceil(input_bytes / SHARD_INPUT_BYTES))
    read_opts = ReadOptions(fmt=fmt, text_field=text_field, title_field=title_field, side=side,
                            max_record_bytes=int(max_record_mb * (1 << 20)))
    prep_opts = PrepareOptions(normalize=normalize.upper() if normalize.lower() != "none" else "none", t2s=t2s,
                               lang=lang, dedup=dedup, seed=seed,
                               filter=DocumentFilter(min_chars, max_chars, min_sentences, min_cjk_ratio))
    params = {"inputs": list(inputs), "format": fmt, "text_field": text_field, "title_field": title_field,
              "side": side, "num_shards": num_shards, "seed": seed, "normalize": prep_opts.normalize, "t2s": t2s,
              "lang": lang, "min_chars": min_chars, "max_chars": max_chars, "min_sentences": min_sentences,
              "min_cjk_ratio": min_cjk_ratio, "dedup": dedup, "max_record_bytes": read_opts.max_record_bytes}
    log.info("documents: %d input file(s), %.1f MB -> %s (%d shard(s))", len(files), input_bytes / 1e6, output,
             num_shards)
    started = time.monotonic()
    pipeline = make_pipeline(options)
    build_documents(pipeline, files, read_opts, prep_opts, output, num_shards, params)
    manifest = run_pipeline(pipeline, output)
    if manifest:
        print_summary(manifest, output, time.monotonic() - started, input_bytes)


if __name__ == "__main__":
    sys.exit(main())
