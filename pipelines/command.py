"""What every command shares and can import without Apache Beam (seconds of start-up): the click command class, the
output checks and lock, logging. build lm and eval lm use only this; the Beam commands add corpusforge.pipelines.beamjob."""
from __future__ import annotations

import errno
import fcntl
import functools
import logging
import os
import re
import uuid

import click

from corpusforge.dataset.empty import EmptyBuild
from corpusforge.errors import BadOutput, OutputBusy, OutputExists, WriteFailed
from corpusforge.dataset.writer import UnsafeOutput, output_exists, remove_tree, replace_problem

log = logging.getLogger("corpusforge")

# OS errors only writing meets, as one sentence each (an unwritable output is found before any work, when
# the lock file is created; other errors keep their traceback: they are bugs)
WRITE_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                errno.EROFS: "the file system is read-only"}
# options that name files a command reads: none of them may be inside the output or contain it
PATH_OPTIONS = ("inputs", "tokenizer_path", "user_dict", "vocab_path", "compare_dir", "counts_dir", "heldout")


class Command(click.Command):
    """A build command: an unsafe output or a write error raised anywhere in the run (a Beam worker
    included, whose exception the runner wraps) ends it with one sentence instead of a traceback."""

    def parse_args(self, ctx, args):
        # click orders ctx.params by the order the options were typed in, and the manifest records the build
        # parameters in that order: declaration order instead, so `--seed 7 --num-shards 2`, its reverse and
        # corpusforge.build(seed=7, num_shards=2) write the same manifest bytes
        rest = super().parse_args(ctx, args)
        order = [p.name for p in self.get_params(ctx)]
        ctx.params = {**{k: ctx.params[k] for k in order if k in ctx.params}, **ctx.params}
        return rest

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EmptyBuild as e:  # raised in a worker: the runner may have appended "[while running ...]"
            raise EmptyBuild(failure_sentence(e, None) or e.message) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:
            sentence = failure_sentence(e, ctx.params.get("output"))
            if sentence is None:
                raise
            kind = EmptyBuild if sentence.startswith("nothing to write") else \
                BadOutput if sentence.endswith("refusing to replace it") else WriteFailed
            raise kind(sentence) from None


COMMAND = {"cls": Command,
           "context_settings": {"ignore_unknown_options": True, "allow_extra_args": True,
                                "help_option_names": ["-h", "--help"], "max_content_width": 100}}


def failure_sentence(error: BaseException, output: str | None) -> str | None:
    """The one sentence for an UnsafeOutput or a WRITE_ERRORS OSError in `error`'s chain or, where a
    runner re-raised it as text, in its message; None for anything else."""
    seen, e = [], error
    while e is not None and e not in seen:
        seen.append(e)
        if isinstance(e, UnsafeOutput):
            return str(e)
        if isinstance(e, OSError) and e.errno in WRITE_ERRORS:
            return f"cannot write {output or e.filename}: {WRITE_ERRORS[e.errno]} ({e.strerror}); nothing was written"
        e = e.__cause__ or e.__context__
    text = str(error)
    match = re.search(r"UnsafeOutput: (output .*?; refusing to replace it)", text)
    if match:
        return match.group(1)
    # the worker's EmptyBuild, whose message a runner extends ("[while running ...]") or re-raises as text
    # (a traceback's text also quotes the raising line, whose f-string braces tell it apart)
    match = re.search(r"(nothing to write: [^{}\n]*?--allow-empty to write an empty dataset)", text)
    if match and (EmptyBuild.__name__ in text or any(isinstance(x, EmptyBuild) for x in seen)):
        return match.group(1)
    for code, reason in WRITE_ERRORS.items():
        if f"[Errno {code}]" in text:
            return f"cannot write {output}: {reason} ({os.strerror(code)}); nothing was written"
    return None


def check_output(output: str, overwrite: bool, inputs=(), resume: bool = False) -> None:
    """The one check of a command's output, before any work: it is a usable path, no input (the given
    `inputs` and the current command's PATH_OPTIONS) is inside it or contains it, an existing one is
    replaced only with --overwrite and only if it is provably a corpusforge dataset, and this run
    holds its lock (see lock_output) until the click command ends (called outside one: until the process
    ends). Object-store outputs get the same overwrite rule but no lock. With `resume` the killed runs'
    temporary data stays (see resume_dir). Raises ClickException with one sentence."""
    if not output.strip():
        raise BadOutput("--output is empty; give the directory to create")
    ctx = click.get_current_context(silent=True)
    paths = list(inputs)
    for key in PATH_OPTIONS if ctx is not None else ():
        value = ctx.params.get(key)
        paths += list(value) if isinstance(value, (list, tuple)) else [value] if value else []
    if resume and "://" in output:
        raise BadOutput(f"--resume needs a local output; {output} is not one")
    if "://" not in output:
        check_inputs(output, paths)
        # first: a second build is told that, whatever the output holds
        lock = lock_output(output, keep_temporaries=resume)
        if ctx is not None:
            ctx.call_on_close(lock.release)
    if output_exists(output):
        if not overwrite:
            raise OutputExists(f"output {output} already exists; pass --overwrite to replace it")
        problem = replace_problem(output)
        if problem:
            raise BadOutput(f"output {output} {problem}; refusing to replace it")


def check_inputs(output: str, inputs) -> None:
    """Neither an input inside the output nor the output inside an input, symbolic links resolved. A glob
    counts by the files it matched (given too), except that one with `**` reaches all below its fixed part."""
    out = os.path.realpath(output)
    for given in map(str, inputs):
        path = given
        if "://" in path:
            continue
        if any(c in path for c in "*?["):
            if "**" not in path:
                continue
            path = os.path.dirname(path[:min(path.index(c) for c in "*?[" if c in path)]) or "."
        if not os.path.lexists(path):
            continue
        real = os.path.realpath(path)
        if real == out or real.startswith(out + os.sep):
            raise BadOutput(f"input {given} is inside the output {output}; choose another output")
        if out.startswith(real.rstrip(os.sep) + os.sep):
            raise BadOutput(f"output {output} is inside the input {given}; choose an output outside it")


def temporary_dir(output: str) -> str:
    """A new name for a run's temporary data, beside the output: `.NAME.incomplete-XXXXXXXX`, the one
    pattern every run's temporary data follows (see Lock.remove_temporaries)."""
    output = output.rstrip("/")
    parent, _, name = output.rpartition("/")
    return f"{parent + '/' if parent else ''}.{name}.incomplete-{uuid.uuid4().hex[:8]}"


def resume_dir(output: str, fingerprint: dict, read_fingerprint) -> str | None:
    """For --resume (the caller holds the lock, taken with keep_temporaries): the newest temporary directory a
    killed run left whose fingerprint (`read_fingerprint(dir)`, the inputs and options it was started with)
    equals `fingerprint`; None if no killed run left one. Raises ClickException with one sentence if killed runs
    left only ones made with other inputs or options."""
    parent, name = os.path.split(os.path.abspath(output.rstrip("/")))
    pattern = re.compile(rf"\.{re.escape(name)}\.incomplete-[0-9a-f]{{8}}")
    found = []
    for entry in os.listdir(parent):
        path = os.path.join(parent, entry)
        if pattern.fullmatch(entry) and os.path.isdir(path) and not os.path.islink(path):
            theirs = read_fingerprint(path)
            if theirs is not None:
                found.append((os.stat(path).st_mtime_ns, entry, theirs))
    for _, entry, theirs in sorted(found, reverse=True):
        if theirs == fingerprint:
            return os.path.join(os.path.dirname(output.rstrip("/")), entry)
    if found:
        theirs = max(found)[2]
        differs = [k for k in sorted(set(theirs) | set(fingerprint)) if theirs.get(k) != fingerprint.get(k)]
        raise click.ClickException(f"cannot resume {output}: the interrupted build had other inputs or options "
                                   f"({', '.join(map(str, differs))} differ); run it again without --resume")
    return None


class Lock:
    """A held lock on a local output: fcntl.flock on `.NAME.lock` beside it. The kernel drops it when
    the process ends, however it ends (kill -9 too), so a lock is never stale; a run that ends
    normally deletes the lock file (while holding it: see lock_output's inode check)."""

    def __init__(self, output: str, path: str, fd: int, keep_temporaries: bool = False):
        """keep_temporaries (--resume): no temporary data is removed, at the start or at the end, so a refused or
        failed resume keeps the killed run's work for the next; the next run without --resume removes it."""
        self.output, self.path, self.fd = os.path.abspath(output.rstrip("/")), path, fd
        self.keep_temporaries = keep_temporaries

    def remove_temporaries(self, own: bool = False) -> None:
        """Deletes every `.NAME.incomplete-XXXXXXXX[-suffix]` beside the output. Only a run holding the lock
        may: then each is its own or one a killed run left (a live run holds the lock). own: at the run's end,
        when they are its own (a failed or interrupted run's): not worth a log line."""
        parent, name = os.path.split(self.output)
        pattern = re.compile(rf"\.{re.escape(name)}\.incomplete-[0-9a-f]{{8}}(-[\w-]*)?")
        try:
            entries = os.listdir(parent)
        except OSError:  # the parent went away during the run: nothing of ours is left in it
            return
        for entry in entries:
            if pattern.fullmatch(entry):
                log.log(logging.DEBUG if own else logging.INFO, "removing temporary data %s",
                        os.path.join(parent, entry))
                remove_tree(os.path.join(parent, entry))

    def release(self) -> None:
        if self.fd is not None:
            if not self.keep_temporaries:
                self.remove_temporaries(own=True)
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            os.close(self.fd)  # closing the file releases the flock
            self.fd = None


def lock_output(output: str, keep_temporaries: bool = False) -> Lock:
    """Takes the output's lock (creating its parent directory) and removes what killed runs left (unless
    keep_temporaries: --resume adopts it); one sentence if the path cannot be written or another run holds the lock."""
    parent, name = os.path.split(os.path.abspath(output.rstrip("/")))
    if not name:
        raise BadOutput(f"output {output} is not a directory that can be created")
    lock_path = os.path.join(parent, f".{name}.lock")
    for _ in range(3):  # the lock file can be deleted by a run ending between our open and flock: open again
        try:
            os.makedirs(parent, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except (FileExistsError, NotADirectoryError):
            blocker = parent
            while not os.path.lexists(blocker):
                blocker = os.path.dirname(blocker)
            raise BadOutput(f"output {output} cannot be created: {blocker} is a file, not a directory") from None
        except OSError as e:
            raise BadOutput(f"output {output} cannot be created in {parent}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusy(f"output {output} is being built by another corpusforge run (it holds "
                                       f"{lock_path}); wait for it to finish") from None
        except OSError as e:
            os.close(fd)
            raise BadOutput(f"output {output} cannot be locked ({e.strerror}); give a local directory") from None
        try:
            current = os.stat(lock_path, follow_symlinks=False)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fd)
        if current is not None and (current.st_ino, current.st_dev) == (mine.st_ino, mine.st_dev):
            lock = Lock(output, lock_path, fd, keep_temporaries)
            if not keep_temporaries:
                lock.remove_temporaries()
            return lock
        os.close(fd)  # we locked a file another run had just deleted
    raise OutputBusy(f"output {output} is being built by another corpusforge run; wait for it to finish")


@functools.cache
def configure_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("corpusforge").setLevel(logging.INFO)
