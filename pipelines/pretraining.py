"""pretraining: tokenized documents -> BERT / ALBERT / RoBERTa / SpanBERT pretraining instances.

    python -m pipelines.pretraining --input TOKENIZED_OR_DOCS_OR_RAW [--tokenizer vocab.txt] --output OUT
    corpusforge build pretraining  (the same command)
"""
from __future__ import annotations

import functools
import math
import sys

import apache_beam as beam
import click
import pyarrow as pa

from corpusforge.beam.instances import BuildInstances, RecordBucketInputs, reused_inputs
from corpusforge.beam.read import ReadDocuments, dataset_units
from corpusforge.beam.sink import WriteDataset
from corpusforge.beam.tokenize import TokenizeDocuments
from corpusforge.dataset.reader import read_manifest
from corpusforge.dataset.schema import pretraining_schema
from corpusforge.objectives.instances import LABELS, MODES, InstanceConfig, instance_statistics
from corpusforge.objectives.masking import SCHEMES, MaskingConfig, vocabulary_ids
from corpusforge.tokenization.segment import DEFAULT_SEGMENTER, SEGMENTERS, SegmenterError, get_segmenter
from corpusforge.tokenization.tokenizer import TextTokenizer, TokenizerError
from pipelines.beamjob import BEAM_HELP, input_options, output_options, prepare_job, resume_option, run_job
from pipelines.command import COMMAND

BUCKET_BYTES = 2 << 20  # input bytes per random bucket (NSP draws random segments inside a bucket)


def build_pretraining(pipeline, job, cfg, tokenizer, segmenter, id_type, num_buckets, extra):
    """(tokenized shards | ReadDocuments -> TokenizeDocuments) -> BuildInstances -> WriteDataset; a resumed
    build whose bucket inputs are all recorded (RecordBucketInputs) starts at the buckets."""
    schema = pretraining_schema(id_type, LABELS.get(cfg.mode))
    tmp, markers = job.tmp, job.markers
    build = functools.partial(BuildInstances, cfg, job.seed, f"{tmp}/_spill/buckets", num_buckets, id_type,
                              from_shards=tokenizer is None, dedup=tokenizer is not None and job.source.prepare.dedup,
                              schema=schema, out_dir=f"{tmp}/_spill", num_shards=job.num_shards, markers=markers)
    reused = reused_inputs(pipeline, markers)
    if reused:
        inputs, upstream_counts, rejects = reused
        built = inputs | "BuildInstances" >> build(spilled=True)
        upstream = [upstream_counts]
    else:
        if tokenizer is None:  # a tokenized dataset: its shards are bucketed Arrow to Arrow
            source = (pipeline | "ListShards" >> beam.Create(dataset_units(job.source.datasets))
                      | "SpreadShards" >> beam.Reshuffle())
            upstream, rejects = [], pipeline | "NoRejects" >> beam.Create([])
        else:
            docs = pipeline | "ReadDocuments" >> ReadDocuments(job.source)
            tokenized = docs["rows"] | "TokenizeDocuments" >> TokenizeDocuments(tokenizer, segmenter)
            source, upstream, rejects = tokenized.rows, [docs["counts"], tokenized.counts], docs["rejects"]

        def record(inputs, spill_counts):  # the marker of everything before the buckets
            counts = (*upstream, *spill_counts) | "UpstreamCounts" >> beam.Flatten()
            return (pipeline | "StartRecord" >> beam.Create([None])
                    | "RecordBucketInputs" >> beam.ParDo(RecordBucketInputs(markers), beam.pvalue.AsList(inputs),
                                                         beam.pvalue.AsList(counts), beam.pvalue.AsList(rejects)))

        built = source | "BuildInstances" >> build(record=record if markers else None)
        upstream = [*upstream, *built.counts[:-1]]  # with the shards' read counts
    counts = (*upstream, built.counts[-1])
    summarize = functools.partial(instance_statistics, max_seq_length=cfg.max_seq_length)
    return ({"spills": built.spills, "rejects": rejects, "counts": counts | "AllCounts" >> beam.Flatten()}
            | "WriteDataset" >> WriteDataset(job.output, "pretraining", schema, job.num_shards, job.params,
                                             extra=extra, rows_are_records=False, summarize=summarize,
                                             tmp=tmp, spilled=True, markers=markers))


@click.command(**COMMAND, epilog=BEAM_HELP)
@click.option("--mode", type=click.Choice(MODES), default="nsp", show_default=True,
              help="nsp: BERT sentence pairs, half with a random B from another document; sop: ALBERT, B always "
                   "the continuation, half swapped; full-sentences / doc-sentences: RoBERTa packing, across / "
                   "within documents, no pair label.")
@click.option("--masking", type=click.Choice(SCHEMES), default="token", show_default=True,
              help="token: BERT; wwm: whole words (Chinese BERT-wwm); ngram: ALBERT n-grams of words; span: "
                   "SpanBERT spans of words; none: unmasked, for dynamic masking in the trainer.")
@click.option("--max-seq-length", type=click.IntRange(min=8, max=65535), default=128, show_default=True,
              help="Tokens per instance, [CLS] and [SEP]s included (BERT: 128 for 90% of steps, then 512).")
@click.option("--short-seq-prob", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="nsp/sop: probability of a shorter random target length for a document.")
@click.option("--masked-lm-prob", type=click.FloatRange(0, 1, min_open=True), default=0.15, show_default=True,
              help="Share of maskable tokens to predict.")
@click.option("--max-predictions-per-seq", type=click.IntRange(min=1), default=20, show_default=True,
              help="At most this many predicted tokens per instance.")
@click.option("--dupe-factor", type=click.IntRange(min=1), default=1, show_default=True,
              help="Copies of the data, each masked (and for nsp/sop paired) differently: Google's static masking "
                   "(it used 10).")
@click.option("--max-ngram", type=click.IntRange(min=1), default=3, show_default=True,
              help="ngram masking: the longest n-gram in words (p(n) ∝ 1/n).")
@click.option("--span-p", type=click.FloatRange(0, 1, min_open=True), default=0.2, show_default=True,
              help="span masking: the geometric distribution's p for span lengths in words.")
@click.option("--max-span", type=click.IntRange(min=1), default=10, show_default=True,
              help="span masking: the longest span in words.")
@click.option("--tokenizer", "-t", "tokenizer_path", default=None,
              help="For documents or raw input: a WordPiece vocab.txt, tokenizer.json or SentencePiece .model "
                   "(a tokenized dataset brings its own; building 128 and 512 from it does not re-tokenize).")
@click.option("--lowercase/--no-lowercase", default=True, show_default=True, help="WordPiece: lower-case.")
@click.option("--segmenter", default=DEFAULT_SEGMENTER, show_default=True,
              help=f"For documents or raw input: word segmenter ({', '.join(SEGMENTERS)}, or module:Class).")
@click.option("--user-dict", default=None, help="A jieba user dictionary.")
@input_options
@output_options
@resume_option
def main(mode, masking, max_seq_length, short_seq_prob, masked_lm_prob, max_predictions_per_seq, dupe_factor,
         max_ngram, span_p, max_span, tokenizer_path, lowercase, segmenter, user_dict, **kw):
    """Build pretraining instances: sentence pairs or packed blocks, statically masked or not.

    --input is a tokenized dataset (from `build tokenized`), a documents dataset or raw corpora
    (then --tokenizer is required). Columns: input_ids, token_type_ids, special_tokens_mask,
    word_ids, next_sentence_label (nsp) or sentence_order_label (sop), masked_lm_positions,
    masked_lm_labels; no padding. Instances are shuffled across shards with the seed.
    """
    job = prepare_job(kw, kinds=("documents", "tokenized"))
    tokenized = [read_manifest(d) for d in job.source.datasets if read_manifest(d)["kind"] == "tokenized"]
    try:
        if tokenized:
            if tokenizer_path:
                raise click.ClickException("the input is a tokenized dataset; it brings its own tokenizer, so drop "
                                           "--tokenizer")
            tokenizer = seg = None
            info = tokenized[0]
            if any(m["tokenizer"]["sha256"] != info["tokenizer"]["sha256"] for m in tokenized):
                raise click.ClickException("the input tokenized datasets were made with different tokenizers")
            fingerprint, special, vocab_size = info["tokenizer"], info["special_ids"], info["tokenizer"]["vocab_size"]
            seg_fingerprint = info["segmenter"]
        else:
            if not tokenizer_path:
                raise click.ClickException("documents or raw input needs --tokenizer (or give a tokenized dataset)")
            tokenizer = TextTokenizer(tokenizer_path, lowercase=lowercase)
            seg = get_segmenter(segmenter, user_dict=user_dict)
            fingerprint, special, vocab_size = tokenizer.fingerprint, tokenizer.special_ids, tokenizer.vocab_size
            seg_fingerprint = seg.fingerprint()
    except (TokenizerError, SegmenterError) as e:
        raise click.ClickException(str(e)) from None
    missing = [r for r in ("cls", "sep", "mask") if r not in special]
    if missing:
        raise click.ClickException(f"the vocabulary has no {'/'.join(missing)} token, which pretraining instances need")
    try:
        mask_id, random_ids = vocabulary_ids(special, vocab_size)
        masking_cfg = MaskingConfig(scheme=masking, mask_id=mask_id, random_ids=random_ids,
                                    masked_lm_prob=masked_lm_prob, max_predictions=max_predictions_per_seq,
                                    max_ngram=max_ngram, span_p=span_p, max_span=max_span)
        cfg = InstanceConfig(mode=mode, max_seq_length=max_seq_length, short_seq_prob=short_seq_prob,
                             dupe_factor=dupe_factor, cls_id=special["cls"], sep_id=special["sep"], masking=masking_cfg)
    except ValueError as e:  # e.g. a vocabulary of special tokens alone
        raise click.ClickException(str(e)) from None
    id_type = pa.uint16() if vocab_size <= 1 << 16 else pa.int32()
    num_buckets = max(2, math.ceil(job.input_bytes / BUCKET_BYTES))
    if not kw["num_shards"]:
        job.num_shards = job.params["num_shards"] = max(1, math.ceil(job.input_bytes * dupe_factor / (64 << 20)))
    job.params.update(kind="pretraining", mode=mode, masking=masking, max_seq_length=max_seq_length,
                      short_seq_prob=short_seq_prob, masked_lm_prob=masked_lm_prob,
                      max_predictions_per_seq=max_predictions_per_seq, dupe_factor=dupe_factor, max_ngram=max_ngram,
                      span_p=span_p, max_span=max_span, tokenizer=tokenizer_path, lowercase=lowercase,
                      segmenter=segmenter if not tokenized else None, user_dict=user_dict, buckets=num_buckets)
    extra = {"tokenizer": fingerprint, "segmenter": seg_fingerprint, "special_ids": special}
    run_job(job, lambda p: build_pretraining(p, job, cfg, tokenizer, seg, id_type, num_buckets, extra))


if __name__ == "__main__":
    sys.exit(main())
