"""Hugging Face layout in and out: config.json + model.safetensors + vocab files that
transformers' BertForPreTraining / AlbertForPreTraining (or *ForMaskedLM for MLM-only models) load.

Weight names are a fixed table between this project's encoder and transformers'. ALBERT's partial
sharing (`--share attention|ffn`) has no AlbertConfig equivalent: it is exported with one layer
group per layer (num_hidden_groups = layers) holding copies of the shared blocks, which computes
the same function. The SpanBERT head has no transformers counterpart and is not exported.
"""
from __future__ import annotations

import json
import os
import shutil

import torch

from corpusforge.tokenization.hfconfig import TOKENIZER_FILES, write_tokenizer_config
from corpusforge.trainers.encoder import EncoderConfig

WEIGHTS = "model.safetensors"


def _groups(c: EncoderConfig) -> int:
    return 1 if c.share == "all" else c.layers


def name_pairs(c: EncoderConfig) -> list[tuple[str, str]]:
    """(transformers module, our module) pairs; each stands for its .weight and (if any) .bias."""
    if c.arch == "bert":
        pairs = [("bert.embeddings.word_embeddings", "emb.word"), ("bert.embeddings.position_embeddings", "emb.position"),
                 ("bert.embeddings.token_type_embeddings", "emb.token_type"), ("bert.embeddings.LayerNorm", "emb.ln")]
        for i in range(c.layers):
            p, a, f = f"bert.encoder.layer.{i}", f"attn.{i % len_attn(c)}", f"ffn.{i % len_ffn(c)}"
            pairs += [(f"{p}.attention.self.query", f"{a}.query"), (f"{p}.attention.self.key", f"{a}.key"),
                      (f"{p}.attention.self.value", f"{a}.value"), (f"{p}.attention.output.dense", f"{a}.out"),
                      (f"{p}.attention.output.LayerNorm", f"{a}.ln"), (f"{p}.intermediate.dense", f"{f}.up"),
                      (f"{p}.output.dense", f"{f}.down"), (f"{p}.output.LayerNorm", f"{f}.ln")]
        pairs += [("cls.predictions.transform.dense", "mlm_dense"), ("cls.predictions.transform.LayerNorm", "mlm_ln")]
        if c.sentence_head:
            pairs += [("bert.pooler.dense", "pooler"), ("cls.seq_relationship", "sentence")]
        return pairs
    pairs = [("albert.embeddings.word_embeddings", "emb.word"), ("albert.embeddings.position_embeddings", "emb.position"),
             ("albert.embeddings.token_type_embeddings", "emb.token_type"), ("albert.embeddings.LayerNorm", "emb.ln"),
             ("albert.encoder.embedding_hidden_mapping_in", "emb.project")]
    for g in range(_groups(c)):
        p, a, f = f"albert.encoder.albert_layer_groups.{g}.albert_layers.0", f"attn.{g % len_attn(c)}", f"ffn.{g % len_ffn(c)}"
        pairs += [(f"{p}.attention.query", f"{a}.query"), (f"{p}.attention.key", f"{a}.key"),
                  (f"{p}.attention.value", f"{a}.value"), (f"{p}.attention.dense", f"{a}.out"),
                  (f"{p}.attention.LayerNorm", f"{a}.ln"), (f"{p}.ffn", f"{f}.up"), (f"{p}.ffn_output", f"{f}.down"),
                  (f"{p}.full_layer_layer_norm", f"{f}.ln")]
    pairs += [("predictions.dense", "mlm_dense"), ("predictions.LayerNorm", "mlm_ln")]
    if c.sentence_head:
        pairs += [("albert.pooler", "pooler"), ("sop_classifier.classifier", "sentence")]
    return pairs


def len_attn(c: EncoderConfig) -> int:
    return 1 if c.share in ("all", "attention") else c.layers


def len_ffn(c: EncoderConfig) -> int:
    return 1 if c.share in ("all", "ffn") else c.layers


def _head(c: EncoderConfig) -> str:
    return "cls.predictions" if c.arch == "bert" else "predictions"


def to_hf_state(c: EncoderConfig, state: dict) -> dict:
    out = {}
    for hf, ours in name_pairs(c):
        for suffix in (".weight", ".bias"):
            if ours + suffix in state:
                out[hf + suffix] = state[ours + suffix].detach().cpu().contiguous().clone()
    head = _head(c)
    out[f"{head}.bias"] = state["mlm_bias"].detach().cpu().clone()
    out[f"{head}.decoder.weight"] = state["emb.word.weight"].detach().cpu().clone()  # tied
    out[f"{head}.decoder.bias"] = state["mlm_bias"].detach().cpu().clone()
    return out


def from_hf_state(c: EncoderConfig, hf: dict) -> dict:
    """transformers names -> ours (the first copy wins where one block of ours is several of theirs)."""
    state = {}
    for hf_name, ours in name_pairs(c):
        for suffix in (".weight", ".bias"):
            if hf_name + suffix in hf and ours + suffix not in state:
                state[ours + suffix] = hf[hf_name + suffix]
    state["mlm_bias"] = hf[f"{_head(c)}.bias"]
    return state


def hf_config(c: EncoderConfig, special: dict) -> dict:
    arch = {("bert", True): "BertForPreTraining", ("bert", False): "BertForMaskedLM",
            ("albert", True): "AlbertForPreTraining", ("albert", False): "AlbertForMaskedLM"}[c.arch, c.sentence_head]
    config = {"architectures": [arch], "model_type": c.arch, "vocab_size": c.vocab_size, "hidden_size": c.hidden,
              "num_hidden_layers": c.layers, "num_attention_heads": c.heads, "intermediate_size": c.intermediate,
              "hidden_act": "gelu", "hidden_dropout_prob": c.dropout, "attention_probs_dropout_prob": c.dropout,
              "max_position_embeddings": c.max_position, "type_vocab_size": c.type_vocab,
              "initializer_range": 0.02, "layer_norm_eps": c.layer_norm_eps, "pad_token_id": special.get("pad", 0),
              "tie_word_embeddings": True}
    if c.arch == "albert":
        config.update(embedding_size=c.embedding_size, num_hidden_groups=_groups(c), inner_group_num=1,
                      classifier_dropout_prob=c.dropout, bos_token_id=special.get("cls"),
                      eos_token_id=special.get("sep"))
    config["corpusforge"] = {"share": c.share}  # how to rebuild the sharing on --init-from
    return config


def config_from_hf(config: dict) -> EncoderConfig:
    arch = config.get("model_type")
    if arch not in ("bert", "albert"):
        raise ValueError(f"model_type {arch!r} is neither bert nor albert")
    sentence = any(a.endswith("ForPreTraining") for a in config.get("architectures", ["ForPreTraining"]))
    share = config.get("corpusforge", {}).get("share")
    if arch == "albert" and share is None:
        share = "all" if config.get("num_hidden_groups", 1) == 1 else "none"
    return EncoderConfig(vocab_size=config["vocab_size"], layers=config["num_hidden_layers"], hidden=config["hidden_size"],
                         heads=config["num_attention_heads"], intermediate=config["intermediate_size"],
                         max_position=config.get("max_position_embeddings", 512),
                         type_vocab=config.get("type_vocab_size", 2), arch=arch,
                         embedding_size=config.get("embedding_size", 128), share=share or "none",
                         sentence_head=sentence, dropout=config.get("hidden_dropout_prob", 0.1),
                         layer_norm_eps=config.get("layer_norm_eps", 1e-12), pad_id=config.get("pad_token_id", 0) or 0)


def save_hf(directory: str, c: EncoderConfig, state: dict, special: dict, vocab_file: str | None,
            lowercase: bool = True) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
        json.dump(hf_config(c, special), f, indent=2)
    tensors = to_hf_state(c, state)
    try:
        from safetensors.torch import save_file

        save_file(tensors, os.path.join(directory, WEIGHTS), metadata={"format": "pt"})
    except ImportError:  # transformers reads the pickle layout too
        torch.save(tensors, os.path.join(directory, "pytorch_model.bin"))
    if vocab_file:
        save_tokenizer(directory, vocab_file, special, lowercase, c.max_position)


def save_tokenizer(directory: str, vocab_file: str, special: dict, lowercase: bool, max_length: int,
                   t5_eos_id: int | None = None) -> None:
    """The tokenizer in its own kind, with a tokenizer_config.json naming its special tokens, so that
    AutoTokenizer.from_pretrained(directory) encodes text to the ids the dataset holds. t5_eos_id: a
    SentencePiece model gets T5's input format too (t5_tokenizer)."""
    from corpusforge.tokenization.tokenizer import TextTokenizer, kind_of

    kind = kind_of(vocab_file)
    shutil.copyfile(vocab_file, os.path.join(directory, TOKENIZER_FILES[kind][0]))
    if kind == "wordpiece":
        tokens = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
    else:
        vocab = TextTokenizer(vocab_file).vocab
        by_id = {i: t for t, i in vocab.items()}
        tokens = {role: by_id[i] for role, i in special.items() if i in by_id}
    write_tokenizer_config(directory, kind, tokens, lowercase, max_length)
    if kind == "sentencepiece" and t5_eos_id is not None:
        t5_tokenizer(directory, vocab, tokens, t5_eos_id, max_length)


def t5_tokenizer(directory: str, vocab: dict, roles: dict, eos_id: int, max_length: int) -> None:
    """The exported spiece.model with T5's input format: each text followed by EOS, the vocabulary's
    <extra_id_N> pieces its sentinels (special: skipped on decode). transformers' T5Tokenizer fixes <unk>
    at id 2 (T5's own layout; `build vocab -m unigram` has it at 1), so the model goes out as the
    tokenizers-library file AutoTokenizer reads as it is: spiece.model converted by transformers (as
    the AlbertTokenizer config written beside it loads it) with T5's post-processor."""
    from tokenizers import processors
    from transformers import AutoTokenizer

    from corpusforge.objectives.t5 import sentinel_ids

    backend = AutoTokenizer.from_pretrained(directory, local_files_only=True).backend_tokenizer  # never the Hub
    by_id = {i: t for t, i in vocab.items()}
    eos = by_id[eos_id]
    backend.post_processor = processors.TemplateProcessing(single=f"$A {eos}", pair=f"$A {eos} $B {eos}",
                                                           special_tokens=[(eos, eos_id)])
    backend.save(os.path.join(directory, "tokenizer.json"))
    tokens = {"eos_token": eos, **{f"{k}_token": roles[k] for k in ("pad", "unk") if k in roles},
              "additional_special_tokens": [by_id[i] for i in sentinel_ids(vocab)]}
    with open(os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_length, **tokens}, f, indent=2)
    with open(os.path.join(directory, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump(tokens, f, indent=2)


def load_hf(directory: str) -> tuple[EncoderConfig, dict]:
    """An exported (or a transformers BERT / ALBERT) model directory -> (our config, our state dict)."""
    with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    c = config_from_hf(config)
    path = os.path.join(directory, WEIGHTS)
    if os.path.exists(path):
        from safetensors.torch import load_file

        hf = load_file(path)
    else:
        hf = torch.load(os.path.join(directory, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    if c.sentence_head and not any(k.startswith(("cls.seq_relationship", "sop_classifier")) for k in hf):
        c.sentence_head = False
    return c, from_hf_state(c, hf)

