"""The click options every step-based trainer (train bert, gpt, seq2seq, electra) shares, with one meaning
and one help text each; no torch import, so `--help` and the missing-extra sentence stay cheap."""
from __future__ import annotations

import click

# model sizes (layers, hidden, heads): Google's BERT miniatures (Turc et al. 2019) and the two released sizes
PRESETS = {"tiny": (2, 128, 2), "mini": (4, 256, 4), "small": (4, 512, 8), "medium": (8, 512, 8),
           "base": (12, 768, 12), "large": (24, 1024, 16)}
SEQ2SEQ_MODES = ("t5", "bart", "mass", "translation")  # the datasets train seq2seq reads (corpusforge.torch.SEQ2SEQ_KINDS)
SEQ2SEQ_ARCHS = ("t5", "bart")
# train glove's and train word2vec's defaults (GloVe's demo.sh; word2vec C's)
GLOVE_DIM, GLOVE_EPOCHS, GLOVE_X_MAX, GLOVE_ALPHA, GLOVE_LR, GLOVE_BATCH = 50, 15, 100.0, 0.75, 0.05, 4096
W2V_DIM, W2V_WINDOW, W2V_NEGATIVE, W2V_EPOCHS, W2V_BATCH = 100, 5, 5, 5, 1024


def _stack(*options):
    def apply(f):
        for option in reversed(options):
            f = option(f)
        return f
    return apply


device_options = _stack(
    click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Micro-batches per optimizer step."),
    click.option("--clip", type=click.FloatRange(min=0), default=1.0, show_default=True,
                 help="Gradient norm clip (0: off)."),
    click.option("--dropout", type=click.FloatRange(0, 1), default=0.1, show_default=True),
    click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default="auto", show_default=True,
                 help="auto: bf16 autocast on CUDA, fp32 on CPU."),
    click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda."),
    click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
                 help="CPU threads per process (0: one per core; on a shared machine 1-2 is often faster)."),
    click.option("--num-workers", type=click.IntRange(min=0), default=0, show_default=True,
                 help="DataLoader workers."),
)

run_options = _stack(
    click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True),
    click.option("--save-every", type=click.IntRange(min=1), default=500, show_default=True),
    click.option("--resume", is_flag=True, help="Continue the run in --output from its checkpoint (exactly)."),
    click.option("--overwrite", is_flag=True, help="Start again in an --output that holds a run."),
    click.option("--stop-after", type=click.IntRange(min=1), default=None, hidden=True,
                 help="Stop after this step without a final checkpoint, as if interrupted (tests)."),
    click.option("--quiet", "-q", is_flag=True, help="No progress output."),
)
