"""Masking on real text: budgets at the CLI defaults, the 80/10/10 split, whole words, n-gram and span lengths."""
import numpy as np
import pytest

from corpusforge.dataset import load_table
from corpusforge.dataset.reader import read_manifest
from corpusforge.objectives.instances import InstanceBuilder, InstanceConfig, instance_statistics
from corpusforge.objectives.masking import KEEP, MASK, MaskingConfig, mask_tokens, vocabulary_ids, words_of
from corpusforge.pipelines.pretraining import main as pretraining_command
from tests.conftest import ROOT

CLI = {p.name: p.default for p in pretraining_command.params}  # the defaults a user gets
SETTINGS = [(CLI["max_seq_length"], CLI["max_predictions_per_seq"]), (512, 80)]  # BERT's two phases
VOCAB_LINES = (ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt").read_text(encoding="utf-8").split("\n")


@pytest.fixture(scope="module")
def vocab(sample_tokenized):
    manifest = read_manifest(str(sample_tokenized))
    return manifest["special_ids"], manifest["tokenizer"]["vocab_size"]


def masking(vocab, scheme, **kw):
    mask_id, random_ids = vocabulary_ids(*vocab)
    defaults = dict(masked_lm_prob=CLI["masked_lm_prob"], max_predictions=CLI["max_predictions_per_seq"],
                    max_ngram=CLI["max_ngram"], span_p=CLI["span_p"], max_span=CLI["max_span"])
    return MaskingConfig(scheme=scheme, mask_id=mask_id, random_ids=random_ids, **{**defaults, **kw})


def build(docs, vocab, scheme, mode="doc-sentences", max_seq_length=CLI["max_seq_length"], **kw):
    special = vocab[0]
    cfg = InstanceConfig(mode=mode, max_seq_length=max_seq_length, short_seq_prob=CLI["short_seq_prob"],
                         cls_id=special["cls"], sep_id=special["sep"], masking=masking(vocab, scheme, **kw))
    builder = InstanceBuilder(cfg, seed=7)
    batch = builder.build(list(docs))
    rows = [row for _, row in batch.rows()]
    return rows, instance_statistics(builder.stats, cfg.max_seq_length)


def google_k(n: int, prob: float, cap: int) -> int:
    """create_pretraining_data.py's num_to_predict for n candidate tokens."""
    return min(cap, max(1, int(round(n * prob)))) if n else 0


def clipped_geometric(p: float, longest: int) -> dict:
    """P(N = n | N <= longest) for N ~ Geometric(p) on 1, 2, ...: from its survival function (1 - p)^n."""
    q = 1 - p
    return {n: (q ** (n - 1) - q ** n) / (1 - q ** longest) for n in range(1, longest + 1)}


def stated_lengths(scheme: str) -> dict:
    if scheme == "span":  # SpanBERT: Geo(0.2) clipped at 10, mean 3.8
        return clipped_geometric(CLI["span_p"], CLI["max_span"])
    assert CLI["max_ngram"] == 3
    return {1: 6 / 11, 2: 3 / 11, 3: 2 / 11}  # ALBERT's 1/n weights for n <= 3


def test_words_of_ends_words_at_specials():
    special = np.array([1, 0, 0, 0, 1, 0, 0, 1], dtype=bool)
    words = np.array([-1, 0, 0, 1, -1, 1, 2, -1])  # word 1 on both sides of a [SEP] is two words
    starts, ends, segment = words_of(special, words)
    assert starts.tolist() == [1, 3, 5, 6] and ends.tolist() == [3, 4, 6, 7] and segment.tolist() == [1, 1, 2, 2]


@pytest.mark.parametrize("length, predictions", SETTINGS)
@pytest.mark.parametrize("scheme", ["ngram", "span"])
def test_every_instance_gets_its_budget_at_the_defaults(sample_documents, vocab, scheme, length, predictions):
    """Exactly Google's k per instance (so the share is 15%), and the drawn unit lengths follow the
    stated distribution."""
    rows, stats = build(sample_documents, vocab, scheme, mode=CLI["mode"], max_seq_length=length,
                        max_predictions=predictions)
    masked = maskable = short = 0
    for row in rows:
        n = int((row["special_tokens_mask"] == 0).sum())
        k = google_k(n, CLI["masked_lm_prob"], predictions)
        assert len(row["masked_lm_positions"]) == k
        masked, maskable, short = masked + k, maskable + n, short + (k <= 3)
    assert short > 20  # nsp's short-target draws
    assert masked / maskable == pytest.approx(0.15, abs=0.01)
    assert stats["masked_share_of_maskable"] == pytest.approx(masked / maskable, abs=1e-4)
    hist = {int(n): v for n, v in stats["unit_words"]["histogram"].items()}
    total = sum(hist.values())
    assert total > 5000
    expected = stated_lengths(scheme)
    assert set(hist) <= set(expected)
    for n, p in expected.items():
        assert hist.get(n, 0) / total == pytest.approx(p, abs=0.02), n


@pytest.mark.parametrize("scheme", ["ngram", "span"])
def test_short_instances_are_masked_too(sample_documents, vocab, scheme):
    """Instances with k <= 3 (24 tokens): none is left unmasked, each gets its k."""
    rows, stats = build(sample_documents, vocab, scheme, mode=CLI["mode"], max_seq_length=24)
    ks = []
    for row in rows:
        n = int((row["special_tokens_mask"] == 0).sum())
        ks.append(google_k(n, CLI["masked_lm_prob"], CLI["max_predictions_per_seq"]))
        assert len(row["masked_lm_positions"]) == ks[-1]
    assert len(rows) > 5000 and max(ks) <= 3 and min(ks) >= 1
    assert stats["masked_per_instance"] == pytest.approx(np.mean(ks), abs=1e-3)
    assert stats["masked_share_of_maskable"] == pytest.approx(0.15, abs=0.01)  # Google's rounding: 3 of 21 is 0.143


@pytest.mark.parametrize("scheme", ["token", "wwm", "ngram", "span"])
def test_masked_share_and_replacement_split(sample_documents, vocab, scheme):
    rows, stats = build(sample_documents, vocab, scheme, max_predictions=60)
    assert stats["masked_share_of_maskable"] == pytest.approx(0.15, abs=0.01)
    assert stats["shown_as"]["mask"] == pytest.approx(0.8, abs=0.02)
    assert stats["shown_as"]["random"] == pytest.approx(0.1, abs=0.02)
    assert stats["shown_as"]["kept"] == pytest.approx(0.1, abs=0.02)
    for row in rows:
        special = row["special_tokens_mask"].astype(bool)
        assert not special[row["masked_lm_positions"]].any()  # never a [CLS]/[SEP]
        assert len(row["input_ids"]) <= 128
        assert np.all(np.diff(row["masked_lm_positions"]) > 0)


def test_token_masking_is_capped_at_max_predictions(sample_documents, vocab):
    rows, stats = build(sample_documents, vocab, "token", max_predictions=5)
    assert max(len(r["masked_lm_positions"]) for r in rows) == 5
    assert stats["masked_per_instance"] <= 5


def test_labels_and_inputs_against_the_stored_text(sample_tokenized, vocab):
    """The labels are the dataset's own tokens at those places; the model sees the text unchanged
    except where it is shown [MASK] (the vocabulary's line "[MASK]") or a random non-special token."""
    sentence = load_table(str(sample_tokenized)).column("input_ids")[0].as_py()[0]
    special_ids = vocab[0]
    ids = np.array([special_ids["cls"], *sentence, special_ids["sep"]])
    special = np.zeros(len(ids), bool)
    special[[0, -1]] = True
    cfg = masking(vocab, "token")
    masked = mask_tokens(ids, special, np.where(special, -1, np.arange(len(ids))), np.random.default_rng(0), cfg)
    positions = masked.positions.tolist()
    assert len(positions) == google_k(len(sentence), CLI["masked_lm_prob"], CLI["max_predictions_per_seq"])
    assert masked.labels.tolist() == [sentence[p - 1] for p in positions]
    shown = masked.input_ids.tolist()
    assert [shown[p] for p in range(len(shown)) if p not in positions] == \
        [special_ids["cls"], *[t for p, t in enumerate(sentence, 1) if p not in positions], special_ids["sep"]]
    names = [VOCAB_LINES[shown[p]] for p in positions]
    for p, name, how in zip(positions, names, masked.shown_as):
        if how == MASK:
            assert name == "[MASK]"
        elif how == KEEP:
            assert shown[p] == sentence[p - 1]
        else:
            assert not name.startswith("[") and shown[p] not in special_ids.values()
    assert names.count("[MASK]") == (masked.shown_as == MASK).sum() > 0


def test_whole_word_masking_never_masks_part_of_a_word(sample_documents, vocab):
    rows, stats = build(sample_documents, vocab, "wwm", mode="nsp")
    multi = 0
    for row in rows:
        words, masked = row["word_ids"], np.zeros(len(row["word_ids"]), bool)
        masked[row["masked_lm_positions"]] = True
        for w in np.unique(words[masked]):
            assert masked[words == w].all(), "a word is partly masked"
            multi += (words == w).sum() > 1
    assert multi > 1000  # many of the masked words have several tokens (jieba words, character vocab)


def test_span_replacement_is_decided_per_span(sample_documents, vocab):
    """SpanBERT's 80/10/10 per span: a run of adjacent predicted tokens is all [MASK] or none of it."""
    rows, _ = build(sample_documents, vocab, "span", mode=CLI["mode"])
    mask_id = vocab[0]["mask"]
    runs = all_masked = 0
    for row in rows:
        positions = row["masked_lm_positions"]
        for run in np.split(positions, np.flatnonzero(np.diff(positions) > 1) + 1):
            shown_mask = row["input_ids"][run] == mask_id
            assert shown_mask.all() or not shown_mask.any()
            runs += 1
            all_masked += shown_mask.all()
    assert runs > 5000 and all_masked / runs == pytest.approx(0.8, abs=0.02)


def test_none_masks_nothing(sample_documents, vocab):
    rows, stats = build(sample_documents[:50], vocab, "none")
    assert all(len(r["masked_lm_positions"]) == 0 for r in rows)
    assert stats["masked_per_instance"] == 0


def test_bad_scheme_is_refused():
    with pytest.raises(ValueError, match="not one of"):
        MaskingConfig(scheme="random")


def test_ids_come_from_the_tokenizer_only():
    """No model's ids are defaults: masking without the tokenizer's ids fails with one sentence."""
    with pytest.raises(ValueError, match=r"^masking needs the tokenizer's \[MASK\] id"):
        MaskingConfig(scheme="span")
    with pytest.raises(ValueError, match="random replacements"):
        MaskingConfig(scheme="token", mask_id=4, random_ids=np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match=r"\[CLS\] and \[SEP\] ids"):
        InstanceConfig(mode="nsp", masking=MaskingConfig(scheme="none"))
    assert MaskingConfig(scheme="none").mask_id is None  # unmasked data needs no ids
