"""Keep-or-drop decisions for sentence-split documents."""

from __future__ import annotations

from dataclasses import dataclass

from corpusforge.text.normalize import cjk_ratio

__all__ = ["DocumentFilter", "FILTER_REASONS"]

FILTER_REASONS = ("too_short", "too_long", "too_few_sentences", "low_cjk_ratio")


@dataclass(frozen=True)
class DocumentFilter:
    """Thresholds a document must meet; ``reason()`` names the first one it fails.

    Characters are counted over the sentences (whitespace inside them included, the line breaks
    between them not). Checks run in the order of FILTER_REASONS.
    """

    min_chars: int = 10
    max_chars: int = 1_000_000
    min_sentences: int = 1
    min_cjk_ratio: float = 0.0

    def __post_init__(self) -> None:
        if self.min_chars < 0 or self.min_sentences < 0:
            raise ValueError("min_chars and min_sentences must not be negative")
        if self.max_chars < self.min_chars:
            raise ValueError(
                f"max_chars ({self.max_chars}) must not be below min_chars ({self.min_chars})"
            )
        if not 0.0 <= self.min_cjk_ratio <= 1.0:
            raise ValueError(f"min_cjk_ratio must be between 0 and 1, not {self.min_cjk_ratio}")

    def reason(self, sentences: list[str]) -> str | None:
        """None to keep the document, else why it is dropped (one of FILTER_REASONS)."""
        chars = sum(map(len, sentences))
        if chars < self.min_chars:
            return "too_short"
        if chars > self.max_chars:
            return "too_long"
        if len(sentences) < self.min_sentences:
            return "too_few_sentences"
        if self.min_cjk_ratio > 0.0 and cjk_ratio("".join(sentences)) < self.min_cjk_ratio:
            return "low_cjk_ratio"
        return None
