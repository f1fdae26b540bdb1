"""Rows shown as tokens, for `corpusforge inspect`: the layout of Google BERT's create_pretraining_data.py log
(TrainingInstance.__str__: tokens, segment_ids, is_random_next, masked_lm_positions, masked_lm_labels), with
the masked positions marked ⟨ ⟩ in the tokens. No Beam: the vocabulary is read with its own library."""
from __future__ import annotations

import hashlib
import json
import os

MARK = "⟨{}⟩"  # a masked position in the tokens line (its input token: [MASK], a random one, or itself)


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def find_tokenizer(directory: str, manifest: dict, explicit: str | None = None) -> str | None:
    """The tokenizer file a dataset was tokenized with: `explicit`, or the path its build parameters (or its
    input datasets' parameters) record; only a file whose sha256 is the manifest's tokenizer fingerprint."""
    want = (manifest.get("tokenizer") or {}).get("sha256")
    candidates = [explicit] if explicit else [manifest.get("params", {}).get("tokenizer")]
    if not explicit:
        for d in manifest.get("params", {}).get("inputs") or []:
            try:
                with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
                    candidates.append(json.load(f)["params"].get("tokenizer"))
            except (OSError, ValueError, KeyError, TypeError):
                pass
    for path in filter(None, candidates):
        if os.path.isfile(path) and want and _sha256(path) == want:
            return path
    return None


def id_to_token(path: str):
    """id -> token string of a vocab.txt, tokenizer.json or SentencePiece .model."""
    lower = path.lower()
    if lower.endswith(".txt"):
        with open(path, encoding="utf-8") as f:
            tokens = f.read().rstrip("\n").split("\n")
        return lambda i: tokens[i].rstrip("\r") if 0 <= i < len(tokens) else f"<id {i}>"
    if lower.endswith(".json"):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(path)
        return lambda i: tok.id_to_token(i) or f"<id {i}>"
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=path)
    return lambda i: sp.id_to_piece(i) if 0 <= i < sp.get_piece_size() else f"<id {i}>"


def decoded_lines(row: dict, token) -> list[str]:
    """The row as create_pretraining_data.py logs an instance (pretraining rows), or its ids as tokens (any
    row with input_ids / labels: causal, t5, bart, tokenized sentences)."""
    lines = []
    ids = row.get("input_ids")
    if ids is None:
        return lines
    if ids and isinstance(ids[0], list):  # tokenized: one list per sentence
        return ["tokens: " + " | ".join(" ".join(map(token, s)) for s in ids)]
    masked = set(row.get("masked_lm_positions") or ())
    lines.append("tokens: " + " ".join(MARK.format(token(t)) if p in masked else token(t) for p, t in enumerate(ids)))
    if "token_type_ids" in row:
        lines.append("segment_ids: " + " ".join(map(str, row["token_type_ids"])))
    if "next_sentence_label" in row:
        lines.append(f"is_random_next: {bool(row['next_sentence_label'])}")
    if "sentence_order_label" in row:
        lines.append(f"is_swapped (sentence order): {bool(row['sentence_order_label'])}")
    if "masked_lm_positions" in row:
        lines.append("masked_lm_positions: " + " ".join(map(str, row["masked_lm_positions"])))
        lines.append("masked_lm_labels: " + " ".join(map(token, row["masked_lm_labels"])))
    if "labels" in row and row["labels"] and not isinstance(row["labels"][0], list):
        lines.append("labels: " + " ".join(token(t) if t >= 0 else "-" for t in row["labels"]))
    return lines
