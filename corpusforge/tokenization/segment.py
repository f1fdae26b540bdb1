"""Word segmentation for whole-word masking: a sentence -> its word spans.

A segmenter returns ``(start, end)`` character offsets into the sentence, in order, non-overlapping,
covering every non-whitespace character (whitespace is left out). Word boundaries for Chinese come
from here; for English and other space-delimited text any of these segmenters keeps a word whole
and the tokenizer's ``##`` continuations fall inside it (corpusforge.tokenization.words).

Segmenters (``get_segmenter(name, user_dict=None)``):

- ``jieba-rs`` (default): jieba's dictionary and algorithm, precise mode with HMM, run by jieba-rs
  through its Python binding ``rjieba``, plus one correction that makes it agree with jieba on
  non-Chinese runs (below).
- ``jieba``: the pure-Python ``jieba`` package itself, precise mode (``jieba.cut(text, HMM=True)``);
  the reference, far slower.
- ``chars``: every non-whitespace character is its own word (a baseline: no whole-word grouping,
  not even of English words).
- ``presegmented``: the text is already segmented, words separated by whitespace (LTP, pkuseg or
  any other segmenter's output joined with spaces); each whitespace-delimited run is one word.
  WordPiece drops the spaces (and a Chinese vocab splits CJK characters anyway), so the token ids
  of such text are those of the unsegmented text.
- ``module:Class``: your own class, built as ``Class()`` (or ``Class(user_dict=...)``); it needs
  a ``name``, ``fingerprint()`` and ``spans(text)`` (see ``Segmenter``) and must pickle. A
  segmenter that produces a word list can return ``align_words(text, words)``.

The jieba segmenters take a jieba user dictionary (``word [freq] [tag]`` per line, UTF-8), read
once at construction (fail fast; gs:// and s3:// paths work) and carried inside the pickled
segmenter, so workers need no access to the file.

Why jieba-rs is the default (BENCHMARKS.md, "Word segmentation", has the measurements): it gives jieba's
segmentation at an order of magnitude jieba's speed, well above the WordPiece tokenizer it feeds, where
pure-Python jieba would take longer than the tokenizer itself. Raw jieba-rs differs from jieba only where the
HMM meets a run of non-Chinese characters that no dictionary word covers: jieba's HMM cuts such a run at every
character other than letters, digits and decimals (``1-2`` -> ``1|-|2``, ``2.4km`` -> ``2.4|km``, ``CX-5`` ->
``CX|-|5``, a URL at every ``.``), jieba-rs keeps the run whole. ``JiebaRsSegmenter`` applies jieba's rule to
such words (no Chinese character, not in the dictionary); what is left is a near-tie in the HMM that jieba-rs's
copy of the model can resolve the other way (with HMM off the two agree on every sentence).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import pickle
import re
import threading
import time
from importlib import metadata
from itertools import accumulate
from typing import Protocol, runtime_checkable

SEGMENTERS = ("jieba-rs", "jieba", "chars", "presegmented")
DEFAULT_SEGMENTER = "jieba-rs"

log = logging.getLogger(__name__)


class SegmenterError(ValueError):
    pass


@runtime_checkable
class Segmenter(Protocol):
    """What the tokenization step needs from a word segmenter."""

    name: str

    def fingerprint(self) -> str:
        """A stable hash of everything that decides the output (for the dataset manifest)."""

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Word spans (start, end) in characters: ordered, non-overlapping, covering all non-whitespace."""


def _fingerprint(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _has_space(text: str) -> bool:
    # every whitespace character other than " " is non-printable; both tests run in C
    return " " in text or not text.isprintable()


def align_words(text: str, words) -> list[tuple[int, int]]:
    """Spans of ``words`` (in order, whitespace between them allowed) in ``text``.

    For segmenters that return a word list (LTP, pkuseg, ...). Whitespace-only words are skipped;
    a word that is not the next text raises SegmenterError.
    """
    spans, pos, n = [], 0, len(text)
    for word in words:
        if not word or word.isspace():
            continue
        while pos < n and text[pos].isspace():
            pos += 1
        if not text.startswith(word, pos):
            raise SegmenterError(f"word {word!r} is not the text at character {pos}: {text[pos:pos + 20]!r}")
        spans.append((pos, pos + len(word)))
        pos += len(word)
    if text[pos:].strip():
        raise SegmenterError(f"words end at character {pos}, before the text does: {text[pos:pos + 20]!r}")
    return spans


class CharSegmenter:
    """Every non-whitespace character is a word of its own."""

    name = "chars"

    def fingerprint(self) -> str:
        return _fingerprint(name=self.name, version=1)

    def spans(self, text: str) -> list[tuple[int, int]]:
        if not _has_space(text):
            return list(zip(range(len(text)), range(1, len(text) + 1)))
        return [(i, i + 1) for i, ch in enumerate(text) if not ch.isspace()]

    def __repr__(self) -> str:
        return "CharSegmenter()"


_NONSPACE = re.compile(r"\S+")


class PresegmentedSegmenter:
    """Text already segmented, words separated by whitespace: each run of non-whitespace is a word."""

    name = "presegmented"

    def fingerprint(self) -> str:
        return _fingerprint(name=self.name, version=1)

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _NONSPACE.finditer(text)]

    def __repr__(self) -> str:
        return "PresegmentedSegmenter()"


# jieba's user dictionary line: word, optional frequency, optional tag (jieba's own re_userdict)
_USERDICT_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")


def read_user_dict(path: str) -> tuple[bytes, list[tuple[str, int | None, str | None]]]:
    """(file bytes, [(word, freq or None, tag or None)]) of a jieba user dictionary; parsed as jieba does."""
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as f:
            data = f.read()
    except Exception as e:  # BeamIOError / OSError: one sentence for the user
        raise SegmenterError(f"user dictionary {path} cannot be read ({e})") from None
    entries = []
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.strip().decode("utf-8").lstrip("\ufeff")
        except UnicodeDecodeError:
            raise SegmenterError(f"user dictionary {path} is not UTF-8 (line {lineno})") from None
        if not line:
            continue
        word, freq, tag = _USERDICT_LINE.match(line).groups()
        entries.append((word, int(freq) if freq else None, tag.strip() if tag else None))
    if not entries:
        raise SegmenterError(f"user dictionary {path} has no words")
    return data, entries


# Loaded dictionaries, one per (implementation, user dictionary) and process: Beam runs many
# DoFn instances (threads) in one worker process and each unpickles its own segmenter.
_LOADED: dict[tuple[str, str], object] = {}
_LOAD_LOCK = threading.Lock()


class _JiebaBase:
    """A jieba implementation with an optional user dictionary; pickles as settings, loads lazily."""

    name = ""
    dist = ""  # the PyPI distribution that implements it
    module = ""
    revision = 1  # of what this class does around the library; part of the fingerprint

    def __init__(self, user_dict: str | None = None, hmm: bool = True):
        if importlib.util.find_spec(self.module) is None:
            raise SegmenterError(f"segmenter {self.name} needs the {self.dist} package: pip install {self.dist}")
        self.user_dict, self.hmm = user_dict, bool(hmm)
        self._user_data, self._entries = read_user_dict(user_dict) if user_dict else (b"", [])
        self._impl = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_impl"] = None  # loaded again, once per process, where it is used
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}(user_dict={self.user_dict!r}, hmm={self.hmm})"

    def fingerprint(self) -> str:
        return _fingerprint(name=self.name, revision=self.revision, library=self.dist, version=_version(self.dist),
                            hmm=self.hmm,
                            user_dict_sha256=hashlib.sha256(self._user_data).hexdigest() if self.user_dict else None)

    def load(self):
        """The loaded implementation (dictionary and user words); at most one load per process."""
        if self._impl is None:
            key = (self.name, hashlib.sha256(self._user_data).hexdigest())
            impl = _LOADED.get(key)
            if impl is None:
                with _LOAD_LOCK:
                    impl = _LOADED.get(key)
                    if impl is None:
                        started = time.perf_counter()
                        impl = _LOADED[key] = self._build()
                        log.info("%s: dictionary loaded in %.2f s (%d user words)", self.name,
                                 time.perf_counter() - started, len(self._entries))
            self._impl = impl
        return self._impl

    def _words(self, text: str) -> list[str]:
        raise NotImplementedError

    def _starts(self, text: str) -> tuple[list[str], list[int]]:
        words = self._words(text)
        starts = list(accumulate(map(len, words), initial=0))
        if starts[-1] != len(text):  # jieba's words always add up to the text; cheap to check
            raise SegmenterError(f"{self.name} returned words that do not add up to the text {text[:40]!r}")
        return words, starts

    def span_starts(self, text: str) -> list[int]:
        """Where each word of spans(text) starts: all the tokenizer's word alignment needs, cheaper."""
        words, starts = self._starts(text)
        if _has_space(text):
            return [start for start, word in zip(starts, words) if not word.isspace()]
        starts.pop()
        return starts

    def words(self, text: str) -> list[str]:
        """The words of spans(text) as strings, with no spans built: what counting words needs, cheaper."""
        words = self._words(text)
        if sum(map(len, words)) != len(text):  # the check _starts makes, without building the offsets
            raise SegmenterError(f"{self.name} returned words that do not add up to the text {text[:40]!r}")
        if _has_space(text):
            return list(filter(str.strip, words))  # drops the whitespace words (words are never empty), in C
        return words

    def spans(self, text: str) -> list[tuple[int, int]]:
        words, ends = self._starts(text)
        spans = list(zip(ends, ends[1:]))
        if _has_space(text):
            spans = [span for span, word in zip(spans, words) if not word.isspace()]
        return spans


class JiebaSegmenter(_JiebaBase):
    """Pure-Python jieba, precise mode: the reference."""

    name, dist, module = "jieba", "jieba", "jieba"

    def _build(self):
        import jieba

        jieba.setLogLevel(logging.WARNING)  # its "Building prefix dict" lines, once per worker, are noise
        tokenizer = jieba.Tokenizer()  # our own: jieba.load_userdict elsewhere in the process cannot change it
        tokenizer.initialize()  # dict.txt from the package (and jieba's marshal cache in the temp dir)
        for word, freq, tag in self._entries:
            tokenizer.add_word(word, freq, tag)
        return tokenizer

    def _words(self, text: str):
        return list(self.load().cut(text, HMM=self.hmm))  # never use_paddle (it pip-installs)


_HAN = re.compile("[\u4e00-\u9fd5]")  # what jieba calls Chinese
_HMM_SPLIT_CHARS = re.compile(r"[+#&._%\-]")  # the non-alphanumerics jieba's Chinese-block regex admits
_HMM_SKIP = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")  # jieba.finalseg.re_skip


class JiebaRsSegmenter(_JiebaBase):
    """jieba-rs (Rust, via rjieba) with jieba's HMM rule for non-Chinese runs: jieba's output, much faster."""

    name, dist, module = "jieba-rs", "rjieba", "rjieba"

    def _build(self):
        import rjieba

        jieba = rjieba.Jieba()  # our own, not rjieba's module-level one that rjieba.add_word changes
        for word, freq, tag in self._entries:
            jieba.add_word(word, freq, tag)  # freq None: jieba-rs's suggest_freq, as jieba's add_word
        return jieba

    def _words(self, text: str) -> list[str]:
        impl = self.load()
        words = impl.cut(text, self.hmm)
        if not self.hmm or not _HMM_SPLIT_CHARS.search(text):
            return words
        # jieba sends a run that its DAG left as single characters to the HMM (finalseg.cut), which
        # keeps letters and digits (and decimals) together and cuts at everything else; jieba-rs
        # keeps the whole run. Such a run is a word with no Chinese character and not in the dictionary.
        out = []
        for word in words:
            if (len(word) > 1 and _HMM_SPLIT_CHARS.search(word) and not _HAN.search(word)
                    and not impl.has_word(word)):
                out.extend(piece for piece in _HMM_SKIP.split(word) if piece)
            else:
                out.append(word)
        return out


_BUILTIN = {"jieba-rs": JiebaRsSegmenter, "jieba": JiebaSegmenter, "chars": CharSegmenter,
            "presegmented": PresegmentedSegmenter}


def get_segmenter(name: str, user_dict: str | None = None, *, hmm: bool = True) -> Segmenter:
    """A segmenter by name (one of SEGMENTERS) or ``module:Class``; fails fast with SegmenterError."""
    cls = _BUILTIN.get(name)
    if cls in (JiebaRsSegmenter, JiebaSegmenter):
        return cls(user_dict=user_dict, hmm=hmm)
    if cls is not None:
        if user_dict:
            raise SegmenterError(f"a user dictionary applies to the jieba segmenters, not to {name}")
        return cls()
    if ":" not in name:
        raise SegmenterError(f"unknown segmenter {name!r}: use one of {', '.join(SEGMENTERS)}, or module:Class")
    module_name, _, class_name = name.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise SegmenterError(f"segmenter {name} cannot be imported ({e})") from None
    try:
        segmenter = cls(user_dict=user_dict) if user_dict else cls()
    except SegmenterError:
        raise
    except Exception as e:
        raise SegmenterError(f"segmenter {name} cannot be built ({type(e).__name__}: {e})") from None
    if not isinstance(segmenter, Segmenter):
        raise SegmenterError(f"segmenter {name} needs a name, fingerprint() and spans(text)")
    try:
        pickle.dumps(segmenter)
    except Exception as e:
        raise SegmenterError(f"segmenter {name} cannot be pickled for Beam workers ({e})") from None
    return segmenter


def recorded_segmenter(recorded, given: str | None = None) -> Segmenter:
    """The segmenter a manifest records, rebuilt to segment new text the same way.

    A built-in is built by its name. A ``module:Class`` is imported only when this run's command line
    names it (``given``, from --segmenter): importing a module runs its code, and a manifest is data.
    """
    if given is not None and given != recorded:
        raise SegmenterError(f"the dataset was segmented with {recorded}, not {given}; pass --segmenter {recorded} "
                             "or leave it out")
    if recorded in _BUILTIN:
        return get_segmenter(recorded)
    if given is None:
        raise SegmenterError(f"the dataset was segmented with the custom segmenter {recorded}, which corpusforge "
                             f"does not import from a manifest; pass --segmenter {recorded} to use it")
    return get_segmenter(given)
