"""Rule-based sentence splitting for Chinese and English text.

Each paragraph is cut at sentence ends found by one precompiled regex pass (Chinese: re.split;
English: re.sub with a small decision function per candidate end), so the per-character work
stays in C. It works on raw text and on NFKC output alike (NFKC turns
！？；… into !?;..., and leaves 。 and the CJK quotes alone).
"""

from __future__ import annotations

import re

from corpusforge.text.normalize import cjk_ratio

__all__ = ["split_sentences", "SENTENCE_LANGS", "ZH_MIN_CJK_RATIO", "ZH_RULE_LANGUAGES"]

SENTENCE_LANGS = ("auto", "zh", "en")
# lang="auto": a paragraph whose CJK ratio reaches this uses the Chinese rules.
ZH_MIN_CJK_RATIO = 0.3
# with detected languages: these (CLD2 codes) take the Chinese rules (their sentences end in 。！？), any
# other known language the English ones, an unknown one ("un") the CJK-ratio choice
ZH_RULE_LANGUAGES = frozenset(["zh", "ja"])

# Closing quotes and brackets that stay with the sentence they follow.
_CLOSERS = "”’\"'」』）)\\]】》〉〕〗｝}"
_OPENERS = frozenset("“‘\"'「『（(【《〈〔〖［[｛{")

# Chinese: 。！？；｡ always end a sentence, and so do ellipses (… ⋯, or 3+ dots, which is what
# NFKC makes of ……). Half-width ! ? ; (NFKC's ！？；) do too, except right before an ASCII
# letter: there they are part of a URL query, wiki markup ("zh-hans:卡尔;zh-hk:"), a name
# ("Yahoo!奇摩" still splits; "Yahoo!Japan" does not). A single "." is never a sentence end, so
# decimals (2.5亿) and numbered items (1.由于) stay whole. Further terminators and closers right
# after the first terminator belong to the same end (。」。, ！”, ……”), also across whitespace
# (news text often reads "测量体温。 ”到达"), except the ambiguous ASCII quotes " and ', which
# only count when adjacent.
_ZH_TERM_CHARS = "。！？；｡…⋯"
_ZH_TERM = r"(?:[" + _ZH_TERM_CHARS + r"]|[!?;](?![A-Za-z])|\.{3,})"
_ZH_CLOSERS_ACROSS_SPACE = _CLOSERS.replace('"', "").replace("'", "")
_ZH_END_RE = re.compile(
    # The pattern starts with one character class (then lookbehinds restrict it) so that sre can
    # scan for candidates with its charset prefix, much faster than starting with _ZH_TERM.
    r"([" + _ZH_TERM_CHARS + r"!?;.]"
    r"(?:(?<=[" + _ZH_TERM_CHARS + r"])|(?<=[!?;])(?![A-Za-z])|(?<=\.)\.\.+)"
    r"(?:" + _ZH_TERM + r"|[" + _CLOSERS + r"]"
    r"|\s+(?=[" + _ZH_CLOSERS_ACROSS_SPACE + _ZH_TERM_CHARS + r"!?;]|\.\.\.))*)"
)

# English: a candidate end is a run of . ! ? … (and closers); _en_boundary() decides from what
# follows (whitespace, then an upper-case letter, digit, opening quote/bracket or CJK character,
# or the end of the text) and from the word before a single period. In mixed text (a Chinese
# paragraph below the CJK-ratio threshold), full-width 。！？ end a sentence wherever they occur
# and ! ? … do right before a CJK character.
_EN_TERMS = ".!?…。！？｡"
_EN_FULL_WIDTH = frozenset("。！？｡")
_EN_END_RE = re.compile(
    r"(?P<term>[" + _EN_TERMS + r"]+)"
    r"(?P<close>(?:[" + _CLOSERS + r"][" + _CLOSERS + _EN_TERMS + r"]*)?)"
    r"(?:(?=\s+(?P<next>\S))|(?P<eot>(?=\s*$))|(?P<cjk>(?=[\u3400-\u9fff])))?"
)

# Words that end in a period without ending the sentence (compared after stripping opening
# punctuation; matched case-sensitively, with the lower-case forms people write listed too).
_ABBREVIATIONS = frozenset(
    """
    Mr Mrs Ms Messrs Dr Prof Sr Jr St Rev Hon Gen Gov Sen Rep Col Lt Capt Sgt Cmdr Adm Maj Mt
    Ft Pres Supt Det Insp
    vs Vs etc Etc al cf Cf viz approx Approx ca
    Inc Ltd Co Corp Bros Dept Univ Assn Ave Blvd Rd
    Fig Figs fig figs Eq Eqs eq Vol vol Vols pp Ch ch Sec sec Nos
    Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec
    """.split()
)
# Only before a number: "No. 5", "p. 12" (elsewhere "No." is usually a whole sentence).
_ABBREVIATIONS_BEFORE_DIGIT = frozenset(["No", "no", "p", "Art", "art", "Nr"])
# Letter-dot sequences: U.S, e.g, i.e, U.K, J.R.R, a.m, p.m (the final period is the match's).
_DOTTED_RE = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
_LEADING_PUNCT = "\"'“‘([{<«—–-"


def _is_abbreviation(text: str, end: int, next_char: str | None) -> bool:
    """Whether the period at text[end] closes an abbreviation or an initial, not a sentence."""
    words = text[max(0, end - 40) : end].split()
    if not words:
        return False
    word = words[-1].lstrip(_LEADING_PUNCT)
    if len(word) == 1:
        return word.isalpha()  # initials: "J. Smith", "4 A. M."
    if word in _ABBREVIATIONS:
        return True
    if word in _ABBREVIATIONS_BEFORE_DIGIT:
        return next_char is not None and next_char.isdigit()
    return _DOTTED_RE.fullmatch(word) is not None


def _en_boundary(m: re.Match[str]) -> str:
    term = m["term"]
    if not _EN_FULL_WIDTH.isdisjoint(term):
        return m[0] + "\n"
    nxt = m["next"]
    if nxt is None:
        if m["cjk"] is not None:  # "查收!调查活动" ends a sentence, "1.由于" does not
            return m[0] + "\n" if "." not in term else m[0]
        if m["eot"] is None:  # no whitespace after: 3.14, example.com, "U.S.-based"
            return m[0]
    elif not (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS or "\u3400" <= nxt <= "\u9fff"):
        return m[0]
    if term == "." and not m["close"] and _is_abbreviation(m.string, m.start(), nxt):
        return m[0]
    return m[0] + "\n"


def _split_zh_paragraph(paragraph: str) -> list[str]:
    # split() with a capturing group alternates [text, end, text, end, ..., text]: glue each
    # text to its end in C rather than looping over matches in Python.
    parts = _ZH_END_RE.split(paragraph)
    pieces = list(map(str.__add__, parts[0::2], parts[1::2]))
    pieces.append(parts[-1])
    if '"' in paragraph:
        _move_opening_quotes(pieces)
    return [s for s in map(str.strip, pieces) if s]


def _move_opening_quotes(pieces: list[str]) -> None:
    """Give a trailing ASCII '"' that opens a quotation to the next sentence.

    After 。 an ASCII '"' is as often an opening quote (wiki: 。"R. d. branderi"分布在...) as a
    closing one (news: 这还用说!"然后): an odd running count of '"' in the paragraph says it opens.
    """
    seen = 0
    for i in range(len(pieces) - 1):
        piece = pieces[i]
        seen += piece.count('"')
        if seen % 2 and piece.endswith('"'):
            pieces[i] = piece[:-1]
            pieces[i + 1] = '"' + pieces[i + 1]
            seen -= 1


def _split_zh(text: str) -> list[str]:
    out: list[str] = []
    for paragraph in text.splitlines():
        out.extend(_split_zh_paragraph(paragraph))
    return out


def _split_en(text: str) -> list[str]:
    return [s for s in map(str.strip, _EN_END_RE.sub(_en_boundary, text).splitlines()) if s]


def split_sentences(text: str, lang: str = "auto", paragraph_languages=None) -> list[str]:
    """Split ``text`` into paragraphs on line breaks, then each paragraph into sentences.

    ``lang`` is "zh", "en" or "auto": per paragraph, by its detected language where
    ``paragraph_languages`` gives one (a CLD2 code for each line of ``text``: zh and ja take the Chinese
    rules, other languages the English ones), else (no languages, or "un") the Chinese rules when its CJK
    ratio is at least 0.3 and the English ones below. Sentences are stripped; empty ones are dropped.
    """
    if lang == "zh":
        return _split_zh(text)
    if lang == "en":
        return _split_en(text)
    if lang != "auto":
        raise ValueError(f"lang must be one of {', '.join(SENTENCE_LANGS)}, not {lang!r}")
    paragraphs = text.splitlines() if paragraph_languages is None else text.split("\n")
    if paragraph_languages is not None and len(paragraph_languages) != len(paragraphs):
        raise ValueError(f"{len(paragraph_languages)} paragraph languages for {len(paragraphs)} lines")
    out: list[str] = []
    for i, paragraph in enumerate(paragraphs):
        if not paragraph or paragraph.isspace():
            continue
        code = paragraph_languages[i] if paragraph_languages is not None else "un"
        if code != "un":
            zh = code in ZH_RULE_LANGUAGES
        else:
            zh = not paragraph.isascii() and cjk_ratio(paragraph) >= ZH_MIN_CJK_RATIO
        out.extend(_split_zh_paragraph(paragraph) if zh else _split_en(paragraph))
    return out
