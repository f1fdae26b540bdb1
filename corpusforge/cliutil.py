"""What makes the commands behave alike, importable without Beam, torch or pyarrow: -i/--input and
-o/--output everywhere (old spellings kept as hidden aliases), Ctrl-C as exit status 130 with one line,
and the progress line of a build run by the in-process runner."""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time

import click

INTERRUPTED = 130  # 128 + SIGINT, what shells and other tools exit with on Ctrl-C


class AliasOption(click.Option):
    """An option with old spellings that still parse but are not shown in --help."""

    def __init__(self, *args, hidden_aliases: tuple = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.hidden_aliases = set(hidden_aliases)

    def get_help_record(self, ctx):
        shown = [o for o in self.opts if o not in self.hidden_aliases]
        saved, self.opts = self.opts, shown
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = saved


def input_argument(name: str, **kwargs):
    """A command's input as the positional argument `name` or as -i/--input (one of them): `inspect DATASET`
    and `inspect -i DATASET` are the same."""
    metavar = name.upper()

    def merge(ctx, param, value):
        given = ctx.params.pop(f"{name}_option", None)
        if value and given and value != given:
            raise click.UsageError(f"give {metavar} once: as an argument or as --input, not both")
        if not (value or given):
            raise click.UsageError(f"missing {metavar} (an argument or -i/--input)")
        return value or given

    def apply(f):
        f = click.argument(name, required=False, callback=merge, **kwargs)(f)
        # eager: parsed before the argument, whose callback takes its value
        return click.option("--input", "-i", f"{name}_option", metavar=metavar, is_eager=True,
                            help=f"{metavar}, as an option (the same as the argument).", **kwargs)(f)

    return apply


class InterruptibleGroup(click.Group):
    """The top-level group: Ctrl-C anywhere (while a Beam runner's threads work too) ends the process with
    status 130 and one line on stderr, after the command's clean-up ran (its contexts are closed by then:
    the output lock released, temporary data removed)."""

    def invoke(self, ctx):
        # Beam re-raises a KeyboardInterrupt that hit a DoFn as RuntimeError("KeyboardInterrupt [while running
        # ...]") with the whole chain: so whatever ends the run after a SIGINT arrived is the interrupt
        signalled = threading.Event()

        def on_sigint(signum, frame):
            signalled.set()
            logging.disable(logging.CRITICAL)  # the runner logs the interrupted DoFn's traceback before re-raising
            raise KeyboardInterrupt

        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, on_sigint) if main_thread else None
        try:
            return super().invoke(ctx)
        except BaseException as e:
            if signalled.is_set() or isinstance(e, KeyboardInterrupt):
                interrupted()
            raise
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, previous)


def interrupted() -> None:
    """Exit 130 with one line, at once: a runner's worker threads would keep a normal exit waiting."""
    import os

    sys.stdout.flush()
    sys.stderr.write(("\n" if sys.stderr.isatty() else "") + "corpusforge: interrupted (Ctrl-C)\n")
    sys.stderr.flush()
    os._exit(INTERRUPTED)


class _Lines:
    """A log file gets the progress as lines, not as one line rewritten with carriage returns."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip("\n")
        if text.strip():
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


class BuildProgress:
    """One progress line (tqdm, on stderr) of a build run by the in-process runner: the share of the input
    read, from the readers' ThroughputLog (corpusforge.beam.counting.report_progress), with rate and ETA.
    After the input is read the line stays at 100% while the shards are written."""

    def __init__(self, total: int, unit: str, what: str):
        from tqdm import tqdm

        self.lock = threading.Lock()
        tty = sys.stderr.isatty()
        self.bar = tqdm(total=total, unit=unit, unit_scale=unit == "B", unit_divisor=1024 if unit == "B" else 1000,
                        desc=what, file=sys.stderr if tty else _Lines(sys.stderr), dynamic_ncols=tty,
                        ncols=None if tty else 100, ascii=not tty, mininterval=0.5 if tty else 5.0, leave=True,
                        bar_format="{desc}: {percentage:3.0f}% |{bar}| {n_fmt}/{total_fmt} of input "
                                   "[{elapsed}<{remaining}, {rate_fmt}]{postfix}")
        self.records = 0
        self.started = time.monotonic()

    def __call__(self, done: int, records: int) -> None:
        with self.lock:
            self.records += records
            room = self.bar.total - self.bar.n
            if done and room > 0:
                self.bar.update(min(done, room))
            self.bar.set_postfix_str(f"{self.records:,} records", refresh=False)

    def close(self, complete: bool = True) -> None:
        """complete: the run finished (what the readers could not apportion, e.g. a zip member, is done too)."""
        with self.lock:
            if complete and self.bar.n < self.bar.total:
                self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()
