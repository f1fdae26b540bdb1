"""When each Beam stage starts: a corpusforge command with the FnApiRunner's bundle log, timestamped.

    python benchmarks/stage_log.py build pretraining -i IN -o OUT --direct_num_workers=2 \
        --direct_running_mode=multi_processing 2>&1 | grep "Running bundle"

Prints "SECONDS  Running bundle for stage NAME" (seconds since this process started) for every bundle the
runner starts, then "SECONDS END". The gap between two stages is the earlier stage's wall time; comparing
1 and 2 workers stage by stage shows which stage scales and which does not (worker start-up before the
first bundle, a stage with fewer work units than workers, a serial step).
"""
from __future__ import annotations

import logging
import sys
import time

T0 = time.monotonic()


class _Since(logging.Formatter):
    def format(self, record):
        return f"{time.monotonic() - T0:7.2f}  {record.getMessage().splitlines()[0][:200]}"


def main():
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Since())
    log = logging.getLogger("apache_beam.runners.portability.fn_api_runner.fn_runner.run_bundle")
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    log.propagate = False
    from corpusforge.cli import main as cli

    sys.argv = ["corpusforge", *sys.argv[1:]]
    try:
        cli()
    finally:
        print(f"{time.monotonic() - T0:7.2f}  END", file=sys.stderr)


if __name__ == "__main__":
    main()
