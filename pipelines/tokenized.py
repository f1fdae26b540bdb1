"""tokenized: documents (a documents dataset or raw corpora) -> token ids and word indices per sentence.

    python -m corpusforge.pipelines.tokenized --input DOCS_OR_RAW --tokenizer vocab.txt|tokenizer.json|spiece.model|DIR --output OUT
    corpusforge build tokenized  (the same command)
"""
from __future__ import annotations

import sys
import unicodedata

import click
import pyarrow as pa

from corpusforge.dataset.reader import read_manifest
from corpusforge.dataset.schema import tokenized_schema
from corpusforge.tokenization.segment import DEFAULT_SEGMENTER, SEGMENTERS, SegmenterError, get_segmenter
from corpusforge.tokenization.tokenizer import TextTokenizer, TokenizerError
from corpusforge.pipelines.beamjob import BEAM_HELP, input_options, output_options, prepare_job, resume_option, run_job
from corpusforge.pipelines.command import COMMAND


def build_tokenized(pipeline, source, tokenizer, segmenter, output, num_shards, params, extra, tmp=None,
                    markers=None):
    """ReadDocuments -> TokenizeDocuments -> WriteDataset."""
    import apache_beam as beam
    from corpusforge.beam.read import ReadDocuments
    from corpusforge.beam.sink import WriteDataset
    from corpusforge.beam.tokenize import TokenizeDocuments
    docs = pipeline | "ReadDocuments" >> ReadDocuments(source)
    tokenized = docs["rows"] | "TokenizeDocuments" >> TokenizeDocuments(tokenizer, segmenter)
    counts = (docs["counts"], tokenized.counts) | "AllCounts" >> beam.Flatten()
    schema = tokenized_schema(pa.uint16() if tokenizer.vocab_size <= 1 << 16 else pa.int32())
    return ({"rows": tokenized.rows, "rejects": docs["rejects"], "counts": counts}
            | "WriteDataset" >> WriteDataset(output, "tokenized", schema, num_shards, params,
                                                 dedup=source.prepare.dedup, extra=extra, tmp=tmp, markers=markers))


def warn_nfkc(tokenizer, normalize) -> None:
    """NFKC text loses the vocabulary's own ids for the characters it rewrites (，-> , in bert-base-chinese)."""
    if normalize != "NFKC":
        return
    held = sorted((t for t in tokenizer.vocab if len(t) == 1 and unicodedata.normalize("NFKC", t) != t),
                  key=lambda c: (not "\uff01" <= c <= "\uff5e", c))  # full-width forms first: the common ones
    if held:
        click.echo(f"warning: the text is NFKC-normalised, which rewrites {len(held)} characters this vocabulary "
                   f"holds ({' '.join(held[:6])} ...); --normalize none (the default) keeps them", err=True)


@click.command(**COMMAND, epilog=BEAM_HELP)
@click.option("--tokenizer", "-t", "tokenizer_path", required=True,
              help="A WordPiece vocab.txt (BERT rules; e.g. bert-base-chinese's), a Hugging Face tokenizer.json, "
                   "a SentencePiece .model, or a folder holding one (a `build vocab` output).")
@click.option("--lowercase/--no-lowercase", default=True, show_default=True,
              help="WordPiece: lower-case (and strip accents) like an uncased BERT; bert-base-chinese is uncased.")
@click.option("--segmenter", default=DEFAULT_SEGMENTER, show_default=True,
              help=f"Word segmenter for word_ids: one of {', '.join(SEGMENTERS)}, or module:Class of your own.")
@click.option("--user-dict", default=None, help="A jieba user dictionary (word [freq] [tag] per line).")
@input_options
@output_options
@resume_option
def main(tokenizer_path, lowercase, segmenter, user_dict, **kw):
    """Build a tokenized dataset: token ids and word boundaries per sentence.

    --input is a documents dataset (from `build documents`) or raw corpora (read and cleaned with
    the same options as `build documents`). Columns: doc_id, source, input_ids (per sentence,
    uint16 when the vocab fits, no special tokens), word_ids (per token, the word it belongs to).
    """
    job = prepare_job(kw)
    try:
        tokenizer = TextTokenizer(tokenizer_path, lowercase=lowercase)
        seg = get_segmenter(segmenter, user_dict=user_dict)
    except (TokenizerError, SegmenterError) as e:
        raise click.ClickException(str(e)) from None
    warn_nfkc(tokenizer, read_manifest(job.source.datasets[0])["params"].get("normalize") if job.source.datasets
              else job.params["normalize"])
    job.params.update(kind="tokenized", tokenizer=tokenizer.path, lowercase=lowercase, segmenter=segmenter,
                      user_dict=user_dict)
    extra = {"tokenizer": tokenizer.fingerprint, "segmenter": seg.fingerprint(),
             "special_ids": tokenizer.special_ids}
    run_job(job, lambda p: build_tokenized(p, job.source, tokenizer, seg, job.output, job.num_shards, job.params,
                                           extra, job.tmp, job.markers))


if __name__ == "__main__":
    sys.exit(main())
