"""vocab: a corpus -> a WordPiece, byte-level BPE or SentencePiece unigram vocabulary.

    python -m corpusforge.pipelines.vocab --input CORPUS_OR_DOCS --model wordpiece|bpe|unigram --output OUT [options]
    corpusforge build vocab  (the same command)

A Beam pipeline draws a deterministic sample of sentences: every sentence gets a seeded hash of
(its document's key, its index) and the N smallest keys are kept by a combiner that never holds
more than 2N sentences per worker. The sample, in key order, goes to a temporary file; the
launcher then runs the library's own trainer on it (corpusforge.tokenization.train) and writes

    OUT/vocab.txt, tokenizer.json                 wordpiece (BertTokenizer)
    OUT/tokenizer.json, vocab.json, merges.txt    bpe (PreTrainedTokenizerFast)
    OUT/spiece.model, spiece.vocab                unigram (AlbertTokenizer; spm.model before)
    OUT/tokenizer_config.json, special_tokens_map.json   the class and special tokens: AutoTokenizer opens OUT
    OUT/manifest.json   kind "vocab", files with sha256, special token ids, sample, input accounting, params
    OUT/rejects/        unreadable input records, as in every dataset

Training runs on the launcher, after the pipeline, not in a pipeline step: the trainers are
single-machine programs that need the whole sample in one process anyway, so a Beam step would
only add a worker that may be smaller than the launcher, runner retries of a long native job, and a
second copy of the sample; on the launcher a failure is one sentence for the user, and the two
phases are timed apart.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sys
import tempfile
import time
from importlib.metadata import version

import click

from corpusforge import __version__
from corpusforge.dataset.writer import remove_tree, write_bytes, write_json
from corpusforge.tokenization import train as vocab_train
from corpusforge.pipelines.beamjob import (BEAM_HELP, build_progress, input_options, prepare_job, print_accounting, progress_option,
                              resume_option, start_temporary)
from corpusforge.pipelines.command import COMMAND

log = logging.getLogger("corpusforge")
TRAINED = "trained"  # the completion marker of the trained files (resume)


class SampleFile:
    """The sample's sentences, read again from the start on every iteration (local or gs:// / s3://)."""

    def __init__(self, path: str):
        self.path = path

    def __iter__(self):
        from apache_beam.io.filesystems import FileSystems
        with FileSystems.open(self.path) as raw:
            for line in io.TextIOWrapper(raw, encoding="utf-8", newline="\n"):
                yield line[:-1] if line.endswith("\n") else line


def file_entry(path: str) -> dict:
    with open(path, "rb") as f:
        data = f.read()
    return {"file": os.path.basename(path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def train_and_commit(tmp: str, output: str, model: str, params: dict, sample_seconds: float, markers=None) -> dict:
    """Trains on tmp/sample.txt, writes the files and manifest.json into tmp, and makes OUT appear. markers
    (resume.Markers): the trained files get a completion marker, and a resumed build that finds it intact does not
    train again."""
    from apache_beam.io.filesystems import FileSystems
    from corpusforge.beam.sample import SAMPLE_FILE, SAMPLE_INFO
    from corpusforge.beam.sink import input_accounting, publish, rejects_entry
    with FileSystems.open(f"{tmp}/{SAMPLE_INFO}") as f:
        info = json.load(f)
    counts = info["counts"]
    kept = counts.get("kept", 0)
    accounting = input_accounting(counts, kept, counts.get("documents", 0) - kept)
    if not info["sentences"]:
        raise vocab_train.VocabError(f"the input has no sentences to sample (read {accounting['read']} records: kept "
                                     f"{accounting['kept']}, filtered {accounting['filtered']}, rejected "
                                     f"{accounting['rejected']})")
    log.info("vocab: training %s (vocab size %d) on %d sentences (%.1f M characters)", model, params["vocab_size"],
             info["sentences"], info["characters"] / 1e6)
    started = time.monotonic()
    trained = markers and markers.read_output(TRAINED, 0)
    if trained:
        log.info("resume: the vocabulary the killed build trained is reused")
        result, files = trained["result"], trained["files"]
    else:
        with tempfile.TemporaryDirectory(prefix="corpusforge-vocab-") as work:
            result = vocab_train.train(model, SampleFile(f"{tmp}/{SAMPLE_FILE}"), work, params["vocab_size"],
                                       params["lowercase"], params["character_coverage"], params["extra_ids"])
            paths = result.pop("files")
            files = [file_entry(p) for p in paths]
            for path in paths:
                with open(path, "rb") as f:
                    write_bytes(f"{tmp}/{os.path.basename(path)}", f.read())
        if markers:
            markers.write_output(TRAINED, 0, {"result": result, "files": files,
                                              "paths": [f"{tmp}/{f['file']}" for f in files]})
    train_seconds = time.monotonic() - started
    library = "sentencepiece" if model == "unigram" else "tokenizers"
    manifest = {
        "kind": "vocab",
        "corpusforge_version": __version__,
        "model": model,
        "vocab_size": result["vocab_size"],
        "files": files,
        "special_tokens": result["special_tokens"],
        "trainer": {"library": library, "version": version(library), **result["details"]},
        "sample": {"requested": params["sample_sentences"], "sentences": info["sentences"],
                   "characters": info["characters"], "sha256": info["sha256"],
                   "available_sentences": counts.get("kept_sentences", 0)},
        "input": accounting,
        "params": params,
        "seed": params["seed"],
        "rejects": rejects_entry(accounting, info["rejects"]),
    }
    publish(tmp, output, accounting, info["rejects"], lambda: write_json(f"{tmp}/manifest.json", manifest))
    manifest["_seconds"] = {"sample": sample_seconds, "train": train_seconds}
    return manifest


def print_summary(manifest: dict, output: str) -> None:
    acc, sample, seconds = manifest["input"], manifest["sample"], manifest["_seconds"]
    click.echo(f"wrote {output}: {manifest['model']} vocabulary of {manifest['vocab_size']} entries "
               f"({', '.join(f['file'] for f in manifest['files'])})")
    click.echo(f"  sample: {sample['sentences']} of {sample['available_sentences']} sentences "
               f"({sample['characters'] / 1e6:.1f} M characters) in {seconds['sample']:.1f} s; "
               f"training {seconds['train']:.1f} s")
    print_accounting(acc, output)
    asked = manifest["params"]["vocab_size"]
    if manifest["vocab_size"] < asked:
        click.echo(f"  note: the sample supports only {manifest['vocab_size']} of the {asked} entries asked for; "
                   f"a larger --sample-sentences or corpus gives more")


@click.command(**COMMAND, epilog=BEAM_HELP)
@click.option("--model", "-m", type=click.Choice(vocab_train.MODELS), required=True,
              help="wordpiece: BERT vocab.txt ([PAD] [UNK] [CLS] [SEP] [MASK] = 0..4); bpe: RoBERTa/GPT-2 byte-level "
                   "tokenizer.json + vocab.json/merges.txt (<s> <pad> </s> <unk> <mask> = 0..4); unigram: ALBERT "
                   "SentencePiece spiece.model (<pad> <unk> [CLS] [SEP] [MASK] = 0..4). Each with a "
                   "tokenizer_config.json: AutoTokenizer.from_pretrained(OUT) opens it.")
@click.option("--vocab-size", type=click.IntRange(min=1), default=None,
              help="Entries, special tokens included. Default: wordpiece 30522 (BERT-base), bpe 50000, unigram "
                   "30000 (ALBERT).")
@click.option("--extra-ids", type=click.IntRange(min=0), default=None,
              help=f"unigram: T5's sentinel tokens <extra_id_0> ... to reserve (control pieces with ids 5, 6, ..., for "
                   f"build pretraining --mode t5). Default {vocab_train.DEFAULT_EXTRA_IDS} for unigram.")
@click.option("--sample-sentences", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Sentences to train on: the ones with the smallest seeded keys (each worker holds at most twice "
                   "this many).")
@click.option("--lowercase/--no-lowercase", default=None,
              help="Lower-case the text. Default: on for wordpiece (uncased BERT, accents stripped too) and unigram "
                   "(ALBERT), off for bpe (RoBERTa).")
@click.option("--character-coverage", type=click.FloatRange(0, 1, min_open=True), default=0.9995, show_default=True,
              help="wordpiece and unigram: the alphabet is the most frequent characters covering this share of the "
                   "text; rarer ones become [UNK] / <unk>. bpe is byte-level and needs none.")
@input_options
@click.option("--output", "-o", required=True, help="Directory to create for the vocabulary files.")
@click.option("--overwrite", is_flag=True, help="Replace an existing vocabulary at --output.")
@click.option("--seed", type=int, default=12345, show_default=True, help="Seed of the sample.")
@progress_option
@click.argument("beam_args", nargs=-1, type=click.UNPROCESSED)
@resume_option
def main(model, vocab_size, extra_ids, sample_sentences, lowercase, character_coverage, **kw):
    """Train a vocabulary (WordPiece, byte-level BPE or SentencePiece unigram) on a sample of a corpus.

    --input is raw corpora (read and cleaned as by `build documents`) or a documents dataset. The
    sample is deterministic: the same input and --seed give byte-identical files on any runner and
    worker count.
    """
    from corpusforge.beam.runner import make_pipeline
    from corpusforge.beam.sample import SAMPLE_STAGE, build_sample
    vocab_size = vocab_train.DEFAULT_VOCAB_SIZE[model] if vocab_size is None else vocab_size
    if extra_ids and model != "unigram":
        raise click.ClickException(f"--extra-ids applies to -m unigram only (T5's sentinels); drop it for {model}")
    extra_ids = (vocab_train.DEFAULT_EXTRA_IDS if model == "unigram" else 0) if extra_ids is None else extra_ids
    if vocab_size < vocab_train.min_vocab_size(model, extra_ids):
        raise click.ClickException(f"--vocab-size {vocab_size} is too small for {model}: it needs at least "
                                   f"{vocab_train.min_vocab_size(model, extra_ids)} entries to hold its special tokens"
                                   f"{' and 256 byte symbols' if model == 'bpe' else ''}"
                                   f"{f' and {extra_ids} extra ids' if extra_ids else ''}")
    lowercase = vocab_train.DEFAULT_LOWERCASE[model] if lowercase is None else lowercase
    job = prepare_job({**kw, "num_shards": 1})
    params = {k: v for k, v in job.params.items() if k != "num_shards"}
    params.update(kind="vocab", model=model, vocab_size=vocab_size, sample_sentences=sample_sentences,
                  lowercase=lowercase, character_coverage=character_coverage if model != "bpe" else None,
                  extra_ids=extra_ids)
    output = job.output.rstrip("/")
    job.params = params  # what the fingerprint of a resumable build covers
    start_temporary(job)
    tmp, markers = job.tmp, job.markers
    log.info("vocab: %.1f MB of input -> %s sample of %d sentences -> %s", job.input_bytes / 1e6, model,
             sample_sentences, output)
    started = time.monotonic()
    try:
        if markers and markers.read(SAMPLE_STAGE, 0):
            log.info("resume: the sample the killed build drew is reused: reading nothing again")
        else:
            pipeline = make_pipeline(job.options)
            build_sample(pipeline, job.source, tmp, sample_sentences, job.seed, markers)
            job.params["kind"] = "vocab"  # the progress line's name (params, copied above, are the manifest's)
            with build_progress(job):
                pipeline.run().wait_until_finish()
        manifest = train_and_commit(tmp, output, model, params, time.monotonic() - started, markers)
    except vocab_train.VocabError as e:
        raise click.ClickException(str(e)) from None
    finally:  # locally the lock's release would remove it too; an object store has no lock
        if not job.resume:  # a failed resume keeps the killed run's work for the next
            remove_tree(tmp)
    print_summary(manifest, output)


if __name__ == "__main__":
    from corpusforge.pipelines.vocab import main as _main  # DoFns pickled by module name, not from __main__

    sys.exit(_main())
