"""How much two busy cores slow each other here: the same work alone and as two concurrent copies.

    python benchmarks/bench_contention.py [--rounds 2]

Three kinds of work, each timed in CPU seconds: a pure Python loop, numpy sort and gather, and plain
memory copies (200 MB arrays). A copy that takes longer when its twin runs on the other core is sharing
something (memory bandwidth, cache, the host): the ceiling of a 2-worker speed-up for that kind of stage.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time


def work(kind: str) -> float:
    import numpy as np

    started = time.process_time()
    if kind == "python":
        total = 0
        for i in range(30_000_000):
            total += i * i
    elif kind == "numpy":
        rng = np.random.default_rng(0)
        for _ in range(8):
            a = rng.integers(0, 1 << 40, size=10_000_000)
            a.sort()
            np.take(a, rng.permutation(len(a)))
    else:
        a = np.ones(200_000_000, dtype=np.uint8)
        for _ in range(40):
            a.copy()
    return time.process_time() - started


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--work":
        print(f"{work(sys.argv[2]):.2f}")
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    a = parser.parse_args()
    run = [sys.executable, __file__, "--work"]
    print("| work | alone (CPU s) | two at once (CPU s each) | slower by |")
    print("|---|---|---|---|")
    for kind in ("python", "numpy", "memory"):
        for _ in range(a.rounds):
            alone = float(subprocess.run([*run, kind], capture_output=True, text=True, check=True).stdout)
            pair = [subprocess.Popen([*run, kind], stdout=subprocess.PIPE, text=True) for _ in range(2)]
            both = [float(p.communicate()[0]) for p in pair]
            print(f"| {kind} | {alone:.2f} | {both[0]:.2f}, {both[1]:.2f} | {sum(both) / 2 / alone - 1:+.0%} |",
                  flush=True)


if __name__ == "__main__":
    main()
