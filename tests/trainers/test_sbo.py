"""SpanBERT's span-boundary objective (Joshi et al. 2020, section 3.2) against values worked out by hand:
each token x_i of a span (s, e) is predicted from the boundary states x_{s-1}, x_{e+1} and its position in
the span, y_i = LN(GeLU(W2 LN(GeLU(W1 [x_{s-1}; x_{e+1}; p_{i-s+1}])))), with the MLM's tied decoder."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from corpusforge.torch.collate import span_boundaries
from corpusforge.trainers.encoder import Encoder, EncoderConfig

V = 8
# two rows of 12: [CLS] 5 tokens [SEP] ..., spans at positions 3-5 and 9 (row 0) and 1-2 (row 1)
INPUT = torch.tensor([[1, 3, 4, 6, 6, 6, 5, 7, 3, 6, 2, 2], [1, 6, 6, 3, 4, 5, 2, 0, 0, 0, 0, 0]])
LABELS = torch.full((2, 12), -100)
TARGETS = {(0, 3): 7, (0, 4): 7, (0, 5): 7, (0, 9): 7, (1, 1): 7, (1, 2): 7}
for (r, c), t in TARGETS.items():
    LABELS[r, c] = t


def batch():
    b = {"input_ids": INPUT, "token_type_ids": torch.zeros_like(INPUT), "attention_mask": (INPUT != 0).long(),
         "labels": LABELS}
    b.update({k: torch.from_numpy(v) for k, v in span_boundaries((LABELS != -100).numpy()).items()})
    return b


def test_span_boundaries_by_hand():
    b = span_boundaries((LABELS != -100).numpy())
    # flat positions (row * 12 + column) of the token before and after each predicted token's span
    assert b["span_left"].tolist() == [2, 2, 2, 8, 12, 12]
    assert b["span_right"].tolist() == [6, 6, 6, 10, 15, 15]
    assert b["span_offset"].tolist() == [0, 1, 2, 0, 0, 1]


def model():
    torch.manual_seed(0)
    m = Encoder(EncoderConfig(vocab_size=V, layers=1, hidden=16, heads=2, intermediate=32, max_position=16,
                              sentence_head=False, sbo=True, dropout=0.0))
    return m.eval()


def test_sbo_loss_is_the_hand_computed_cross_entropy_when_the_decoder_sees_only_its_bias():
    """Zero word embeddings: every SBO logit row is the bias, log(1, 1, 1, 1, 1, 1, 1, 9): the target 7 has
    probability 9/16, so the loss is -ln(9/16) = 0.5754 whatever the boundaries."""
    m = model()
    with torch.no_grad():
        m.emb.word.weight.zero_()
        m.sbo_bias.copy_(torch.log(torch.tensor([1.0] * 7 + [9.0])))
    out = m(batch())
    assert math.isclose(float(out["sbo_loss"]), -math.log(9 / 16), rel_tol=1e-6)
    assert math.isclose(-math.log(9 / 16), 0.5753641449035618)
    assert math.isclose(float(out["loss"].detach()), float(out["mlm_loss"]) + float(out["sbo_loss"]), rel_tol=1e-6)


def test_sbo_loss_follows_the_papers_equations_from_the_boundary_states():
    torch.set_grad_enabled(False)
    try:
        check_against_the_equations(model())
    finally:
        torch.set_grad_enabled(True)


def check_against_the_equations(m):
    out = m(batch())
    h = m.encode(INPUT, torch.zeros_like(INPUT), (INPUT != 0).long())
    lin1, _, ln1, lin2, _, ln2 = m.sbo_mlp
    spans = {(0, 3): (2, 6, 0), (0, 4): (2, 6, 1), (0, 5): (2, 6, 2), (0, 9): (8, 10, 0), (1, 1): (0, 3, 0),
             (1, 2): (0, 3, 1)}  # (s - 1, e + 1, i - s) in the row, by hand
    losses = []
    for (r, _), (left, right, offset) in spans.items():
        h0 = torch.cat([h[r, left], h[r, right], m.sbo_offset.weight[offset]])
        h1 = F.layer_norm(F.gelu(h0 @ lin1.weight.T + lin1.bias), (16,), ln1.weight, ln1.bias, 1e-5)
        y = F.layer_norm(F.gelu(h1 @ lin2.weight.T + lin2.bias), (16,), ln2.weight, ln2.bias, 1e-5)
        logits = m.emb.word.weight @ y + m.sbo_bias
        losses.append(float(torch.logsumexp(logits, 0) - logits[7]))
    assert np.isclose(float(out["sbo_loss"]), np.mean(losses), rtol=1e-5)
    # moving a boundary changes the loss: the boundaries, not the span's own tokens, are what it reads
    moved = batch()
    moved["span_right"] = moved["span_right"].clone()
    moved["span_right"][3] = 11
    assert not np.isclose(float(m(moved)["sbo_loss"]), float(out["sbo_loss"]), rtol=1e-4)
