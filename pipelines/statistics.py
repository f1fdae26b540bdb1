"""stats: a corpus -> unigram frequencies, Zipf and Heaps fits, length distributions, plots and a report.

    python -m corpusforge.pipelines.statistics --input CORPUS_OR_DOCS --output OUT [--compare OTHER_STATS]
    corpusforge build stats  (the same command)

A Beam pass counts every token exactly (with the first Heaps bucket it occurs in) and the length
histograms; the launcher then fits and draws (the frequency table is one row per type, small next
to the corpus). OUT holds:

    data-*.arrow        unigram counts sorted by token (order, ngram, count, first: Heaps bucket)
    frequencies.arrow   rank, token, count (rank 1 = most frequent; ties by token)
    summary.json        tokens, types, hapax share, type/token ratio, Zipf fits, Heaps fit and curve, lengths
    rank_frequency.png, heaps.png, lengths.png, report.md   (with --compare: both corpora)
"""
from __future__ import annotations

import hashlib
import io
import json
import sys

import click
import numpy as np
import pyarrow as pa

from corpusforge.dataset.reader import load_table, read_manifest
from corpusforge.dataset.writer import commit, json_bytes, remove_tree, write_bytes, write_json
from corpusforge.objectives import zipf
from corpusforge.pipelines.beamjob import (BEAM_HELP, input_options, output_options, prepare_job, print_data_movement,
                               print_summary, resume_option, run_job)
from corpusforge.pipelines.ngrams import COUNT_COMMAND, count_options, make_units, read_for_counting

def build_stats(pipeline, job, units, output, extra):
    """ReadDocuments -> CountWords (partial counts per worker) -> unigram shards sorted by token, in `output`."""
    from corpusforge.beam.ngrams import WriteCounts
    from corpusforge.beam.wordstats import CountWords
    docs = read_for_counting(pipeline, job.source, job.markers)
    counter = CountWords(units, spill_dir="", sample_size=256 * job.num_shards)
    return docs | "WriteCounts" >> WriteCounts(counter, output, "stats", job.num_shards, job.params, 1, None, extra,
                                                job.tmp, job.markers)


def compute_summary(directory: str, ranks: tuple[int, int], name: str) -> tuple[dict, pa.Table]:
    from corpusforge.beam.wordstats import HEAPS_BUCKETS, LENGTH_CAP
    manifest = read_manifest(directory)
    table = load_table(directory)
    counts = table.column("count").to_numpy()
    order = np.lexsort((np.arange(len(counts)), -counts))  # count descending; ties stay in token order
    freq = pa.table({"rank": pa.array(np.arange(1, len(counts) + 1, dtype=np.int64)),
                     "token": table.column("ngram").take(pa.array(order)),
                     "count": pa.array(counts[order])})
    hist = manifest.get("histograms", {})
    tokens_per_bucket = np.zeros(HEAPS_BUCKETS, np.int64)
    for bucket, n in hist.get("heaps", {}).items():
        tokens_per_bucket[int(bucket)] = n
    heaps_tokens, heaps_types = zipf.heaps_curve(tokens_per_bucket, table.column("first").to_numpy())
    lengths = {what: {int(k): v for k, v in h.items()} for what, h in hist.get("len", {}).items()}
    mle = zipf.fit_power_law_mle(counts)  # x_min chosen by the KS method
    length_stats = {}
    for what, h in lengths.items():
        values, weights = np.array(list(h.keys())), np.array(list(h.values()))
        if weights.sum():
            cdf = np.cumsum(weights[np.argsort(values)]) / weights.sum()
            sorted_values = np.sort(values)
            length_stats[what] = {"count": int(weights.sum()), "mean": float((values * weights).sum() / weights.sum()),
                                  "median": int(sorted_values[np.searchsorted(cdf, 0.5)]),
                                  "p99": int(sorted_values[np.searchsorted(cdf, 0.99)]),
                                  "capped_at": LENGTH_CAP}
    summary = {
        "name": name, **zipf.summary(counts),
        "units": manifest["params"].get("units"), "segmenter": manifest["params"].get("segmenter"),
        "documents": manifest["input"]["kept"], "sentences": manifest.get("totals", {}).get("sentences", 0),
        "characters": manifest.get("totals", {}).get("characters", 0),
        "zipf_least_squares": zipf.fit_zipf_least_squares(counts, ranks, mle["x_min"]),
        "zipf_mle": mle,
        "heaps": {**zipf.fit_heaps(heaps_tokens, heaps_types), "tokens": heaps_tokens.tolist(),
                  "types": heaps_types.tolist()},
        "lengths": length_stats,
        "length_histograms": {what: {str(k): v for k, v in sorted(h.items())} for what, h in lengths.items()},
    }
    return summary, freq


UNIT_NAMES = {"words": "words", "chars": "characters"}
LENGTH_PANELS = (("sentence_tokens", "sentence", None), ("sentence_chars", "sentence", "chars"),
                 ("document_tokens", "document", None), ("document_chars", "document", "chars"))
LENGTH_BINS = 40  # log-spaced bins from 1 to LENGTH_CAP: on a log axis a bin per integer is noise


def figures(runs: list[tuple[dict, np.ndarray]]) -> dict:
    """The three plots as matplotlib Figures, keyed by file name (draw() renders them; tests read their data)."""
    from corpusforge.beam.wordstats import LENGTH_CAP
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    from matplotlib import ticker

    unit = " or ".join(dict.fromkeys(UNIT_NAMES.get(s.get("units"), "tokens") for s, _ in runs))  # compared ones too
    words = [s for s, _ in runs if s.get("units") != "chars"]
    token_unit = UNIT_NAMES.get(words[0].get("units"), "tokens") if words else unit
    out = {}
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for s, freqs in runs:
        r = np.arange(1, len(freqs) + 1)
        (data,) = ax.loglog(r, freqs, ".", markersize=2, label=s["name"])
        fit = s["zipf_least_squares"]
        lo, hi = fit["rank_range"]
        x = np.geomspace(lo, hi, 50)  # the fitted range only
        ax.loglog(x, 10 ** fit["log10_c"] * x ** -fit["exponent"], "--", color=data.get_color(), linewidth=1.2,
                  label=f"{s['name']}: least-squares fit, s = {fit['exponent']:.3f} (ranks {lo}-{hi})")
    ax.set(xlabel=f"rank (1 = most frequent of the {unit})", ylabel="frequency (occurrences in the corpus)",
           title="Rank-frequency (Zipf)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out["rank_frequency.png"] = fig
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for s, _ in runs:
        h = s["heaps"]
        (curve,) = ax.plot(h["tokens"], h["types"], label=s["name"])
        n = np.asarray(h["tokens"], np.float64)
        if len(n) and np.isfinite(h["k"]):
            ax.plot(n, h["k"] * n ** h["beta"], ":", color=curve.get_color(),
                    label=f"{s['name']}: fit K·N^β, K = {h['k']:.2f}, β = {h['beta']:.3f}")
    ax.set(xlabel=f"{unit} read (N, documents in seeded order)", ylabel=f"distinct {unit} seen",
           title="Heaps: vocabulary growth along the corpus")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out["heaps.png"] = fig
    # with --units chars the token lengths are the character lengths: one pair of panels, not two equal ones
    panels = [p for p in LENGTH_PANELS if p[2] or any(s.get("units") != "chars" for s, _ in runs)]
    fig, axes = plt.subplots(len(panels) // 2, 2, figsize=(10, 3.5 * (len(panels) // 2)), squeeze=False)
    edges = np.unique(np.round(np.geomspace(1, LENGTH_CAP, LENGTH_BINS + 1)))
    for ax, (what, level, measure) in zip(axes.flat, panels):
        measured = "characters" if measure == "chars" else token_unit
        shortest = LENGTH_CAP
        for s, _ in runs:
            if not measure and s.get("units") == "chars":
                continue  # its token lengths are character lengths: shown in the characters panel
            h = {int(k): v for k, v in s["length_histograms"].get(what, {}).items()}
            total = sum(h.values())
            if not total:
                continue
            lengths = np.array(sorted(h))
            counts = np.array([h[k] for k in lengths], np.float64)
            below = lengths < LENGTH_CAP  # LENGTH_CAP holds every longer one too: a marker, not a bar
            share, _ = np.histogram(np.maximum(lengths[below], 1), bins=edges, weights=counts[below] / total)
            bars = ax.stairs(share, edges, label=s["name"])
            shortest = min(shortest, max(1, lengths[0]))
            clipped = counts[~below].sum() / total
            if clipped:
                ax.plot([LENGTH_CAP], [clipped], marker=">", linestyle="none", color=bars.get_edgecolor(),
                        label=f"{s['name']}: {clipped:.1%} at ≥ {LENGTH_CAP} (counted at the cap)")
        ax.axvline(LENGTH_CAP, color="grey", linestyle=":", linewidth=0.8)
        ax.set(xscale="log", xlim=(shortest / 1.5, LENGTH_CAP * 1.5), title=f"{level} length in {measured}",
               xlabel=f"{measured} per {level} (log-spaced bins)", ylabel=f"share of {level}s")
        wide = LENGTH_CAP / shortest > 300  # 1-2-5 ticks over more than two decades would overlap
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.legend(fontsize=7)
    fig.tight_layout()
    out["lengths.png"] = fig
    return out


def draw(runs: list[tuple[dict, np.ndarray]]) -> dict[str, bytes]:
    """The three plots as PNG bytes (written through FileSystems by the caller, so OUT may be gs://)."""
    import matplotlib.pyplot as plt

    pngs = {}
    for name, fig in figures(runs).items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        pngs[name] = buf.getvalue()
    return pngs


def corpus_name(inputs) -> str:
    """The corpus the inputs name, for legends and the report: their folder or file names (a glob by its
    folder), without extensions."""
    names = []
    for given in inputs:
        path = str(given).rstrip("/")
        if any(c in path for c in "*?["):
            path = path[:min(path.index(c) for c in "*?[" if c in path)].rstrip("/")
            path = path.rsplit("/", 1)[0] if "/" in path else path
        base = path.rsplit("/", 1)[-1] or path
        while "." in base.strip(".") and base.rsplit(".", 1)[-1].lower() in (
                "json", "jsonl", "txt", "gz", "bz2", "xz", "zst", "zip", "parquet", "arrow"):
            base = base.rsplit(".", 1)[0]
        if base and base not in names:
            names.append(base)
    return " + ".join(names) or "corpus"


def report(summaries: list[dict]) -> str:
    from corpusforge.beam.wordstats import LENGTH_CAP
    def row(label, fn):
        return f"| {label} | " + " | ".join(fn(s) for s in summaries) + " |\n"

    head = "| | " + " | ".join(s["name"] for s in summaries) + " |\n|---|" + "---|" * len(summaries) + "\n"
    body = "".join([
        row("units", lambda s: f"{s['units']} ({s['segmenter']})"),
        row("documents / sentences", lambda s: f"{s['documents']:,} / {s['sentences']:,}"),
        row("tokens / types", lambda s: f"{s['tokens']:,} / {s['types']:,}"),
        row("type/token ratio", lambda s: f"{s['type_token_ratio']:.4f}"),
        row("hapax (share of types / tokens)", lambda s: f"{s['hapax']:,} ({s['hapax_share_of_types']:.1%} / "
                                                        f"{s['hapax_share_of_tokens']:.2%})"),
        row("Zipf s, least squares (ranks, R²)", lambda s: f"{s['zipf_least_squares']['exponent']:.3f} "
                                                           f"({s['zipf_least_squares']['rank_range'][0]}-"
                                                           f"{s['zipf_least_squares']['rank_range'][1]}, "
                                                           f"{s['zipf_least_squares']['r2']:.3f})"),
        row("power-law MLE α ± se, counts ≥ x_min (types; KS) → s = 1/(α-1)", lambda s: (
            f"{s['zipf_mle']['alpha']:.3f} ± {s['zipf_mle']['alpha_stderr']:.3f}, "
            f"≥ {s['zipf_mle'].get('x_min') or '-'} "
            f"({s['zipf_mle'].get('tail_types', '-'):,}; {s['zipf_mle']['ks']:.3f}) → "
            f"{s['zipf_mle']['zipf_exponent']:.3f}")),
        row("Heaps K, β (R²)", lambda s: f"{s['heaps']['k']:.2f}, {s['heaps']['beta']:.3f} ({s['heaps']['r2']:.3f})"),
        *[row(f"{w.replace('_', ' ')}: mean / median / p99", lambda s, w=w: (
            f"{s['lengths'][w]['mean']:.1f} / {s['lengths'][w]['median']} / {s['lengths'][w]['p99']}"
            if w in s["lengths"] else "-")) for w in ("sentence_tokens", "sentence_chars", "document_tokens",
                                                      "document_chars")],
    ])
    return ("# Corpus statistics\n\n" + head + body +
            "\nZipf least squares: log10 frequency on log10 rank over the stated rank range. Power-law MLE: "
            "discrete MLE of P(count = k) ~ k^-α for the counts k ≥ x_min, x_min chosen as the one whose fit "
            "has the smallest Kolmogorov-Smirnov distance to the data (Clauset, Shalizi & Newman 2009); "
            "types = how many types have such counts, KS = that distance. "
            "Heaps: types = K · tokens^β along the corpus in seeded document order. "
            f"Lengths above {LENGTH_CAP} are counted at {LENGTH_CAP}.\n\n"
            "![rank-frequency](rank_frequency.png)\n\n![Heaps](heaps.png)\n\n![lengths](lengths.png)\n")


@click.command(**COUNT_COMMAND, epilog=BEAM_HELP)
@click.option("--zipf-ranks", default="10:10000", show_default=True,
              help="Rank range LO:HI of the least-squares Zipf fit (clipped to the vocabulary).")
@click.option("--compare", "compare_dir", default=None, help="Another build stats output to put beside this one.")
@click.option("--name", default=None,
              help="This corpus's name in the report and the plots' legends (default: the inputs' names).")
@count_options
@input_options
@output_options
@resume_option
def main(zipf_ranks, compare_dir, name, units, segmenter, user_dict, **kw):
    """Corpus statistics: frequencies, Zipf and Heaps fits, lengths, hapax share; plots and report.md.

    Defaults are --min-chars 0 and --no-dedup, as in build ngrams: the corpus is measured as given.
    """
    from apache_beam.io.filesystems import FileSystems
    try:
        lo, hi = (int(x) for x in zipf_ranks.split(":"))
        if not 1 <= lo < hi:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"{zipf_ranks!r} is not LO:HI with 1 <= LO < HI", param_hint="--zipf-ranks") from None
    if compare_dir and not FileSystems.exists(f"{compare_dir}/summary.json"):
        raise click.ClickException(f"--compare {compare_dir} is not a build stats output (no summary.json)")
    job = prepare_job(kw)
    unit_rule, unit_name = make_units(units, segmenter, user_dict, kw.get("fmt") or job.params["format"])
    job.params.update(kind="stats", units=units, segmenter=unit_name, user_dict=user_dict, zipf_ranks=[lo, hi],
                      compare=compare_dir)
    final = job.output.rstrip("/")
    extra = {"units": units, "segmenter": unit_rule.segmenter.fingerprint()}
    files = []

    def put(name: str, data: bytes) -> None:
        write_bytes(f"{job.output}/{name}", data)
        files.append({"file": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    counted = None

    def build(pipeline):
        nonlocal counted
        # the counts are committed beside the run's temporary directory (job.tmp, adopted by --resume), the report
        # added, then all moves to final
        job.output = counted = f"{job.tmp}-stats"
        return build_stats(pipeline, job, unit_rule, job.output, extra)

    try:
        run_job(job, build, report=False)  # the stage's path is not the output's: reported once committed
        summary, freq = compute_summary(job.output, (lo, hi), name or corpus_name(job.params["inputs"]))
        stream = pa.BufferOutputStream()
        with pa.ipc.new_stream(stream, freq.schema) as writer:
            writer.write_table(freq, max_chunksize=1000)
        put("frequencies.arrow", stream.getvalue().to_pybytes())
        put("summary.json", json_bytes(summary))
        runs = [(summary, freq.column("count").to_numpy())]
        summaries = [summary]
        if compare_dir:
            with FileSystems.open(f"{compare_dir}/summary.json") as f:
                other = json.load(f)
            with FileSystems.open(f"{compare_dir}/frequencies.arrow") as f:
                other_freq = pa.ipc.open_stream(f.read()).read_all()
            runs.append((other, other_freq.column("count").to_numpy()))
            summaries.append(other)
        for png_name, data in draw(runs).items():
            put(png_name, data)
        put("report.md", report(summaries).encode())
        manifest = read_manifest(job.output)
        manifest["files"] = files
        manifest["summary"] = {k: v for k, v in summary.items() if k not in ("heaps", "length_histograms")}
        write_json(f"{job.output}/manifest.json", manifest)
        commit(job.output, final)
    finally:
        if counted:
            remove_tree(counted)
    print_summary(manifest, final, job.seconds, job.input_bytes)
    print_data_movement(job.result, job.input_bytes)
    click.echo(f"  {summary['tokens']:,} tokens, {summary['types']:,} types, Zipf s = "
               f"{summary['zipf_least_squares']['exponent']:.3f} (least squares), "
               f"{summary['zipf_mle']['zipf_exponent']:.3f} (MLE, counts >= {summary['zipf_mle']['x_min']}), "
               f"Heaps β = {summary['heaps']['beta']:.3f}; "
               f"{final}/report.md")


if __name__ == "__main__":
    sys.exit(main())
