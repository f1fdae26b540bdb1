"""`build pretraining --resume` after a SIGKILL: the resumed run's wall time beside the full run's.

    python benchmarks/bench_resume.py [--scale 10] [--workers 1] [--kill-at 0.8]

From raw text (the wiki + news text of ../shared/corpora, `--scale` copies, bench_pretraining's settings):
1. a full build, timed (T);
2. the same build in a new process group, SIGKILLed (launcher and workers) at --kill-at x T;
3. the same command with --resume, timed (R): its dataset must equal run 1's, every file by sha256.
Each run is a fresh process, so times include interpreter and Beam start-up. Prints Markdown for
BENCHMARKS.md (the target: R <= 0.4 T at a kill at 0.8 T).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_documents import ROOT, WORK  # noqa: E402
from bench_pretraining import SETTINGS, VOCAB, wiki_news  # noqa: E402


def digests(out: Path) -> dict:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*") if p.is_file()}


def build(source: Path, out: Path, workers: int, *extra: str, kill_after: float | None = None) -> float:
    """Wall seconds of one build in a fresh process (SIGKILLed with its workers after kill_after s)."""
    args = [sys.executable, "-m", "corpusforge.cli", "build", "pretraining", "-i", str(source), "-o", str(out),
            "-t", str(VOCAB), "--no-dedup", *SETTINGS, f"--direct_num_workers={workers}", *extra]
    if workers > 1:
        args.append("--direct_running_mode=multi_processing")
    os.sync()
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode})")
    return time.perf_counter() - started


def finished(out: Path) -> dict:
    """What the killed run left finished: its completion markers per stage."""
    done = {}
    for tmp in out.parent.glob(f".{out.name}.incomplete-*"):
        for stage in (tmp / "_done").iterdir():
            if stage.is_dir():
                done[stage.name] = len(list(stage.glob("*.json")))
    return done


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--kill-at", type=float, default=0.8)
    a = parser.parse_args()
    source = wiki_news(a.corpus, a.scale)
    size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file()) / 1e6
    full, resumed = WORK / "resume_full", WORK / "resume_killed"
    for out in (full, resumed):
        shutil.rmtree(out, ignore_errors=True)
        for tmp in out.parent.glob(f".{out.name}.*"):
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    load = os.getloadavg()[0]
    total = build(source, full, a.workers)
    killed = build(source, resumed, a.workers, kill_after=a.kill_at * total)
    left = finished(resumed)
    again = build(source, resumed, a.workers, "--resume")
    same = digests(full) == digests(resumed)
    print("| input | scale | input MB | workers | full run s | killed at s | finished when killed | resume s "
          "| resume / full | dataset equal |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    done = ", ".join(f"{k} {v}" for k, v in sorted(left.items()) if k != "fingerprint.json") or "nothing"
    print(f"| raw text | {a.scale}x | {size:.1f} | {a.workers} | {total:.1f} | {killed:.1f} | {done} | {again:.1f} "
          f"| {again / total:.2f} | {'yes (sha256 of every file)' if same else 'NO'} |")
    print(f"\nload average (1 min) {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    if not same:
        raise SystemExit("the resumed dataset differs from the full run's")


if __name__ == "__main__":
    main()
