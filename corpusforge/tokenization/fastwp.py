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
        slow = [unicodedata.category(c)[0] == "M" or unicodedata.category(c) in ("Cn", "Cs") for c in chars]
        # combining marks (NFD reorders them across neighbours), unassigned codepoints, surrogates (which no
        # tokenizer call takes): their sentences go to the real tokenizer
        self.kind[codepoints[np.array(slow, dtype=bool)]] = SLOW
        chars = [c for c, s in zip(chars, slow) if not s]
        codepoints = codepoints[~np.array(slow, dtype=bool)]
        framed = impl.encode_batch([f"a{c}a" for c in chars], add_special_tokens=False)
        for cp, c, f in zip(codepoints.tolist(), chars, framed):
            kind = WORD  # the safe default: its run goes to the real tokenizer
            if normalize(c) == " " and f.ids == [a, a] and f.offsets == [(0, 1), (2, 3)]:
                kind = DROP  # becomes one space: splits words, yields nothing
            elif (len(normalize(c).strip(" ")) == 1 and len(f.ids) == 3 and f.ids[0] == f.ids[2] == a
                  and f.offsets == [(0, 1), (1, 2), (2, 3)]
                  and [p for p, _ in pre_tokenize(normalize(f"a{c}a"))] == ["a", normalize(c).strip(" "), "a"]):
                # one normalised character that the pre-tokenizer splits off on both sides of a letter:
                # punctuation or a space-padded CJK character, so it splits off next to anything, one token
                kind = ISOLATED
                self.ids[cp] = f.ids[1]
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
        word = kind == WORD
        edges = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
        run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        # the runs' text, one space after each (" " is never a word character), split in one C call
        word[run_ends[run_ends < len(word)]] = True
        runs_text = np.where(kind == WORD, cps, np.uint32(32))[word].tobytes().decode("utf-32-le")
        words = runs_text.split(" ") if len(run_starts) else []
        del words[len(run_starts):]  # the empty piece after the last separator
        cache = self.words
        distinct = list(dict.fromkeys(words))
        new = [w for w in distinct if w not in cache]
        if new:
            if len(cache) + len(new) > MAX_CACHED_WORDS:
                cache.clear()
                new = distinct
            for w, e in zip(new, self.impl.encode_batch(new, add_special_tokens=False)):
                cache[w] = (tuple(e.ids), tuple(s for s, _ in e.offsets))
        # the distinct words' tokens once, then numpy gathers them for every run
        local = dict(zip(distinct, range(len(distinct))))
        which = np.fromiter(map(local.__getitem__, words), dtype=np.int64, count=len(words))
        entries = list(map(cache.__getitem__, distinct))
        word_len = np.fromiter(map(len, map(itemgetter(0), entries)), dtype=np.int64, count=len(entries))
        word_ids = np.fromiter(chain.from_iterable(map(itemgetter(0), entries)), dtype=np.int64, count=int(word_len.sum()))
        word_rel = np.fromiter(chain.from_iterable(map(itemgetter(1), entries)), dtype=np.int64, count=len(word_ids))
        per_run = word_len[which]
        run_first = np.cumsum(per_run) - per_run  # each run's first token among the run tokens
        take = np.repeat(np.cumsum(word_len)[which] - word_len[which] - run_first, per_run) + np.arange(int(per_run.sum()))
        # place the tokens in text order: before[p] = tokens that come from positions before p
        tokens_at = np.zeros(len(cps) + 1, dtype=np.int64)
        tokens_at[iso] = 1
        tokens_at[run_starts] = per_run
        before = np.cumsum(tokens_at) - tokens_at
        total = int(before[-1])
        ids = np.empty(total, dtype=np.int64)
        pos = np.empty(total, dtype=np.int64)
        ids[before[iso]] = self.ids[cps[iso]]
        pos[before[iso]] = iso
        run_dest = np.repeat(before[run_starts] - run_first, per_run) + np.arange(len(take))
        ids[run_dest] = word_ids[take]
        pos[run_dest] = np.repeat(run_starts, per_run) + word_rel[take]
        counts = np.diff(before[base], append=total)
        starts = pos - np.repeat(base, counts)
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
