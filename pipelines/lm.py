"""lm: n-gram counts (from build ngrams) -> a smoothed back-off language model in ARPA format.

    corpusforge build lm --input NGRAMS --smoothing modified-kneser-ney --output LM
    corpusforge eval lm LM TEXT [-o scores.arrow]

Estimation runs on the launcher, not in a Beam step: the model is as large as the distinct n-grams
and the ARPA file is one sequential file, so a single process with whole orders as numpy arrays is
both simplest and fastest (the counting, which scales with the corpus, is the Beam pipeline).

LM/model.arpa       the standard ARPA text (loads in KenLM, SRILM, ...)
LM/manifest.json    kind "lm", files with sha256, smoothing and its parameters (discounts, lambdas),
                    n-grams per order, the counts it came from, and how text is tokenized (units)
"""
from __future__ import annotations

import logging
import os
import sys
import time

import click
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge import __version__
from corpusforge.cliutil import AliasOption, input_argument
from corpusforge.dataset.reader import DatasetError, load_table, read_manifest
from corpusforge.dataset.writer import commit, remove_tree, write_json
from corpusforge.objectives import lm
from corpusforge.sources.formats import PRETOKENIZED
from corpusforge.text import normalize_text
from corpusforge.tokenization.segment import SegmenterError, get_segmenter, recorded_segmenter
from corpusforge.pipelines.command import COMMAND, check_output, configure_logging, temporary_dir

log = logging.getLogger("corpusforge")
ARPA = "model.arpa"
SEGMENTER_HELP = ("The counts' module:Class segmenter, to run it on this text (a custom segmenter is imported only "
                  "when named here, never from a manifest; built-in ones need no option); for a bare ARPA file, "
                  "any segmenter [default: whitespace].")
PLAIN = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def tokenizer_for(manifest: dict | None, segmenter: str | None = None):
    """The units the counts were made of, to tokenize evaluation / held-out text the same way; a custom
    segmenter only when this run's --segmenter names it (recorded_segmenter)."""
    if manifest is None:  # a bare ARPA file: whitespace-separated tokens, unless --segmenter says otherwise
        seg = get_segmenter(segmenter or "presegmented")
    else:
        units = manifest.get("params", {}).get("units", "words")
        name = manifest.get("params", {}).get("segmenter", "presegmented")
        seg = recorded_segmenter("chars" if units == "chars" else name, segmenter)
    if getattr(seg, "name", "") == "presegmented":
        return str.split
    return lambda s: [s[a:b] for a, b in seg.spans(s)]


def text_preparation(params: dict) -> dict | None:
    """How build ngrams prepared its text before counting, from its recorded parameters: cleaning,
    --normalize and --t2s (prepare_document); None for --format pretokenized, which is counted as written."""
    if params.get("format") == PRETOKENIZED:
        return None
    return {"normalize": params.get("normalize", "none"), "t2s": bool(params.get("t2s", False))}


def preparer(manifest: dict | None):
    """The counts' text preparation, applied to evaluation / held-out lines so they meet the model's
    vocabulary as the counts did (a bare ARPA file, or pretokenized counts: the text as written)."""
    params = (manifest or {}).get("params", {})
    if "text_preparation" not in params and manifest and manifest.get("kind") == "lm":
        log.warning("the model's manifest records no text preparation (an older build lm); the text is used as written")
    prep = params.get("text_preparation") if manifest and manifest.get("kind") == "lm" else text_preparation(params)
    if not prep:
        return lambda s: s
    return lambda s: normalize_text(s, form=prep["normalize"], t2s=prep["t2s"])


def read_sentences(path: str, tokenize, prepare=lambda s: s) -> tuple[list[list[str]], list[int]]:
    """One sentence per non-blank line (after `prepare`); returns the token lists and their line numbers."""
    sentences, lines = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = prepare(line.strip())
            if line:
                sentences.append([t for t in tokenize(line) if t not in lm.RESERVED_WORDS])
                lines.append(number)
    return sentences, lines


@click.command(**COMMAND)
@click.option("--input", "-i", "counts_dir", required=True, help="An ngrams dataset (from build ngrams).")
@click.option("--smoothing", "-s", type=click.Choice(lm.SMOOTHING), default="modified-kneser-ney",
              show_default=True, help="The estimator; modified-kneser-ney reproduces KenLM lmplz (unpruned).")
@click.option("--order", "-n", type=click.IntRange(1, 10), default=None,
              help="Model order (default: the order of the counts).")
@click.option("--delta", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="additive: the δ added to the count of every seen n-gram and of every unigram (1 = add-one).")
@click.option("--heldout", default=None,
              help="jelinek-mercer: held-out text (one sentence per line, tokenized like the counts) to tune λ "
                   "per order.")
@click.option("--segmenter", default=None, help="With --heldout: " + SEGMENTER_HELP)
@click.option("--discount-fallback", is_flag=True,
              help="Kneser-Ney / absolute discounting: where count-of-counts leave a discount undefined (tiny "
                   "corpora), use lmplz's fallback 0.5, 1, 1.5 instead of failing.")
@click.option("--output", "-o", required=True, help="Directory to create (model.arpa + manifest.json).")
@click.option("--overwrite", is_flag=True, help="Replace an existing model at --output.")
def build_lm(counts_dir, smoothing, order, delta, heldout, segmenter, discount_fallback, output, overwrite):
    """Estimate a smoothed n-gram language model from exact counts and write it as ARPA.

    Smoothing: additive: SRILM's back-off add-δ (ngram-count -addsmooth): a seen n-gram gets
    (c + δ) / (c(context) + δ|V|), an unseen one backs off to the next lower order; unigrams are
    add-δ over the whole vocabulary. (Textbook add-δ over all |V|^n n-grams has no ARPA back-off
    form.) good-turing, katz (Good-Turing below k=5, back-off),
    jelinek-mercer (λ per order tuned on --heldout), witten-bell, absolute-discounting, kneser-ney
    (interpolated, one discount per order), modified-kneser-ney (interpolated, three discounts per
    order from count-of-counts, Chen & Goodman; equal to KenLM lmplz's estimates).
    """
    configure_logging()
    try:
        manifest = read_manifest(counts_dir)
    except (FileNotFoundError, DatasetError) as e:
        raise click.ClickException(str(e)) from None
    if manifest.get("kind") != "ngrams":
        raise click.ClickException(f"input {counts_dir} is a {manifest.get('kind')} dataset; give the output of "
                                   "build ngrams")
    if order and order > manifest["order"]:
        raise click.ClickException(f"--order {order} is higher than the counts' order {manifest['order']}")
    if smoothing == "jelinek-mercer" and not heldout:
        raise click.ClickException("jelinek-mercer needs --heldout text to tune its λ per order")
    if heldout and not os.path.isfile(heldout):
        raise click.ClickException(f"held-out text {heldout} does not exist")
    if any(m > 1 for m in manifest["params"].get("min_count", [1])):
        raise click.ClickException(f"the counts in {counts_dir} were pruned with --min-count; build lm needs "
                                   "every n-gram (count again without --min-count)")
    try:
        tokenize = tokenizer_for(manifest, segmenter) if heldout else None
    except SegmenterError as e:
        raise click.ClickException(str(e)) from None
    check_output(output, overwrite)
    started = time.monotonic()
    table = load_table(counts_dir)
    if order:
        table = table.filter(pc.less_equal(table.column("order"), order))
    try:
        counts = lm.counts_from_table(table, order)
        kw = {"delta": delta, "discount_fallback": discount_fallback}
        if smoothing == "jelinek-mercer":
            sentences, _ = read_sentences(heldout, tokenize, preparer(manifest))
            kw["lambdas"] = lm.tune_jelinek_mercer(counts, sentences)
        model = lm.build_model(counts, smoothing, **kw)
    except lm.LMError as e:
        raise click.ClickException(str(e)) from None
    estimated = time.monotonic() - started
    tmp = temporary_dir(os.path.abspath(output))
    os.makedirs(tmp)
    try:
        sha256 = lm.write_arpa(model, os.path.join(tmp, ARPA))
        sizes = {str(n): len(p) for n, p in enumerate(model.logprob, 1)}
        write_json(os.path.join(tmp, "manifest.json"), {
            "kind": "lm", "corpusforge_version": __version__,
            "files": [{"file": ARPA, "bytes": os.path.getsize(os.path.join(tmp, ARPA)),
                       "sha256": sha256}],
            "order": model.order, "ngrams": sizes, "estimate": model.info,
            "counts": {"path": os.path.abspath(counts_dir), "shards_sha256": [s["sha256"] for s in manifest["shards"]],
                       "totals": manifest.get("totals", {})},
            "params": {"input": counts_dir, "smoothing": smoothing, "order": model.order, "delta": delta,
                       "heldout": heldout, "discount_fallback": discount_fallback,
                       "units": manifest["params"].get("units", "words"),
                       "segmenter": manifest["params"].get("segmenter", "presegmented"),
                       "text_preparation": text_preparation(manifest["params"])},
        })
        commit(tmp, output)
    except BaseException:
        remove_tree(tmp)
        raise
    total = time.monotonic() - started
    click.echo(f"wrote {output}/{ARPA}: {smoothing}, order {model.order}, "
               + ", ".join(f"{v} {k}-grams" for k, v in sizes.items())
               + f" in {total:.1f} s (estimate {estimated:.1f} s)")


@click.command(context_settings=PLAIN)
@click.argument("model_path", metavar="MODEL")
@input_argument("text", type=click.Path(dir_okay=False))
@click.option("--output", "-o", "--scores", "scores", cls=AliasOption, hidden_aliases=("--scores",), default=None,
              help="Write per-sentence scores here (Arrow IPC stream: line, tokens, oov, log10_prob, perplexity).")
@click.option("--units", type=click.Choice(["model", "presegmented"]), default="model", show_default=True,
              help="How TEXT is tokenized: as the model's counts were (its manifest), or split on whitespace.")
@click.option("--segmenter", default=None, help=SEGMENTER_HELP)
def eval_lm(model_path, text, scores, units, segmenter):
    """Perplexity of TEXT (one sentence per line) under MODEL (a build lm directory or an ARPA file).

    Each line is first prepared as the model's counts were (cleaning, --normalize, --t2s of build ngrams,
    from the manifest). Prints perplexity including and excluding OOV words (as KenLM's query reports them: every word
    and </s> is scored; OOVs are scored as <unk>).
    """
    configure_logging()
    arpa = os.path.join(model_path, ARPA) if os.path.isdir(model_path) else model_path
    if not os.path.isfile(arpa):
        raise click.ClickException(f"model {model_path} is neither a build lm directory nor an ARPA file")
    if not os.path.isfile(text):
        raise click.ClickException(f"text {text} does not exist")
    try:
        manifest = read_manifest(model_path) if os.path.isdir(model_path) else None
        tokenize = str.split if units == "presegmented" else tokenizer_for(manifest, segmenter)
    except (FileNotFoundError, DatasetError, SegmenterError) as e:
        raise click.ClickException(str(e)) from None
    try:
        model = lm.read_arpa(arpa)
    except (lm.LMError, ValueError) as e:
        raise click.ClickException(f"cannot read {arpa}: {e}") from None
    sentences, lines = read_sentences(text, tokenize, preparer(manifest))
    scored = lm.score(model, sentences)
    result = lm.perplexity(scored)
    click.echo(f"{text}: {len(sentences)} sentences, {result['tokens']} tokens (words + </s>), {result['oov']} OOV")
    click.echo(f"perplexity including OOVs: {result['perplexity']:.4f}")
    click.echo(f"perplexity excluding OOVs: {result['perplexity_excluding_oov']:.4f}")
    if scores:
        oov = np.bincount(scored["sentence"], weights=scored["oov"], minlength=len(sentences)).astype(np.int64)
        n = scored["tokens_per_sentence"]
        table = pa.table({"line": pa.array(lines, pa.int64()), "tokens": pa.array(n, pa.int64()),
                          "oov": pa.array(oov), "log10_prob": pa.array(scored["per_sentence"]),
                          "perplexity": pa.array(10 ** (-scored["per_sentence"] / np.maximum(n, 1)))})
        with pa.OSFile(scores, "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=1000)
        click.echo(f"per-sentence scores: {scores}")


if __name__ == "__main__":
    sys.exit(build_lm())
