"""Quality filters: Gopher's repetition and quality rules (Rae et al. 2021, "Scaling Language Models", Table A1
and section A.1.1), plus two line and sentence rules, each a named rule with a documented default.

A rule is a measure of the document's text and a bound; the first rule (in RULES order: Gopher's quality
rules, then its repetition rules, as its paper applies them, then the others) a document breaks is the
reason it is filtered; measures are computed as the rules ask for them. The measures follow datatrove's GopherRepetitionFilter / GopherQualityFilter
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
    Rule("dup_para_frac", "max", 0.30, "share of paragraphs that repeat an earlier one"),
    Rule("dup_para_char_frac", "max", 0.20, "characters in repeated paragraphs / characters"),
    Rule("dup_line_frac", "max", 0.30, "share of lines that repeat an earlier one"),
    Rule("dup_line_char_frac", "max", 0.20, "characters in repeated lines / characters"),
    *[Rule(f"top_{n}_gram_frac", "max", t, f"characters of the most frequent word {n}-gram / characters")
      for n, t in _TOP.items()],
    *[Rule(f"dup_{n}_gram_frac", "max", t, f"characters in repeated word {n}-grams / characters")
      for n, t in _DUP.items()],
    # not Gopher's: FineWeb's line punctuation rule (its threshold) and C4's sentence length (as a mean)
    Rule("line_punct_frac", "min", 0.12, "share of lines ending in sentence punctuation (optionally quoted)"),
    Rule("mean_sentence_words", "min", 5, "mean words per sentence (CJK: characters)"),
]}
GOPHER_REPETITION = tuple(n for n in RULES if n.startswith(("dup_", "top_")))
GOPHER_QUALITY = ("min_words", "max_words", "min_mean_word_length", "max_mean_word_length", "hash_word_ratio",
                  "ellipsis_word_ratio", "bullet_lines_frac", "ellipsis_lines_frac", "alpha_words_frac", "stop_words")
PRESETS = {"gopher": GOPHER_QUALITY + GOPHER_REPETITION, "gopher-repetition": GOPHER_REPETITION,
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


def _grams(words: list[str], n: int, sep: str) -> list[str]:
    return list(map(sep.join, zip(*(words[k:] for k in range(n)))))


def _top_gram_chars(words: list[str], n: int, sep: str) -> int:
    grams = Counter(_grams(words, n, sep))
    if not grams:
        return 0
    gram, count = max(grams.items(), key=lambda kv: kv[1])  # the first of equal counts, as most_common(1)
    return len(gram) * count


def _repeated_gram_chars(words: list[str], n: int) -> int:
    """Characters of repeated n-grams, scanning left to right and jumping over each repeat (no overlaps)."""
    grams = _grams(words, n, "")
    if len(set(grams)) == len(grams):
        return 0
    seen: set = set()
    chars = i = 0
    while i < len(grams):
        gram = grams[i]
        if gram in seen:
            chars += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


class Measures:
    """One document's measures, each computed when first asked for (a rejected document stops early)."""

    def __init__(self, text: str, sentences: list[str] | None = None):
        self.text, self.sentences, self.values = text, sentences, {}
        self.chars = max(len(text), 1)
        self.cjk = cjk_ratio(text) >= CJK_DOCUMENT_RATIO
        self._words = None

    @property
    def words(self) -> list[str]:
        if self._words is None:
            self._words = words_of(self.text)
        return self._words

    def __getitem__(self, name: str) -> float:
        if name not in self.values:
            self._compute(name)
        return self.values[name]

    def _compute(self, name: str) -> None:
        v, text, words = self.values, self.text, None
        if name.startswith("dup_para"):
            paragraphs = _PARAGRAPHS.split(text.strip())
            n, c = _duplicates(paragraphs)
            v["dup_para_frac"], v["dup_para_char_frac"] = n / len(paragraphs), c / self.chars
        elif name.startswith("dup_line"):
            lines = _LINES.split(text)
            n, c = _duplicates(lines)
            v["dup_line_frac"], v["dup_line_char_frac"] = n / len(lines), c / self.chars
        elif name.startswith("top_"):
            v[name] = _top_gram_chars(self.words, int(name.split("_")[1]), "" if self.cjk else " ") / self.chars
        elif name.startswith("dup_"):
            v[name] = _repeated_gram_chars(self.words, int(name.split("_")[1])) / self.chars
        elif name == "line_punct_frac":
            visible = [s for s in text.split("\n") if s.strip()]
            v[name] = sum(s.endswith(LINE_ENDINGS) for s in visible) / max(len(visible), 1)
        elif name == "mean_sentence_words":
            sents = self.sentences if self.sentences is not None else [s for s in text.splitlines() if s.strip()]
            v[name] = sum(len(words_of(s)) for s in sents) / max(len(sents), 1)
        elif name in ("bullet_lines_frac", "ellipsis_lines_frac"):
            lines = text.splitlines() or [""]
            v["bullet_lines_frac"] = sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines)
            v["ellipsis_lines_frac"] = sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines)
        else:
            words = self.words
            plain = [w for w in words if not _is_symbol(w)]
            n_words = max(len(words), 1)
            v["min_words"] = v["max_words"] = len(plain)
            mean = sum(map(len, plain)) / len(plain) if plain else 0.0
            v["min_mean_word_length"] = v["max_mean_word_length"] = mean
            v["hash_word_ratio"] = text.count("#") / n_words
            v["ellipsis_word_ratio"] = (text.count("...") + text.count("…")) / n_words
            v["alpha_words_frac"] = sum(any(c.isalpha() for c in w) for w in words) / n_words
            v["stop_words"] = len(STOP_WORDS.intersection(words))


def measure(text: str, sentences: list[str] | None = None, names=tuple(RULES)) -> dict[str, float]:
    """The measures of the rules `names` for one document's text (lines and blank lines as written);
    sentences: its split sentences, for mean_sentence_words."""
    m = Measures(text, sentences)
    return {name: m[name] for name in names}


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
        m = Measures(text, sentences)
        for name, threshold in self.rules:
            rule = RULES[name]
            if m.cjk and not rule.cjk:
                continue
            value = m[name]
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
