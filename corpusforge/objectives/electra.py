"""ELECTRA's pretraining examples: google-research/electra build_pretraining_dataset.py's ExampleBuilder.

Sentences of a document are accumulated until they reach the target length (a document's end also
ends an example; examples never cross documents). The example's sentences are then dealt to two
segments: with probability 0.1 everything goes to the first (a single segment, as in classification
tasks); otherwise a sentence joins the first segment if it is empty, if the sentence keeps it under
half the target ((target - 3) // 2), or, with probability 0.5, if it is the sentence that crosses
that half while the second segment is still empty; any other sentence joins the second (so a later
short sentence may still join the first). The first segment is cut to max_length - 2 tokens, the
second to what is left of max_length - 3: those cut tokens are lost, as in ELECTRA (counted here).
After each example the next target is max_length, or with probability 0.05 a random length in
[5, max_length]. There is no pair label; masking is the trainer's (ELECTRA masks dynamically).

The draws are injected (chance(p) -> bool, randint(a, b) -> int, both ends included) and made in the
reference's order, so driven by Python's random the examples are the reference's own
(tests/data/electra/make_reference.py checks this).
"""
from __future__ import annotations

from typing import Callable, Iterator, NamedTuple

SINGLE_SEGMENT_PROB = 0.1
RANDOM_TARGET_PROB = 0.05
MIN_RANDOM_TARGET = 5
ALL_IN_FIRST = 100000  # ELECTRA's first-segment target when one segment is drawn


class ElectraExample(NamedTuple):
    document: int  # the document's index among those given
    first: list  # token ranges (start, end) of the first segment, after the cut
    second: list  # of the second segment (empty: a single segment)
    random_target: bool  # the example was accumulated towards a random target length
    single_draw: bool  # the 0.1 draw put every sentence in the first segment
    cut_tokens: int  # tokens lost to the max_length cut


def _take(ranges: list, budget: int) -> tuple[list, int]:
    """The ranges cut to `budget` tokens from the front (ELECTRA's segment[:budget]) and the tokens kept."""
    out, kept = [], 0
    for a, b in ranges:
        if kept >= budget:
            break
        b = min(b, a + budget - kept)
        if b > a:
            out.append((a, b))
            kept += b - a
    return out, kept


def electra_examples(documents: list[list[tuple[int, int]]], max_length: int, chance: Callable[[float], bool],
                     randint: Callable[[int, int], int]) -> Iterator[ElectraExample]:
    """The examples of these documents, each a list of its sentences' token ranges (start, end); the
    target length carries from one document to the next, as the reference's builder does."""
    target, random_target = max_length, False
    for d, sentences in enumerate(documents):
        current, length, last = [], 0, len(sentences) - 1
        for i, (start, end) in enumerate(sentences):
            current.append((start, end))
            length += end - start
            if length >= target or (i == last and length):  # a document's end ends its example too
                example = _example(d, current, target, max_length, random_target, chance)
                current, length = [], 0
                random_target = chance(RANDOM_TARGET_PROB)  # the next example's target, drawn as the reference
                target = randint(MIN_RANDOM_TARGET, max_length) if random_target else max_length
                yield example


def _example(d, sentences, target, max_length, random_target, chance) -> ElectraExample:
    single = chance(SINGLE_SEGMENT_PROB)
    half = ALL_IN_FIRST if single else (target - 3) // 2
    first, second, n_first, n_second = [], [], 0, 0
    for start, end in sentences:
        n = end - start
        # the reference's condition, its short-circuit included (the 0.5 draw is made only when reached)
        if n_first == 0 or n_first + n < half or (n_second == 0 and n_first < half and chance(0.5)):
            first.append((start, end))
            n_first += n
        else:
            second.append((start, end))
            n_second += n
    first, kept_first = _take(first, max_length - 2)
    second, kept_second = _take(second, max(0, max_length - kept_first - 3))
    return ElectraExample(d, first, second, random_target, single,
                          n_first + n_second - kept_first - kept_second)


def electra_statistics(totals: dict, instances: int) -> dict:
    """The manifest's ELECTRA figures, from InstanceBuilder's tallies: shares of instances with one segment
    (drawn, or whose sentences all fit the first half), of single-segment draws and of random targets; the
    first segment's length where there are two; the tokens lost to the cut (and their share of the text's)."""
    firsts = sorted((int(k.split("=")[1]), v) for k, v in totals.items() if k.startswith("first_segment_tokens="))
    two, cut = sum(v for _, v in firsts), totals.get("cut_tokens", 0)
    out = {"one_segment_share": round(totals.get("one_segment", 0) / instances, 4),
           "single_segment_draw_share": round(totals.get("single_segment_draws", 0) / instances, 4),
           "random_target_share": round(totals.get("random_target", 0) / instances, 4),
           "cut_tokens": cut, "cut_token_share": round(cut / max(1, cut + totals.get("maskable", 0)), 4)}
    if two:
        quantiles, cum, at = {}, 0, iter((("p10", 0.1), ("p50", 0.5), ("p90", 0.9)))
        name, q = next(at)
        for length, count in firsts:
            cum += count
            while name and cum >= q * two:
                quantiles[name] = length
                name, q = next(at, (None, None))
        out["first_segment_tokens"] = {"mean": round(sum(k * v for k, v in firsts) / two, 3), **quantiles}
    return out
