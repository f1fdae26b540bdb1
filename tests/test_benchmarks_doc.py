"""BENCHMARKS.md opens with the side-by-side table that benchmarks/bench_peers.py wrote, unedited."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- peers table: written by benchmarks/bench_peers.py -->", "<!-- end of peers table -->"


def test_top_table_is_the_results_file():
    doc = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    results = (ROOT / "benchmarks" / "peers" / "results.md").read_text(encoding="utf-8")
    assert doc.index(BEGIN) < 1000, "the side-by-side table must open BENCHMARKS.md"
    assert doc[doc.index(BEGIN) + len(BEGIN):doc.index(END)].strip() == results.strip()


def shown(number: str) -> tuple[float, float]:
    """A printed number and half a unit of its last digit."""
    digits = len(number.split(".")[1]) if "." in number else 0
    return float(number.replace(",", "")), 0.5 * 10 ** -digits


def test_every_row_ran_ours_and_the_peer():
    lines = (ROOT / "benchmarks" / "peers" / "results.md").read_text(encoding="utf-8").splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:] if line.startswith("| ")]
    assert rows and all(len(r) == len(header) for r in rows)
    for r in map(lambda r: dict(zip(header, r)), rows):
        (ours, a), (peer, b) = shown(re.match(r"([\d,.]+) ", r["ours"]).group(1)), shown(
            re.search(r": ([\d,.]+) ", r["peer"]).group(1))
        ratio = float(re.fullmatch(r"\*\*([\d.]+)x\*\*", r["ratio (ours / peer)"]).group(1))
        # the ratio of the two rates in the row, within what their printed digits leave open
        assert (ours - a) / (peer + b) - 0.005 <= ratio <= (ours + a) / (peer - b) + 0.005, r
        assert re.fullmatch(r"[\d,]+ / [\d,]+", r["peak RSS MB ours / peer"]), r
        assert "bench_peers.py --rows" in r["command"], r
