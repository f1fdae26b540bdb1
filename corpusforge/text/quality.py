"""Quality filters: Gopher's repetition and quality rules (Rae et al. 2021, "Scaling Language Models", Table A1
and section A.1.1), plus two line and sentence rules, each a named rule with a documented default.

A rule is a measure of the document's text and a bound; the first rule (in RULES order) a document breaks
is the reason it is filtered. The measures follow datatrove's GopherRepetitionFilter / GopherQualityFilter
(tests/text/test_quality.py checks equal values on the sample corpus):

- paragraphs are the text split at blank lines, lines the text split at line breaks (blank lines skipped);
- words: each CJK character is a word (Chinese is not written with spaces, so the rules count characters
  there, as the issue asks: "adapted to characters"), other runs of letters/digits are words, and every other
  visible character is a word of its own; a *symbol* word holds only punctuation or symbols (Unicode P*, S*);
- top n-gram: the characters of the most frequent word n-gram times its count (words joined by a space,
  characters of CJK n-grams by nothing) over the text's characters; duplicated n-grams: characters of
  non-overlapping repeated n-grams (words joined by nothing) over the text's characters;
- a *CJK document* (CJK ratio >= 0.3, the sentence splitter's threshold) skips the two rules about English
  words: mean word length (1 by construction) and the English stop words.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from corpusforge.text.normalize import cjk_ratio

__all__ = ["RULES", "PRESETS", "QualityFilter", "measure", "words_of", "parse_quality"]

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
_WORDS_RE = re.compile(f"[{_CJK}]|(?:(?![{_CJK}])[^\\W_])+|\\S")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")
CJK_DOCUMENT_RATIO = 0.3
STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])  # Gopher's
# a line "ends in punctuation" when its last character is one of these, or one of these and one closer
TERMINALS = tuple("。！？｡….!?")
CLOSERS = tuple("\"'”’」』）)】》")
LINE_ENDINGS = TERMINALS + tuple(t + c for t in TERMINALS for c in CLOSERS)


@dataclass(frozen=True)
class Rule:
    name: str  # also the filtered reason
    bound: str  # "max": filtered when the measure is above the threshold; "min": when below
    default: float
    what: str
    cjk: bool = True  # False: not applied to CJK documents


_TOP = {2: 0.20, 3: 0.18, 4: 0.16}
_DUP = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
RULES = {r.name: r for r in [
    Rule("dup_para_frac", "max", 0.30, "share of paragraphs that repeat an earlier one"),
    Rule("dup_para_char_frac", "max", 0.20, "characters in repeated paragraphs / characters"),
    Rule("dup_line_frac", "max", 0.30, "share of lines that repeat an earlier one"),
    Rule("dup_line_char_frac", "max", 0.20, "characters in repeated lines / characters"),
    *[Rule(f"top_{n}_gram_frac", "max", t, f"characters of the most frequent word {n}-gram / characters")
      for n, t in _TOP.items()],
    *[Rule(f"dup_{n}_gram_frac", "max", t, f"characters in repeated word {n}-grams / characters")
      for n, t in _DUP.items()],
    Rule("min_words", "min", 50, "words that are not symbols"),
    Rule("max_words", "max", 100_000, "words that are not symbols"),
    Rule("min_mean_word_length", "min", 3, "mean characters per non-symbol word", cjk=False),
    Rule("max_mean_word_length", "max", 10, "mean characters per non-symbol word", cjk=False),
    Rule("hash_word_ratio", "max", 0.10, "'#' per word (symbol-to-word ratio)"),
    Rule("ellipsis_word_ratio", "max", 0.10, "'...' and '…' per word (symbol-to-word ratio)"),
    Rule("bullet_lines_frac", "max", 0.90, "share of lines starting with a bullet (• or -)"),
    Rule("ellipsis_lines_frac", "max", 0.30, "share of lines ending in an ellipsis"),
    Rule("alpha_words_frac", "min", 0.80, "share of words with a letter"),
    Rule("stop_words", "min", 2, "distinct English stop words (the, be, to, of, and, that, have, with)", cjk=False),
    # not Gopher's: FineWeb's line punctuation rule (its threshold) and C4's sentence length (as a mean)
    Rule("line_punct_frac", "min", 0.12, "share of lines ending in sentence punctuation (optionally quoted)"),
    Rule("mean_sentence_words", "min", 5, "mean words per sentence (CJK: characters)"),
]}
GOPHER_REPETITION = tuple(n for n in RULES if n.startswith(("dup_", "top_")))
GOPHER_QUALITY = ("min_words", "max_words", "min_mean_word_length", "max_mean_word_length", "hash_word_ratio",
                  "ellipsis_word_ratio", "bullet_lines_frac", "ellipsis_lines_frac", "alpha_words_frac", "stop_words")
PRESETS = {"gopher": GOPHER_REPETITION + GOPHER_QUALITY, "gopher-repetition": GOPHER_REPETITION,
           "gopher-quality": GOPHER_QUALITY}


def words_of(text: str) -> list[str]:
    return _WORDS_RE.findall(text)


def _is_symbol(word: str) -> bool:
    return all(unicodedata.category(c)[0] in "PSC" for c in word)


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(items equal to an earlier one, their characters)."""
    seen: set = set()
    n = chars = 0
    for item in items:
        if item in seen:
            n += 1
            chars += len(item)
        else:
            seen.add(item)
    return n, chars


def _top_gram_chars(words: list[str], n: int, sep: str) -> int:
    grams = Counter(sep.join(words[i:i + n]) for i in range(len(words) - n + 1))
    if not grams:
        return 0
    gram, count = max(grams.items(), key=lambda kv: kv[1])  # the first of equal counts, as most_common(1)
    return len(gram) * count


def _repeated_gram_chars(words: list[str], n: int) -> int:
    """Characters of repeated n-grams, scanning left to right and jumping over each repeat (no overlaps)."""
    seen: set = set()
    chars = i = 0
    while i < len(words) - n + 1:
        gram = "".join(words[i:i + n])
        if gram in seen:
            chars += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def measure(text: str, sentences: list[str] | None = None, names=tuple(RULES)) -> dict[str, float]:
    """The measures of the rules `names` for one document's text (lines and blank lines as written);
    sentences: its split sentences, for mean_sentence_words."""
    names = set(names)
    out: dict[str, float] = {}
    chars = max(len(text), 1)
    if names & {"dup_para_frac", "dup_para_char_frac"}:
        paragraphs = _PARAGRAPHS.split(text.strip())
        n, c = _duplicates(paragraphs)
        out["dup_para_frac"], out["dup_para_char_frac"] = n / len(paragraphs), c / chars
    if names & {"dup_line_frac", "dup_line_char_frac"}:
        lines = _LINES.split(text)
        n, c = _duplicates(lines)
        out["dup_line_frac"], out["dup_line_char_frac"] = n / len(lines), c / chars
    words = words_of(text)
    cjk = cjk_ratio(text) >= CJK_DOCUMENT_RATIO
    for n in _TOP:
        if f"top_{n}_gram_frac" in names:
            out[f"top_{n}_gram_frac"] = _top_gram_chars(words, n, "" if cjk else " ") / chars
    for n in _DUP:
        if f"dup_{n}_gram_frac" in names:
            out[f"dup_{n}_gram_frac"] = _repeated_gram_chars(words, n) / chars
    plain = [w for w in words if not _is_symbol(w)]
    n_words = max(len(words), 1)
    out["min_words"] = out["max_words"] = len(plain)
    mean = sum(map(len, plain)) / len(plain) if plain else 0.0
    out["min_mean_word_length"] = out["max_mean_word_length"] = mean
    out["hash_word_ratio"] = text.count("#") / n_words
    out["ellipsis_word_ratio"] = (text.count("...") + text.count("…")) / n_words
    lines = text.splitlines() or [""]
    out["bullet_lines_frac"] = sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines)
    out["ellipsis_lines_frac"] = sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines)
    out["alpha_words_frac"] = sum(any(c.isalpha() for c in w) for w in words) / n_words
    out["stop_words"] = len(STOP_WORDS.intersection(words))
    visible = [s for s in text.split("\n") if s.strip()]
    out["line_punct_frac"] = sum(s.endswith(LINE_ENDINGS) for s in visible) / max(len(visible), 1)
    if "mean_sentence_words" in names:
        sents = sentences if sentences is not None else [s for s in text.splitlines() if s.strip()]
        out["mean_sentence_words"] = sum(len(words_of(s)) for s in sents) / max(len(sents), 1)
    return {k: v for k, v in out.items() if k in names}


@dataclass(frozen=True)
class QualityFilter:
    """The rules to apply, each with its threshold (((name, threshold), ...), in RULES order); none by default."""

    rules: tuple = field(default_factory=tuple)

    def reason(self, text: str, sentences: list[str] | None = None) -> str | None:
        """None to keep the document, else the name of the first rule it breaks."""
        if not self.rules:
            return None
        if not text.strip():
            return self.rules[0][0]
        values = measure(text, sentences, [name for name, _ in self.rules])
        cjk = cjk_ratio(text) >= CJK_DOCUMENT_RATIO
        for name, threshold in self.rules:
            rule = RULES[name]
            if cjk and not rule.cjk:
                continue
            value = values[name]
            if value > threshold if rule.bound == "max" else value < threshold:
                return name
        return None


def parse_quality(spec: str, overrides: tuple[str, ...] = ()) -> QualityFilter:
    """--quality "gopher,line_punct_frac" and --quality-threshold NAME=VALUE -> a QualityFilter; ValueError with
    one sentence for an unknown name or a bad value."""
    names: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item in PRESETS:
            names += PRESETS[item]
        elif item in RULES:
            names.append(item)
        else:
            raise ValueError(f"{item!r} is neither a quality rule nor a preset (presets: {', '.join(PRESETS)}; "
                             f"rules: {', '.join(RULES)})")
    thresholds = {n: RULES[n].default for n in names}
    for item in overrides:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or name not in RULES:
            raise ValueError(f"--quality-threshold {item!r} is not RULE=VALUE with one of the rules {', '.join(RULES)}")
        if name not in thresholds:
            raise ValueError(f"--quality-threshold {name} names a rule that --quality does not turn on")
        try:
            thresholds[name] = float(value)
        except ValueError:
            raise ValueError(f"--quality-threshold {item!r}: {value!r} is not a number") from None
        if thresholds[name] != thresholds[name] or thresholds[name] < 0:
            raise ValueError(f"--quality-threshold {item!r}: the threshold must be a number >= 0")
    return QualityFilter(tuple((n, thresholds[n]) for n in RULES if n in thresholds))
