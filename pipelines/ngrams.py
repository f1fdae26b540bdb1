"""ngrams: a corpus -> exact counts of every 1..N-gram, sorted, with count-of-counts per order.

    python -m corpusforge.pipelines.ngrams --input CORPUS_OR_DOCS --order 5 --output OUT [options]
    corpusforge build ngrams  (the same command)

Columns: order (uint8), ngram (string: tokens joined by one space, with <s> / </s> at sentence
boundaries), count (int64). Read in name order the shards hold every n-gram once, sorted by
(order, ngram), in equal shares of the rows. manifest.json adds ngrams (distinct n-grams per order),
count_of_counts (n_r per order, r = 1..10, before --min-count), totals (tokens, sentences).
"""
from __future__ import annotations

import math
import sys

import click

from corpusforge.objectives.ngrams import MAX_ORDER, parse_min_counts
from corpusforge.sources.formats import PRETOKENIZED
from corpusforge.tokenization.segment import SEGMENTERS, SegmenterError, get_segmenter
from corpusforge.pipelines.beamjob import BEAM_HELP, input_options, output_options, prepare_job, resume_option, run_job
from corpusforge.pipelines.command import COMMAND

# Counting takes the text as given (like lmplz / ngram-count): no document is dropped for being short
# and none is merged with a duplicate unless asked (--min-chars N, --dedup).
COUNT_COMMAND = {**COMMAND, "context_settings": {**COMMAND["context_settings"],
                                                  "default_map": {"min_chars": 0, "dedup": False}}}
NGRAM_SHARD_BYTES = 32 << 20
UNITS_HELP = ("Tokens: words (from --segmenter) or chars (every non-whitespace character). "
              "Sentences get <s> and </s>.")
SEGMENTER_HELP = (f"Word segmenter for --units words: one of {', '.join(SEGMENTERS)}, or module:Class; "
                  f"default presegmented (split on whitespace) for --format pretokenized, else jieba-rs.")


def count_options(f):
    for d in reversed([
        click.option("--units", type=click.Choice(["words", "chars"]), default="words", show_default=True,
                     help=UNITS_HELP),
        click.option("--segmenter", default=None, help=SEGMENTER_HELP),
        click.option("--user-dict", default=None, help="A jieba user dictionary (word [freq] [tag] per line)."),
    ]):
        f = d(f)
    return f


def make_units(units: str, segmenter: str | None, user_dict: str | None, fmt: str) -> tuple[Units, str]:
    """The token rule and its name for the manifest; raises ClickException with one sentence."""
    from corpusforge.beam.ngrams import Units
    name = "chars" if units == "chars" else (segmenter or ("presegmented" if fmt == PRETOKENIZED else "jieba-rs"))
    if units == "chars" and segmenter:
        raise click.ClickException("--segmenter applies to --units words, not to --units chars")
    try:
        seg = get_segmenter(name, user_dict=user_dict)
    except SegmenterError as e:
        raise click.ClickException(str(e)) from None
    return Units(seg), name


def read_for_counting(pipeline, source, markers=None):
    """ReadDocuments, then exact dedup when asked for (counting sees every document otherwise); a resumed build
    whose counting spills are all recorded (WriteCounts) reads nothing: {"spills", "rejects", "counts"}."""
    import apache_beam as beam
    from corpusforge.beam.ngrams import COUNT_INPUTS
    from corpusforge.beam.read import ReadDocuments
    from corpusforge.beam.resume import reused_inputs
    from corpusforge.beam.sink import DropDuplicates
    reused = reused_inputs(pipeline, markers, COUNT_INPUTS)
    if reused:
        return {"spills": reused.records, "rejects": reused.rejects, "counts": reused.counts}
    docs = pipeline | "ReadDocuments" >> ReadDocuments(source)
    rows, counts = docs["rows"], docs["counts"]
    if source.prepare.dedup:
        kept = rows | "DropDuplicates" >> DropDuplicates()
        rows = kept.rows
        counts = (counts, kept.counts) | "ReadCounts" >> beam.Flatten()
    return {"rows": rows, "rejects": docs["rejects"], "counts": counts}


def build_ngrams(pipeline, job, units, order, min_counts, extra):
    """ReadDocuments -> CountNgrams (partial counts per worker) -> range shards sorted by n-gram."""
    from corpusforge.beam.ngrams import CountNgrams, WriteCounts
    docs = read_for_counting(pipeline, job.source, job.markers)
    counter = CountNgrams(units, order, spill_dir="", sample_size=256 * job.num_shards)
    return docs | "WriteCounts" >> WriteCounts(counter, job.output, "ngrams", job.num_shards, job.params, order,
                                                min_counts, extra, job.tmp, job.markers)


@click.command(**COUNT_COMMAND, epilog=BEAM_HELP)
@click.option("--order", "-n", type=click.IntRange(1, MAX_ORDER), default=3, show_default=True,
              help="Count every 1..N-gram.")
@click.option("--min-count", default=None,
              help="Minimum count per order written, e.g. 1,1,2 (the last value repeats); count-of-counts are "
                   "taken before it. build lm needs unpruned counts to match lmplz.")
@count_options
@input_options
@output_options
@resume_option
def main(order, min_count, units, segmenter, user_dict, **kw):
    """Count every 1..N-gram of a corpus exactly: Arrow shards sorted by n-gram, plus count-of-counts.

    --input is raw corpora, a documents dataset, or --format pretokenized text (KenLM / SRILM input:
    one sentence per line, tokens separated by spaces, taken as written). Unlike build documents,
    the defaults here are --min-chars 0 and --no-dedup, so no line is dropped or merged silently,
    and --num-shards 0 means one shard per 32 MiB of input times the order.
    """
    try:
        min_counts = parse_min_counts(min_count, order)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--min-count") from None
    job = prepare_job(kw)
    if not kw["num_shards"]:  # distinct n-grams grow with the order: one range per 32 MiB of input x order
        job.num_shards = job.params["num_shards"] = max(1, math.ceil(job.input_bytes * order / NGRAM_SHARD_BYTES))
    unit_rule, unit_name = make_units(units, segmenter, user_dict, kw.get("fmt") or job.params["format"])
    job.params.update(kind="ngrams", order=order, min_count=min_counts, units=units, segmenter=unit_name,
                      user_dict=user_dict)
    extra = {"order": order, "units": units, "segmenter": unit_rule.segmenter.fingerprint()}
    run_job(job, lambda p: build_ngrams(p, job, unit_rule, order, min_counts, extra))


if __name__ == "__main__":
    sys.exit(main())
