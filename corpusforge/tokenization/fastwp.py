"""A faster encode_flat for BERT WordPiece (vocab.txt) on Chinese text, equal to the tokenizer's own output.

BERT's pipeline (clean text, a pre-token per CJK character, punctuation split, lower-casing and accent
stripping, then WordPiece per pre-token) gives every CJK ideograph and punctuation character a token of
its own and drops whitespace; what is left are runs of other characters (latin words, digits, ...) that
are WordPiece-tokenized with no regard to their surroundings. So a batch of sentences becomes one array
of codepoints; a table says, per codepoint, which of these it is and (for the isolated ones) its id;
whitespace is skipped; and each run of "word" characters is encoded by the real tokenizer once per
distinct run (cached: runs are Zipfian) with its start added to the offsets.

The table is learnt from the real tokenizer, a codepoint the first time it is seen: a codepoint counts as
isolated or as whitespace only if probing the tokenizer proves it (see _learn); anything else is a word
character, whose run the real tokenizer encodes. Combining marks, unassigned codepoints, surrogates and
the text of added tokens ([SEP] in the text is one token) send their whole sentence to the real tokenizer.
"""
from __future__ import annotations

import re
import unicodedata
from itertools import chain
from operator import itemgetter

import numpy as np

UNKNOWN, DROP, ISOLATED, WORD, SLOW = 0, 1, 2, 3, 4
MAX_CACHED_WORDS = 500_000  # distinct word runs kept; the cache is emptied past this


class FastWordPiece:
    """encode_flat(sentences) of a BertWordPieceTokenizer, the same ids and start offsets, mostly in numpy."""

    def __init__(self, impl):
        self.impl = impl
        self.kind = np.zeros(0x110000, dtype=np.uint8)  # codepoint -> UNKNOWN / DROP / ISOLATED / WORD / SLOW
        self.ids = np.zeros(0x110000, dtype=np.int32)  # codepoint -> its id, for ISOLATED
        self.words: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        added = list(impl.get_added_tokens_decoder().values())
        # added tokens are matched in the raw text before normalisation: a sentence holding one goes the slow way
        # (case-insensitively, to be safe); a token matched after normalisation could hide anywhere: no fast path
        self.usable = all(not t.normalized for t in added)
        self.added = re.compile("|".join(re.escape(t.content) for t in added), re.IGNORECASE) if added else None
        self.added_first = {c for t in added for c in (t.content[:1].lower(), t.content[:1].upper()) if c}
        probe = impl.encode("a", add_special_tokens=False)
        self.probe_id = probe.ids[0] if len(probe.ids) == 1 else None
        self.usable = self.usable and self.probe_id is not None
        self._learn(np.array([ord(" ")], dtype=np.uint32))
        self.usable = self.usable and self.kind[ord(" ")] == DROP  # " " joins the sentences of a batch

    def _learn(self, codepoints: np.ndarray) -> None:
        """Classify codepoints not seen before by asking the tokenizer itself."""
        impl, a = self.impl, self.probe_id
        normalize = impl._tokenizer.normalizer.normalize_str
        pre_tokenize = impl._tokenizer.pre_tokenizer.pre_tokenize_str
        chars = [chr(c) for c in codepoints.tolist()]
        alone = impl.encode_batch(chars, add_special_tokens=False)
        framed = impl.encode_batch([f"a{c}a" for c in chars], add_special_tokens=False)
        for cp, c, e, f in zip(codepoints.tolist(), chars, alone, framed):
            kind = WORD  # the safe default: its run goes to the real tokenizer
            if unicodedata.category(c)[0] == "M" or unicodedata.category(c) in ("Cn", "Cs"):
                kind = SLOW  # combining marks (NFD reordering crosses neighbours), unassigned, surrogates
            elif normalize(c) == " " and not e.ids and f.ids == [a, a] and f.offsets == [(0, 1), (2, 3)]:
                kind = DROP  # becomes one space: splits words, yields nothing
            else:
                norm = normalize(c).strip(" ")
                if (len(norm) == 1 and len(e.ids) == 1 and e.offsets == [(0, 1)]
                        and [p for p, _ in pre_tokenize(normalize(f"a{c}a"))] == ["a", norm, "a"]
                        and f.ids == [a, e.ids[0], a] and f.offsets == [(0, 1), (1, 2), (2, 3)]):
                    # one normalised character that the pre-tokenizer splits off on both sides of a letter:
                    # punctuation or a space-padded CJK character, so it splits off next to anything
                    kind = ISOLATED
                    self.ids[cp] = e.ids[0]
            self.kind[cp] = kind

    def encode_flat(self, sentences: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids int64, start offsets int64, tokens per sentence int64), as TextTokenizer.encode_flat."""
        n = len(sentences)
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=n)
        base = np.zeros(n, dtype=np.int64)  # where each sentence starts in the joined text
        np.cumsum(lengths[:-1] + 1, out=base[1:])
        text = " ".join(sentences)
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        kind = self.kind[cps]
        if not kind.all():
            self._learn(np.unique(cps[kind == UNKNOWN]))
            kind = self.kind[cps]
        slow = set()
        if (kind == SLOW).any():
            slow.update((np.searchsorted(base, np.flatnonzero(kind == SLOW), side="right") - 1).tolist())
        if self.added is not None and any(c in text for c in self.added_first):
            hits = [m.start() for m in self.added.finditer(text)]
            slow.update((np.searchsorted(base, np.array(hits, dtype=np.int64), side="right") - 1).tolist())
        for i in slow:  # these produce nothing here; the real tokenizer encodes them below
            kind[base[i]:base[i] + lengths[i]] = DROP
        iso = np.flatnonzero(kind == ISOLATED)
        edges = np.diff((kind == WORD).view(np.int8), prepend=np.int8(0), append=np.int8(0))
        run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        words = list(map(text.__getitem__, map(slice, run_starts.tolist(), run_ends.tolist())))
        cache = self.words
        new = [w for w in dict.fromkeys(words) if w not in cache]
        if new:
            if len(cache) + len(new) > MAX_CACHED_WORDS:
                cache.clear()
            for w, e in zip(new, self.impl.encode_batch(new, add_special_tokens=False)):
                cache[w] = (tuple(e.ids), tuple(s for s, _ in e.offsets))
        entries = list(map(cache.__getitem__, words))
        per_run = np.fromiter(map(len, map(itemgetter(0), entries)), dtype=np.int64, count=len(entries))
        total = int(per_run.sum())
        run_ids = np.fromiter(chain.from_iterable(map(itemgetter(0), entries)), dtype=np.int64, count=total)
        run_rel = np.fromiter(chain.from_iterable(map(itemgetter(1), entries)), dtype=np.int64, count=total)
        run_at = np.repeat(run_starts, per_run)
        # isolated tokens and run tokens, in text order (a run's tokens all sort at its start, in their order)
        order = np.argsort(np.concatenate([iso, run_at]), kind="stable")
        ids = np.concatenate([self.ids[cps[iso]].astype(np.int64), run_ids])[order]
        pos = np.concatenate([iso, run_at + run_rel])[order]
        sentence = np.searchsorted(base, pos, side="right") - 1
        counts = np.bincount(sentence, minlength=n).astype(np.int64)
        starts = pos - base[sentence]
        if slow:
            ids, starts, counts = self._splice(sentences, sorted(slow), ids, starts, counts)
        return ids, starts, counts

    def _splice(self, sentences, slow, ids, starts, counts):
        """Put the real tokenizer's output for the sentences in slow (which have no tokens yet) in their places."""
        encodings = self.impl.encode_batch([sentences[i] for i in slow], add_special_tokens=False)
        slow_counts = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        slow_ids = np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.int64, count=int(slow_counts.sum()))
        slow_starts = np.fromiter((s for e in encodings for s, _ in e.offsets), dtype=np.int64, count=len(slow_ids))
        source = np.zeros(len(counts), dtype=np.int64)  # where each sentence's tokens start in [fast; slow]
        np.cumsum(counts[:-1], out=source[1:])
        counts = counts.copy()
        counts[slow] = slow_counts
        slow_source = np.zeros(len(slow), dtype=np.int64)
        np.cumsum(slow_counts[:-1], out=slow_source[1:])
        source[slow] = len(ids) + slow_source
        out_start = np.zeros(len(counts), dtype=np.int64)
        np.cumsum(counts[:-1], out=out_start[1:])
        take = np.repeat(source - out_start, counts) + np.arange(int(counts.sum()))
        return np.concatenate([ids, slow_ids])[take], np.concatenate([starts, slow_starts])[take], counts
