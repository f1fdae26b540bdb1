"""build lm --smoothing additive is SRILM's back-off add-δ (ngram-count -addsmooth): checked against a
brute-force model written from that definition, over every context and every word of a tiny corpus."""
import itertools
import math
from collections import Counter

import pytest

from tests.conftest import run_cli

SENTENCES = ["a b a c", "b a b", "c c a", "a b", "d"]


def brute_force(sentences, order, delta):
    """p(w | h) for every h of up to order-1 words over V + <s> and every w in V, from the definition:
    a seen n-gram gets (c(h w) + δ) / (c(h) + δ|V|); an unseen one b(h) p(w | h minus its first word),
    b(h) normalising; unigrams are textbook add-δ over V (the counted words, </s>, <unk>; not <s>)."""
    counts = Counter()
    for s in sentences:
        padded = ["<s>", *s.split(), "</s>"]
        for n in range(1, order + 1):
            for i in range(len(padded) - n + 1):
                counts[tuple(padded[i:i + n])] += 1
    vocab = sorted({w for (w,) in (k for k in counts if len(k) == 1)} - {"<s>"} | {"<unk>"})
    total = sum(c for k, c in counts.items() if len(k) == 1 and k != ("<s>",))
    p = {(): {w: (counts[(w,)] + delta) / (total + delta * len(vocab)) for w in vocab}}
    for n in range(2, order + 1):
        for h in itertools.product(vocab + ["<s>"], repeat=n - 1):
            lower = p[h[1:]]
            seen = {w: counts[h + (w,)] for w in vocab if counts[h + (w,)] > 0}
            if not seen:
                p[h] = dict(lower)
                continue
            context = sum(seen.values())
            dist = {w: (c + delta) / (context + delta * len(vocab)) for w, c in seen.items()}
            b = (1 - sum(dist.values())) / (1 - sum(lower[w] for w in seen))
            p[h] = {w: dist.get(w, b * lower[w]) for w in vocab}
    return p, vocab


def arpa_conditional(path):
    """p(w | h) by the ARPA back-off rule from the file's own text (the test's reader, not the library's)."""
    logprob, backoff, n = {}, {}, 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            n = int(line[1:line.index("-")])
        elif n and line.strip() and not line.startswith("\\"):
            fields = line.split("\t")
            logprob[tuple(fields[1].split())] = float(fields[0])
            if len(fields) > 2:
                backoff[tuple(fields[1].split())] = float(fields[2])

    def p(h, w):
        h = tuple(h)
        if h + (w,) in logprob:
            return 10 ** logprob[h + (w,)]
        return 10 ** backoff.get(h, 0.0) * p(h[1:], w)
    return p


@pytest.mark.parametrize("delta", [None, 0.5])  # None: the CLI's default δ = 1
def test_additive_equals_brute_force_backoff_add_delta_and_normalises(tmp_path, delta):
    text = tmp_path / "tiny.txt"
    text.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    ngrams, model = tmp_path / "ng", tmp_path / "lm"
    run_cli("build", "ngrams", "-i", text, "--format", "pretokenized", "--order", 3, "-o", ngrams)
    run_cli("build", "lm", "-i", ngrams, "-s", "additive", "-o", model, *(["--delta", delta] if delta else []))
    expected, vocab = brute_force(SENTENCES, 3, delta or 1.0)
    ours = arpa_conditional(model / "model.arpa")
    assert len(vocab) == 6 and len(expected) == 1 + 7 + 49  # every context, seen or not
    for h, dist in expected.items():
        assert math.fsum(dist.values()) == pytest.approx(1.0, abs=1e-12)
        got = {w: ours(h, w) for w in vocab}
        assert got == pytest.approx(dist, rel=1e-5), h  # ARPA keeps log10 p to 6-7 digits
        assert math.fsum(got.values()) == pytest.approx(1.0, abs=1e-5), h


def test_additive_is_named_as_back_off_add_delta_in_help():
    help_text = " ".join(run_cli("build", "lm", "--help").output.split())
    assert "additive: SRILM's back-off add-δ" in help_text
