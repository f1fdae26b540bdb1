"""build stats on real text: plausible Zipf / Heaps numbers, files, comparison, 1 vs 2 workers."""
import json

import numpy as np
import pytest

from tests.conftest import DATA, SAMPLE, run_cli
from tests.pipelines.test_ngrams import TWO_WORKERS, shard_bytes

FILES = ("frequencies.arrow", "summary.json", "rank_frequency.png", "heaps.png", "lengths.png", "report.md")


def test_stats_of_real_text_with_comparison_and_two_workers(tmp_path):
    news = tmp_path / "news"
    run_cli("build", "stats", "-i", DATA / "lm" / "news_train.txt", "--format", "pretokenized", "-o", news)
    summary = json.loads((news / "summary.json").read_text())
    assert summary["tokens"] == 60253 and 0.6 < summary["zipf_least_squares"]["exponent"] < 1.3
    # over the power-law tail (ranks 10 .. the last count >= x_min) the line agrees with the MLE's s = 1/(α-1)
    assert summary["zipf_least_squares"]["exponent"] == pytest.approx(summary["zipf_mle"]["zipf_exponent"], abs=0.05)
    assert 1.5 < summary["zipf_mle"]["alpha"] < 2.5 and 0.4 < summary["heaps"]["beta"] < 0.95
    assert 0 < summary["hapax_share_of_types"] < 1
    sample = tmp_path / "sample"
    run_cli("build", "stats", "-i", SAMPLE, "-o", sample, "--compare", news, "--num-shards", 2)
    for name in FILES:
        assert (sample / name).stat().st_size > 0
    report = (sample / "report.md").read_text()
    assert "| | corpora | news_train |" in report  # both corpora, side by side, named by their inputs
    assert "![Heaps](heaps.png)" in report
    manifest = json.loads((sample / "manifest.json").read_text())
    assert [f["file"] for f in manifest["files"]] == list(FILES)
    two = tmp_path / "two"
    run_cli("build", "stats", "-i", SAMPLE, "-o", two, "--compare", news, "--num-shards", 2, "--name", "corpora",
            *TWO_WORKERS)
    assert shard_bytes(sample) == shard_bytes(two)
    for name in ("frequencies.arrow", "summary.json", "report.md"):
        assert (sample / name).read_bytes() == (two / name).read_bytes()


def test_stats_bad_arguments(tmp_path):
    for args, message in [(("--zipf-ranks", "5:2"), "--zipf-ranks"), (("--compare", tmp_path), "not a build stats")]:
        result = run_cli("build", "stats", "-i", SAMPLE, "-o", tmp_path / "x", *args, ok=False)
        assert message in result.output and "Traceback" not in result.output


def test_stats_power_law_fit_at_the_defaults_on_a_synthetic_corpus(tmp_path):
    """5,000 types whose counts are numpy power-law draws with α = 2 (rank-frequency s = 1)."""
    rng = np.random.default_rng(3)
    counts = rng.zipf(2.0, 5000)
    tokens = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    text = tmp_path / "zipf.txt"
    text.write_text("\n".join(" ".join(f"w{t}" for t in line) for line in np.array_split(tokens, len(tokens) // 20)))
    out = tmp_path / "stats"
    result = run_cli("build", "stats", "-i", text, "--format", "pretokenized", "-o", out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tokens"] == counts.sum() and summary["types"] == len(counts)
    fit = summary["zipf_mle"]
    assert fit["alpha"] == pytest.approx(2.0, abs=0.05) and fit["zipf_exponent"] == pytest.approx(1.0, abs=0.05)
    assert fit["x_min"] >= 1 and fit["tail_types"] >= 50
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["summary"]["zipf_mle"]["x_min"] == fit["x_min"]
    assert f"≥ {fit['x_min']} " in (out / "report.md").read_text() and f"counts >= {fit['x_min']}" in result.output


def _figure_inputs(out):
    import pyarrow as pa

    summary = json.loads((out / "summary.json").read_text())
    counts = pa.ipc.open_stream((out / "frequencies.arrow").read_bytes()).read_all().column("count").to_numpy()
    return summary, counts


@pytest.mark.parametrize("units", ["chars", "words"])
def test_stats_plots_fit_the_data_and_name_the_corpus(tmp_path, units):
    """The least-squares Zipf line is drawn over its fitted range only and meets the data at its first rank
    (within 2x; with --units chars it sat 3x above on this text, 30x on the sample wiki, before its range
    stopped at the power-law tail); lengths.png has no bar at the length cap, only a marker with the clipped
    share; legends name the corpus, not the output folder."""
    from corpusforge.beam.wordstats import LENGTH_CAP
    from corpusforge.pipelines.statistics import figures

    out = tmp_path / "out-folder"
    run_cli("build", "stats", "-i", DATA / "text" / "wiki_zh_sample.jsonl", "-o", out, "--units", units)
    summary, counts = _figure_inputs(out)
    figs = figures([(summary, counts)])
    ax = figs["rank_frequency.png"].axes[0]
    data = next(line for line in ax.get_lines() if line.get_label() == "wiki_zh_sample")
    fit = next(line for line in ax.get_lines() if "least-squares fit" in line.get_label())
    ranks, freqs = data.get_data()
    assert list(ranks[:3]) == [1, 2, 3] and sorted(freqs, reverse=True) == list(freqs)  # the data as counted
    x, y = fit.get_data()
    lo, hi = summary["zipf_least_squares"]["rank_range"]
    assert x[0] == pytest.approx(lo) and x[-1] == pytest.approx(hi)
    assert 0.5 < y[0] / freqs[lo - 1] < 2 and 0.5 < y[-1] / freqs[hi - 1] < 2
    assert ax.get_xlabel().startswith("rank") and ax.get_ylabel().startswith("frequency")

    lengths = figs["lengths.png"].axes
    assert len(lengths) == (2 if units == "chars" else 4)
    for ax in lengths:
        level = "sentence" if "sentence" in ax.get_title() else "document"
        what = f"{level}_{'chars' if 'characters' in ax.get_title() else 'tokens'}"
        hist = {int(k): v for k, v in summary["length_histograms"][what].items()}
        total, at_cap = sum(hist.values()), hist.get(LENGTH_CAP, 0)
        (bars,) = ax.patches
        shares, edges = bars.get_data().values, bars.get_data().edges
        assert edges[-1] <= LENGTH_CAP  # no bar at (or past) the cap
        assert shares.sum() == pytest.approx(1 - at_cap / total)
        marker = [line for line in ax.get_lines() if line.get_marker() == ">"]
        assert [m.get_ydata()[0] for m in marker] == ([pytest.approx(at_cap / total)] if at_cap else [])
        assert "per " + level in ax.get_xlabel() and ax.get_ylabel() == f"share of {level}s"
        names = [t.get_text() for t in ax.get_legend().get_texts()]
        assert names[0] == "wiki_zh_sample" and not any("out-folder" in n for n in names)
    assert "| | wiki_zh_sample |" in (out / "report.md").read_text()
