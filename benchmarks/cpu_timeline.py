"""Where a command's CPU goes over time: every process of its tree, sampled from /proc.

    python benchmarks/cpu_timeline.py [--every 1.0] -- corpusforge build ... --direct_num_workers 2

Prints one line per interval: seconds since start, cores busy in all, the page cache waiting to be
written back (dirty MB), then the busiest processes (pid:cores). A 2-worker job whose total stays near 1.0 for a stretch has a serial phase there (the
launcher between two Beam pipelines, one worker left with the last units, a merge on one process):
the reason a speed-up falls short of 2x. Linux only (reads /proc/PID/stat).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import time

TICK = os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def dirty_mb() -> float:
    """Page-cache bytes waiting to be written back: near the kernel's dirty limit, writers are throttled."""
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Dirty:")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=float, default=1.0, help="sampling interval in seconds")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    a = parser.parse_args()
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        parser.error("give the command to run after --")
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    last: dict[int, int] = {}
    last_t = start
    while proc.poll() is None:
        time.sleep(a.every)
        now = time.monotonic()
        ticks = {pid: t for pid in tree(proc.pid) if (t := cpu_ticks(pid)) is not None}
        busy = {pid: (t - last.get(pid, 0)) / TICK / (now - last_t) for pid, t in ticks.items()}
        last, last_t = ticks, now
        top = sorted(((c, p) for p, c in busy.items() if c >= 0.05), reverse=True)[:4]
        print(f"{now - start:6.1f}s {sum(busy.values()):4.2f} dirty {dirty_mb():5.0f} MB  " + " ".join(f"{p}:{c:.2f}" for c, p in top), flush=True)
    print(f"exit {proc.returncode} after {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
