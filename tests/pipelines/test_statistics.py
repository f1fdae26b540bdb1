"""build stats on real text: plausible Zipf / Heaps numbers, files, comparison, 1 vs 2 workers."""
import json

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
