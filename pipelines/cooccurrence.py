"""cooccurrence: a corpus -> GloVe's vocabulary and word-word co-occurrence matrix.

    python -m corpusforge.pipelines.cooccurrence --input CORPUS_OR_DOCS --output OUT [--window 10] [--min-count 5]
    corpusforge build cooccurrence  (the same command)

One Beam pipeline that does GloVe's vocab_count then cooccur, reading and segmenting the input once: the units
are kept in dictionary-encoded chunks and counted into OUT/vocab.txt (not with --vocab), whose size and row
ranges reach the counting steps as a side input; the chunks' co-occurrences are counted and merged into:

    OUT/vocab.txt                       `word count` per line, most frequent first (line n = id n-1)
    OUT/data-NNNNN-of-MMMMM.arrow       row int32, col int32, value float64, sorted by (row, col),
                                        shard k = the rows of one row range (manifest "row_ranges")
    OUT/manifest.json                   nnz, total weight, tokens, vocab.txt sha256, ... (spill and
                                        segment bytes: Beam metrics, never in the manifest)
    OUT/rejects/                        unreadable input records, as in every dataset
"""
from __future__ import annotations

import logging
import sys
import time

import click

from corpusforge.dataset.writer import remove_tree, write_bytes
from corpusforge.objectives import cooccurrence as co
from corpusforge.sources.formats import PRETOKENIZED
from corpusforge.tokenization.segment import DEFAULT_SEGMENTER, SEGMENTERS, SegmenterError, get_segmenter
from corpusforge.pipelines.beamjob import (BEAM_HELP, build_progress, input_options, output_options, prepare_job, print_accounting,
                              print_data_movement, resume_option, start_temporary)
from corpusforge.pipelines.command import COMMAND

log = logging.getLogger("corpusforge")
UNITS = ("words", "chars", "tokens")
# Counting wants every line as written: no length filter, no dedup (GloVe's tools count every line).
DEFAULTS = {"min_chars": 0, "dedup": False}


def read_docs(pipeline, source):
    """ReadDocuments, then (with --dedup) one document per content; {"rows", "rejects", "counts"}."""
    from corpusforge.beam.read import ReadDocuments
    from corpusforge.beam.sink import DropDuplicates
    docs = pipeline | "ReadDocuments" >> ReadDocuments(source)
    if not source.prepare.dedup:
        return docs
    import apache_beam as beam

    rows, duplicates = docs["rows"] | "DropDuplicates" >> DropDuplicates()
    counts = (docs["counts"], duplicates) | "ReadAndDuplicateCounts" >> beam.Flatten()
    return {"rows": rows, "rejects": docs["rejects"], "counts": counts}


def run_pipeline(job, spec, opts, tmp, min_count, max_vocab, vocab, params, extra) -> dict:
    from corpusforge.beam.cooccurrence import MATRIX_INPUTS, build_cooccurrence, empty_vocabulary_message
    from corpusforge.beam.resume import reused_inputs
    from corpusforge.beam.runner import make_pipeline
    pipeline = make_pipeline(job.options)
    # a resumed build whose counting is all recorded reads nothing again
    docs = reused_inputs(pipeline, job.markers, MATRIX_INPUTS) or read_docs(pipeline, job.source)
    build_cooccurrence(pipeline, docs, spec, opts, tmp, job.output.rstrip("/"), job.num_shards, min_count, max_vocab,
                       vocab, params, extra, job.markers)
    try:
        with build_progress(job):
            result = pipeline.run()
            result.wait_until_finish()
    except Exception as e:  # the vocabulary step's one sentence, wherever the runner raised it
        message = empty_vocabulary_message(e)
        if message:
            raise click.ClickException(message) from None
        raise
    from corpusforge.dataset.reader import read_manifest

    return read_manifest(job.output) if "://" not in job.output else {}, result


@click.command(**COMMAND, epilog=BEAM_HELP)
@click.option("--units", type=click.Choice(UNITS), default=None,
              help="What co-occurs: words (the --segmenter's words; Chinese from jieba-rs), chars (every "
                   "non-whitespace character), tokens (runs separated by spaces/tabs, as GloVe's tools read them). "
                   "Default: tokens with --format pretokenized, else words.")
@click.option("--segmenter", default=DEFAULT_SEGMENTER, show_default=True,
              help=f"Word segmenter for --units words: one of {', '.join(SEGMENTERS)}, or module:Class.")
@click.option("--user-dict", default=None, help="A jieba user dictionary (word [freq] [tag] per line).")
@click.option("--vocab", "vocab_path", default=None,
              help="Use this vocab.txt (`word count` lines, e.g. from GloVe's vocab_count) instead of counting one; "
                   "line n is id n-1.")
@click.option("--min-count", type=click.IntRange(min=1), default=5, show_default=True,
              help="Vocabulary: units occurring fewer times are left out (and removed before windows are formed).")
@click.option("--max-vocab", type=click.IntRange(min=0), default=0, show_default=True,
              help="Vocabulary: keep at most this many, most frequent first (ties: GloVe's byte order); 0 = no limit.")
@click.option("--window", type=click.IntRange(1, co.MAX_WINDOW), default=10, show_default=True,
              help=f"Context words on each side (1..{co.MAX_WINDOW}: sums stay exact int64 fixed point).")
@click.option("--symmetric/--left-context", default=True, show_default=True,
              help="Count left and right context, or left context only (GloVe cooccur -symmetric 0: the row is "
                   "the earlier word).")
@click.option("--distance-weighting/--no-distance-weighting", default=True, show_default=True,
              help="Weight a co-occurrence at distance d by 1/d (GloVe's default), or count 1.")
@click.option("--windows", "windows", type=click.Choice(["document", "sentence"]), default="document",
              show_default=True,
              help="Where windows restart: at each document (a line of pretokenized input), or at each sentence.")
@click.option("--memory-mb", type=click.IntRange(min=1), default=512, show_default=True,
              help="Bound per worker for partial aggregation; a fuller buffer is spilled and merged later.")
@input_options
@output_options
@resume_option
def main(units, segmenter, user_dict, vocab_path, min_count, max_vocab, window, symmetric, distance_weighting,
         windows, memory_mb, **kw):
    """Build GloVe's vocabulary and co-occurrence matrix: OUT/vocab.txt and Arrow shards (row, col, value).

    --input is raw corpora, a documents dataset, or with --format pretokenized GloVe's own input (one
    document per line, tokens separated by spaces). For counting, this command defaults to
    --min-chars 0 and --no-dedup, so no line is dropped or merged: the counts equal GloVe's
    vocab_count and cooccur on the same text. Out-of-vocabulary units are removed before windows
    are formed; windows never cross documents. `corpusforge export cooccurrence` writes GloVe's
    binary format; `corpusforge train glove` trains vectors on the matrix.
    """
    from apache_beam.io.filesystems import FileSystems
    from corpusforge.beam.cooccurrence import CountOptions, UnitSpec, VOCAB_FILE, read_vocab_file
    fmt = kw["fmt"]
    job = prepare_job(kw)
    units = units or ("tokens" if fmt == PRETOKENIZED else "words")
    seg = None
    try:
        if units != "tokens":
            seg = get_segmenter(segmenter if units == "words" else "chars", user_dict=user_dict)
    except SegmenterError as e:
        raise click.ClickException(str(e)) from None
    vocab = None
    if vocab_path:
        if not FileSystems.exists(vocab_path):
            raise click.ClickException(f"--vocab {vocab_path} does not exist")
        try:
            vocab = read_vocab_file(vocab_path)
        except (ValueError, UnicodeDecodeError) as e:
            raise click.ClickException(f"--vocab {vocab_path} is not a GloVe vocab.txt: {e}") from None
        if not vocab:
            raise click.ClickException(f"--vocab {vocab_path} lists no words")
    if job.input_bytes > co.max_safe_tokens(window, distance_weighting):
        raise click.ClickException(f"the input is too large for exact int64 sums at --window {window}; "
                                   f"use a smaller window")
    spec = UnitSpec(units, seg, windows)
    opts = CountOptions(window, symmetric, distance_weighting, memory_mb << 20)
    params = {**job.params, "kind": "cooccurrence", "units": units,
              "segmenter": segmenter if units == "words" else None, "user_dict": user_dict, "vocab": vocab_path,
              "min_count": None if vocab_path else min_count, "max_vocab": None if vocab_path else max_vocab,
              "window": window, "symmetric": symmetric, "distance_weighting": distance_weighting,
              "windows": windows, "memory_mb": memory_mb}
    extra = {"segmenter": seg.fingerprint() if seg is not None else None}
    output = job.output.rstrip("/")
    job.params = params  # what the fingerprint of a resumable build covers
    start_temporary(job)
    tmp = job.tmp
    log.info("cooccurrence: %.1f MB of input -> %s (%s, window %d, %s)", job.input_bytes / 1e6, output, units,
             window, "symmetric" if symmetric else "left context")
    started = time.monotonic()
    try:
        if vocab is not None:
            with FileSystems.open(vocab_path) as f:
                write_bytes(f"{tmp}/{VOCAB_FILE}", f.read())
        manifest, result = run_pipeline(job, spec, opts, tmp, min_count, max_vocab, vocab, params, extra)
    finally:  # locally the lock's release would remove it too; an object store has no lock
        if not job.resume:  # a failed resume keeps the killed run's work for the next
            remove_tree(tmp)
    if manifest:
        print_summary(manifest, output, time.monotonic() - started)
        print_data_movement(result, job.input_bytes)


def print_summary(manifest: dict, output: str, seconds: float) -> None:
    totals = manifest["totals"]
    click.echo(f"wrote {output}: vocabulary of {manifest['vocab_size']} units, {manifest['nnz']} nonzero entries "
               f"(total weight {manifest['total_weight']:.6g}) in {len(manifest['shards'])} shard(s) in "
               f"{seconds:.1f} s ({totals['tokens'] / max(seconds, 1e-9) / 1e3:.0f} k tokens/s)")
    click.echo(f"  tokens {totals['tokens']} ({totals['tokens_in_vocab']} in the vocabulary)")
    print_accounting(manifest["input"], output)


for _param in main.params:
    if _param.name in DEFAULTS:
        _param.default = DEFAULTS[_param.name]

if __name__ == "__main__":
    from corpusforge.pipelines.cooccurrence import main as _main  # DoFns pickled by module name, not from __main__

    sys.exit(_main())
