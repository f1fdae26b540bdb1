"""The files that make a folder holding a vocabulary one that transformers' AutoTokenizer opens: the
vocabulary under the name its tokenizer class expects and a tokenizer_config.json (+ special_tokens_map.json)
naming the class and the special tokens. Written by `build vocab` and by `export hf`; no imports
beyond the standard library, so Beam workers and the launcher can both use it."""
from __future__ import annotations

import json
import os

# the file each tokenizer kind (corpusforge.tokenization.tokenizer.KINDS) is saved as and the transformers
# class that reads it; a tokenizer.json may be any Hugging Face tokenizer, so it is read as it is
TOKENIZER_FILES = {"wordpiece": ("vocab.txt", "BertTokenizer"), "sentencepiece": ("spiece.model", "AlbertTokenizer"),
                   "tokenizers": ("tokenizer.json", "PreTrainedTokenizerFast")}
CONFIG_FILES = ("tokenizer_config.json", "special_tokens_map.json")
ROLES = ("pad", "unk", "cls", "sep", "mask")


def tokenizer_config(kind: str, tokens: dict[str, str], lowercase: bool, max_length: int | None = None) -> dict:
    """tokenizer_config.json for a vocabulary of `kind` whose special tokens are `tokens` (role -> token
    string, roles from ROLES)."""
    tokens = {role: tokens[role] for role in ROLES if role in tokens}
    if kind == "tokenizers" and {"cls", "sep"} <= set(tokens):  # RoBERTa: <s> / </s> are also bos / eos
        tokens.update(bos=tokens["cls"], eos=tokens["sep"])
    if kind == "wordpiece":
        options = {"do_lower_case": lowercase}
    elif kind == "sentencepiece":
        # the model itself normalises (NFKC, case folding); ALBERT's own NFKD accent stripping and
        # lower-casing would change ids
        options = {"keep_accents": True, "do_lower_case": False}
    else:
        options = {}
    config = {"tokenizer_class": TOKENIZER_FILES[kind][1], **options}
    if max_length:
        config["model_max_length"] = max_length
    return {**config, **{f"{role}_token": token for role, token in tokens.items()}}


def write_tokenizer_config(directory: str, kind: str, tokens: dict[str, str], lowercase: bool,
                           max_length: int | None = None) -> list[str]:
    """Writes CONFIG_FILES into `directory`; returns their paths."""
    config = tokenizer_config(kind, tokens, lowercase, max_length)
    special = {k: v for k, v in config.items() if k.endswith("_token")}
    paths = [os.path.join(directory, name) for name in CONFIG_FILES]
    for path, content in zip(paths, (config, special)):
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            json.dump(content, f, indent=2, ensure_ascii=False)
            f.write("\n")
    return paths
