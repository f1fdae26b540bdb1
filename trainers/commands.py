"""Click commands of the trainers (train bert, gpt, seq2seq, electra, glove, word2vec), eval vectors and export hf.

torch is imported when a command runs, not when the CLI starts.
"""
from __future__ import annotations

import os

import click

from corpusforge.cliutil import AliasOption, input_argument
from corpusforge.trainers.options import (GLOVE_ALPHA, GLOVE_BATCH, GLOVE_DIM, GLOVE_EPOCHS, GLOVE_LR, GLOVE_X_MAX,
                                          PRESETS, SEQ2SEQ_ARCHS, SEQ2SEQ_MODES, W2V_BATCH, W2V_DIM, W2V_EPOCHS,
                                          W2V_NEGATIVE, W2V_WINDOW, device_options, run_options)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
PRESET_NAMES = tuple(PRESETS)


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


@click.command(context_settings=CONTEXT)
@click.option("--input", "-i", "--data", "-d", "data", cls=AliasOption, hidden_aliases=("--data", "-d"), required=True,
              type=click.Path(file_okay=False),
              help="A causal dataset (`corpusforge build pretraining --mode causal`).")
@click.option("--output", "-o", "--out", "out", cls=AliasOption, hidden_aliases=("--out",), required=True,
              help="Run directory: metrics.jsonl, checkpoint.pt, hf/.")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="tiny", show_default=True,
              help="Model size (layers/hidden/heads): tiny 2/128/2, mini 4/256/4, small 4/512/8, medium 8/512/8, "
                   "base 12/768/12 (GPT-2 small), large 24/1024/16 (GPT-2 medium).")
@click.option("--reset-attention/--no-reset-attention", default=True, show_default=True,
              help="Attention and position ids restart at every document boundary (Megatron's "
                   "reset_attention_mask / reset_position_ids); off: a block is one causal sequence (GPT-2).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=6e-4, show_default=True, help="Peak learning rate.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.1, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(min=0), default=None,
              help="Linear warm-up, then linear decay to 0 [default: 6% of --max-steps].")
@click.option("--max-steps", type=click.IntRange(min=1), default=1000, show_default=True, help="Optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Blocks per micro-batch and process (one step: batch x grad-accum x processes).")
@device_options
@click.option("--seed", type=int, default=0, show_default=True, help="Weights, data order, dropout.")
@click.option("--eval-rows", type=click.IntRange(min=0), default=0, show_default=True,
              help="Hold out the dataset's first N blocks (its order is a seeded shuffle) for evaluation.")
@click.option("--eval-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Evaluate loss and perplexity on the held-out blocks every N steps.")
@run_options
def train_gpt(**kw):
    """Pretrain a GPT-2 decoder (transformers' GPT2LMHeadModel) on a causal dataset.

    \b
    Several GPUs: torchrun --nproc_per_node N -m corpusforge.cli train gpt ...
    """
    from corpusforge.trainers.gpt import train_gpt as run

    return run(**kw)


@click.command(context_settings=CONTEXT)
@click.option("--input", "-i", "--data", "-d", "data", cls=AliasOption, hidden_aliases=("--data", "-d"), required=True,
              type=click.Path(file_okay=False),
              help=f"An encoder-decoder dataset (`corpusforge build pretraining --mode {'|'.join(SEQ2SEQ_MODES)}`).")
@click.option("--output", "-o", "--out", "out", cls=AliasOption, hidden_aliases=("--out",), required=True,
              help="Run directory: metrics.jsonl, checkpoint.pt, hf/.")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="tiny", show_default=True,
              help="Model size (layers per stack/hidden/heads): tiny 2/128/2, mini 4/256/4, small 4/512/8, "
                   "medium 8/512/8, base 12/768/12 (T5-base), large 24/1024/16 (T5-large); "
                   "feed-forward 4x hidden.")
@click.option("--arch", type=click.Choice(SEQ2SEQ_ARCHS), default=None,
              help="T5ForConditionalGeneration or BartForConditionalGeneration [default: bart for bart and mass "
                   "data, t5 for t5 and translation data].")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=5e-4, show_default=True, help="Peak learning rate.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.01, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(min=0), default=None,
              help="Linear warm-up, then linear decay to 0 [default: 6% of --max-steps].")
@click.option("--max-steps", type=click.IntRange(min=1), default=1000, show_default=True, help="Optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Examples per micro-batch and process (one step: batch x grad-accum x processes).")
@device_options
@click.option("--seed", type=int, default=0, show_default=True, help="Weights, data order, dropout.")
@click.option("--eval-rows", type=click.IntRange(min=0), default=0, show_default=True,
              help="Hold out the dataset's first N examples (its order is a seeded shuffle) for evaluation.")
@click.option("--eval-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Evaluate loss and perplexity on the held-out examples every N steps.")
@click.option("--tokenizer", "-t", default=None,
              help="The vocab file to copy into OUT/hf [default: the one recorded in the dataset's build, if its "
                   "sha256 matches].")
@run_options
def train_seq2seq(**kw):
    """Pretrain an encoder-decoder (transformers' T5 / BART) on a t5, bart, mass or translation dataset.

    \b
    Several GPUs: torchrun --nproc_per_node N -m corpusforge.cli train seq2seq ...
    """
    from corpusforge.trainers.seq2seq import train_seq2seq as run

    return run(**kw)


@click.command(context_settings=CONTEXT)
@click.option("--input", "-i", "--data", "-d", "data", cls=AliasOption, hidden_aliases=("--data", "-d"), required=True,
              type=click.Path(file_okay=False),
              help="A pretraining dataset (`build pretraining --mode electra`, or any other of kind pretraining).")
@click.option("--output", "-o", "--out", "out", cls=AliasOption, hidden_aliases=("--out",), required=True,
              help="Run directory: metrics.jsonl, checkpoint.pt, hf/.")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="tiny", show_default=True,
              help="The discriminator's size (layers/hidden/heads): tiny 2/128/2, mini 4/256/4, small 4/512/8, medium "
                   "8/512/8, base 12/768/12, large 24/1024/16; feed-forward 4x hidden.")
@click.option("--generator-size", type=click.FloatRange(0, 1, min_open=True), default=0.25, show_default=True,
              help="The generator's hidden size as a fraction of the discriminator's (ELECTRA: 0.25 small / large, "
                   "0.33 base); as many layers, hidden / 64 heads.")
@click.option("--embedding-size", type=click.IntRange(min=1), default=None,
              help="Width of the shared embeddings [default: the discriminator's hidden size; ELECTRA-Small: 128].")
@click.option("--masking", type=click.Choice(["token", "wwm", "ngram", "span"]), default=None,
              help="Dynamic masking for datasets built with --masking none [default: token, as ELECTRA]; statically "
                   "masked datasets are used as they are.")
@click.option("--masked-lm-prob", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Dynamic masking: share of tokens the generator fills [default: 0.15, 0.25 for --preset large].")
@click.option("--rtd-weight", type=click.FloatRange(min=0), default=50.0, show_default=True,
              help="Weight of the replaced-token-detection loss (loss = MLM + weight x RTD; ELECTRA's 50).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=5e-4, show_default=True,
              help="Peak learning rate (ELECTRA-Small's).")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.01, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(min=0), default=None,
              help="Linear warm-up, then linear decay to 0 [default: 6% of --max-steps].")
@click.option("--max-steps", type=click.IntRange(min=1), default=1000, show_default=True, help="Optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Sequences per micro-batch and process (one step: batch x grad-accum x processes).")
@device_options
@click.option("--seed", type=int, default=0, show_default=True, help="Weights, data order, masking, sampling, dropout.")
@click.option("--eval-rows", type=click.IntRange(min=0), default=0, show_default=True,
              help="Hold out the dataset's first N rows (its order is a seeded shuffle) for evaluation.")
@click.option("--eval-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Evaluate MLM and RTD accuracy (and the all-original baseline) on the held-out rows every N steps.")
@click.option("--tokenizer", "-t", default=None,
              help="The vocab file to copy into OUT/hf [default: the one recorded in the dataset's build, if its "
                   "sha256 matches].")
@run_options
def train_electra(**kw):
    """Pretrain ELECTRA (generator + discriminator, replaced-token detection) on a pretraining dataset.

    \b
    Outputs OUT/hf/discriminator (transformers' ElectraForPreTraining) and OUT/hf/generator
    (ElectraForMaskedLM). Several GPUs: torchrun --nproc_per_node N -m corpusforge.cli train electra ...
    """
    from corpusforge.trainers.electra import train_electra as run

    return run(**kw)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--input", "-i", "data", required=True, help="A word2vec dataset (from `build word2vec`).")
@click.option("--output", "-o", required=True, help="Directory for vectors.txt, vectors.bin, metrics.jsonl.")
@click.option("--cbow", is_flag=True, help="CBOW (predict a word from its context's mean) instead of skip-gram.")
@click.option("--dim", type=click.IntRange(min=1), default=W2V_DIM, show_default=True, help="Vector size.")
@click.option("--window", type=click.IntRange(1, 50), default=W2V_WINDOW, show_default=True,
              help="Largest context distance; each centre's window is drawn uniform in 1..window.")
@click.option("--negative", type=click.IntRange(0, 100), default=W2V_NEGATIVE, show_default=True,
              help="Negative samples per positive, drawn from unigram counts ** 0.75; 0: none (needs --hs).")
@click.option("--hs", is_flag=True, help="Hierarchical softmax over word2vec.c's Huffman tree of the counts "
                                         "(with --negative > 0 both are trained, as word2vec.c -hs 1 -negative N).")
@click.option("--epochs", type=click.IntRange(min=1), default=W2V_EPOCHS, show_default=True,
              help="Passes over the dataset (its subsampling is fixed: for a new draw per epoch build with "
                   "--epochs-static K and train --epochs 1).")
@click.option("--alpha", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Starting learning rate, decayed linearly to 0.0001 * alpha. Default 0.025, 0.05 with --cbow.")
@click.option("--batch-size", type=click.IntRange(min=1), default=W2V_BATCH, show_default=True,
              help="Centre tokens per update (each reads the vectors as they were before it).")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N; auto = cuda when available.")
@click.option("--threads", type=click.IntRange(min=0), default=1, show_default=True,
              help="CPU threads for torch; 0 = torch's default.")
@click.option("--seed", type=int, default=12345, show_default=True, help="Seed of the init and every draw.")
@click.option("--overwrite", is_flag=True, help="Replace existing files in --output.")
@click.option("--resume", is_flag=True, help="Continue from --output/checkpoint.pt (written after every epoch); "
                                             "the result equals an uninterrupted run's.")
def train_word2vec(**kw):
    """Train word2vec vectors (skip-gram or CBOW with negative sampling) on a word2vec dataset."""
    from corpusforge.trainers.word2vec import main as run

    return run(**kw)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--input", "-i", "matrix", required=True, help="A cooccurrence dataset (from `build cooccurrence`).")
@click.option("--output", "-o", required=True, help="Directory for vectors.txt, vectors.w2v.txt, params.pt.")
@click.option("--dim", type=click.IntRange(min=1), default=GLOVE_DIM, show_default=True, help="Vector size.")
@click.option("--epochs", type=click.IntRange(min=1), default=GLOVE_EPOCHS, show_default=True, help="Passes over the matrix.")
@click.option("--x-max", type=click.FloatRange(min=0, min_open=True), default=GLOVE_X_MAX, show_default=True,
              help="f(x) = min(1, (x/x_max)^alpha).")
@click.option("--alpha", type=click.FloatRange(min=0), default=GLOVE_ALPHA, show_default=True, help="f's exponent.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=GLOVE_LR, show_default=True,
              help="AdaGrad learning rate.")
@click.option("--batch-size", type=click.IntRange(min=1), default=GLOVE_BATCH, show_default=True,
              help="Entries per update (each reads the parameters as they were before it, like Hogwild threads).")
@click.option("--save", type=click.Choice(["sum", "word"]), default="sum", show_default=True,
              help="Save word + context vectors (glove.c -model 2) or the word vectors only.")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N; auto = cuda when available.")
@click.option("--threads", type=click.IntRange(min=0), default=1, show_default=True,
              help="CPU threads for torch; 0 = torch's default. The ops are small (a minibatch of rows): on a "
                   "loaded machine more threads spin and wait, far slower (BENCHMARKS.md).")
@click.option("--seed", type=int, default=12345, show_default=True, help="Seed of the init and the entry order.")
@click.option("--overwrite", is_flag=True, help="Replace existing files in --output.")
@click.option("--resume", is_flag=True, help="Continue from --output/checkpoint.pt (written after every epoch); "
                                             "the result equals an uninterrupted run's.")
def train_glove(**kw):
    """Train GloVe word vectors on a co-occurrence matrix; prints the cost per epoch like glove.c."""
    from corpusforge.trainers.glove import main as run

    return run(**kw)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@input_argument("vectors", type=click.Path(dir_okay=False))
@click.option("--word", "-w", "query", multiple=True, help="Print this word's nearest neighbours (repeatable).")
@click.option("-k", type=click.IntRange(min=1), default=10, show_default=True, help="Neighbours per word.")
@click.option("--analogies", "analogy_files", multiple=True, type=click.Path(dir_okay=False),
              help="A file of `a b c d` analogy lines (word2vec's questions-words.txt format; ':' lines are "
                   "section names); prints accuracy over the questions whose four words are all known.")
def eval_vectors(**kw):
    """Nearest neighbours (cosine) and analogy accuracy of word vectors (GloVe or word2vec text format)."""
    from corpusforge.trainers.glove import eval_vectors as run

    return run(**kw)


@click.command(context_settings=CONTEXT)
@click.option("--input", "-i", "--data", "-d", "data", cls=AliasOption, hidden_aliases=("--data", "-d"), required=True,
              type=click.Path(file_okay=False),
              help="An xlnet dataset (`corpusforge build pretraining --mode xlnet`).")
@click.option("--output", "-o", "--out", "out", cls=AliasOption, hidden_aliases=("--out",), required=True,
              help="Run directory: metrics.jsonl, checkpoint.pt, hf/.")
@click.option("--preset", type=click.Choice(PRESET_NAMES), default="tiny", show_default=True,
              help="Model size (layers/hidden/heads): tiny 2/128/2, mini 4/256/4, small 4/512/8, medium 8/512/8, "
                   "base 12/768/12 (XLNet-Base), large 24/1024/16 (XLNet-Large); feed-forward 4x hidden.")
@click.option("--perm-size", type=click.IntRange(min=1), default=None,
              help="Factorisation orders are drawn in chunks of this many positions (XLNet's perm_size) "
                   "[default: the dataset's --reuse-length].")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="Peak learning rate.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--warmup-steps", type=click.IntRange(min=0), default=None,
              help="Linear warm-up, then linear decay to 0 [default: 6% of --max-steps].")
@click.option("--max-steps", type=click.IntRange(min=1), default=1000, show_default=True, help="Optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Records per micro-batch and process (one step: batch x grad-accum x processes).")
@device_options
@click.option("--seed", type=int, default=0, show_default=True, help="Weights, data order, permutations, dropout.")
@click.option("--eval-rows", type=click.IntRange(min=0), default=0, show_default=True,
              help="Hold out the dataset's first N records (its order is a seeded shuffle) for evaluation.")
@click.option("--eval-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Evaluate the loss of the held-out records (fixed permutations) every N steps.")
@run_options
def train_xlnet(**kw):
    """Pretrain XLNet (transformers' XLNetLMHeadModel) by permutation language modelling on an xlnet dataset.

    \b
    Several GPUs: torchrun --nproc_per_node N -m corpusforge.cli train xlnet ...
    """
    from corpusforge.trainers.xlnet import train_xlnet as run

    return run(**kw)
