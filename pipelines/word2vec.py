"""word2vec: a corpus -> word2vec's vocabulary and its subsampled training corpus.

    python -m corpusforge.pipelines.word2vec --input CORPUS_OR_DOCS --output OUT [--sample 1e-3] [--min-count 5]
    corpusforge build word2vec  (the same command)

The vocabulary step is build cooccurrence's (the same --units, --segmenter, --min-count, --max-vocab and counts);
then every window segment's in-vocabulary ids are subsampled as word2vec.c does and written, one row per segment
(and per copy with --epochs-static):

    OUT/vocab.txt                       `word count` per line, most frequent first (line n = id n-1)
    OUT/data-NNNNN-of-MMMMM.arrow       ids list<int32>: a segment's kept vocabulary ids, in text order
    OUT/manifest.json                   sample, unigram table (power 0.75 over vocab.txt's counts), totals
    OUT/rejects/                        unreadable input records, as in every dataset

(centre, context) pairs are not stored: `corpusforge train word2vec` makes them from the rows.
"""
from __future__ import annotations

import logging
import sys
import time

import click

from corpusforge.objectives.word2vec import UNIGRAM_POWER
from corpusforge.sources.formats import PRETOKENIZED
from corpusforge.tokenization.segment import SegmenterError, get_segmenter
from corpusforge.pipelines import cooccurrence
from corpusforge.pipelines.beamjob import BEAM_HELP, input_options, output_options, prepare_job, print_accounting
from corpusforge.pipelines.command import COMMAND, temporary_dir
from corpusforge.dataset.writer import remove_tree

log = logging.getLogger("corpusforge")
SHARED = ("units", "segmenter", "user_dict", "min_count", "max_vocab", "windows")  # build cooccurrence's options


@click.command(**COMMAND, epilog=BEAM_HELP)
@click.option("--sample", type=click.FloatRange(min=0), default=1e-3, show_default=True,
              help="Subsampling threshold t (word2vec -sample): a word of count f among N words is kept with "
                   "probability (sqrt(f/(t*N)) + 1) * t*N/f; 0 keeps every word.")
@click.option("--epochs-static", "copies", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Write this many independently subsampled copies of the corpus (a trainer then reads each "
                   "copy once instead of subsampling again per epoch).")
@input_options
@output_options
def main(units, segmenter, user_dict, min_count, max_vocab, windows, sample, copies, **kw):
    """Build word2vec's vocabulary and subsampled training corpus: OUT/vocab.txt and Arrow shards (ids).

    The vocabulary is `build cooccurrence`'s, counted the same way (and like it, this command defaults to
    --min-chars 0 and --no-dedup). Each row is one window segment (a document, or with --windows sentence a
    sentence) as the in-vocabulary ids word2vec.c would train on after subsampling; the draws come from --seed,
    the segment and the token's position, so the output does not depend on workers or bundles.
    `corpusforge train word2vec` trains skip-gram or CBOW vectors on it.
    """
    from corpusforge.beam.cooccurrence import UnitSpec, empty_vocabulary_message
    from corpusforge.beam.runner import make_pipeline
    from corpusforge.beam.word2vec import build_word2vec
    fmt = kw["fmt"]
    job = prepare_job(kw)
    units = units or ("tokens" if fmt == PRETOKENIZED else "words")
    seg = None
    try:
        if units != "tokens":
            seg = get_segmenter(segmenter if units == "words" else "chars", user_dict=user_dict)
    except SegmenterError as e:
        raise click.ClickException(str(e)) from None
    spec = UnitSpec(units, seg, windows)
    params = {**job.params, "kind": "word2vec", "units": units,
              "segmenter": segmenter if units == "words" else None, "user_dict": user_dict,
              "min_count": min_count, "max_vocab": max_vocab, "windows": windows, "sample": sample,
              "epochs_static": copies}
    extra = {"segmenter": seg.fingerprint() if seg is not None else None, "sample": sample, "copies": copies,
             "unigram_table": {"power": UNIGRAM_POWER, "counts": "vocab.txt"}}
    output = job.output.rstrip("/")
    tmp = temporary_dir(output)
    started = time.monotonic()
    try:
        pipeline = make_pipeline(job.options)
        build_word2vec(pipeline, cooccurrence.read_docs(pipeline, job.source), spec, tmp, output, job.num_shards,
                       min_count, max_vocab, sample, copies, job.seed, params, extra)
        try:
            pipeline.run().wait_until_finish()
        except Exception as e:  # the vocabulary step's one sentence, wherever the runner raised it
            message = empty_vocabulary_message(e)
            if message:
                raise click.ClickException(message) from None
            raise
    finally:
        remove_tree(tmp)
    if "://" not in output:
        from corpusforge.dataset.reader import read_manifest

        manifest = read_manifest(output)
        totals, vocab = manifest["totals"], manifest["files"][0]
        seconds = time.monotonic() - started
        click.echo(f"wrote {output}: vocabulary of {vocab['words']} units, {manifest['rows']} sequences of "
                   f"{totals.get('sequence_tokens', 0)} tokens ({totals.get('tokens_in_vocab', 0)} in the vocabulary "
                   f"before subsampling, x{copies}) in {len(manifest['shards'])} shard(s) in {seconds:.1f} s")
        print_accounting(manifest["input"], output)


main.params[:0] = [p for p in cooccurrence.main.params if p.name in SHARED]
for _param in main.params:
    if _param.name in cooccurrence.DEFAULTS:
        _param.default = cooccurrence.DEFAULTS[_param.name]

if __name__ == "__main__":
    from corpusforge.pipelines.word2vec import main as _main  # DoFns pickled by module name, not from __main__

    sys.exit(_main())
