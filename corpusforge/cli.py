"""The `corpusforge` command: build datasets, inspect them, verify them."""
from __future__ import annotations

import json
import logging
import os

import click

# Beam's import warns about Google Cloud client libraries a local run does not need.
logging.getLogger().addFilter(lambda record: "apitools not found" not in str(record.msg))

from corpusforge import __version__
from corpusforge.cliutil import InterruptibleGroup, input_argument
from corpusforge.extras import REQUIRES, installed, lazy_command  # a missing extra's command: one sentence

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=InterruptibleGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="corpusforge")
def main():
    """corpusforge: raw pretraining corpora -> sharded Apache Arrow datasets, with Apache Beam.

    \b
    corpusforge build documents -i CORPUS -o OUT    raw corpora -> cleaned, sentence-split documents
    corpusforge build tokenized -i DOCS -t VOCAB -o OUT   token ids + word boundaries per sentence
    corpusforge build vocab -i DOCS --model M -o OUT      train WordPiece / byte-level BPE / unigram
    corpusforge build pretraining -i TOK -o OUT     NSP/SOP pairs or RoBERTa packing, masked (token/wwm/ngram/span)
    corpusforge build cooccurrence -i CORPUS -o OUT GloVe vocab.txt + co-occurrence matrix
    corpusforge build word2vec -i CORPUS -o OUT     word2vec vocab.txt + subsampled id sequences
    corpusforge export cooccurrence OUT -o FILE     the matrix in GloVe's binary format
    corpusforge train glove -i MATRIX -o VECTORS    train GloVe vectors (torch, CPU or CUDA)
    corpusforge train word2vec -i W2V -o VECTORS    train skip-gram / CBOW vectors (torch, CPU or CUDA)
    corpusforge eval vectors VECTORS ...            nearest neighbours, analogies
    corpusforge train bert -i PRE -o RUN            pretrain BERT / ALBERT / RoBERTa-style encoders (torch)
    corpusforge train gpt -i CAUSAL -o RUN          pretrain a GPT-2 decoder (transformers' GPT2LMHeadModel)
    corpusforge train seq2seq -i T5 -o RUN          pretrain an encoder-decoder (transformers' T5 / BART)
    corpusforge train electra -i PRE -o RUN         pretrain ELECTRA: generator + replaced-token detection
    corpusforge train xlnet -i XLNET -o RUN         pretrain XLNet: permutation language modelling
    corpusforge export hf RUN/checkpoint.pt         a checkpoint in the layout transformers loads
    corpusforge export megatron DATA -o PREFIX      a tokenized or causal dataset as Megatron-LM's .bin/.idx
    corpusforge export tfrecord PRE -o DIR          pretraining instances for Google BERT's / ALBERT's run_pretraining.py
    corpusforge export parquet DATA -o DIR          any dataset's rows as Parquet files
    corpusforge build ngrams -i CORPUS --order N -o OUT   exact 1..N-gram counts + count-of-counts
    corpusforge build lm -i NGRAMS --smoothing S -o LM    smoothed n-gram LM as ARPA
    corpusforge build stats -i CORPUS -o OUT         Zipf / Heaps / lengths: tables, plots, report.md
    corpusforge eval lm LM TEXT                     perplexity with and without OOVs
    corpusforge inspect OUT                         schema, rows, shards, parameters, a few rows
    corpusforge verify OUT                          re-check checksums and counts (exit 1 on mismatch)
    """


class LazyGroup(click.Group):
    """A group whose subcommands are imported when they are used (click's documented lazy loading):
    `build documents` does not import torch, `inspect` does not import Beam; start-up stays small."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx, name):
        if name in self.lazy:
            return with_example(lazy_command(self.lazy[name], f"corpusforge {self.name} {name}"),
                                EXAMPLES.get(f"{self.name} {name}"))
        return super().get_command(ctx, name)

    def format_commands(self, ctx, formatter):
        """The listing in `corpusforge build --help` from SUMMARIES, without importing every command (Beam)."""
        rows = []
        for name in self.list_commands(ctx):
            summary = SUMMARIES.get(f"{self.name} {name}")
            need = REQUIRES.get(self.lazy[name].split(":")[0]) if name in self.lazy else None
            if summary is None or need and not installed(need):  # the stand-in's sentence: which pip line
                cmd = self.get_command(ctx, name)
                if cmd is None or cmd.hidden:
                    continue
                summary = cmd.get_short_help_str(formatter.width - 20)
            rows.append((name, summary))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def with_example(cmd: click.Command, example: str | None) -> click.Command:
    """The command with `example` at the end of its --help (once)."""
    if example and not getattr(cmd, "_example", None):
        cmd._example = example
        cmd.epilog = f"{cmd.epilog}\n\n" if cmd.epilog else ""
        cmd.epilog += f"\b\nExample:\n  {example}"
    return cmd


# one example per lazy command, shown at the end of its --help (the sample corpus and vocabulary are in samples/)
EXAMPLES = {
    "build documents": "corpusforge build documents -i samples/corpora -o docs",
    "build dedup": "corpusforge build dedup -i docs -o docs-dedup",
    "build tokenized": "corpusforge build tokenized -i docs -t samples/vocab/bert-base-chinese-vocab.txt -o tok",
    "build vocab": "corpusforge build vocab -i docs -m unigram --vocab-size 8000 -o vocab",
    "build pretraining": "corpusforge build pretraining -i tok --mode nsp --max-seq-length 128 -o nsp128",
    "build cooccurrence": "corpusforge build cooccurrence -i samples/corpora -o cooc",
    "build word2vec": "corpusforge build word2vec -i samples/corpora -o w2v",
    "build ngrams": "corpusforge build ngrams -i samples/corpora --order 3 -o ngrams",
    "build lm": "corpusforge build lm -i ngrams -s modified-kneser-ney -o lm",
    "build stats": "corpusforge build stats -i samples/corpora/wiki_zh -o stats",
    "eval lm": "corpusforge eval lm lm -i heldout.txt -o scores.arrow",
    "eval vectors": "corpusforge eval vectors vectors/vectors.txt -w 北京 -k 5",
    "train bert": "corpusforge train bert -i nsp128 -o run --max-steps 1000 --eval-rows 64 --eval-every 100",
    "train glove": "corpusforge train glove -i cooc -o vectors",
    "train word2vec": "corpusforge train word2vec -i w2v -o vectors",
    "train gpt": "corpusforge train gpt -i causal -o run --max-steps 1000",
    "train seq2seq": "corpusforge train seq2seq -i t5 -o run --max-steps 1000",
    "train electra": "corpusforge train electra -i electra128 -o run --max-steps 1000",
    "train xlnet": "corpusforge train xlnet -i xlnet128 -o run --max-steps 1000",
    "export hf": "corpusforge export hf run/checkpoint.pt -o run/hf",
    "export tfrecord": "corpusforge export tfrecord nsp128 -o nsp128-tf",
    "export parquet": "corpusforge export parquet tok -o tok-parquet",
}


# what each lazy command does, for its group's --help listing (a command without an entry is imported for it)
SUMMARIES = {
    "build documents": "Raw corpora -> cleaned, sentence-split documents",
    "build dedup": "Remove near-duplicate documents (MinHash)",
    "build tokenized": "Token ids and word boundaries per sentence",
    "build vocab": "Train a WordPiece, byte-level BPE or SentencePiece unigram vocabulary",
    "build pretraining": "Pretraining instances: NSP/SOP pairs, packed blocks, causal, T5, BART ...",
    "build cooccurrence": "GloVe's vocabulary and co-occurrence matrix",
    "build word2vec": "word2vec's vocabulary and subsampled token-id sequences",
    "build ngrams": "Exact 1..N-gram counts and count-of-counts",
    "build lm": "A smoothed n-gram language model as ARPA",
    "build stats": "Zipf / Heaps / length statistics: tables, plots, report.md",
    "eval lm": "Perplexity of a text under an n-gram LM",
    "eval vectors": "Nearest neighbours and analogy accuracy of word vectors",
    "train bert": "Pretrain a BERT / ALBERT / RoBERTa / SpanBERT-style encoder",
    "train glove": "Train GloVe word vectors on a co-occurrence matrix",
    "train word2vec": "Train skip-gram / CBOW word vectors (negative sampling or hierarchical softmax)",
    "train gpt": "Pretrain a GPT-2 decoder",
    "train seq2seq": "Pretrain a T5 / BART encoder-decoder",
    "train electra": "Pretrain ELECTRA: a generator and a replaced-token discriminator",
    "train xlnet": "Pretrain XLNet by permutation language modelling",
    "export hf": "A training checkpoint in the layout transformers loads",
    "export tfrecord": "nsp/sop instances for Google BERT's / ALBERT's run_pretraining.py",
    "export parquet": "Any dataset's rows as Parquet files",
}


@main.group(cls=LazyGroup, context_settings=CONTEXT, lazy={
    "documents": "corpusforge.pipelines.documents:main", "dedup": "corpusforge.pipelines.documents:dedup", "tokenized": "corpusforge.pipelines.tokenized:main", "vocab": "corpusforge.pipelines.vocab:main",
    "pretraining": "corpusforge.pipelines.pretraining:main", "cooccurrence": "corpusforge.pipelines.cooccurrence:main",
    "word2vec": "corpusforge.pipelines.word2vec:main",
    "ngrams": "corpusforge.pipelines.ngrams:main", "lm": "corpusforge.pipelines.lm:build_lm", "stats": "corpusforge.pipelines.statistics:main"})
def build():
    """Build a dataset with an Apache Beam pipeline (Beam options pass through)."""


@main.group(name="eval", cls=LazyGroup, context_settings=CONTEXT,
            lazy={"lm": "corpusforge.pipelines.lm:eval_lm", "vectors": "corpusforge.trainers.commands:eval_vectors"})
def evaluate():
    """Evaluate a built model: an n-gram LM's perplexity, word vectors' neighbours and analogies."""


@main.group(cls=LazyGroup, context_settings=CONTEXT,
            lazy={"glove": "corpusforge.trainers.commands:train_glove", "bert": "corpusforge.trainers.commands:train_bert",
                  "gpt": "corpusforge.trainers.commands:train_gpt", "seq2seq": "corpusforge.trainers.commands:train_seq2seq",
                  "electra": "corpusforge.trainers.commands:train_electra", "xlnet": "corpusforge.trainers.commands:train_xlnet",
                  "word2vec": "corpusforge.trainers.commands:train_word2vec"})
def train():
    """Train a model on a built dataset (thin PyTorch trainers)."""


@main.group(cls=LazyGroup, context_settings=CONTEXT, lazy={
    "hf": "corpusforge.trainers.commands:export_hf", "parquet": "corpusforge.exports:export_parquet",
    "tfrecord": "corpusforge.exports:export_tfrecord"})
def export():
    """Write a dataset or a trained model in another tool's format."""


@export.command("cooccurrence", context_settings=CONTEXT)
@input_argument("dataset", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["glove-bin"]), default="glove-bin", show_default=True,
              help="glove-bin: GloVe's records (int32 row, int32 col, float64 value; 1-based ids), sorted by "
                   "(row, col), for GloVe's shuffle/glove and other GloVe trainers; use with the dataset's vocab.txt.")
@click.option("--output", "-o", required=True, help="File to write (e.g. cooccurrence.bin).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file at --output.")
def export_cooccurrence(dataset, fmt, output, overwrite):
    """Export a cooccurrence dataset's matrix.

    \b
    Example:
      corpusforge export cooccurrence cooc -o cooccurrence.bin
    """
    from corpusforge.dataset.cooccurrence import export_glove_bin, matrix_dataset

    try:
        matrix_dataset(_dataset_dir(dataset))
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    real, inside = os.path.realpath(output), os.path.realpath(dataset) + os.sep
    if real.startswith(inside):
        raise click.ClickException(f"output {output} is inside the dataset {dataset}; write it elsewhere")
    if os.path.lexists(output) and (os.path.islink(output) or not os.path.isfile(output)):
        raise click.ClickException(f"output {output} exists and is not a regular file; refusing to replace it")
    if os.path.lexists(output) and not overwrite:
        raise click.ClickException(f"output {output} already exists; pass --overwrite to replace it")
    # written beside it, then renamed: a failed export leaves the old file (or none), never half a file
    tmp = os.path.join(os.path.dirname(os.path.abspath(output)), f".{os.path.basename(output)}.incomplete-{os.getpid()}")
    try:
        n = export_glove_bin(dataset, tmp)
        os.replace(tmp, output)
    except OSError as e:
        raise click.ClickException(f"cannot write {output}: {e.strerror}") from None
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    click.echo(f"wrote {output}: {n} records ({fmt}); vocabulary: {os.path.join(dataset, 'vocab.txt')}")


@export.command("megatron", context_settings=CONTEXT)
@input_argument("dataset", type=click.Path(file_okay=False))
@click.option("--output", "-o", "prefix", required=True,
              help="Writes PREFIX.bin and PREFIX.idx (Megatron-LM's --data-path PREFIX).")
@click.option("--split-sentences", is_flag=True,
              help="Tokenized input: one sequence per sentence (Megatron's --split-sentences, for BERT); "
                   "default one per document.")
@click.option("--append-eod", is_flag=True,
              help="Tokenized input: end each document with the EOS token (Megatron's --append-eod, for GPT).")
@click.option("--eos-token", default=None,
              help="With --append-eod: the EOS token or id (default as in build pretraining --mode causal).")
def export_megatron(dataset, prefix, split_sentences, append_eod, eos_token):
    """Export a tokenized or causal dataset as Megatron-LM's indexed dataset (MMapIndexedDataset).

    \b
    Example:
      corpusforge export megatron tok -o megatron/wiki --append-eod
    """
    from corpusforge.dataset.megatron import export_megatron as export
    from corpusforge.dataset.reader import read_manifest

    manifest = read_manifest(_dataset_dir(dataset))
    if manifest["kind"] not in ("tokenized", "causal"):
        raise click.ClickException(f"{dataset} is a {manifest['kind']} dataset; give a tokenized or causal dataset")
    if manifest["kind"] == "causal" and (split_sentences or append_eod or eos_token):
        raise click.ClickException("a causal dataset's blocks are its sequences and hold their EOS tokens; drop "
                                   "--split-sentences / --append-eod / --eos-token")
    if eos_token and not append_eod:
        raise click.ClickException("--eos-token goes with --append-eod")
    for path in (f"{prefix}.bin", f"{prefix}.idx"):
        if os.path.exists(path):
            raise click.ClickException(f"{path} already exists; remove it or choose another prefix")
    if not os.path.isdir(os.path.dirname(os.path.abspath(prefix))):
        raise click.ClickException(f"the directory of {prefix} does not exist")
    eod = None
    if append_eod:
        from corpusforge.objectives.causal import resolve_eos
        from corpusforge.pipelines.pretraining import recorded_vocab

        try:
            eod = resolve_eos(eos_token, recorded_vocab(manifest), manifest["special_ids"],
                              manifest["tokenizer"]["vocab_size"])
        except ValueError as e:
            raise click.ClickException(str(e)) from None
    n = export(dataset, prefix, split_sentences=split_sentences, eod=eod)
    click.echo(f"wrote {prefix}.bin and {prefix}.idx: {n['sequences']} sequences, {n['documents']} documents, "
               f"{n['tokens']} tokens ({n['dtype']})")


def _dataset_dir(path: str) -> str:
    """`path` if it holds a manifest that corpusforge wrote (read_manifest's checks); else one sentence."""
    from corpusforge.dataset.reader import DatasetError, read_manifest

    try:
        read_manifest(path)
    except (DatasetError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    return path


def _short(value, width: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


@main.command(context_settings=CONTEXT)
@input_argument("dataset", type=click.Path(file_okay=False))
@click.option("--rows", "-n", type=click.IntRange(min=0), default=3, show_default=True, help="Rows to print.")
@click.option("--stats", "stats_only", is_flag=True,
              help="Print only the dataset's statistics (pretraining: tokens per instance, label balance, masking).")
@click.option("--tokenizer", "-t", default=None,
              help="The vocabulary to decode the rows' ids with [default: the one the dataset's build recorded, if "
                   "its sha256 matches].")
@click.option("--report", "report_dir", is_flag=False, flag_value="", default=None, metavar="[DIR]",
              help="Documents datasets: write the cleaning report (report.md and PNGs: kept and removed per rule and "
                   "per source, near-duplicate cluster sizes, languages, examples of removed text) into DIR, "
                   "default DATASET-report beside the dataset. Needs matplotlib (corpusforge[plots]).")
@click.option("--overwrite", is_flag=True, help="--report: replace the report files already in DIR.")
def inspect(dataset, rows, stats_only, tokenizer, report_dir, overwrite):
    """Print a dataset's schema, row and shard counts, build parameters and a few rows.

    Pretraining rows are also shown decoded, as Google BERT's create_pretraining_data.py logs its
    instances: tokens with the masked positions marked, the masked-LM labels, the sentence label.
    --report writes a documents dataset's cleaning report instead.

    \b
    Example:
      corpusforge inspect nsp128 -n 2
      corpusforge inspect docs --report
    """
    from corpusforge.dataset.reader import DatasetError, open_shard, read_manifest, shard_paths

    try:
        manifest = read_manifest(_dataset_dir(dataset))
        paths = shard_paths(dataset, manifest) if "shards" in manifest else []
    except DatasetError as e:
        raise click.ClickException(str(e)) from None
    if report_dir is not None:
        _report(dataset, report_dir, overwrite)
        return
    if stats_only:
        stats = manifest.get("statistics") or manifest.get("totals")
        if not stats:
            raise click.ClickException(f"{dataset} ({manifest['kind']}) has no statistics in its manifest")
        _echo_tree(stats)
        return
    click.echo(f"{dataset}: kind {manifest['kind']}, schema v{manifest.get('schema_version', '-')}, "
               f"corpusforge {manifest['corpusforge_version']}")
    for entry in manifest.get("files", []):
        click.echo(f"  {entry['file']}  {entry.get('bytes', '?')} bytes  sha256 {entry['sha256'][:16]}...")
    if "shards" in manifest:
        click.echo(f"rows: {manifest['rows']} in {len(manifest['shards'])} shard(s) ({manifest.get('format')})")
    for shard in manifest.get("shards", []):
        click.echo(f"  {shard['file']}  {shard['rows']} rows  sha256 {shard['sha256'][:16]}...")
    if "input" in manifest:
        acc = manifest["input"]
        click.echo(f"input: read {acc['read']} = kept {acc['kept']} + filtered {acc['filtered']} + "
                   f"rejected {acc['rejected']}")
        for what in ("filtered", "rejected"):
            if acc.get(f"{what}_by_reason"):
                click.echo(f"  {what}: " + ", ".join(f"{k} {v}" for k, v in acc[f"{what}_by_reason"].items()))
    click.echo("params:")
    for key, value in manifest.get("params", {}).items():
        click.echo(f"  {key}: {_short(value)}")
    if manifest.get("statistics"):
        click.echo("statistics: (corpusforge inspect --stats for all)")
        for key, value in manifest["statistics"].items():
            click.echo(f"  {key}: {_short(value)}")
    shown, decoded = 0, []
    for path in paths:
        if shown >= rows:
            break
        table = open_shard(path)
        if shown == 0:
            click.echo("schema:")
            for field in table.schema:
                click.echo(f"  {field.name}: {field.type}")
        for row in table.slice(0, rows - shown).to_pylist():
            click.echo(f"--- row {shown}")
            for key, value in row.items():
                click.echo(f"  {key}: {_short(value)}")
            decoded.append(row)
            shown += 1
    _echo_decoded(dataset, manifest, decoded, tokenizer)


def _echo_decoded(dataset: str, manifest: dict, rows: list, tokenizer: str | None) -> None:
    """The rows as tokens, as Google's create_pretraining_data.py logs its instances (corpusforge.dataset.decode)."""
    from corpusforge.dataset import decode

    if not rows or "input_ids" not in rows[0]:
        return
    path = decode.find_tokenizer(dataset, manifest, tokenizer)
    if path is None:
        if tokenizer:
            raise click.ClickException(f"--tokenizer {tokenizer} is not the vocabulary {dataset} was tokenized with "
                                       "(its sha256 differs from the manifest's)")
        click.echo("(rows not decoded: the vocabulary the build recorded is gone or changed; pass --tokenizer)")
        return
    token = decode.id_to_token(path)
    for i, row in enumerate(rows):
        click.echo(f"*** Example {i} *** (decoded with {path}; masked positions {decode.MARK.format('...')})")
        for line in decode.decoded_lines(row, token):
            click.echo(f"  {line}")


def _report(dataset: str, report_dir: str, overwrite: bool) -> None:
    from corpusforge.extras import installed, missing_sentence

    if not installed("matplotlib"):
        raise click.ClickException(missing_sentence("corpusforge inspect --report", "matplotlib"))
    from corpusforge.dataset.reader import DatasetError
    from corpusforge.dataset.report import default_dir, write_report

    out = report_dir or default_dir(dataset)
    try:
        written = write_report(dataset, out, overwrite)
    except DatasetError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"cannot write the report into {out}: {e.strerror}") from None
    click.echo(f"wrote the cleaning report of {dataset}: {written[0]} ({len(written) - 1} plots beside it)")


def _echo_tree(value, indent: int = 0) -> None:
    for key, item in value.items():
        if isinstance(item, dict):
            click.echo(f"{'  ' * indent}{key}:")
            _echo_tree(item, indent + 1)
        else:
            click.echo(f"{'  ' * indent}{key}: {item}")


@main.command(context_settings=CONTEXT)
@input_argument("dataset", type=click.Path(file_okay=False))
def verify(dataset):
    """Re-check every file the manifest names, the metadata and the accounting; exit 1 on any mismatch.

    \b
    Example:
      corpusforge verify nsp128
    """
    from corpusforge.dataset.reader import DatasetError, verify_dataset

    try:
        problems = verify_dataset(_dataset_dir(dataset))
    except DatasetError as e:
        raise click.ClickException(str(e)) from None
    for problem in problems:
        click.echo(f"MISMATCH {problem}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{dataset}: OK")


if __name__ == "__main__":
    main()
