"""Unicode clean-up of raw document text, and the CJK share of a text.

Runs on every document of the corpus, so everything here is a handful of C-level passes
(precompiled regexes, ``unicodedata``) with no per-character Python loop.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["NORMALIZATION_FORMS", "normalize_text", "cjk_ratio"]

NORMALIZATION_FORMS = ("NFKC", "NFC", "NFKD", "NFD", "none")

# Characters dropped or rewritten before Unicode normalisation. Hard-coded (Unicode 15) rather
# than scanned from unicodedata at import time, which costs noticeable start-up time per process;
# tests/text/test_normalize.py checks the lists against the running interpreter's database.
#   Cc  control characters (\t and \n are handled separately, \r as a line break)
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f"
#   Cf  format characters: soft hyphen, zero-width space/joiners, bidi marks, word joiner, BOM, tags
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
#   Cs  lone surrogates (json.loads lets "\ud800" through; they cannot be encoded as UTF-8)
_SURROGATE = "\ud800-\udfff"
#   Zs other than U+0020, plus tab: become a plain space
_SPACES = "\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
#   vertical tab, form feed, NEL, line/paragraph separator: they separate lines, so keep a line
#   break rather than gluing the neighbouring words together
_LINE_BREAKS = "\x0b\x0c\x85\u2028\u2029"

_CLEAN_CLASS = _CONTROL + _FORMAT + _SURROGATE + _SPACES + "\u2028\u2029"


def _clean_map() -> dict[str, str]:
    table = {}
    for pattern, repl in ((_CONTROL + _FORMAT + _SURROGATE, ""), (_SPACES, " ")):
        for ch in _expand_class(pattern):
            table[ch] = repl
    for ch in _LINE_BREAKS:
        table[ch] = "\n"
    return table


def _expand_class(spec: str) -> list[str]:
    """The characters of a regex character-class body made only of literals and a-b ranges."""
    out, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return out


_CLEAN_TABLE = _clean_map()
# One character class and no alternation, so that sre scans with its fast charset prefix.
_CLEAN_RE = re.compile("[" + _CLEAN_CLASS + "]")


@functools.cache
def _nfkc_premap() -> tuple[re.Pattern[str], dict[str, str]]:
    """One regex + table that cleans *and* applies NFKC to single BMP characters.

    unicodedata.normalize("NFKC") on Chinese text is slow: one full-width comma
    forces a full decompose/recompose of the whole string. Replacing each character that is not
    NFKC-stable by its own NFKC form first is exact (the result is compatibility-equivalent to
    the input, so its NFKC is the same), and it usually leaves a string that passes
    normalize()'s quick check, which then returns it unchanged. Characters that only normalise
    in context (combining marks, conjoining jamo) still go through the full algorithm.
    """
    table = dict(_CLEAN_TABLE)
    for code in range(0x10000):
        ch = chr(code)
        if ch in table or 0xD800 <= code <= 0xDFFF:
            continue
        if not unicodedata.is_normalized("NFKC", ch):
            mapped = unicodedata.normalize("NFKC", ch)
            if mapped != ch:
                table[ch] = mapped
    singles = sorted(k for k in table if len(k) == 1)
    pattern = re.compile("[" + _ranges(singles) + "]")
    return pattern, table


def _ranges(chars: list[str]) -> str:
    """A regex class body for sorted single characters, as escaped a-b ranges."""
    parts, codes, i = [], [ord(c) for c in chars], 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        lo, hi = re.escape(chr(codes[i])), re.escape(chr(codes[j]))
        parts.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "".join(parts)


# The most frequent non-NFKC characters of Chinese text, rewritten with str.replace (C speed)
# before the per-match callback handles the rest.
_FREQUENT_FULL_WIDTH = "，：；（）！？"

_MULTI_SPACE_RE = re.compile(" {2,}")
_LINE_EDGE_RE = re.compile(" \n ?|\n ")

_t2s_converter = None


def _to_simplified(text: str) -> str:
    global _t2s_converter
    if _t2s_converter is None:
        try:
            import opencc  # lazy: only t2s=True needs it
        except ImportError as exc:  # pragma: no cover - opencc is a declared dependency
            raise ImportError(
                "normalize_text(t2s=True) needs OpenCC: pip install opencc"
            ) from exc
        _t2s_converter = opencc.OpenCC("t2s")
    return _t2s_converter.convert(text)


def normalize_text(text: str, *, form: str = "NFKC", t2s: bool = False) -> str:
    """Clean one document's text.

    - line breaks: CRLF and CR become LF (so do VT, FF, NEL, U+2028, U+2029);
    - removes control characters (Cc) other than LF and tab, format characters (Cf: zero-width
      space/joiners, soft hyphen, BOM, bidi marks, ...) and lone surrogates;
    - Unicode normalisation ``form`` ("NFKC", "NFC", "NFKD", "NFD" or "none"); NFKC turns
      full-width ASCII into ASCII and U+3000 into a space;
    - tabs and other Unicode spaces become spaces, runs of spaces collapse to one, each line is
      stripped, and leading/trailing blank lines are dropped (blank lines between paragraphs
      stay);
    - ``t2s=True``: traditional -> simplified Chinese with OpenCC's "t2s" configuration.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if form == "NFKC":
        pattern, table = _nfkc_premap()
        for ch in _FREQUENT_FULL_WIDTH:
            if ch in text:
                text = text.replace(ch, table[ch])
        text = pattern.sub(lambda m: table[m[0]], text)
        text = unicodedata.normalize("NFKC", text)
    elif form in ("NFC", "NFKD", "NFD"):
        text = _CLEAN_RE.sub(lambda m: _CLEAN_TABLE[m[0]], text)
        text = unicodedata.normalize(form, text)
    elif form == "none":
        text = _CLEAN_RE.sub(lambda m: _CLEAN_TABLE[m[0]], text)
    else:
        raise ValueError(f"form must be one of {', '.join(NORMALIZATION_FORMS)}, not {form!r}")
    if "  " in text:
        text = _MULTI_SPACE_RE.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = _LINE_EDGE_RE.sub("\n", text)
    text = text.strip(" \n")
    if t2s:
        text = _to_simplified(text)
    return text


# CJK Unified Ideographs + Extension A, Compatibility Ideographs, and planes 2-3 (Extensions B-H
# and the compatibility supplement: those planes hold nothing but CJK ideographs).
_CJK_RUN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff]+")


def cjk_ratio(text: str) -> float:
    """Fraction of the non-whitespace characters of ``text`` that are CJK ideographs."""
    if text.isascii():
        return 0.0
    visible = sum(map(len, text.split()))
    if visible == 0:
        return 0.0
    return sum(map(len, _CJK_RUN_RE.findall(text))) / visible
