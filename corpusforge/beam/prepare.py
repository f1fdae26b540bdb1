"""PrepareDocuments: raw Document -> cleaned, sentence-split row (or a filtered count)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from apache_beam import pvalue

from corpusforge.beam.counting import CountingDoFn
from corpusforge.beam.sink import KEY, seeded_key
from corpusforge.sources.formats import PAIRS, PRETOKENIZED, Document
from corpusforge.text import DocumentFilter, content_hash, normalize_text, split_sentences
from corpusforge.text.langid import LanguageFilter
from corpusforge.text.quality import QualityFilter

EXAMPLES = "examples"  # tagged output: (reason, (key, doc_id, source, excerpt)) of filtered documents
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class PrepareOptions:
    normalize: str = "none"  # or "NFKC" (none: cleaning only, no character a vocabulary holds changes)
    t2s: bool = False  # traditional -> simplified (OpenCC t2s)
    lang: str = "auto"  # sentence rules: auto (per paragraph), zh or en
    filter: DocumentFilter = field(default_factory=DocumentFilter)
    language: LanguageFilter = field(default_factory=LanguageFilter)  # --lang-filter (none by default)
    quality: QualityFilter = field(default_factory=QualityFilter)  # --quality (no rule by default)
    dedup: bool = True
    seed: int = 12345

    @property
    def language_columns(self) -> bool:
        """--lang-filter: rows carry the language label and score (DOCUMENTS_LANGUAGE)."""
        return bool(self.language.languages)

    @property
    def cleaning(self) -> bool:
        """A cleaning option is on: filtered documents are counted per source and sampled for the report."""
        return bool(self.language.languages or self.quality.rules)


def prepare_document(doc: Document, opts: PrepareOptions) -> tuple[dict | None, str | None]:
    """(row, None) for a kept document, (None, reason) for a filtered one.

    With --lang-filter the language is identified first, so that (paragraph scope) only the wanted
    paragraphs are split and each paragraph is split by the rules of its language; the reasons are still
    checked in the order length, language, quality (a document whose every paragraph is unwanted is
    wrong_language)."""
    found = None
    if doc.source == PRETOKENIZED:  # already tokenized: one sentence per line, exactly as written
        text, sentences = doc.text, [doc.text]
        if opts.language_columns:
            found = opts.language.identify(text)
    elif doc.source == PAIRS:  # a translation pair: its two sides, cleaned, never split
        sentences = [normalize_text(side, form=opts.normalize, t2s=opts.t2s) for side in doc.text.split("\n")]
        if not all(sentences):
            return None, "empty_side"
        text = "\n".join(sentences)
        if opts.language_columns:  # judged whole: dropping one side would break the pair
            found = replace(opts.language, scope="document").identify(text)
    else:
        text = normalize_text(doc.text, form=opts.normalize, t2s=opts.t2s)
        if opts.language_columns:
            found = opts.language.identify(text)
            if found.reason and opts.language.scope == "paragraph":
                return None, found.reason
            text = found.text
        sentences = split_sentences(text, lang=opts.lang, paragraph_languages=found and found.paragraph_languages)
    reason = (opts.filter.reason(sentences) or (found and found.reason)
              or opts.quality.reason(text, sentences))
    if reason:
        return None, reason
    title = normalize_text(doc.title, form=opts.normalize, t2s=opts.t2s) if doc.title else ""
    content = content_hash(sentences) if opts.dedup else None
    row = {"doc_id": doc.doc_id, "source": doc.source, "title": title, "sentences": sentences}
    if found is not None:
        row["language"], row["language_score"] = found.language, found.score
    row[KEY] = seeded_key(opts.seed, doc.doc_id, content)
    return row, None


def example(reason: str, key: bytes, doc_id: str, source: str, text: str):
    """A filtered document as a candidate example for the cleaning report (the smallest keys are kept)."""
    return pvalue.TaggedOutput(EXAMPLES, (reason, (key, doc_id, source, text[:EXCERPT_CHARS])))


class PrepareDocuments(CountingDoFn):
    def __init__(self, opts: PrepareOptions):
        self.opts = opts

    def process(self, doc: Document):
        row, reason = prepare_document(doc, self.opts)
        if reason:
            self.count("filtered:" + reason)
            if self.opts.cleaning:
                self.count(f"source:{doc.source}:{reason}")
                yield example(reason, seeded_key(self.opts.seed, doc.doc_id), doc.doc_id, doc.source, doc.text)
        else:
            yield row
