"""A BERT / ALBERT encoder with its pretraining heads, in plain torch.nn.

Post-LayerNorm Transformer as in BERT (so Hugging Face's BertForPreTraining / AlbertForPreTraining
load the exported weights and compute the same logits); attention through
F.scaled_dot_product_attention. ALBERT = a factorised embedding (vocab x E, then E -> H) and
cross-layer sharing of the attention and/or feed-forward blocks. Heads: MLM (decoder tied to the
word embeddings), a two-way sentence head on the pooled [CLS] (NSP or SOP), and optionally
SpanBERT's span-boundary objective (SBO).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from corpusforge.trainers.options import PRESETS

SHARING = ("none", "all", "attention", "ffn")
MAX_SPAN_OFFSET = 64  # SBO: positions within a span beyond this share one embedding


@dataclass
class EncoderConfig:
    vocab_size: int
    layers: int = 2
    hidden: int = 128
    heads: int = 2
    intermediate: int = 512
    max_position: int = 512
    type_vocab: int = 2
    arch: str = "bert"  # bert | albert (albert: factorised embedding, E -> H mapping, sharing)
    embedding_size: int = 128  # albert only; bert's embeddings are `hidden` wide
    share: str = "none"  # albert: all | attention | ffn | none
    sentence_head: bool = True  # NSP / SOP classifier on the pooled [CLS]
    sbo: bool = False  # SpanBERT span-boundary objective
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    pad_id: int = 0

    @classmethod
    def preset(cls, name: str, vocab_size: int, **kw) -> "EncoderConfig":
        layers, hidden, heads = PRESETS[name]
        return cls(**{"vocab_size": vocab_size, "layers": layers, "hidden": hidden, "heads": heads,
                      "intermediate": 4 * hidden, **kw})

    @property
    def embed(self) -> int:
        return self.embedding_size if self.arch == "albert" else self.hidden

    def to_dict(self) -> dict:
        return asdict(self)


class Attention(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.heads, self.p = c.heads, c.dropout
        self.query, self.key, self.value = (nn.Linear(c.hidden, c.hidden) for _ in range(3))
        self.out = nn.Linear(c.hidden, c.hidden)
        self.ln = nn.LayerNorm(c.hidden, eps=c.layer_norm_eps)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x, mask):
        b, t, h = x.shape
        q, k, v = (f(x).view(b, t, self.heads, h // self.heads).transpose(1, 2) for f in (self.query, self.key, self.value))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.p if self.training else 0.0)
        y = y.transpose(1, 2).reshape(b, t, h)
        return self.ln(x + self.drop(self.out(y)))


class FeedForward(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.up, self.down = nn.Linear(c.hidden, c.intermediate), nn.Linear(c.intermediate, c.hidden)
        self.ln = nn.LayerNorm(c.hidden, eps=c.layer_norm_eps)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x):
        return self.ln(x + self.drop(self.down(F.gelu(self.up(x)))))


class Embeddings(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.word = nn.Embedding(c.vocab_size, c.embed, padding_idx=c.pad_id)
        self.position = nn.Embedding(c.max_position, c.embed)
        self.token_type = nn.Embedding(c.type_vocab, c.embed)
        self.ln = nn.LayerNorm(c.embed, eps=c.layer_norm_eps)
        self.drop = nn.Dropout(c.dropout)
        self.project = nn.Linear(c.embed, c.hidden) if c.arch == "albert" else None  # ALBERT's E -> H

    def forward(self, input_ids, token_type_ids):
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.drop(self.ln(self.word(input_ids) + self.position(positions) + self.token_type(token_type_ids)))
        return self.project(x) if self.project is not None else x


class Encoder(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.config = c
        self.emb = Embeddings(c)
        # cross-layer sharing: one block serves every layer
        self.attn = nn.ModuleList(Attention(c) for _ in range(1 if c.share in ("all", "attention") else c.layers))
        self.ffn = nn.ModuleList(FeedForward(c) for _ in range(1 if c.share in ("all", "ffn") else c.layers))
        # MLM head: H -> E transform, decoder tied to the word embeddings, own bias
        self.mlm_dense = nn.Linear(c.hidden, c.embed)
        self.mlm_ln = nn.LayerNorm(c.embed, eps=c.layer_norm_eps)
        self.mlm_bias = nn.Parameter(torch.zeros(c.vocab_size))
        if c.sentence_head:
            self.pooler = nn.Linear(c.hidden, c.hidden)
            self.sentence = nn.Linear(c.hidden, 2)
        if c.sbo:  # SpanBERT: MLP([x_left; x_right; p_offset]) -> the same tied decoder
            self.sbo_offset = nn.Embedding(MAX_SPAN_OFFSET, c.hidden)
            self.sbo_mlp = nn.Sequential(nn.Linear(3 * c.hidden, c.hidden), nn.GELU(), nn.LayerNorm(c.hidden),
                                         nn.Linear(c.hidden, c.embed), nn.GELU(), nn.LayerNorm(c.embed))
            self.sbo_bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            nn.init.zeros_(m.weight[m.padding_idx])
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def encode(self, input_ids, token_type_ids, attention_mask):
        """(B, T) ids -> (B, T, H) hidden states."""
        mask = attention_mask.bool()[:, None, None, :]  # True = attend
        x = self.emb(input_ids, token_type_ids)
        for i in range(self.config.layers):
            x = self.attn[i % len(self.attn)](x, mask)
            x = self.ffn[i % len(self.ffn)](x)
        return x

    def mlm_logits(self, h):
        return F.linear(self.mlm_ln(F.gelu(self.mlm_dense(h))), self.emb.word.weight, self.mlm_bias)

    def sentence_logits(self, h):
        return self.sentence(torch.tanh(self.pooler(h[:, 0])))

    def forward(self, batch: dict) -> dict:
        """Losses and counts of one batch (logits only where there is a target: the vocab projection
        of every position would cost more than the encoder for small models)."""
        h = self.encode(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
        labels = batch["labels"]
        predicted = labels != -100
        targets = labels[predicted]
        logits = self.mlm_logits(h[predicted]).float()
        mlm_loss = F.cross_entropy(logits, targets)
        out = {"mlm_loss": mlm_loss.detach(), "mlm_correct": (logits.argmax(-1) == targets).sum(),
               "mlm_count": torch.tensor(targets.numel(), device=h.device)}
        loss = mlm_loss
        sentence_label = batch.get("next_sentence_label", batch.get("sentence_order_label"))
        if self.config.sentence_head and sentence_label is not None:
            s_logits = self.sentence_logits(h).float()
            s_loss = F.cross_entropy(s_logits, sentence_label)
            loss = loss + s_loss
            out.update(sentence_loss=s_loss.detach(),
                       sentence_correct=(s_logits.argmax(-1) == sentence_label).sum(),
                       sentence_count=torch.tensor(len(s_logits), device=h.device))
        if self.config.sbo and "span_left" in batch:
            flat = h.reshape(-1, h.shape[-1])
            offset = batch["span_offset"].clamp(max=MAX_SPAN_OFFSET - 1)
            z = self.sbo_mlp(torch.cat([flat[batch["span_left"]], flat[batch["span_right"]],
                                        self.sbo_offset(offset)], -1))
            sbo_loss = F.cross_entropy(F.linear(z, self.emb.word.weight, self.sbo_bias).float(), targets)
            loss = loss + sbo_loss
            out["sbo_loss"] = sbo_loss.detach()
        out["loss"] = loss
        return out


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """BERT's rule: no weight decay on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class Lamb(torch.optim.Optimizer):
    """LAMB (You et al. 2019, used by ALBERT): Adam's update scaled per tensor by ||w|| / ||update||."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"], state["m"], state["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                state["step"] += 1
                m, v, t = state["m"], state["v"], state["step"]
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                update = (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + group["eps"])
                if group["weight_decay"]:
                    update.add_(p, alpha=group["weight_decay"])
                w_norm, u_norm = p.norm(), update.norm()
                trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                p.add_(update * trust, alpha=-group["lr"])


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up over `warmup` steps, then linear decay to 0 at `total` (BERT's schedule)."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["PRESETS", "SHARING", "Encoder", "EncoderConfig", "Lamb", "count_parameters", "lr_factor",
           "parameter_groups"]
