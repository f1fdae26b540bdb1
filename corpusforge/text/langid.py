"""Language identification with CLD2 (pycld2: Chromium's compact language detector, its tables are
in the wheel, nothing is downloaded)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pycld2

__all__ = ["LANGUAGE_CODES", "detect_language", "LanguageFilter"]

# every code CLD2 can answer, with zh-Hant folded into zh (the filter names languages, not scripts)
LANGUAGE_CODES = frozenset(code.split("-")[0] for _, code in pycld2.LANGUAGES) - {"un"}
# CLD2 refuses text holding DEL, C1 controls or Unicode noncharacters ("invalid UTF-8"): drop them first
_REFUSED = re.compile("[\x7f-\x9f\ufdd0-\ufdef" + "".join(chr(p << 16 | 0xFFFE) + chr(p << 16 | 0xFFFF)
                                                       for p in range(17)) + "\ud800-\udfff]")


def detect_language(text: str) -> tuple[str, float]:
    """(language code, share of the text's letters CLD2 gives it, 0..1); ("un", 0.0) when unknown."""
    try:
        _, _, details = pycld2.detect(_REFUSED.sub("", text))
    except pycld2.error:
        return "un", 0.0
    _, code, percent, _ = details[0]
    return code.split("-")[0], percent / 100.0


@dataclass(frozen=True)
class LanguageFilter:
    """Keeps documents whose top language is one of `languages` with at least `min_share` of the text."""

    languages: tuple = ()
    min_share: float = 0.5

    def reason(self, text: str) -> str | None:
        if not self.languages:
            return None
        code, share = detect_language(text)
        return None if code in self.languages and share >= self.min_share else "wrong_language"
