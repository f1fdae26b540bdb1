"""Language identification with CLD2 (pycld2: Chromium's compact language detector, its tables are
in the wheel, nothing is downloaded)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pycld2

__all__ = ["LANGUAGE_CODES", "LANG_SCOPES", "detect_language", "LanguageFilter", "Identified"]

# every code CLD2 can answer, with zh-Hant folded into zh (the filter names languages, not scripts)
LANGUAGE_CODES = frozenset(code.split("-")[0] for _, code in pycld2.LANGUAGES) - {"un"}
# CLD2 refuses text holding DEL, C1 controls or Unicode noncharacters ("invalid UTF-8"): drop them first
_REFUSED = re.compile("[\x7f-\x9f\ufdd0-\ufdef" + "".join(chr(p << 16 | 0xFFFE) + chr(p << 16 | 0xFFFF)
                                                       for p in range(17)) + "\ud800-\udfff]")


LANG_SCOPES = ("document", "paragraph")


def detect(text: str) -> tuple[str, float, bool]:
    """(language code, share of the text's letters CLD2 gives it 0..1, whether CLD2 calls it reliable);
    ("un", 0.0, False) when unknown."""
    try:
        reliable, _, details = pycld2.detect(_REFUSED.sub("", text))
    except pycld2.error:
        return "un", 0.0, False
    _, code, percent, _ = details[0]
    code = code.split("-")[0]
    return code, percent / 100.0, bool(reliable) and code != "un"


def detect_language(text: str) -> tuple[str, float]:
    """(language code, share of the text's letters CLD2 gives it, 0..1); ("un", 0.0) when unknown."""
    return detect(text)[:2]


@dataclass(frozen=True)
class Identified:
    """What language identification made of a document: its text (paragraph scope: the wanted paragraphs
    only), the label and score of that text, one label per line of it (a paragraph CLD2 cannot call
    reliably takes the document's), and the filtered reason (wrong_language) or None."""

    text: str
    language: str
    score: float
    paragraph_languages: tuple
    reason: str | None = None


@dataclass(frozen=True)
class LanguageFilter:
    """Keeps documents whose top language is one of `languages` with at least `min_share` of the text
    (scope "document"), or (scope "paragraph") the paragraphs (lines) that are, dropping a document none of
    whose paragraphs is."""

    languages: tuple = ()
    min_share: float = 0.5
    scope: str = "document"

    def reason(self, text: str) -> str | None:
        if not self.languages:
            return None
        return self.identify(text).reason

    def wanted(self, code: str, share: float) -> bool:
        return code in self.languages and share >= self.min_share

    def identify(self, text: str) -> Identified:
        code, share, _ = detect(text)
        lines = text.split("\n")
        labels = [self._label(line, code, share) for line in lines]
        if self.scope == "paragraph" and self.languages:
            kept = [i for i, line in enumerate(lines) if not line.strip() or self.wanted(*labels[i])]
            visible = [i for i in kept if lines[i].strip()]
            if not visible:
                return Identified(text, code, share, tuple(c for c, _ in labels), "wrong_language")
            if len(kept) < len(lines):
                kept = [i for i in kept if visible[0] <= i <= visible[-1]]
                text = "\n".join(lines[i] for i in kept)
                labels = [labels[i] for i in kept]
                code, share, _ = detect(text)
            return Identified(text, code, share, tuple(c for c, _ in labels))
        reason = None if not self.languages or self.wanted(code, share) else "wrong_language"
        return Identified(text, code, share, tuple(c for c, _ in labels), reason)

    @staticmethod
    def _label(line: str, code: str, share: float) -> tuple[str, float]:
        """A paragraph's (language, share); the document's where CLD2 cannot call the paragraph reliably."""
        if not line.strip():
            return "un", 0.0
        c, s, reliable = detect(line)
        return (c, s) if reliable else (code, share)
