"""pretraining: tokenized documents -> BERT / ALBERT / RoBERTa / SpanBERT instances, GPT blocks, T5 or BART examples.

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

from corpusforge.beam.instances import BuildInstances
from corpusforge.beam.read import ReadDocuments, dataset_units
from corpusforge.beam.sink import WriteDataset
from corpusforge.beam.tokenize import TokenizeDocuments
from corpusforge.dataset.reader import read_manifest
from corpusforge.dataset.schema import bart_schema, causal_schema, pretraining_schema, t5_schema
from corpusforge.objectives.bart import BartConfig, bart_statistics
from corpusforge.objectives.causal import CausalConfig, causal_statistics, resolve_eos
from corpusforge.objectives.instances import LABELS, MODES, InstanceConfig, instance_statistics
from corpusforge.objectives.masking import SCHEMES, MaskingConfig, vocabulary_ids
from corpusforge.objectives.t5 import T5Config, sentinel_ids, t5_statistics
from corpusforge.tokenization.segment import DEFAULT_SEGMENTER, SEGMENTERS, SegmenterError, get_segmenter
from corpusforge.tokenization.tokenizer import TextTokenizer, TokenizerError
from pipelines.common import BEAM_HELP, COMMAND, input_options, output_options, prepare_job, run_job

BUCKET_BYTES = 2 << 20  # input bytes per random bucket (NSP draws random segments inside a bucket)
# modes that write a dataset kind of their own: (schema, statistics); the others write kind pretraining
OWN_KINDS = {"causal": (causal_schema, causal_statistics), "t5": (t5_schema, t5_statistics),
             "bart": (bart_schema, bart_statistics)}


def build_pretraining(pipeline, job, cfg, tokenizer, segmenter, id_type, num_buckets, extra):
    """(tokenized shards | ReadDocuments -> TokenizeDocuments) -> BuildInstances -> WriteDataset."""
    if cfg.mode in OWN_KINDS:
        kind, (make_schema, statistics) = cfg.mode, OWN_KINDS[cfg.mode]
        schema = make_schema(id_type)
    else:
        kind, schema, statistics = "pretraining", pretraining_schema(id_type, LABELS.get(cfg.mode)), instance_statistics
    tmp = WriteDataset(job.output, kind, schema, 1, {}).tmp  # the temporary directory, shared below
    build = BuildInstances(cfg, job.seed, f"{tmp}/_spill/buckets", num_buckets, id_type,
                           from_shards=tokenizer is None, dedup=tokenizer is not None and job.source.prepare.dedup,
                           schema=schema, out_dir=f"{tmp}/_spill", num_shards=job.num_shards)
    if tokenizer is None:  # a tokenized dataset: its shards are bucketed Arrow to Arrow
        paths = (pipeline | "ListShards" >> beam.Create(dataset_units(job.source.datasets))
                 | "SpreadShards" >> beam.Reshuffle())
        rows, counts = paths | "BuildInstances" >> build
        rejects = pipeline | "NoRejects" >> beam.Create([])
    else:
        docs = pipeline | "ReadDocuments" >> ReadDocuments(job.source)
        tokenized = docs["rows"] | "TokenizeDocuments" >> TokenizeDocuments(tokenizer, segmenter)
        rows, counts = tokenized.rows | "BuildInstances" >> build
        counts = [docs["counts"], tokenized.counts, *counts]
        rejects = docs["rejects"]
    summarize = functools.partial(statistics, max_seq_length=cfg.max_seq_length)
    return ({"spills": rows, "rejects": rejects, "counts": counts | "AllCounts" >> beam.Flatten()}
            | "WriteDataset" >> WriteDataset(job.output, kind, schema, job.num_shards, job.params,
                                             extra=extra, rows_are_records=False, summarize=summarize,
                                             tmp=tmp, spilled=True))


@click.command(**COMMAND, epilog=BEAM_HELP)
@click.option("--mode", type=click.Choice((*MODES, *OWN_KINDS)), default="nsp", show_default=True,
              help="nsp: BERT sentence pairs, half with a random B from another document; sop: ALBERT, B always "
                   "the continuation, half swapped; full-sentences / doc-sentences: RoBERTa packing, across / "
                   "within documents, no pair label; causal: GPT blocks of documents joined by EOS (kind causal); "
                   "t5: T5 span corruption, sentinels and EOS (kind t5); bart: BART text infilling (kind bart).")
@click.option("--masking", type=click.Choice(SCHEMES), default=None,
              help="token (default): BERT; wwm: whole words (Chinese BERT-wwm); ngram: ALBERT n-grams of words; span: "
                   "SpanBERT spans of words; none: unmasked, for dynamic masking in the trainer (causal, t5, bart: "
                   "always none).")
@click.option("--max-seq-length", type=click.IntRange(min=8, max=65535), default=128, show_default=True,
              help="Tokens per instance, [CLS] and [SEP]s included (BERT: 128 for 90% of steps, then 512); causal: "
                   "tokens per block, EOS included; t5: input tokens, sentinels and EOS included.")
@click.option("--short-seq-prob", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="nsp/sop: probability of a shorter random target length for a document.")
@click.option("--masked-lm-prob", type=click.FloatRange(0, 1, min_open=True), default=0.15, show_default=True,
              help="Share of maskable tokens to predict (t5: the noise density).")
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
@click.option("--mean-noise-span-length", type=click.FloatRange(1), default=3.0, show_default=True,
              help="t5: the mean length of a noise span.")
@click.option("--mask-ratio", type=click.FloatRange(0, 1, min_open=True), default=0.3, show_default=True,
              help="bart: the share of each block's tokens to mask (fairseq's --mask).")
@click.option("--poisson-lambda", type=click.FloatRange(0, min_open=True), default=3.0, show_default=True,
              help="bart: the mean of the Poisson span lengths.")
@click.option("--permute-sentences", is_flag=True,
              help="bart: shuffle each block's sentences before infilling (BART's sentence permutation).")
@click.option("--eos-token", default=None,
              help="causal, t5: the end-of-document token (a token of the vocabulary, or its id); default: the "
                   "vocabulary's <|endoftext|>, <|end_of_text|>, </s>, <eos> or [EOS], else [SEP].")
@click.option("--cross-document/--no-cross-document", default=True, show_default=True,
              help="causal: blocks run across documents (all of max-seq-length tokens but a bucket's last), or end "
                   "at each document's end (its short last block kept).")
@click.option("--tokenizer", "-t", "tokenizer_path", default=None,
              help="For documents or raw input: a WordPiece vocab.txt, tokenizer.json or SentencePiece .model "
                   "(a tokenized dataset brings its own; building 128 and 512 from it does not re-tokenize).")
@click.option("--lowercase/--no-lowercase", default=True, show_default=True, help="WordPiece: lower-case.")
@click.option("--segmenter", default=DEFAULT_SEGMENTER, show_default=True,
              help=f"For documents or raw input: word segmenter ({', '.join(SEGMENTERS)}, or module:Class).")
@click.option("--user-dict", default=None, help="A jieba user dictionary.")
@input_options
@output_options
def main(mode, masking, max_seq_length, short_seq_prob, masked_lm_prob, max_predictions_per_seq, dupe_factor,
         max_ngram, span_p, max_span, mean_noise_span_length, mask_ratio, poisson_lambda, permute_sentences, eos_token,
         cross_document, tokenizer_path, lowercase, segmenter, user_dict, **kw):
    """Build pretraining instances: sentence pairs or packed blocks, statically masked or not.

    --input is a tokenized dataset (from `build tokenized`), a documents dataset or raw corpora
    (then --tokenizer is required). Columns: input_ids, token_type_ids, special_tokens_mask,
    word_ids, next_sentence_label (nsp) or sentence_order_label (sop), masked_lm_positions,
    masked_lm_labels; no padding. Instances are shuffled across shards with the seed.
    --mode causal writes a dataset of kind causal instead: input_ids (GPT blocks of documents joined
    by the end-of-document token) and document_boundaries. --mode t5 writes kind t5: input_ids and
    labels (span corruption with sentinel tokens); --mode bart writes kind bart: input_ids (text
    infilling) and labels (the original block).
    """
    if permute_sentences and mode != "bart":
        raise click.ClickException("--permute-sentences applies to --mode bart only")
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
    if mode == "causal":
        if masking not in (None, "none"):
            raise click.ClickException("--mode causal takes no masking (its labels are its inputs); drop --masking")
        try:
            vocab = tokenizer.vocab if tokenizer else recorded_vocab(tokenized[0])
            cfg = CausalConfig(max_seq_length=max_seq_length, cross_document=cross_document, dupe_factor=dupe_factor,
                               eos_id=resolve_eos(eos_token, vocab, special, vocab_size))
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        masking, extra_params = "none", {"eos_token": eos_token, "eos_id": cfg.eos_id, "cross_document": cross_document}
    elif mode == "bart":
        if masking not in (None, "none") or eos_token is not None or not cross_document:
            raise click.ClickException("--mode bart takes no --masking, --eos-token or --no-cross-document (it infills "
                                       "spans itself, framed by the vocabulary's BOS and EOS, within documents)")
        try:
            cfg = BartConfig(max_seq_length=max_seq_length, mask_ratio=mask_ratio, poisson_lambda=poisson_lambda,
                             permute_sentences=permute_sentences, bos_id=special.get("cls"),
                             eos_id=special.get("sep"), mask_id=special.get("mask"), dupe_factor=dupe_factor)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        masking, extra_params = "none", {"mask_ratio": mask_ratio, "poisson_lambda": poisson_lambda,
                                  "permute_sentences": permute_sentences}
    elif mode == "t5":
        cfg, extra_params = t5_config(masking, cross_document, eos_token, max_seq_length, masked_lm_prob,
                                      mean_noise_span_length, dupe_factor, tokenizer, tokenized, special, vocab_size)
        masking = "none"
    else:
        if eos_token is not None or not cross_document:
            raise click.ClickException("--eos-token and --no-cross-document apply to --mode causal only")
        masking, extra_params = masking or "token", {}
        cfg = instance_config(mode, masking, max_seq_length, short_seq_prob, masked_lm_prob, max_predictions_per_seq,
                              dupe_factor, max_ngram, span_p, max_span, special, vocab_size)
    id_type = pa.uint16() if vocab_size <= 1 << 16 else pa.int32()
    num_buckets = max(2, math.ceil(job.input_bytes / BUCKET_BYTES))
    if not kw["num_shards"]:
        job.num_shards = job.params["num_shards"] = max(1, math.ceil(job.input_bytes * dupe_factor / (64 << 20)))
    job.params.update(kind=mode if mode in OWN_KINDS else "pretraining", mode=mode, masking=masking,
                      max_seq_length=max_seq_length,
                      short_seq_prob=short_seq_prob, masked_lm_prob=masked_lm_prob,
                      max_predictions_per_seq=max_predictions_per_seq, dupe_factor=dupe_factor, max_ngram=max_ngram,
                      span_p=span_p, max_span=max_span, tokenizer=tokenizer_path, lowercase=lowercase,
                      segmenter=segmenter if not tokenized else None, user_dict=user_dict, buckets=num_buckets,
                      **extra_params)
    extra = {"tokenizer": fingerprint, "segmenter": seg_fingerprint, "special_ids": special}
    run_job(job, lambda p: build_pretraining(p, job, cfg, tokenizer, seg, id_type, num_buckets, extra))


def recorded_vocab(info: dict) -> dict | None:
    """The vocabulary of a tokenized dataset's tokenizer, if its file is still where the manifest says and
    unchanged (sha256); else None."""
    try:
        tokenizer = TextTokenizer(info["params"]["tokenizer"], lowercase=bool(info["tokenizer"].get("lowercase")))
    except (TokenizerError, KeyError, TypeError):
        return None
    return tokenizer.vocab if tokenizer.fingerprint["sha256"] == info["tokenizer"]["sha256"] else None


def t5_config(masking, cross_document, eos_token, max_seq_length, noise_density, mean_noise_span_length,
              dupe_factor, tokenizer, tokenized, special, vocab_size) -> tuple[T5Config, dict]:
    """Span corruption's configuration, its sentinels and EOS from the vocabulary; else one sentence."""
    if masking not in (None, "none") or not cross_document:
        raise click.ClickException("--mode t5 takes neither --masking (it corrupts spans itself) nor "
                                   "--no-cross-document (its blocks run across documents, as T5's)")
    vocab = tokenizer.vocab if tokenizer else recorded_vocab(tokenized[0])
    if vocab is None:
        raise click.ClickException("the tokenizer file named in the tokenized dataset's manifest is missing or "
                                   "changed, so the sentinel tokens cannot be looked up; put it back or build "
                                   "from documents with --tokenizer")
    try:
        cfg = T5Config(max_seq_length=max_seq_length, noise_density=noise_density,
                       mean_noise_span_length=mean_noise_span_length, dupe_factor=dupe_factor,
                       eos_id=resolve_eos(eos_token, vocab, special, vocab_size),
                       sentinel_ids=tuple(sentinel_ids(vocab)))
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    raw, inputs, targets = cfg.lengths
    return cfg, {"eos_token": eos_token, "eos_id": cfg.eos_id, "noise_density": noise_density,
                 "mean_noise_span_length": mean_noise_span_length, "raw_length": raw, "inputs_length": inputs,
                 "targets_length": targets, "sentinel_ids": list(cfg.sentinel_ids)}


def instance_config(mode, masking, max_seq_length, short_seq_prob, masked_lm_prob, max_predictions_per_seq,
                    dupe_factor, max_ngram, span_p, max_span, special, vocab_size) -> InstanceConfig:
    """The BERT-family instances' configuration; a vocabulary or setting that cannot work is one sentence."""
    missing = [r for r in ("cls", "sep", "mask") if r not in special]
    if missing:
        raise click.ClickException(f"the vocabulary has no {'/'.join(missing)} token, which pretraining instances need")
    try:
        mask_id, random_ids = vocabulary_ids(special, vocab_size)
        masking_cfg = MaskingConfig(scheme=masking, mask_id=mask_id, random_ids=random_ids,
                                    masked_lm_prob=masked_lm_prob, max_predictions=max_predictions_per_seq,
                                    max_ngram=max_ngram, span_p=span_p, max_span=max_span)
        return InstanceConfig(mode=mode, max_seq_length=max_seq_length, short_seq_prob=short_seq_prob,
                              dupe_factor=dupe_factor, cls_id=special["cls"], sep_id=special["sep"],
                              masking=masking_cfg)
    except ValueError as e:  # e.g. a vocabulary of special tokens alone
        raise click.ClickException(str(e)) from None


if __name__ == "__main__":
    sys.exit(main())
