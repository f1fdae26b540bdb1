"""Training vocabularies with the libraries' own trainers: WordPiece, byte-level BPE, SentencePiece unigram.

Pure functions, no Beam: `sentences` in, the standard files out, loadable by the libraries and by
transformers' tokenizer classes as they are:

    wordpiece  vocab.txt (+ tokenizer.json)   BERT: [PAD] [UNK] [CLS] [SEP] [MASK] = ids 0..4, ## continuations
    bpe        tokenizer.json, vocab.json, merges.txt   RoBERTa / GPT-2: byte-level, <s> <pad> </s> <unk> <mask> = 0..4
    unigram    spiece.model, spiece.vocab     ALBERT: <pad> <unk> [CLS] [SEP] [MASK] = 0..4, then T5's sentinels
                                              <extra_id_0> ... (extra_ids of them, 100 by default)

and, for every model, tokenizer_config.json + special_tokens_map.json naming the transformers class and the
special tokens, so AutoTokenizer.from_pretrained(out_dir) opens the folder (corpusforge.tokenization.hfconfig).
Earlier builds named the unigram files spm.model / spm.vocab; a folder holding those still reads (TextTokenizer).

The same sentences in the same order give byte-identical files. The trainers are deterministic
except where noted and worked around below (WordPiece's alphabet cut and continuation ids;
SentencePiece's thread count and the output path it records).
"""
from __future__ import annotations

import io
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator

from corpusforge.tokenization.hfconfig import CONFIG_FILES, write_tokenizer_config

MODELS = ("wordpiece", "bpe", "unigram")
DEFAULT_VOCAB_SIZE = {"wordpiece": 30522, "bpe": 50000, "unigram": 30000}
DEFAULT_LOWERCASE = {"wordpiece": True, "bpe": False, "unigram": True}  # uncased BERT, cased RoBERTa, ALBERT
DEFAULT_CHARACTER_COVERAGE = 0.9995  # SentencePiece's advice for CJK; 1.0 keeps every character seen

WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
BPE_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
UNIGRAM_SPECIALS = ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")
SPECIALS = {"wordpiece": WORDPIECE_SPECIALS, "bpe": BPE_SPECIALS, "unigram": UNIGRAM_SPECIALS}
BYTE_ALPHABET = 256  # byte-level BPE starts from every byte
MIN_FREQUENCY = 2  # WordPiece / BPE: a merge must be seen at least twice
SPM_THREADS = 16  # fixed: SentencePiece's scores depend on the thread count, not on the cores
BATCH = 1000  # sentences per batch handed to the Rust trainers
DEFAULT_EXTRA_IDS = 100  # unigram: T5's sentinels (seqio's DEFAULT_EXTRA_IDS), so any vocabulary serves --mode t5


class VocabError(ValueError):
    """A vocabulary cannot be trained as asked; the message is one sentence for the user."""


def min_vocab_size(model: str, extra_ids: int = 0) -> int:
    """The smallest --vocab-size that can hold the special tokens (and, for BPE, the 256 bytes; for unigram,
    the sentinels) plus one piece."""
    return len(SPECIALS[model]) + (BYTE_ALPHABET if model == "bpe" else 0) + extra_ids + 1


def extra_id_names(count: int) -> list[str]:
    """T5's sentinel tokens, in span order."""
    return [f"<extra_id_{i}>" for i in range(count)]


# the library kind (corpusforge.tokenization.tokenizer.KINDS) of each model's main file
KIND = {"wordpiece": "wordpiece", "bpe": "tokenizers", "unigram": "sentencepiece"}
# the special tokens' roles, in SPECIALS order
ROLES = {"wordpiece": ("pad", "unk", "cls", "sep", "mask"), "bpe": ("cls", "pad", "sep", "unk", "mask"),
         "unigram": ("pad", "unk", "cls", "sep", "mask")}


def output_files(model: str) -> tuple[str, ...]:
    """The files a model's training writes, the one transformers reads first (under the name it expects)."""
    return {"wordpiece": ("vocab.txt", "tokenizer.json"), "bpe": ("tokenizer.json", "vocab.json", "merges.txt"),
            "unigram": ("spiece.model", "spiece.vocab")}[model] + CONFIG_FILES


def train(model: str, sentences: Iterable[str], out_dir: str, vocab_size: int | None = None,
          lowercase: bool | None = None, character_coverage: float = DEFAULT_CHARACTER_COVERAGE,
          extra_ids: int | None = None) -> dict:
    """Dispatches to train_<model>; returns {"files", "vocab_size", "special_tokens", "details"}. extra_ids:
    unigram only (default DEFAULT_EXTRA_IDS)."""
    vocab_size = DEFAULT_VOCAB_SIZE[model] if vocab_size is None else vocab_size
    lowercase = DEFAULT_LOWERCASE[model] if lowercase is None else lowercase
    if extra_ids and model != "unigram":
        raise VocabError(f"extra ids (T5's sentinels) are reserved by -m unigram only, not {model}")
    if model == "wordpiece":
        return train_wordpiece(sentences, out_dir, vocab_size, lowercase, character_coverage)
    if model == "bpe":
        return train_bpe(sentences, out_dir, vocab_size, lowercase)
    if model == "unigram":
        extra_ids = DEFAULT_EXTRA_IDS if extra_ids is None else extra_ids
        return train_unigram(sentences, out_dir, vocab_size, lowercase, character_coverage, extra_ids)
    raise VocabError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")


def _check_size(model: str, vocab_size: int, extra_ids: int = 0) -> None:
    if vocab_size < min_vocab_size(model, extra_ids):
        raise VocabError(f"--vocab-size {vocab_size} is too small for {model}: it needs at least "
                         f"{min_vocab_size(model, extra_ids)} entries ({len(SPECIALS[model])} special tokens"
                         f"{' and 256 bytes' if model == 'bpe' else ''}"
                         f"{f' and {extra_ids} extra ids' if extra_ids else ''} plus one piece)")


def _reiterable(sentences: Iterable[str]) -> Iterable[str]:
    """WordPiece reads the sentences three times: a one-shot iterator is materialised once."""
    return list(sentences) if iter(sentences) is sentences else sentences


def _batches(sentences: Iterable[str], seen: Counter | None = None) -> Iterator[list[str]]:
    batch = []
    for sentence in sentences:
        if seen is not None:
            seen["sentences"] += 1
        batch.append(sentence)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _result(out_dir: str, model: str, vocab: dict[str, int], details: dict) -> dict:
    write_tokenizer_config(out_dir, KIND[model], dict(zip(ROLES[model], SPECIALS[model])), details["lowercase"])
    return {"files": [os.path.join(out_dir, f) for f in output_files(model)], "vocab_size": len(vocab),
            "special_tokens": {t: vocab[t] for t in SPECIALS[model]}, "details": details}


def covering_alphabet(char_counts: Counter, coverage: float) -> list[str]:
    """The most frequent characters that together cover `coverage` of all occurrences (ties by code point)."""
    ranked = sorted(char_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    total, covered, alphabet = sum(char_counts.values()), 0, []
    for char, count in ranked:
        if alphabet and covered >= coverage * total:
            break
        alphabet.append(char)
        covered += count
    return alphabet


def _bert_wordpiece(lowercase: bool, vocab=None):
    from tokenizers.implementations import BertWordPieceTokenizer

    # BERT's BasicTokenizer rules, as corpusforge.tokenization.tokenizer loads a vocab.txt: clean text,
    # a pre-token per CJK character, punctuation split, lower-casing with accent stripping (uncased)
    return BertWordPieceTokenizer(vocab, unk_token="[UNK]", clean_text=True, handle_chinese_chars=True,
                                  strip_accents=None, lowercase=lowercase)


def train_wordpiece(sentences: Iterable[str], out_dir: str, vocab_size: int = DEFAULT_VOCAB_SIZE["wordpiece"],
                    lowercase: bool = True, character_coverage: float = DEFAULT_CHARACTER_COVERAGE) -> dict:
    """BERT WordPiece with Hugging Face tokenizers' trainer -> vocab.txt (ids = line numbers) and tokenizer.json.

    Layout: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, then the ##-continuations of single
    characters (by code point), the alphabet (by code point), then the learnt pieces in merge order.
    The alphabet is the most frequent characters covering `character_coverage` of the (normalised)
    text; a character outside it encodes as [UNK].

    Determinism: the trainer breaks ties at its alphabet cut and numbers the "##c" tokens in hash-map
    order, which differ from process to process; merges tied on count are then applied in a different
    order. So the alphabet is chosen here (ties by code point) and a first pass without merges finds the
    "##c" tokens, which the real pass receives in code-point order right after the special tokens.
    """
    _check_size("wordpiece", vocab_size)
    sentences = _reiterable(sentences)
    normalizer = _bert_wordpiece(lowercase).normalizer
    counts: Counter = Counter()
    for batch in _batches(sentences):
        counts.update(normalizer.normalize_str("\n".join(batch)))
    for char in [c for c in counts if c.isspace()]:
        del counts[char]  # the pre-tokenizer splits on whitespace; it is never part of a piece
    if not counts:
        raise VocabError("the sample has no text to train a vocabulary on")
    alphabet = covering_alphabet(counts, character_coverage)

    def run(specials, size):
        tok = _bert_wordpiece(lowercase)
        # initial_alphabet counts as infinitely frequent and limit_alphabet drops everything else
        tok.train_from_iterator(_batches(sentences), vocab_size=size, min_frequency=MIN_FREQUENCY,
                                limit_alphabet=len(alphabet), initial_alphabet=alphabet,
                                special_tokens=list(specials), show_progress=False, wordpieces_prefix="##")
        return tok

    base = run(WORDPIECE_SPECIALS, 0).get_vocab()  # no merges: specials, alphabet and "##c" only
    continuations = sorted((t for t in base if t.startswith("##") and t not in WORDPIECE_SPECIALS),
                           key=lambda t: [ord(c) for c in t])
    needed = len(WORDPIECE_SPECIALS) + len(continuations) + len(alphabet)
    if needed > vocab_size:
        raise VocabError(f"--vocab-size {vocab_size} is too small for this sample's alphabet: it needs {needed} "
                         f"entries ({len(alphabet)} characters covering {character_coverage} of the text, "
                         f"{len(continuations)} ##-continuations, {len(WORDPIECE_SPECIALS)} special tokens); "
                         f"raise --vocab-size or lower --character-coverage")
    trained = run(WORDPIECE_SPECIALS + tuple(continuations), vocab_size)
    os.makedirs(out_dir, exist_ok=True)
    vocab = trained.get_vocab(with_added_tokens=False)
    tokens = sorted(vocab, key=vocab.get)
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise RuntimeError("the WordPiece trainer returned non-contiguous ids")
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(t + "\n" for t in tokens)
    # tokenizer.json carries the lower-casing choice, which vocab.txt cannot
    final = _bert_wordpiece(lowercase, os.path.join(out_dir, "vocab.txt"))
    final.save(os.path.join(out_dir, "tokenizer.json"))
    return _result(out_dir, "wordpiece", final.get_vocab(), {
        "alphabet": len(alphabet), "continuations": len(continuations), "lowercase": lowercase,
        "character_coverage": character_coverage, "min_frequency": MIN_FREQUENCY,
        "handle_chinese_chars": True, "clean_text": True, "strip_accents": lowercase, "wordpieces_prefix": "##"})


def train_bpe(sentences: Iterable[str], out_dir: str, vocab_size: int = DEFAULT_VOCAB_SIZE["bpe"],
              lowercase: bool = False) -> dict:
    """RoBERTa / GPT-2 byte-level BPE -> tokenizer.json, vocab.json, merges.txt.

    <s> 0, <pad> 1, </s> 2, <unk> 3, <mask> 4 (lstrip, as RoBERTa's), the 256 byte symbols, then
    merges. No prefix space; tokenizer.json adds <s> ... </s> like RoBERTa. Every text encodes without
    <unk> and decodes back exactly (with lowercase, to its lower-cased form).
    """
    from tokenizers import AddedToken, processors
    from tokenizers.implementations import ByteLevelBPETokenizer

    _check_size("bpe", vocab_size)
    tok = ByteLevelBPETokenizer(add_prefix_space=False, lowercase=lowercase, trim_offsets=True)
    specials = [*BPE_SPECIALS[:-1], AddedToken("<mask>", lstrip=True, special=True)]
    seen: Counter = Counter()
    tok.train_from_iterator(_batches(sentences, seen), vocab_size=vocab_size, min_frequency=MIN_FREQUENCY,
                            special_tokens=specials, show_progress=False)
    if not seen["sentences"]:
        raise VocabError("the sample has no text to train a vocabulary on")
    vocab = tok.get_vocab()
    tok.post_processor = processors.RobertaProcessing(("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]),
                                                      trim_offsets=True, add_prefix_space=False)
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    tok.save_model(out_dir)  # vocab.json + merges.txt, for RobertaTokenizer / GPT2Tokenizer
    return _result(out_dir, "bpe", vocab, {"lowercase": lowercase, "min_frequency": MIN_FREQUENCY,
                                           "add_prefix_space": False, "byte_level": True})


_SPM_TOO_SMALL = re.compile(r"smaller than required_chars\. (\d+) vs (\d+)")
_SPM_TOO_LARGE = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")


def train_unigram(sentences: Iterable[str], out_dir: str, vocab_size: int = DEFAULT_VOCAB_SIZE["unigram"],
                  lowercase: bool = True, character_coverage: float = DEFAULT_CHARACTER_COVERAGE,
                  extra_ids: int = DEFAULT_EXTRA_IDS) -> dict:
    """ALBERT-style SentencePiece unigram -> spiece.model, spiece.vocab (AlbertTokenizer's and T5Tokenizer's names).

    <pad> 0, <unk> 1, [CLS] 2, [SEP] 3, [MASK] 4 (control symbols, as ALBERT's 30k-clean.model), then
    T5's sentinels <extra_id_0> ... <extra_id_{extra_ids - 1}> = 5, 6, ... (control symbols too: text that
    spells one out is encoded as text, so a corpus cannot forge a sentinel), no <s> / </s>. Normalisation
    nmt_nfkc, or nmt_nfkc_cf (NFKC + case folding) with lowercase, so the model itself lower-cases, as
    transformers' AlbertTokenizer (do_lower_case=True) expects.

    Determinism: every sentence is used in the order given (no sampling, no shuffling); SentencePiece
    splits its EM sums over SPM_THREADS threads, so the scores depend on that number (fixed here), not on
    the machine. The model is taken from memory, so it records no output path (model_prefix).
    """
    import sentencepiece as spm

    _check_size("unigram", vocab_size, extra_ids)
    sentences = _reiterable(sentences)
    longest = max((len(s.encode("utf-8")) for s in sentences), default=0)
    if not longest:
        raise VocabError("the sample has no text to train a vocabulary on")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, model_type="unigram", vocab_size=vocab_size,
            character_coverage=character_coverage, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
            control_symbols=[*UNIGRAM_SPECIALS[2:], *extra_id_names(extra_ids)],
            normalization_rule_name="nmt_nfkc_cf" if lowercase else "nmt_nfkc",
            num_threads=SPM_THREADS, input_sentence_size=0, shuffle_input_sentence=False,
            max_sentence_length=max(4192, longest), minloglevel=1)
    except RuntimeError as e:
        message = str(e)
        if m := _SPM_TOO_SMALL.search(message):
            raise VocabError(f"--vocab-size {vocab_size} is too small for this sample's alphabet: SentencePiece "
                             f"needs {m.group(2)} characters (covering {character_coverage} of the text) plus "
                             f"{len(UNIGRAM_SPECIALS) + extra_ids} special pieces; raise --vocab-size or lower "
                             f"--character-coverage") from None
        if m := _SPM_TOO_LARGE.search(message):
            raise VocabError(f"--vocab-size {vocab_size} is more than this sample supports (SentencePiece finds at "
                             f"most {m.group(2)} pieces); lower --vocab-size or raise --sample-sentences") from None
        raise VocabError(f"SentencePiece training failed: {message.splitlines()[-1]}") from None
    data = model.getvalue()
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "spiece.model"), "wb") as f:
        f.write(data)
    sp = spm.SentencePieceProcessor(model_proto=data)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    # spiece.vocab exactly as spm_train writes its .vocab: piece <TAB> score, printed like C++ ostream (%g)
    with open(os.path.join(out_dir, "spiece.vocab"), "w", encoding="utf-8", newline="\n") as f:
        f.writelines(f"{p}\t{sp.get_score(i):g}\n" for i, p in enumerate(pieces))
    vocab = {p: i for i, p in enumerate(pieces)}
    return _result(out_dir, "unigram", vocab, {
        "lowercase": lowercase, "character_coverage": character_coverage,
        "normalization_rule_name": "nmt_nfkc_cf" if lowercase else "nmt_nfkc", "num_threads": SPM_THREADS,
        "control_symbols": list(UNIGRAM_SPECIALS[2:]), "extra_ids": extra_ids,
        "max_sentence_length": max(4192, longest)})
