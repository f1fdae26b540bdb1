"""pretraining: tokenized documents -> BERT / ALBERT / RoBERTa / SpanBERT instances, GPT blocks, ELMo sentences,
Transformer-XL streams, T5, BART or MASS examples, translation pairs (seq2seq or XLM's TLM).

    python -m corpusforge.pipelines.pretraining --input TOKENIZED_OR_DOCS_OR_RAW [--tokenizer vocab.txt] --output OUT
    corpusforge build pretraining  (the same command)
"""
from __future__ import annotations

import functools
import math
import sys

import click
import numpy as np
import pyarrow as pa
from click.core import ParameterSource

from corpusforge.dataset.reader import read_manifest
from corpusforge.dataset.schema import (bart_schema, bilm_schema, causal_schema, mass_schema, pretraining_schema,
                                        stream_schema, t5_schema, tlm_schema, translation_schema, xlnet_schema)
from corpusforge.objectives.bart import BartConfig, bart_statistics
from corpusforge.objectives.bilm import BilmConfig, bilm_statistics, spellings
from corpusforge.objectives.causal import CausalConfig, causal_statistics, resolve_eos
from corpusforge.objectives.stream import StreamConfig, stream_statistics
from corpusforge.objectives.instances import LABELS, MODES, InstanceConfig, instance_statistics
from corpusforge.objectives.masking import SCHEMES, MaskingConfig, vocabulary_ids
from corpusforge.objectives.mass import MassConfig, mass_statistics
from corpusforge.objectives.t5 import T5Config, sentinel_ids, t5_statistics
from corpusforge.objectives.translation import (DIRECTIONS, LANGUAGES, TlmConfig, TranslationConfig, tlm_statistics,
                                                translation_statistics)
from corpusforge.objectives.xlnet import MASK_ALPHA, MASK_BETA, XLNetConfig, xlnet_statistics
from corpusforge.tokenization.segment import DEFAULT_SEGMENTER, SEGMENTERS, SegmenterError, get_segmenter
from corpusforge.tokenization.tokenizer import TextTokenizer, TokenizerError
from corpusforge.pipelines.beamjob import BEAM_HELP, input_options, output_options, prepare_job, resume_option, run_job
from corpusforge.pipelines.command import COMMAND

BUCKET_BYTES = 2 << 20  # input bytes per random bucket (NSP draws random segments inside a bucket)
# the language-model modes: each is a dataset kind of its own (schema, manifest statistics)
LM_KINDS = {"causal": (causal_schema, causal_statistics), "bilm": (bilm_schema, bilm_statistics),
            "stream": (stream_schema, stream_statistics)}
# every mode that writes a dataset kind of its own; the others write kind pretraining
OWN_KINDS = {**LM_KINDS, "t5": (t5_schema, t5_statistics), "bart": (bart_schema, bart_statistics),
             "mass": (mass_schema, mass_statistics), "translation": (translation_schema, translation_statistics),
             "tlm": (tlm_schema, tlm_statistics), "xlnet": (xlnet_schema, xlnet_statistics)}
PAIR_MODES = ("translation", "tlm")  # modes that read translation pairs (--side pair)
# modes whose builders never read word ids: their documents are not segmented into words (it only costs time)
WORDLESS_MODES = ("causal", "stream", "t5", "bart", "mass")


def build_pretraining(pipeline, job, cfg, tokenizer, segmenter, id_type, num_buckets, extra):
    """(tokenized shards | ReadDocuments -> TokenizeDocuments) -> BuildInstances -> WriteDataset; a resumed
    build whose bucket inputs are all recorded (resume.RecordInputs) starts at the buckets."""
    import apache_beam as beam
    from corpusforge.beam.instances import BUCKET_INPUTS, BuildInstances
    from corpusforge.beam.read import ReadDocuments, dataset_units
    from corpusforge.beam.resume import record_inputs, reused_inputs
    from corpusforge.beam.sink import WriteDataset
    from corpusforge.beam.tokenize import TokenizeDocuments
    kind = cfg.mode if cfg.mode in OWN_KINDS else "pretraining"
    schema = OWN_KINDS[kind][0](id_type) if kind in OWN_KINDS else pretraining_schema(id_type, LABELS.get(cfg.mode))
    tmp, markers = job.tmp, job.markers
    build = functools.partial(BuildInstances, cfg, job.seed, f"{tmp}/_spill/buckets", num_buckets, id_type,
                              from_shards=tokenizer is None, dedup=tokenizer is not None and job.source.prepare.dedup,
                              schema=schema, out_dir=f"{tmp}/_spill", num_shards=job.num_shards, markers=markers)
    reused = reused_inputs(pipeline, markers, BUCKET_INPUTS)
    if reused:
        rejects = reused.rejects
        built = reused.records | "BuildInstances" >> build(spilled=True)
        upstream = [reused.counts]
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
            return record_inputs(pipeline, markers, BUCKET_INPUTS, inputs, (*upstream, *spill_counts), rejects)

        built = source | "BuildInstances" >> build(record=record if markers else None)
        upstream = [*upstream, *built.counts[:-1]]  # with the shards' read counts
    counts = (*upstream, built.counts[-1])
    summarize = functools.partial(OWN_KINDS[kind][1] if kind in OWN_KINDS else instance_statistics,
                                  max_seq_length=cfg.max_seq_length)
    return ({"spills": built.spills, "rejects": rejects, "counts": counts | "AllCounts" >> beam.Flatten()}
            | "WriteDataset" >> WriteDataset(job.output, kind, schema, job.num_shards, job.params,
                                             extra=extra, rows_are_records=False, summarize=summarize,
                                             tmp=tmp, spilled=True, markers=markers))


@click.command(**COMMAND, epilog=BEAM_HELP)
@click.option("--mode", type=click.Choice((*MODES, *OWN_KINDS)), default="nsp", show_default=True,
              help="nsp: BERT sentence pairs, half with a random B from another document; sop: ALBERT, B always "
                   "the continuation, half swapped; full-sentences / doc-sentences: RoBERTa packing, across / "
                   "within documents, no pair label; electra: ELECTRA's examples, one or two segments filled to a "
                   "target length within a document, no pair label, unmasked by default; "
                   "causal: GPT blocks of documents joined by EOS (kind causal); "
                   "bilm: ELMo sentences with forward/backward targets and character ids (kind bilm); stream: "
                   "Transformer-XL segments of --num-streams parallel streams (kind stream); t5: T5 span "
                   "corruption, sentinels and EOS (kind t5); bart: BART text infilling (kind bart); mass: MASS fragment "
                   "masking (kind mass); translation: source/target pairs (kind translation); tlm: XLM's "
                   "translation language modelling (kind tlm); xlnet: XLNet's records, a reuse part then "
                   "A [SEP] B [SEP] [CLS] with the continuation label and num_predict span targets (kind xlnet).")
@click.option("--masking", type=click.Choice(SCHEMES), default=None,
              help="token (default; electra: none): BERT; wwm: whole words (Chinese BERT-wwm); ngram: ALBERT "
                   "n-grams of words; span: SpanBERT spans of words; none: unmasked, for dynamic masking in the "
                   "trainer (causal, t5, bart, mass, translation: always none).")
@click.option("--max-seq-length", type=click.IntRange(min=8, max=65535), default=128, show_default=True,
              help="Tokens per instance, [CLS] and [SEP]s included (BERT: 128 for 90% of steps, then 512); causal: "
                   "tokens per block, EOS included; t5: input tokens, sentinels and EOS included; mass: segment tokens, EOS "
                   "included; translation: tokens per side, EOS included; tlm: the pair's tokens and its four EOS "
                   "(a longer pair is dropped, counted).")
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
@click.option("--mask-ratio", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="bart: the share of each block's tokens to mask (fairseq's --mask; default 0.3); mass: the "
                   "fragment's share of each segment (MASS's word_mass; default 0.5).")
@click.option("--poisson-lambda", type=click.FloatRange(0, min_open=True), default=3.0, show_default=True,
              help="bart: the mean of the Poisson span lengths.")
@click.option("--permute-sentences", is_flag=True,
              help="bart: shuffle each block's sentences before infilling (BART's sentence permutation).")
@click.option("--direction", type=click.Choice(list(DIRECTIONS)), default=None,
              help="translation, tlm: the order of each pair, source first (default zh-en); both: one example "
                   "each way.")
@click.option("--eos-token", default=None,
              help="causal, t5, translation, tlm: the end-of-document token (a token of the vocabulary, or its id); default: the "
                   "vocabulary's <|endoftext|>, <|end_of_text|>, </s>, <eos> or [EOS], else [SEP].")
@click.option("--cross-document/--no-cross-document", default=True, show_default=True,
              help="causal: blocks run across documents (all of max-seq-length tokens but a bucket's last), or end "
                   "at each document's end (its short last block kept).")
@click.option("--num-streams", type=click.IntRange(min=1), default=None,
              help="stream: contiguous streams per bucket, read side by side (the trainer's batch size; default 16).")
@click.option("--reuse-length", type=click.IntRange(min=1), default=None,
              help="xlnet: tokens of each record's reuse part, where the next record's A starts (XLNet's "
                   "reuse_len; default half of --max-seq-length, as its 256 of 512).")
@click.option("--num-predict", type=click.IntRange(min=1), default=None,
              help="xlnet: positions to predict per record, half in the reuse part (default "
                   "round(max-seq-length x 85 / 512): XLNet's 85 of 512).")
@click.option("--tokenizer", "-t", "tokenizer_path", default=None,
              help="For documents or raw input: a WordPiece vocab.txt, tokenizer.json or SentencePiece .model "
                   "(a tokenized dataset brings its own; building 128 and 512 from it does not re-tokenize).")
@click.option("--lowercase/--no-lowercase", default=True, show_default=True, help="WordPiece: lower-case.")
@click.option("--segmenter", default=DEFAULT_SEGMENTER, show_default=True,
              help=f"For documents or raw input: word segmenter ({', '.join(SEGMENTERS)}, or module:Class); not run for "
                   "causal, stream, t5, bart and mass, which read no word ids.")
@click.option("--user-dict", default=None, help="A jieba user dictionary.")
@input_options
@output_options
@resume_option
def main(mode, masking, max_seq_length, short_seq_prob, masked_lm_prob, max_predictions_per_seq, dupe_factor,
         max_ngram, span_p, max_span, mean_noise_span_length, mask_ratio, poisson_lambda, permute_sentences, direction,
         eos_token, cross_document, num_streams, reuse_length, num_predict, tokenizer_path, lowercase, segmenter,
         user_dict, **kw):
    """Build pretraining instances: sentence pairs or packed blocks, statically masked or not.

    --input is a tokenized dataset (from `build tokenized`), a documents dataset or raw corpora
    (then --tokenizer is required). Columns: input_ids, token_type_ids, special_tokens_mask,
    word_ids, next_sentence_label (nsp) or sentence_order_label (sop), masked_lm_positions,
    masked_lm_labels; no padding. Instances are shuffled across shards with the seed.
    --mode causal writes a dataset of kind causal instead: input_ids (GPT blocks of documents joined
    by the end-of-document token) and document_boundaries; --mode bilm one of kind bilm (input_ids,
    next_ids, previous_ids, word_ids, char_ids per sentence); --mode stream one of kind stream
    (input_ids, stream_id, segment_index); --mode t5 one of kind t5: input_ids and labels (span
    corruption with sentinel tokens); --mode bart one of kind bart: input_ids (text infilling) and
    labels (the original block); --mode mass one of kind mass: input_ids, decoder_input_ids, labels,
    decoder_position_ids (MASS); --mode translation one of kind translation: input_ids, labels,
    source_lang, target_lang; --mode tlm one of kind tlm (XLM): input_ids, position_ids, langs,
    special_tokens_mask, masked_lm_positions, masked_lm_labels; --mode xlnet one of kind xlnet
    (XLNet): input_ids, seg_id, is_masked, label.
    """
    if permute_sentences and mode != "bart":
        raise click.ClickException("--permute-sentences applies to --mode bart only")
    pair_side(mode, kw)
    if direction is not None and mode not in PAIR_MODES:
        raise click.ClickException("--direction applies to --mode translation and tlm only")
    if mask_ratio is not None and mode not in ("bart", "mass"):
        raise click.ClickException("--mask-ratio applies to --mode bart and mass only")
    if (reuse_length is not None or num_predict is not None) and mode != "xlnet":
        raise click.ClickException("--reuse-length and --num-predict apply to --mode xlnet only")
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
    num_buckets = max(2, math.ceil(job.input_bytes / BUCKET_BYTES))
    if num_streams is not None and mode != "stream":
        raise click.ClickException("--num-streams applies to --mode stream only")
    if mode in LM_KINDS:
        if masking not in (None, "none"):
            raise click.ClickException(f"--mode {mode} takes no masking (its labels are its inputs); drop --masking")
        cfg, extra_params = lm_config(mode, max_seq_length, dupe_factor, eos_token, cross_document, num_streams,
                                      num_buckets, tokenizer or recorded_tokenizer(tokenized[0]), special, vocab_size)
        masking = "none"
    elif mode == "bart":
        if masking not in (None, "none") or eos_token is not None or not cross_document:
            raise click.ClickException("--mode bart takes no --masking, --eos-token or --no-cross-document (it infills "
                                       "spans itself, framed by the vocabulary's BOS and EOS, within documents)")
        mask_ratio = mask_ratio or 0.3
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
    elif mode == "mass":
        if masking not in (None, "none") or eos_token is not None or not cross_document:
            raise click.ClickException("--mode mass takes no --masking, --eos-token or --no-cross-document (it masks "
                                       "a fragment itself, ends segments with the vocabulary's EOS, within documents)")
        try:
            cfg = MassConfig(max_seq_length=max_seq_length, mask_ratio=mask_ratio or 0.5, bos_id=special.get("cls"),
                             eos_id=special.get("sep"), mask_id=special.get("mask"), dupe_factor=dupe_factor,
                             random_ids=np.setdiff1d(np.arange(vocab_size), list(special.values())))
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        masking, extra_params = "none", {"mask_ratio": cfg.mask_ratio, "bos_id": cfg.bos_id, "eos_id": cfg.eos_id}
    elif mode == "xlnet":
        cfg, extra_params = xlnet_config(masking, cross_document, eos_token, max_seq_length, reuse_length,
                                         num_predict, dupe_factor, tokenizer, tokenized, special, vocab_size)
        masking = "none"
    elif mode in PAIR_MODES:
        cfg, masking, extra_params = pair_config(mode, masking, direction or "zh-en", eos_token, cross_document,
                                                 max_seq_length, masked_lm_prob, max_predictions_per_seq, dupe_factor,
                                                 max_ngram, span_p, max_span, tokenizer, tokenized, special, vocab_size)
    else:
        if eos_token is not None or not cross_document:
            raise click.ClickException("--eos-token and --no-cross-document apply to --mode causal only")
        masking, extra_params = masking or ("none" if mode == "electra" else "token"), {}
        cfg = instance_config(mode, masking, max_seq_length, short_seq_prob, masked_lm_prob, max_predictions_per_seq,
                              dupe_factor, max_ngram, span_p, max_span, special, vocab_size)
    id_type = pa.uint16() if vocab_size <= 1 << 16 else pa.int32()
    if not kw["num_shards"]:
        job.num_shards = job.params["num_shards"] = max(1, math.ceil(job.input_bytes * dupe_factor / (64 << 20)))
    job.params.update(kind=mode if mode in OWN_KINDS else "pretraining", mode=mode, masking=masking,
                      max_seq_length=max_seq_length,
                      short_seq_prob=short_seq_prob, masked_lm_prob=masked_lm_prob,
                      max_predictions_per_seq=max_predictions_per_seq, dupe_factor=dupe_factor, max_ngram=max_ngram,
                      span_p=span_p, max_span=max_span, tokenizer=tokenizer.path if tokenizer else None,
                      lowercase=lowercase,
                      segmenter=segmenter if not tokenized else None, user_dict=user_dict, buckets=num_buckets,
                      **extra_params)
    extra = {"tokenizer": fingerprint, "segmenter": seg_fingerprint, "special_ids": special}
    seg = None if mode in WORDLESS_MODES else seg  # its fingerprint stays in the manifest, as before
    run_job(job, lambda p: build_pretraining(p, job, cfg, tokenizer, seg, id_type, num_buckets, extra))


def recorded_tokenizer(info: dict) -> TextTokenizer | None:
    """A tokenized dataset's tokenizer, if its file is still where the manifest says and unchanged (sha256);
    else None."""
    try:
        tokenizer = TextTokenizer(info["params"]["tokenizer"], lowercase=bool(info["tokenizer"].get("lowercase")))
    except (TokenizerError, KeyError, TypeError):
        return None
    return tokenizer if tokenizer.fingerprint["sha256"] == info["tokenizer"]["sha256"] else None


def recorded_vocab(info: dict) -> dict | None:
    """The vocabulary of recorded_tokenizer(info), or None."""
    tokenizer = recorded_tokenizer(info)
    return tokenizer.vocab if tokenizer else None


def lm_config(mode, max_seq_length, dupe_factor, eos_token, cross_document, num_streams, num_buckets, tokenizer,
              special, vocab_size):
    """The configuration of a language-model mode and its build parameters for the manifest; tokenizer is None
    when a tokenized input's tokenizer file is gone. A setting that cannot work is one sentence."""
    if mode != "causal" and not cross_document:
        raise click.ClickException("--no-cross-document applies to --mode causal only")
    if mode == "bilm" and eos_token is not None:
        raise click.ClickException("--eos-token applies to --mode causal and stream only (bilm ends sentences with "
                                   "[SEP])")
    try:
        if mode == "bilm":
            return bilm_config(max_seq_length, dupe_factor, tokenizer, special), {}
        eos_id = resolve_eos(eos_token, tokenizer.vocab if tokenizer else None, special, vocab_size)
        if mode == "causal":
            cfg = CausalConfig(max_seq_length=max_seq_length, cross_document=cross_document, dupe_factor=dupe_factor,
                               eos_id=eos_id)
            return cfg, {"eos_token": eos_token, "eos_id": eos_id, "cross_document": cross_document}
        cfg = StreamConfig(max_seq_length=max_seq_length, num_streams=num_streams or 16, num_buckets=num_buckets,
                           dupe_factor=dupe_factor, eos_id=eos_id)
        return cfg, {"eos_token": eos_token, "eos_id": eos_id, "num_streams": cfg.num_streams}
    except ValueError as e:
        raise click.ClickException(str(e)) from None


def bilm_config(max_seq_length, dupe_factor, tokenizer, special) -> BilmConfig:
    """ELMo's configuration: BOS/EOS/pad ids and the bytes of each token (to spell the character ids)."""
    if tokenizer is None:
        raise ValueError("the tokenizer file named in the tokenized dataset's manifest is missing or changed, so "
                         "the tokens cannot be spelled as ELMo character ids; rebuild the tokenized dataset or "
                         "build from documents with --tokenizer")
    missing = [r for r in ("cls", "sep", "pad") if r not in special]
    if missing:
        raise ValueError(f"the vocabulary has no {'/'.join(missing)} token, which bilm sentences need (BOS, EOS, "
                         "no target)")
    return BilmConfig(max_seq_length=max_seq_length, bos_id=special["cls"], eos_id=special["sep"],
                      pad_id=special["pad"], spellings=spellings(tokenizer), dupe_factor=dupe_factor)


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


def xlnet_config(masking, cross_document, eos_token, max_seq_length, reuse_length, num_predict, dupe_factor,
                 tokenizer, tokenized, special, vocab_size) -> tuple[XLNetConfig, dict]:
    """XLNet's configuration: [CLS], [SEP] and the end-of-document token (--eos-token, else the vocabulary's
    <eod>, else causal's choice); a setting that cannot work is one sentence."""
    if masking not in (None, "none") or not cross_document:
        raise click.ClickException("--mode xlnet takes neither --masking (it samples its own span targets) nor "
                                   "--no-cross-document (its stream runs across documents, as XLNet's)")
    vocab = tokenizer.vocab if tokenizer else recorded_vocab(tokenized[0])
    try:
        if eos_token is None and vocab and "<eod>" in vocab:
            eos_token = "<eod>"
        eod_id = resolve_eos(eos_token, vocab, special, vocab_size)
        cfg = XLNetConfig(max_seq_length=max_seq_length, reuse_length=reuse_length, num_predict=num_predict,
                          cls_id=special.get("cls"), sep_id=special.get("sep"), eod_id=eod_id,
                          dupe_factor=dupe_factor)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    return cfg, {"eos_token": eos_token, "eos_id": eod_id, "reuse_length": cfg.reuse_length,
                 "num_predict": cfg.num_predict, "mask_alpha": MASK_ALPHA, "mask_beta": MASK_BETA}


def pair_side(mode, kw):
    """Translation pairs are read with --side pair, the default for the pair modes; other modes read a side."""
    if mode not in PAIR_MODES:
        if kw["side"] == "pair":
            raise click.ClickException("--side pair reads translation pairs, for --mode translation or tlm")
        return
    if kw["side"] != "pair":
        if click.get_current_context().get_parameter_source("side") is not ParameterSource.DEFAULT:
            raise click.ClickException(f"--mode {mode} reads translation pairs: use --side pair (its default)")
        kw["side"] = "pair"


def pair_config(mode, masking, direction, eos_token, cross_document, max_seq_length, masked_lm_prob,
                max_predictions_per_seq, dupe_factor, max_ngram, span_p, max_span, tokenizer, tokenized, special,
                vocab_size):
    """(configuration, masking, build parameters) of --mode translation or tlm; a setting that cannot work is one
    sentence."""
    if not cross_document:
        raise click.ClickException("--no-cross-document applies to --mode causal only")
    if mode == "translation" and (masking not in (None, "none") or dupe_factor != 1):
        raise click.ClickException("--mode translation takes no --masking and no --dupe-factor (it draws nothing at "
                                   "random: copies would repeat the same examples)")
    try:
        vocab = tokenizer.vocab if tokenizer else recorded_vocab(tokenized[0])
        eos_id = resolve_eos(eos_token, vocab, special, vocab_size)
        extra = {"direction": direction, "eos_token": eos_token, "eos_id": eos_id}
        if mode == "translation":
            return TranslationConfig(max_seq_length=max_seq_length, direction=direction, eos_id=eos_id), "none", extra
        masking = masking or "token"
        if masking != "none" and "mask" not in special:
            raise ValueError("the vocabulary has no [MASK] token, which --masking needs")
        mask_id, random_ids = vocabulary_ids({**special, "mask": special.get("mask", eos_id)}, vocab_size)
        masking_cfg = MaskingConfig(scheme=masking, mask_id=mask_id, random_ids=random_ids,
                                    masked_lm_prob=masked_lm_prob, max_predictions=max_predictions_per_seq,
                                    max_ngram=max_ngram, span_p=span_p, max_span=max_span)
        cfg = TlmConfig(max_seq_length=max_seq_length, direction=direction, eos_id=eos_id, masking=masking_cfg,
                        dupe_factor=dupe_factor)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    return cfg, masking, {**extra, "languages": LANGUAGES}


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
