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
    assert summary["tokens"] == 60253 and 0.8 < summary["zipf_least_squares"]["exponent"] < 1.3
    assert 1.5 < summary["zipf_mle"]["alpha"] < 2.5 and 0.4 < summary["heaps"]["beta"] < 0.95
    assert 0 < summary["hapax_share_of_types"] < 1
    sample = tmp_path / "sample"
    run_cli("build", "stats", "-i", SAMPLE, "-o", sample, "--compare", news, "--num-shards", 2)
    for name in FILES:
        assert (sample / name).stat().st_size > 0
    report = (sample / "report.md").read_text()
    assert "| | sample | news |" in report  # both corpora, side by side
    assert "![Heaps](heaps.png)" in report
    manifest = json.loads((sample / "manifest.json").read_text())
    assert [f["file"] for f in manifest["files"]] == list(FILES)
    two = tmp_path / "two"
    run_cli("build", "stats", "-i", SAMPLE, "-o", two, "--compare", news, "--num-shards", 2, "--name", "sample",
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
