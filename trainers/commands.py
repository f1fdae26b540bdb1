"""Click commands of the encoder trainer: `corpusforge train bert` and `corpusforge export hf`.

torch is imported when a command runs, not when the CLI starts.
"""
from __future__ import annotations

import os

import click

from corpusforge.cliutil import AliasOption, input_argument
from corpusforge.trainers.options import device_options, run_options

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
PRESET_NAMES = ("tiny", "mini", "small", "medium", "base", "large")


@click.command(context_settings=CONTEXT)
@click.option("--input", "-i", "--data", "-d", "data", cls=AliasOption, hidden_aliases=("--data", "-d"), required=True,
              type=click.Path(file_okay=False),
              help="A pretraining dataset (`corpusforge build pretraining`).")
@click.option("--output", "-o", "--out", "out", cls=AliasOption, hidden_aliases=("--out",), required=True,
              help="Run directory: metrics.jsonl, checkpoint.pt, hf/.")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="tiny", show_default=True,
              help="Model size (layers/hidden/heads): tiny 2/128/2, mini 4/256/4, small 4/512/8, medium 8/512/8, "
                   "base 12/768/12, large 24/1024/16; feed-forward 4x hidden.")
@click.option("--arch", type=click.Choice(["bert", "albert"]), default="bert", show_default=True,
              help="albert: factorised embedding (--embedding-size) and cross-layer sharing (--share).")
@click.option("--embedding-size", type=click.IntRange(min=1), default=128, show_default=True,
              help="ALBERT: the word embedding width E (projected to the hidden size).")
@click.option("--share", type=click.Choice(["all", "attention", "ffn", "none"]), default=None,
              help="ALBERT: blocks shared by all layers [default: all].")
@click.option("--masking", type=click.Choice(["token", "wwm", "ngram", "span"]), default=None,
              help="Dynamic masking (a new mask every time an instance is seen) for datasets built with "
                   "--masking none [default: token]; statically masked datasets are used as they are.")
@click.option("--masked-lm-prob", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Dynamic masking: share of tokens to predict [default: the dataset's build parameter].")
@click.option("--sbo", is_flag=True, help="Add SpanBERT's span-boundary objective (span-masked data).")
@click.option("--no-sentence-loss", is_flag=True, help="Ignore the dataset's NSP / SOP label (MLM only).")
@click.option("--optimizer", type=click.Choice(["adamw", "lamb"]), default=None,
              help="[default: lamb for --arch albert, else adamw]")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True, help="Peak learning rate.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.01, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(min=0), default=None,
              help="Linear warm-up, then linear decay to 0 [default: 6% of --max-steps].")
@click.option("--max-steps", type=click.IntRange(min=1), default=1000, show_default=True, help="Optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Sequences per micro-batch and process (one step: batch x grad-accum x processes).")
@device_options
@click.option("--seed", type=int, default=0, show_default=True, help="Weights, data order, masking, dropout.")
@click.option("--eval-rows", type=click.IntRange(min=0), default=0, show_default=True,
              help="Hold out the dataset's first N rows (its order is a seeded shuffle) for evaluation.")
@click.option("--eval-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Evaluate MLM and NSP/SOP accuracy on the held-out rows every N steps.")
@click.option("--init-from", default=None,
              help="Continue pretraining: an exported hf/ directory (ours or a transformers BERT/ALBERT with the "
                   "dataset's vocabulary) or a checkpoint.pt; the model's shape comes from it.")
@click.option("--tokenizer", "-t", default=None,
              help="The vocab file to copy into OUT/hf [default: the one recorded in the dataset's build, if its "
                   "sha256 matches].")
@run_options
def train_bert(resume, overwrite, quiet, no_sentence_loss, optimizer, arch, **kw):
    """Pretrain a BERT / ALBERT / RoBERTa / SpanBERT-style encoder on a pretraining dataset.

    \b
    The objective follows the data: nsp -> MLM + NSP (BERT); sop -> MLM + SOP (ALBERT:
    --arch albert); full-/doc-sentences -> MLM only (RoBERTa: build with --masking none for
    dynamic masking); --sbo adds SpanBERT's span-boundary loss. Several GPUs:
    torchrun --nproc_per_node N -m corpusforge.cli train bert ...
    """
    from corpusforge.trainers.bert import TrainConfig, TrainError, train
    from corpusforge.trainers.common import CheckpointError

    cfg = TrainConfig(arch=arch, sentence_loss=not no_sentence_loss,
                      optimizer=optimizer or ("lamb" if arch == "albert" else "adamw"), **kw)
    try:
        train(cfg, resume=resume, overwrite=overwrite, quiet=quiet)
    except (TrainError, CheckpointError) as e:
        raise click.ClickException(str(e)) from None


@click.command(context_settings=CONTEXT)
@input_argument("checkpoint", type=click.Path(exists=True, dir_okay=False))
@click.option("--output", "-o", "--out", "out", cls=AliasOption, hidden_aliases=("--out",), default=None,
              help="Directory to write [default: hf/ next to the checkpoint].")
@click.option("--tokenizer", "-t", default=None, help="Vocab file to include [default: the training run's].")
def export_hf(checkpoint, out, tokenizer):
    """Write a training checkpoint in the layout transformers loads (BertForPreTraining / AlbertForPreTraining;
    T5ForConditionalGeneration / BartForConditionalGeneration for train seq2seq)."""
    from corpusforge.trainers.common import CheckpointError, load_checkpoint
    from corpusforge.trainers.encoder import EncoderConfig
    from corpusforge.trainers.hf import save_hf

    try:
        ckpt = load_checkpoint(checkpoint, needs=("model_config", "model", "data", "step"))
    except CheckpointError as e:
        raise click.ClickException(str(e)) from None
    if ckpt["model_config"].get("model_type") in ("t5", "bart"):  # a train seq2seq checkpoint
        from corpusforge.trainers.seq2seq import export_checkpoint

        out = out or os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "hf")
        try:
            name = export_checkpoint(ckpt, out, tokenizer)
        except CheckpointError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"wrote {out} ({name} layout, step {ckpt['step']})")
        return
    try:
        mcfg = EncoderConfig(**ckpt["model_config"])
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same one sentence
        raise click.ClickException(f"{checkpoint} is not a corpusforge training checkpoint ({type(e).__name__})") from None
    vocab = tokenizer or ckpt.get("vocab_file")
    if vocab and not os.path.exists(vocab):
        raise click.ClickException(f"vocab file {vocab} does not exist; pass --tokenizer")
    out = out or os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "hf")
    save_hf(out, mcfg, ckpt["model"], ckpt["data"]["special_ids"], vocab, ckpt["data"]["tokenizer"].get("lowercase", True))
    click.echo(f"wrote {out} ({'BertForPreTraining' if mcfg.arch == 'bert' else 'AlbertForPreTraining'} layout, step "
               f"{ckpt['step']})")
