"""Text preparation: normalisation, sentence splitting, document filters, exact dedup.

Pure functions on strings, no Beam; corpusforge.beam wraps them in DoFns.
"""

from corpusforge.text.dedup import content_hash
from corpusforge.text.filters import FILTER_REASONS, DocumentFilter
from corpusforge.text.normalize import NORMALIZATION_FORMS, cjk_ratio, normalize_text
from corpusforge.text.sentences import SENTENCE_LANGS, split_sentences

__all__ = [
    "normalize_text",
    "cjk_ratio",
    "split_sentences",
    "DocumentFilter",
    "content_hash",
    "NORMALIZATION_FORMS",
    "SENTENCE_LANGS",
    "FILTER_REASONS",
]
