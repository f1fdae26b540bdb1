"""PrepareDocuments: raw Document -> cleaned, sentence-split row (or a filtered count)."""
from __future__ import annotations

from dataclasses import dataclass, field

from corpusforge.beam.counting import CountingDoFn
from corpusforge.beam.sink import KEY, seeded_key
from corpusforge.sources.formats import PAIRS, PRETOKENIZED, Document
from corpusforge.text import DocumentFilter, content_hash, normalize_text, split_sentences
from corpusforge.text.langid import LanguageFilter


@dataclass(frozen=True)
class PrepareOptions:
    normalize: str = "none"  # or "NFKC" (none: cleaning only, no character a vocabulary holds changes)
    t2s: bool = False  # traditional -> simplified (OpenCC t2s)
    lang: str = "auto"  # sentence rules: auto (per paragraph), zh or en
    filter: DocumentFilter = field(default_factory=DocumentFilter)
    language: LanguageFilter = field(default_factory=LanguageFilter)  # --lang-filter (none by default)
    dedup: bool = True
    seed: int = 12345


def prepare_document(doc: Document, opts: PrepareOptions) -> tuple[dict | None, str | None]:
    """(row, None) for a kept document, (None, reason) for a filtered one."""
    if doc.source == PRETOKENIZED:  # already tokenized: one sentence per line, exactly as written
        sentences = [doc.text]
    elif doc.source == PAIRS:  # a translation pair: its two sides, cleaned, never split
        sentences = [normalize_text(side, form=opts.normalize, t2s=opts.t2s) for side in doc.text.split("\n")]
        if not all(sentences):
            return None, "empty_side"
    else:
        text = normalize_text(doc.text, form=opts.normalize, t2s=opts.t2s)
        sentences = split_sentences(text, lang=opts.lang)
    reason = opts.filter.reason(sentences) or opts.language.reason("\n".join(sentences))
    if reason:
        return None, reason
    title = normalize_text(doc.title, form=opts.normalize, t2s=opts.t2s) if doc.title else ""
    content = content_hash(sentences) if opts.dedup else None
    return {"doc_id": doc.doc_id, "source": doc.source, "title": title, "sentences": sentences,
            KEY: seeded_key(opts.seed, doc.doc_id, content)}, None


class PrepareDocuments(CountingDoFn):
    def __init__(self, opts: PrepareOptions):
        self.opts = opts

    def process(self, doc: Document):
        row, reason = prepare_document(doc, self.opts)
        if reason:
            self.count("filtered:" + reason)
        else:
            yield row
