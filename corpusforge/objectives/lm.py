"""N-gram language models from exact counts: smoothing, ARPA writing and reading, scoring, perplexity.

Everything is numpy over whole orders at once. An n-gram is addressed by integer keys: word ids
are the rows of the unigram table, and the key of an n-gram is (row of its first n-1 words in
order n-1) * |vocab| + its last word, so every order is a sorted int64 array and finding the
context, the lower-order n-gram (suffix) or a held-out n-gram is one `searchsorted`.

Every model is written in back-off (ARPA) form: p(w|h) for seen n-grams and a back-off weight
b(h) such that p(w|h) = b(h) p(w|h') for unseen w. Interpolated methods (Jelinek-Mercer,
Witten-Bell, absolute discounting, Kneser-Ney, modified Kneser-Ney) store the interpolated
probability and the interpolation weight of the context; back-off methods (additive, Good-Turing,
Katz) store the discounted probability and the normalising back-off weight.

The unigram vocabulary V is every counted token plus </s> and <unk>, not <s> (never predicted);
the lowest order interpolates with (or spreads left-over mass uniformly over) V. <s> is written with
log10 p = 0, as lmplz does. Modified Kneser-Ney follows KenLM lmplz (Heafield et al. 2013): adjusted
counts are continuation counts except at the highest order and for n-grams starting with <s>;
three discounts per order from the count-of-counts of the adjusted counts (Chen & Goodman eq. 26);
unigrams interpolate with the uniform distribution over V, so <unk> gets b(empty)/|V|.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from corpusforge.objectives.ngrams import BOS, EOS, UNK

SMOOTHING = ("additive", "good-turing", "katz", "jelinek-mercer", "witten-bell", "absolute-discounting",
             "kneser-ney", "modified-kneser-ney")
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # lmplz --discount_fallback defaults
LOG_ZERO = -99.0
RESERVED_WORDS = frozenset((BOS, EOS))  # dropped from text to score: every sentence gets them anyway


class LMError(ValueError):
    """A model cannot be estimated from these counts (one sentence, for the user)."""


@dataclass
class NgramIndex:
    """Sorted integer keys per order; row r of order n is the n-gram with the r-th smallest key."""

    vocab: pa.Array  # strings; word id = position
    keys: list = field(default_factory=list)  # keys[n - 1]: sorted int64 array of order n

    @property
    def size(self) -> int:
        return len(self.vocab)

    @property
    def order(self) -> int:
        return len(self.keys)

    def word_id(self, word: str) -> int:
        i = pc.index(self.vocab, word).as_py()
        return -1 if i is None or i < 0 else i

    def word_ids(self, tokens: list[str] | pa.Array, unk: int) -> np.ndarray:
        ids = pc.index_in(pa.array(tokens, pa.string()) if not isinstance(tokens, pa.Array) else tokens,
                          value_set=self.vocab)
        return ids.fill_null(unk).to_numpy(zero_copy_only=False).astype(np.int64)

    def find(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """words: (m, n) word ids -> (row in order n, found)."""
        m, n = words.shape
        idx = words[:, 0].copy()
        found = (idx >= 0) & (idx < self.size)
        idx[~found] = 0
        for k in range(1, n):
            idx, ok = self.lookup(k + 1, idx * self.size + words[:, k])
            found &= ok
            idx = np.where(found, idx, 0)
        return idx, found

    def lookup(self, n: int, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keys of order n -> (row, found). Unsorted keys are sorted first: a binary search of sorted
        keys walks the table in order, several times faster than random probes of a large one."""
        keys = self.keys[n - 1]
        if not len(keys):
            return np.zeros(len(key), np.int64), np.zeros(len(key), bool)
        if len(key) > 1 and not (key[1:] >= key[:-1]).all():
            sort = np.argsort(key)
            pos = np.empty(len(key), np.int64)
            pos[sort] = np.searchsorted(keys, key[sort])
        else:
            pos = np.searchsorted(keys, key)
        pos[pos >= len(keys)] = 0
        return pos, keys[pos] == key


@dataclass
class Counts:
    """Counts of one corpus, all orders, rows in key order."""

    index: NgramIndex
    ngrams: list  # ngrams[n - 1]: pa string array, in key order
    counts: list  # raw counts (int64), in key order
    prefix: list  # prefix[n - 1]: row in order n-1 of the first n-1 words (order >= 2)
    suffix: list  # suffix[n - 1]: row in order n-1 of the last n-1 words (order >= 2)
    bos: int
    eos: int
    unk: int

    @property
    def order(self) -> int:
        return len(self.counts)


def counts_from_table(table: pa.Table, order: int | None = None) -> Counts:
    """An `build ngrams` table (order, ngram, count) -> Counts; <unk> is added with count 0."""
    orders = table.column("order").to_numpy(zero_copy_only=False)
    top = int(orders.max()) if len(orders) else 0
    order = order or top
    if order < 1 or top < order:
        raise LMError(f"the counts hold orders up to {top}; cannot build an order-{order} model")
    uni = _order_rows(table, orders, 1)
    vocab = uni.column("ngram").combine_chunks()
    counts1 = uni.column("count").to_numpy().astype(np.int64)
    if pc.index(vocab, UNK).as_py() < 0:
        vocab = pa.concat_arrays([vocab, pa.array([UNK])])
        counts1 = np.append(counts1, 0)
    index = NgramIndex(vocab)
    if index.word_id(BOS) < 0 or index.word_id(EOS) < 0:
        raise LMError("the counts have no <s> / </s>: count with build ngrams, which marks sentence boundaries")
    index.keys.append(np.arange(len(vocab), dtype=np.int64))
    out = Counts(index, [vocab], [counts1], [None], [None], index.word_id(BOS), index.word_id(EOS),
                 index.word_id(UNK))
    last_words = np.arange(len(vocab), dtype=np.int64)  # the last word of every row of the order before
    for n in range(2, order + 1):
        part = _order_rows(table, orders, n)
        grams = part.column("ngram").combine_chunks()
        counts = part.column("count").to_numpy().astype(np.int64)
        fast = _prefix_and_last(grams, counts, out, last_words, index)
        if fast is None:  # not build ngrams' complete, sorted counts: find every word
            words = pc.list_flatten(pc.split_pattern(grams, " "))
            ids = index.word_ids(words, -1).reshape(-1, n) if len(grams) else np.zeros((0, n), np.int64)
            if len(grams) and (ids < 0).any():
                raise LMError(f"{n}-grams hold words that are not unigrams: the counts are pruned or damaged")
            prefix, found = index.find(ids[:, :-1])
            if not found.all():
                raise LMError(f"{int((~found).sum())} {n}-grams have no counted prefix: build lm needs counts "
                              "without --min-count")
            fast = prefix, ids[:, -1]
        prefix, last_words = fast
        key = prefix * index.size + last_words
        sort = np.argsort(key, kind="stable")
        sorted_already = (sort == np.arange(len(sort))).all()  # text order is key order unless a word holds
        key, last_words = key[sort], last_words[sort]           # a character below " "
        index.keys.append(key)
        prefix = prefix[sort]
        # the suffix w1 .. w{n-1} is (suffix of the prefix w0 .. w{n-2}) extended by the last word
        suffix, found = (last_words, np.ones(len(last_words), bool)) if n == 2 else \
            index.lookup(n - 1, out.suffix[n - 2][prefix] * index.size + last_words)
        if not found.all():
            raise LMError(f"{int((~found).sum())} {n}-grams have no counted suffix: the counts are pruned")
        out.ngrams.append(grams if sorted_already else grams.take(pa.array(sort)))
        out.counts.append(counts if sorted_already else counts[sort])
        out.prefix.append(prefix)
        out.suffix.append(suffix)
    return out


def _prefix_and_last(grams: pa.Array, counts: np.ndarray, c: Counts, last_before: np.ndarray,
                     index: NgramIndex) -> tuple[np.ndarray, np.ndarray] | None:
    """(row of the first n - 1 words in order n - 1, last word id) of every n-gram, looking up only the
    last word, for counts as build ngrams writes them (complete, sorted); else None.

    Every occurrence of an (n - 1)-gram that does not end in </s> is followed by a token, so with
    complete counts the n-grams are exactly those rows' extensions, their counts sum to the row's
    count, and (sorted) they come in the rows' order: the cumulative counts place the boundaries.
    The text after the last space is the last word, and the n-grams rebuilt as prefix + " " + last
    word must equal the text, which checks it all."""
    before, before_counts = c.ngrams[-1], c.counts[-1]
    extended = np.flatnonzero((last_before != c.eos) & (before_counts > 0))
    if not len(grams) or not len(extended) or (counts <= 0).any():
        return None
    total, wanted = np.cumsum(counts), np.cumsum(before_counts[extended])
    if total[-1] != wanted[-1]:
        return None
    ends = np.searchsorted(total, wanted)
    if (total[ends] != wanted).any():
        return None
    prefix = np.repeat(extended, np.diff(ends, prepend=-1))
    try:
        words = pc.list_element(pc.split_pattern(grams, " ", max_splits=1, reverse=True), 1)
    except pa.ArrowInvalid:  # an n-gram without a space
        return None
    last = index.word_ids(words, -1)
    if (last < 0).any():
        return None
    rebuilt = pc.binary_join_element_wise(before.take(pa.array(prefix)), words, " ")
    return (prefix, last) if pc.all(pc.equal(rebuilt, grams)).as_py() else None


def _order_rows(table: pa.Table, orders: np.ndarray, n: int) -> pa.Table:
    """The rows of order n: a slice when the table is sorted by order (as build ngrams writes it)."""
    if len(orders) < 2 or (orders[1:] >= orders[:-1]).all():
        lo, hi = np.searchsorted(orders, [n, n + 1])
        return table.slice(int(lo), int(hi - lo))
    return table.filter(pa.array(orders == n))


@dataclass
class Model:
    """A back-off model: log10 probabilities per order (key order) and log10 back-off weights (orders < N)."""

    index: NgramIndex
    ngrams: list
    logprob: list
    backoff: list  # backoff[n - 1] for n < N
    unk: int
    bos: int
    info: dict = field(default_factory=dict)

    @property
    def order(self) -> int:
        return len(self.logprob)


# ---------------------------------------------------------------- discounts

def kn_discounts(adjusted: np.ndarray, fallback: bool, order: int, count: int = 3) -> np.ndarray:
    """[0, D1, D2, D3+] from the count-of-counts of `adjusted` (Chen & Goodman eq. 26, as lmplz)."""
    t = np.bincount(np.minimum(adjusted, 5), minlength=6)[:5].astype(np.float64)
    if count == 1:  # one discount: D = t1 / (t1 + 2 t2)
        if t[1] == 0 or t[2] == 0:
            if not fallback:
                raise LMError(f"cannot estimate the {order}-gram discount: no {order}-grams seen "
                              f"{'once' if t[1] == 0 else 'twice'}; pass --discount-fallback for tiny corpora")
            return np.array([0.0] + [FALLBACK_DISCOUNTS[1]] * 3)
        d = t[1] / (t[1] + 2 * t[2])
        return np.array([0.0, d, d, d])
    y = t[1] / (t[1] + 2 * t[2]) if t[1] + 2 * t[2] else 0.0
    d = [0.0]
    for j in (1, 2, 3):
        if t[j] == 0:
            if not fallback:
                raise LMError(f"cannot estimate the {order}-gram discount D{j}: no {order}-grams have adjusted "
                              f"count {j} (small or artificial data); pass --discount-fallback")
            return np.array([0.0, *FALLBACK_DISCOUNTS])
        dj = j - (j + 1) * y * t[j + 1] / t[j]
        if not 0.0 <= dj <= j:
            if not fallback:
                raise LMError(f"the {order}-gram discount D{j} = {dj:.4f} is out of range [0, {j}]; "
                              f"pass --discount-fallback")
            return np.array([0.0, *FALLBACK_DISCOUNTS])
        d.append(dj)
    return np.array(d)


def adjusted_counts(c: Counts) -> list:
    """lmplz's adjusted counts: raw at the highest order and for n-grams starting with <s>, else the number
    of distinct words seen before the n-gram. <s> (unigram) and <unk> get 0."""
    out = []
    for n in range(1, c.order + 1):
        raw = c.counts[n - 1]
        if n == c.order:
            out.append(raw.copy())
            continue
        a = np.bincount(c.suffix[n], minlength=len(raw)).astype(np.int64)
        starts_bos = _first_word(c, n) == c.bos
        a[starts_bos] = raw[starts_bos]
        if n == 1:
            a[c.bos] = 0
            a[c.unk] = 0
        out.append(a)
    return out


def _first_word(c: Counts, n: int) -> np.ndarray:
    rows = np.arange(len(c.counts[n - 1]))
    for k in range(n, 1, -1):
        rows = c.prefix[k - 1][rows]
    return rows


def _last_word(c: Counts, n: int) -> np.ndarray:
    return c.index.keys[n - 1] % c.index.size if n > 1 else np.arange(c.index.size)


# ---------------------------------------------------------------- estimation

def _context_sums(c: Counts, n: int, values: np.ndarray) -> np.ndarray:
    """Sum of `values` (one per order-n row) per context (order n-1 row; one root context for n = 1)."""
    if n == 1:
        return np.array([values.sum()], dtype=np.float64)
    return np.bincount(c.prefix[n - 1], weights=values, minlength=len(c.counts[n - 2]))


def _context_of(c: Counts, n: int) -> np.ndarray:
    return c.prefix[n - 1] if n > 1 else np.zeros(len(c.counts[0]), np.int64)


def _unigram_counts(c: Counts) -> np.ndarray:
    raw = c.counts[0].copy()
    raw[c.bos] = 0  # <s> is never predicted
    return raw


def interpolated(c: Counts, alpha_gamma) -> tuple[list, list]:
    """p_n = alpha + gamma(context) * p_{n-1}(suffix); alpha_gamma(n) -> (alpha per row, gamma per context)."""
    vocab_size = c.index.size - 1  # without <s>
    probs, gammas = [], []
    for n in range(1, c.order + 1):
        alpha, gamma = alpha_gamma(n)
        lower = np.full(len(alpha), 1.0 / vocab_size) if n == 1 else probs[n - 2][c.suffix[n - 1]]
        p = alpha + gamma[_context_of(c, n)] * lower
        if n == 1:
            p[c.bos] = 1.0
        probs.append(p)
        gammas.append(gamma)
    # back-off weight of an order-n row = gamma of it as a context (1 where it has no extensions)
    backoffs = []
    for n in range(1, c.order):
        g = gammas[n].copy()
        has = _context_sums(c, n + 1, np.ones(len(c.counts[n]))) > 0
        g[~has] = 1.0
        backoffs.append(g)
    return probs, backoffs


def backed_off(c: Counts, discounted) -> tuple[list, list]:
    """Back-off form: p = discounted(n) for seen n-grams; b(h) = (1 - sum seen p) / (1 - sum seen p_lower)."""
    vocab_size = c.index.size - 1
    probs = []
    for n in range(1, c.order + 1):
        p = discounted(n)
        if n == 1:
            p = p.copy()
            p[c.bos] = 0.0
            left = max(0.0, 1.0 - p.sum())
            p = p + left / vocab_size
            p[c.bos] = 1.0
        probs.append(p)
    backoffs = []
    for n in range(1, c.order):
        seen = _context_sums(c, n + 1, probs[n])
        seen_lower = _context_sums(c, n + 1, probs[n - 1][c.suffix[n]])
        has = _context_sums(c, n + 1, np.ones(len(c.counts[n]))) > 0
        num, den = np.maximum(1.0 - seen, 0.0), np.maximum(1.0 - seen_lower, 1e-300)
        b = np.where(has, num / den, 1.0)
        backoffs.append(b)
    return probs, backoffs


def estimate(c: Counts, smoothing: str, *, delta: float = 1.0, discount_fallback: bool = False,
             lambdas: list[float] | None = None, katz_k: int = 5) -> tuple[list, list, dict]:
    """(probabilities per order, back-off weights per order < N, parameters) for one smoothing method."""
    info: dict = {"smoothing": smoothing}
    if smoothing in ("kneser-ney", "modified-kneser-ney", "absolute-discounting"):
        a = adjusted_counts(c) if smoothing != "absolute-discounting" else \
            [_unigram_counts(c)] + [x.copy() for x in c.counts[1:]]
        if smoothing == "absolute-discounting":
            a[0][c.unk] = 0
        ndisc = 3 if smoothing == "modified-kneser-ney" else 1
        discounts = [kn_discounts(a[n - 1], discount_fallback, n, ndisc) for n in range(1, c.order + 1)]
        info["discounts"] = {str(n): [float(x) for x in discounts[n - 1][1:ndisc + 1]] for n in range(1, c.order + 1)}

        def alpha_gamma(n):
            an, d = a[n - 1], discounts[n - 1]
            den = _context_sums(c, n, an.astype(np.float64))
            ctx = _context_of(c, n)
            dn = d[np.minimum(an, 3)]
            mass = _context_sums(c, n, dn)
            safe = np.where(den > 0, den, 1.0)
            return (an - dn) / safe[ctx], mass / safe
        return (*interpolated(c, alpha_gamma), info)
    if smoothing == "witten-bell":
        def alpha_gamma(n):
            cn = _unigram_counts(c) if n == 1 else c.counts[n - 1]
            den = _context_sums(c, n, cn.astype(np.float64))
            types = _context_sums(c, n, (cn > 0).astype(np.float64))
            total = np.where(den + types > 0, den + types, 1.0)
            return cn / total[_context_of(c, n)], types / total
        return (*interpolated(c, alpha_gamma), info)
    if smoothing == "jelinek-mercer":
        lambdas = list(lambdas or [0.5] * c.order)
        info["lambdas"] = lambdas

        def alpha_gamma(n):
            cn = _unigram_counts(c) if n == 1 else c.counts[n - 1]
            den = _context_sums(c, n, cn.astype(np.float64))
            lam = np.where(den > 0, lambdas[n - 1], 0.0)
            safe = np.where(den > 0, den, 1.0)
            return lam[_context_of(c, n)] * cn / safe[_context_of(c, n)], 1.0 - lam
        return (*interpolated(c, alpha_gamma), info)
    if smoothing == "additive":
        # SRILM's -addsmooth: add-δ on the seen n-grams, the rest backs off (textbook add-δ over all
        # |V|^n events cannot be written in back-off form); unigrams cover V, so they are textbook
        info["delta"] = delta
        vocab_size = c.index.size - 1

        def discounted(n):
            cn = _unigram_counts(c) if n == 1 else c.counts[n - 1]
            den = _context_sums(c, n, cn.astype(np.float64))
            return (cn + delta) / (den + delta * vocab_size)[_context_of(c, n)] * (cn > 0 if n > 1 else 1)
        probs, backoffs = backed_off(c, discounted)
        return probs, backoffs, info
    if smoothing in ("good-turing", "katz"):
        info["katz_k"] = katz_k if smoothing == "katz" else None
        ratios = []

        def discounted(n):
            cn = _unigram_counts(c) if n == 1 else c.counts[n - 1]
            r = gt_ratios(cn[cn > 0], katz_k if smoothing == "katz" else None)
            ratios.append({str(k): round(float(v), 6) for k, v in enumerate(r[1:12], 1)})
            den = _context_sums(c, n, cn.astype(np.float64))
            d = np.where(cn < len(r), r[np.minimum(cn, len(r) - 1)], 1.0)
            safe = np.where(den > 0, den, 1.0)
            return d * cn / safe[_context_of(c, n)]
        probs, backoffs = backed_off(c, discounted)
        info["discount_ratios"] = {str(n): ratios[n - 1] for n in range(1, c.order + 1)}
        return probs, backoffs, info
    raise LMError(f"unknown smoothing {smoothing!r}: use one of {', '.join(SMOOTHING)}")


def gt_ratios(counts: np.ndarray, katz_k: int | None) -> np.ndarray:
    """d_r = r*/r per count r (index r; d_0 unused). Good-Turing r* = (r+1) n_{r+1} / n_r where n_{r+1} > 0;
    Katz (k): d_r = (r*/r - (k+1) n_{k+1}/n_1) / (1 - (k+1) n_{k+1}/n_1) for r <= k, 1 above k.
    Where a ratio is undefined or outside (0, 1], absolute discounting D = n1 / (n1 + 2 n2) stands in."""
    top = int(counts.max()) if len(counts) else 1
    n = np.bincount(counts, minlength=top + 2).astype(np.float64)
    limit = katz_k if katz_k is not None else top
    ratios = np.ones(min(top, limit) + 1)
    d_abs = n[1] / (n[1] + 2 * n[2]) if n[1] + 2 * n[2] > 0 else 0.5
    common = (katz_k + 1) * n[katz_k + 1] / n[1] if katz_k is not None and n[1] else 0.0
    for r in range(1, len(ratios)):
        fallback = max(1e-3, 1.0 - d_abs / r)
        if n[r] == 0 or n[r + 1] == 0:
            ratios[r] = fallback
            continue
        star = (r + 1) * n[r + 1] / n[r] / r
        d = (star - common) / (1 - common) if katz_k is not None and common < 1 else star
        ratios[r] = d if 0 < d <= 1 else fallback
    return ratios


def build_model(c: Counts, smoothing: str, **kw) -> Model:
    probs, backoffs, info = estimate(c, smoothing, **kw)
    logprob = []
    for n, p in enumerate(probs, 1):
        with np.errstate(divide="ignore"):
            lp = np.minimum(0.0, np.log10(p))
        lp[~np.isfinite(lp)] = LOG_ZERO
        logprob.append(lp)
    logbo = []
    for n, b in enumerate(backoffs, 1):
        with np.errstate(divide="ignore"):
            lb = np.log10(b)
        lb[~np.isfinite(lb)] = LOG_ZERO
        last = _last_word(c, n)
        lb[(last == c.unk) | (last == c.eos)] = 0.0
        logbo.append(lb)
    return Model(c.index, c.ngrams, logprob, logbo, c.unk, c.bos, info)


def mle_probability(c: Counts, sentence: list[str], order: int = 2) -> float:
    """Maximum-likelihood p(sentence) = prod p(w | previous order-1 words), with <s> and </s>; 0 if unseen."""
    ids = [c.bos] + [c.index.word_id(w) for w in sentence] + [c.eos]
    p = 1.0
    for t in range(1, len(ids)):
        gram = np.array([ids[max(0, t - order + 1): t + 1]])
        if (gram < 0).any():
            return 0.0
        row, found = c.index.find(gram)
        ctx, ctx_found = c.index.find(gram[:, :-1])
        if not found[0]:
            return 0.0
        n = gram.shape[1]
        den = _context_sums(c, n, c.counts[n - 1].astype(np.float64))[ctx[0] if n > 1 else 0]
        p *= c.counts[n - 1][row[0]] / den
    return p


# ---------------------------------------------------------------- Jelinek-Mercer tuning

def tune_jelinek_mercer(c: Counts, heldout: list[list[str]], grid=None) -> list[float]:
    """λ per order maximising held-out likelihood: coordinate search over a grid, vectorised over tokens."""
    grid = np.asarray(grid if grid is not None else np.round(np.arange(0.02, 1.0, 0.02), 2))
    seq, targets, _, _ = _positions(c.index, heldout, c.unk, c.bos, c.eos)
    vocab_size = c.index.size - 1
    ml, has_ctx = [], []
    for n in range(1, c.order + 1):
        grams, valid = _grams_ending_at(seq, targets, n, c.bos)
        row, found = c.index.find(grams)
        found &= valid
        cn = _unigram_counts(c) if n == 1 else c.counts[n - 1]
        den_all = _context_sums(c, n, cn.astype(np.float64))
        if n == 1:
            den, ctx_ok = np.full(len(targets), den_all[0]), np.ones(len(targets), bool)
        else:
            ctx, ctx_found = c.index.find(grams[:, :-1])
            ctx_ok = ctx_found & valid
            den = np.where(ctx_ok, den_all[ctx], 1.0)
            ctx_ok &= den > 0
        ml.append(np.where(found & ctx_ok, cn[row] / np.where(den > 0, den, 1.0), 0.0))
        has_ctx.append(ctx_ok)
    lambdas = [0.5] * c.order

    def loglik(lams):
        p = np.full(len(targets), 1.0 / vocab_size)
        for n in range(c.order):
            p = np.where(has_ctx[n], lams[n] * ml[n] + (1 - lams[n]) * p, p)
        return np.log(p).sum()

    for _ in range(3):
        for n in range(c.order):
            scores = [loglik(lambdas[:n] + [g] + lambdas[n + 1:]) for g in grid]
            lambdas[n] = float(grid[int(np.argmax(scores))])
    return lambdas


# ---------------------------------------------------------------- scoring

def _positions(index: NgramIndex, sentences: list[list[str]], unk: int, bos: int, eos: int):
    """Flat <s> w.. </s> id sequence; targets = positions of words and </s>; sentence of each target; OOV mask."""
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    flat = [w for s in sentences for w in s]
    ids = index.word_ids(flat, -1) if flat else np.zeros(0, np.int64)
    oov_words = ids < 0
    ids[oov_words] = unk
    padded = lengths + 2
    starts = np.zeros(len(lengths), np.int64)
    if len(lengths):
        np.cumsum(padded[:-1], out=starts[1:])
    total = int(padded.sum())
    seq = np.full(total, -1, np.int64)
    inner = np.ones(total, bool)
    inner[starts] = False
    inner[starts + padded - 1] = False
    seq[starts] = bos
    seq[starts + padded - 1] = eos
    seq[inner] = ids
    oov = np.zeros(total, bool)
    oov[inner] = oov_words
    targets = np.nonzero(seq != bos)[0]
    sentence = np.repeat(np.arange(len(lengths)), padded)[targets]
    return seq, targets, sentence, oov[targets]


def _grams_ending_at(seq: np.ndarray, targets: np.ndarray, n: int, bos: int):
    """(m, n) ids of the n-gram ending at each target, and whether it lies inside the sentence."""
    cols = []
    valid = np.ones(len(targets), bool)
    for j in range(n - 1, -1, -1):
        pos = targets - j
        ok = pos >= 0
        col = np.where(ok, seq[np.maximum(pos, 0)], -1)
        cols.append(col)
    grams = np.stack(cols, axis=1) if cols else np.zeros((len(targets), 0), np.int64)
    # inside the sentence: no </s> before the target, and <s> only in the first position
    for j in range(n - 1):
        valid &= grams[:, j + 1] != bos
        valid &= grams[:, j] != -1
    # a window reaching back past <s> into the previous sentence: <s> appears at a later column
    return grams, valid


def score(model: Model, sentences: list[list[str]]) -> dict:
    """log10 p of every word and </s> (ARPA back-off, as KenLM's query scores), per token and per sentence."""
    seq, targets, sentence, oov = _positions(model.index, sentences, model.unk, model.bos,
                                             model.index.word_id(EOS))
    m = len(targets)
    best = np.zeros(m)
    found_any = np.zeros(m, bool)
    longest = np.zeros(m, np.int64)
    for n in range(model.order, 0, -1):
        grams, valid = _grams_ending_at(seq, targets, n, model.bos)
        if n > 1:
            valid &= ~(grams[:, 1:] == model.bos).any(axis=1)
        row, found = model.index.find(np.where(grams >= 0, grams, 0))
        found &= valid & ~found_any
        best[found] = model.logprob[n - 1][row[found]]
        longest[found] = n
        found_any |= found
    logp = best.copy()
    # add the back-off weights of the contexts longer than the match: lengths longest .. N-1
    for k in range(1, model.order):
        grams, valid = _grams_ending_at(seq, targets - 1, k, model.bos)
        if k > 1:
            valid &= ~(grams[:, 1:] == model.bos).any(axis=1)
        valid &= ~(grams == model.index.word_id(EOS)).any(axis=1)
        row, found = model.index.find(np.where(grams >= 0, grams, 0))
        use = found & valid & (longest <= k)
        logp[use] += model.backoff[k - 1][row[use]]
    per_sentence = np.bincount(sentence, weights=logp, minlength=len(sentences))
    return {"logprob": logp, "sentence": sentence, "oov": oov, "per_sentence": per_sentence,
            "tokens_per_sentence": np.bincount(sentence, minlength=len(sentences))}


def perplexity(scored: dict) -> dict:
    logp, oov = scored["logprob"], scored["oov"]
    total, n, n_oov = float(logp.sum()), len(logp), int(oov.sum())
    in_vocab = float(logp[~oov].sum())
    return {"tokens": n, "oov": n_oov, "log10_prob": total,
            "perplexity": 10 ** (-total / n) if n else math.nan,
            "perplexity_excluding_oov": 10 ** (-in_vocab / (n - n_oov)) if n > n_oov else math.nan}


# ---------------------------------------------------------------- ARPA

def _fmt(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values.astype(np.float32)), pa.string())


def write_arpa(model: Model, path: str) -> str:
    """Writes the ARPA file; returns its sha256 (hashed as it is written, not read back)."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for chunk in _arpa_chunks(model):
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def _string_bytes(strings: pa.Array) -> memoryview:
    """The concatenated UTF-8 bytes of a string array without nulls (its data buffer, sliced): no Python str."""
    offsets = np.frombuffer(strings.buffers()[1], np.int32, len(strings) + 1, strings.offset * 4)
    return memoryview(strings.buffers()[2])[offsets[0]:offsets[-1]]


def _arpa_chunks(model: Model):
    yield ("\\data\\\n" + "".join(f"ngram {n}={len(p)}\n" for n, p in enumerate(model.logprob, 1)) + "\n").encode()
    for n in range(1, model.order + 1):
        yield f"\\{n}-grams:\n".encode()
        cols = [_fmt(model.logprob[n - 1]), model.ngrams[n - 1]]
        if n < model.order:
            cols.append(_fmt(model.backoff[n - 1]))
        step = 500_000
        for start in range(0, len(cols[0]), step):
            lines = pc.binary_join_element_wise(*[col.slice(start, step) for col in cols], "\t")
            lines = pc.binary_join_element_wise(lines, "", "\n")  # every line ends in a newline
            yield _string_bytes(lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines)
        yield b"\n"
    yield b"\\end\\\n"


def _read_section(text: bytes, ncols: int) -> pa.Table:
    names = [f"c{i}" for i in range(ncols)]
    try:
        return pacsv.read_csv(pa.py_buffer(text.strip(b"\n") + b"\n"),
                              read_options=pacsv.ReadOptions(column_names=names),
                              parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
                              convert_options=pacsv.ConvertOptions(
                                  column_types={"c0": pa.float64(), "c1": pa.string(), "c2": pa.float64()},
                                  strings_can_be_null=False))
    except pa.ArrowInvalid:  # SRILM leaves out zero back-off weights: rows of 2 and 3 fields
        rows = [line.split("\t") for line in text.decode("utf-8").strip("\n").split("\n")]
        cols = {"c0": pa.array([float(r[0]) for r in rows]), "c1": pa.array([r[1] for r in rows], pa.string())}
        if ncols == 3:
            cols["c2"] = pa.array([float(r[2]) if len(r) > 2 else 0.0 for r in rows])
        return pa.table(cols)


def read_arpa(path: str) -> Model:
    """An ARPA file (ours, lmplz's, SRILM's) -> Model, parsed with Arrow's CSV reader per section."""
    with open(path, "rb") as f:
        data = f.read()
    header_end = data.index(b"\n\\1-grams:")
    sizes = {}
    for line in data[:header_end].decode().splitlines():
        if line.startswith("ngram "):
            n, count = line[6:].split("=")
            sizes[int(n)] = int(count)
    order = max(sizes)
    sections = []
    pos = header_end + 1
    for n in range(1, order + 1):
        start = data.index(b"\n", data.index(f"\\{n}-grams:".encode(), pos)) + 1
        end = data.index(b"\\" + (f"{n + 1}-grams:" if n < order else "end\\").encode(), start)
        sections.append(data[start:end])
        pos = end
    index, ngrams, logprob, backoff = None, [], [], []
    vocab = None
    for n, text in enumerate(sections, 1):
        ncols = 3 if n < order else 2
        table = _read_section(text, ncols) if text.strip() else None
        if table is None:
            grams, lp, bo = pa.array([], pa.string()), np.zeros(0), np.zeros(0)
        else:
            grams = table.column("c1").combine_chunks()
            lp = table.column("c0").to_numpy()
            bo = table.column("c2").fill_null(0.0).to_numpy() if ncols == 3 else None
        if len(grams) != sizes.get(n, len(grams)):
            raise LMError(f"{path}: the header says {sizes[n]} {n}-grams but the file has {len(grams)}")
        if n == 1:
            vocab = grams
            index = NgramIndex(vocab, [np.arange(len(vocab), dtype=np.int64)])
            ngrams.append(grams)
            logprob.append(lp)
            backoff.append(bo if bo is not None else np.zeros(len(lp)))
            continue
        words = pc.list_flatten(pc.split_pattern(grams, " "))
        ids = index.word_ids(words, -1).reshape(-1, n)
        prefix, found = index.find(np.maximum(ids[:, :-1], 0))
        if (ids < 0).any() or not found.all():
            raise LMError(f"{path}: some {n}-grams have words or contexts missing from lower orders")
        key = prefix * index.size + ids[:, -1]
        sort = np.argsort(key, kind="stable")
        index.keys.append(key[sort])
        ngrams.append(grams.take(pa.array(sort)))
        logprob.append(lp[sort])
        if bo is not None:
            backoff.append(bo[sort])
    unk = index.word_id(UNK)
    if unk < 0:
        raise LMError(f"{path}: the model has no <unk>")
    return Model(index, ngrams, logprob, backoff[: order - 1], unk, index.word_id(BOS), {})
