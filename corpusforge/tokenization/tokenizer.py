"""One interface over the three tokenizer files users bring: vocab.txt, tokenizer.json, SentencePiece .model.

The work is done by the libraries made for it (Hugging Face tokenizers in Rust, sentencepiece in C++);
this module only loads them, encodes sentences to (ids, character offsets), and fingerprints them
(encode_flat of a vocab.txt goes through fastwp.FastWordPiece, which asks the library about each
character and each distinct word once and returns exactly what the library would).
Files are read through Beam's FileSystems, so gs:// and s3:// paths work on remote workers, and the
library objects are built lazily: a TextTokenizer pickles as its path and bytes, not a Rust object.
"""
from __future__ import annotations

import hashlib
import os
from functools import cached_property
from itertools import chain

import numpy as np

KINDS = ("wordpiece", "tokenizers", "sentencepiece")
# BERT's special tokens; other vocabularies name their own (RoBERTa <s>, ALBERT [CLS] ...)
SPECIAL_NAMES = {"cls": ("[CLS]", "<s>"), "sep": ("[SEP]", "</s>"), "unk": ("[UNK]", "<unk>"),
                 "pad": ("[PAD]", "<pad>"), "mask": ("[MASK]", "<mask>")}


class TokenizerError(ValueError):
    pass


# in a folder (a `build vocab` output, a transformers model folder): the file to read, first found first;
# spm.model is what `build vocab -m unigram` wrote before it used transformers' name
FOLDER_FILES = ("spiece.model", "spm.model", "vocab.txt", "tokenizer.json")


def tokenizer_file(path: str) -> str:
    """`path`, or for a local folder the tokenizer file inside it (FOLDER_FILES)."""
    if "://" in path or not os.path.isdir(path):
        return path
    for name in FOLDER_FILES:
        if os.path.isfile(os.path.join(path, name)):
            return os.path.join(path, name)
    raise TokenizerError(f"folder {path} holds no tokenizer file ({', '.join(FOLDER_FILES)})")


def kind_of(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".json"):
        return "tokenizers"
    if lower.endswith(".model"):
        return "sentencepiece"
    if lower.endswith(".txt"):
        return "wordpiece"
    raise TokenizerError(f"tokenizer {path} is not a vocab.txt, tokenizer.json or SentencePiece .model file")


class TextTokenizer:
    """Encodes sentences to token ids with character offsets (no special tokens added)."""

    fast = True  # encode_flat of a vocab.txt through FastWordPiece (same output); False: the library alone

    def __init__(self, path: str, lowercase: bool = True, strip_accents: bool | None = None):
        from apache_beam.io.filesystems import FileSystems
        path = tokenizer_file(path)
        self.path, self.lowercase, self.strip_accents = path, lowercase, strip_accents
        self.kind = kind_of(path)
        try:
            with FileSystems.open(path) as f:
                self.data = f.read()
        except Exception as e:  # BeamIOError / OSError: one sentence for the user
            raise TokenizerError(f"tokenizer file {path} cannot be read ({e})") from None
        if not self.data:
            raise TokenizerError(f"tokenizer file {path} is empty")
        self._check()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("impl", None)  # rebuilt lazily in each worker
        state.pop("_fast", None)  # and so is the fast path, with its tables and word cache
        return state

    @property
    def fingerprint(self) -> dict:
        return {"file": self.path.rsplit("/", 1)[-1], "kind": self.kind, "sha256": hashlib.sha256(self.data).hexdigest(),
                "vocab_size": self.vocab_size, "lowercase": self.lowercase if self.kind == "wordpiece" else None}

    @cached_property
    def impl(self):
        if self.kind == "wordpiece":
            from tokenizers.implementations import BertWordPieceTokenizer

            # BERT's BasicTokenizer + WordpieceTokenizer: clean text, a pre-token per CJK character,
            # punctuation split, lower-casing (and accent stripping with it unless told otherwise), ## pieces
            return BertWordPieceTokenizer(self.vocab, unk_token="[UNK]", clean_text=True, handle_chinese_chars=True,
                                          strip_accents=self.strip_accents, lowercase=self.lowercase)
        if self.kind == "tokenizers":
            from tokenizers import Tokenizer

            return Tokenizer.from_str(self.data.decode("utf-8"))
        import sentencepiece as spm

        return spm.SentencePieceProcessor(model_proto=self.data)

    @cached_property
    def _fast(self):
        if self.kind != "wordpiece":
            return None
        from corpusforge.tokenization.fastwp import FastWordPiece

        fast = FastWordPiece(self.impl)
        return fast if fast.usable else None

    @cached_property
    def _lines(self) -> list[str]:
        return [line.rstrip("\r") for line in self.data.decode("utf-8").rstrip("\n").split("\n")]

    @cached_property
    def vocab(self) -> dict[str, int]:
        if self.kind == "wordpiece":
            vocab: dict[str, int] = {}
            for i, token in enumerate(self._lines):  # id = line number, as BERT's load_vocab
                vocab.setdefault(token, i)
            return vocab
        if self.kind == "tokenizers":
            return self.impl.get_vocab(with_added_tokens=True)
        return {self.impl.id_to_piece(i): i for i in range(self.impl.get_piece_size())}

    @cached_property
    def vocab_size(self) -> int:
        if self.kind == "wordpiece":
            return len(self._lines)
        if self.kind == "tokenizers":
            return self.impl.get_vocab_size(with_added_tokens=True)
        return self.impl.get_piece_size()

    @property
    def id_dtype(self):
        return np.uint16 if self.vocab_size <= 1 << 16 else np.int32

    @cached_property
    def special_ids(self) -> dict[str, int]:
        """Ids of cls/sep/unk/pad/mask, where the vocabulary has them."""
        out = {}
        for role, names in SPECIAL_NAMES.items():
            for name in names:
                if name in self.vocab:
                    out[role] = self.vocab[name]
                    break
        return out

    def _check(self) -> None:
        if self.kind == "wordpiece" and "[UNK]" not in self.vocab:
            raise TokenizerError(f"WordPiece vocab {self.path} has no [UNK] token")
        try:
            self.impl
        except Exception as e:  # each library raises its own exception type for a corrupt file
            raise TokenizerError(f"tokenizer file {self.path} cannot be loaded as {self.kind} ({e})") from None

    def encode(self, sentences: list[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """[(ids, offsets)] per sentence; offsets are (start, end) character positions in the sentence."""
        if self.kind != "sentencepiece":
            encodings = self.impl.encode_batch(sentences, add_special_tokens=False)
            return [(e.ids, e.offsets) for e in encodings]
        out = []
        for sentence, proto in zip(sentences, self.impl.encode(sentences, return_type="proto")):
            char_at = _byte_to_char(sentence)
            ids = [p.id for p in proto.pieces]
            offsets = [(char_at[p.begin], char_at[p.end]) for p in proto.pieces]
            out.append((ids, offsets))
        return out


    def encode_flat(self, sentences: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, start offsets, tokens per sentence) of all sentences, concatenated into flat arrays.

        One library call for the whole batch and no Python object per token: the form the
        pipelines use (encode() is the readable one). A vocab.txt goes through FastWordPiece, which
        returns exactly what encode_batch does, several times faster on Chinese text.
        """
        if sentences and self.fast and self._fast is not None:
            ids, starts, counts = self._fast.encode_flat(sentences)
            return ids.astype(self.id_dtype), starts, counts
        if self.kind == "sentencepiece" and sentences:
            return self._sentencepiece_flat(sentences)
        if self.kind != "sentencepiece":
            encodings = self.impl.encode_batch(sentences, add_special_tokens=False)
            ids = [e.ids for e in encodings]
            offsets = [e.offsets for e in encodings]
        else:
            ids, offsets = [], []
        counts = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        total = int(counts.sum())
        flat_ids = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=total).astype(self.id_dtype)
        starts = np.fromiter(chain.from_iterable(chain.from_iterable(offsets)), dtype=np.int64, count=2 * total)[::2]
        return flat_ids, starts, counts

    def _sentencepiece_flat(self, sentences: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """encode_flat of a SentencePiece model: its UTF-8 byte offsets mapped to characters for the whole batch
        in numpy (what _byte_to_char does per sentence in encode)."""
        ids, begins, counts = [], [], []
        for proto in self.impl.encode(sentences, return_type="proto"):
            pieces = proto.pieces
            counts.append(len(pieces))
            ids.extend([p.id for p in pieces])
            begins.extend([p.begin for p in pieces])
        n, counts = len(sentences), np.asarray(counts, dtype=np.int64)
        data = [x.encode("utf-8") for x in sentences]
        byte_base, char_base = np.zeros(n, np.int64), np.zeros(n, np.int64)
        np.cumsum(np.fromiter(map(len, data), np.int64, n)[:-1], out=byte_base[1:])
        np.cumsum(np.fromiter(map(len, sentences), np.int64, n)[:-1], out=char_base[1:])
        raw = np.frombuffer(b"".join(data), np.uint8)
        # the character each byte belongs to (a continuation byte: its character's); one past the end: the count
        char_at = np.append(np.cumsum((raw & 0xC0) != 0x80) - 1, sum(map(len, sentences)))
        sentence = np.repeat(np.arange(n), counts)
        starts = char_at[byte_base[sentence] + np.asarray(begins, dtype=np.int64)] - char_base[sentence]
        return np.asarray(ids, dtype=np.int64).astype(self.id_dtype), starts, counts

    def encode_ids_flat(self, sentences: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids, tokens per sentence) as encode_flat, without the offsets: for builds that need no word
        boundaries (SentencePiece then skips its per-piece offset mapping, the bulk of its encode time)."""
        if self.kind != "sentencepiece" or not sentences:
            ids, _, counts = self.encode_flat(sentences)
            return ids, counts
        ids = self.impl.encode(sentences)
        counts = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(counts.sum())).astype(self.id_dtype)
        return flat, counts


def _byte_to_char(text: str) -> list[int]:
    """char_at[b] = index of the character that UTF-8 byte b starts (len(text) at the end)."""
    char_at = []
    for i, ch in enumerate(text):
        char_at.extend([i] * len(ch.encode("utf-8")))
    char_at.append(len(text))
    return char_at
