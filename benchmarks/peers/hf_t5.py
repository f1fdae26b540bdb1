"""The Hugging Face T5 span-corruption data recipe of transformers' examples/flax/language-modeling/
run_t5_mlm_flax.py: `datasets` json loading, `map(num_proc=N)` tokenization (the tokenizer appends EOS to
every text), `group_texts` into blocks of `compute_input_and_target_lengths`' expanded length (568 for 512
inputs; each 1,000-text batch's remainder dropped, as the recipe does), then its `FlaxDataCollatorForT5MLM`
applied once to every block, in the recipe's batches (8, a seeded permutation; the last short batch kept so
that every block is corrupted once), in the main process as the recipe's training loop does. Prints one JSON
line.

    python benchmarks/peers/hf_t5.py TEXT.jsonl SPM_MODEL MAX_SEQ_LENGTH NUM_PROC CACHE_DIR

The SentencePiece model is corpusforge's `build vocab -m unigram --extra-ids 100` (ALBERT's specials 0..4,
<extra_id_0..99> = 5..104, no </s>); EOS is its [SEP], as in corpusforge's --mode t5.
"""
import json
import sys
import time
from itertools import chain

import numpy as np
from datasets import load_dataset
from sentencepiece import sentencepiece_model_pb2
from tokenizers.models import Unigram
from transformers import T5Tokenizer

NOISE_DENSITY, MEAN_NOISE_SPAN_LENGTH, BATCH_SIZE, EOS = 0.15, 3.0, 8, "[SEP]"


# ---- from transformers' examples/flax/language-modeling/run_t5_mlm_flax.py (Apache-2.0, the HuggingFace
# team): compute_input_and_target_lengths, FlaxDataCollatorForT5MLM and modeling_flax_t5's shift_tokens_right,
# numpy only. Changed: the collator is a plain class (no flax), and sentinel k maps to <extra_id_{k-1}> at
# first_sentinel + k - 1 instead of `len(tokenizer) - k` (T5's own vocabularies keep the sentinels at the top,
# this model at 5..104; same operations, same cost).
def compute_input_and_target_lengths(inputs_length, noise_density, mean_noise_span_length):
    def _tokens_length_to_inputs_length_targets_length(tokens_length):
        num_noise_tokens = int(round(tokens_length * noise_density))
        num_nonnoise_tokens = tokens_length - num_noise_tokens
        num_noise_spans = int(round(num_noise_tokens / mean_noise_span_length))
        # inputs contain all nonnoise tokens, sentinels for all noise spans and one EOS token.
        _input_length = num_nonnoise_tokens + num_noise_spans + 1
        _output_length = num_noise_tokens + num_noise_spans + 1
        return _input_length, _output_length

    tokens_length = inputs_length
    while _tokens_length_to_inputs_length_targets_length(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    inputs_length, targets_length = _tokens_length_to_inputs_length_targets_length(tokens_length)
    # minor hack to get the targets length to be equal to inputs length
    if noise_density == 0.5 and targets_length > inputs_length:
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


def shift_tokens_right(input_ids, pad_token_id, decoder_start_token_id):
    shifted_input_ids = np.zeros_like(input_ids)
    shifted_input_ids[:, 1:] = input_ids[:, :-1]
    shifted_input_ids[:, 0] = decoder_start_token_id
    shifted_input_ids = np.where(shifted_input_ids == -100, pad_token_id, shifted_input_ids)
    return shifted_input_ids


class FlaxDataCollatorForT5MLM:
    def __init__(self, tokenizer, noise_density, mean_noise_span_length, input_length, target_length,
                 pad_token_id, decoder_start_token_id, first_sentinel):
        self.tokenizer, self.noise_density, self.mean_noise_span_length = tokenizer, noise_density, mean_noise_span_length
        self.input_length, self.target_length = input_length, target_length
        self.pad_token_id, self.decoder_start_token_id, self.first_sentinel = (pad_token_id, decoder_start_token_id,
                                                                               first_sentinel)

    def __call__(self, examples):
        # convert list to dict and tensorize input
        batch = {k: np.array([examples[i][k] for i in range(len(examples))]) for k, v in examples[0].items()}
        input_ids = batch["input_ids"]
        batch_size, expandend_input_length = input_ids.shape

        mask_indices = np.asarray([self.random_spans_noise_mask(expandend_input_length) for i in range(batch_size)])
        labels_mask = ~mask_indices

        input_ids_sentinel = self.create_sentinel_ids(mask_indices.astype(np.int8))
        labels_sentinel = self.create_sentinel_ids(labels_mask.astype(np.int8))

        batch["input_ids"] = self.filter_input_ids(input_ids, input_ids_sentinel)
        batch["labels"] = self.filter_input_ids(input_ids, labels_sentinel)

        if batch["input_ids"].shape[-1] != self.input_length:
            raise ValueError(f"`input_ids` are incorrectly preprocessed. `input_ids` length is "
                             f"{batch['input_ids'].shape[-1]}, but should be {self.input_length}.")
        if batch["labels"].shape[-1] != self.target_length:
            raise ValueError(f"`labels` are incorrectly preprocessed. `labels` length is {batch['labels'].shape[-1]}, "
                             f"but should be {self.target_length}.")

        batch["decoder_input_ids"] = shift_tokens_right(batch["labels"], self.pad_token_id,
                                                        self.decoder_start_token_id)
        return batch

    def create_sentinel_ids(self, mask_indices):
        start_indices = mask_indices - np.roll(mask_indices, 1, axis=-1) * mask_indices
        start_indices[:, 0] = mask_indices[:, 0]

        sentinel_ids = np.where(start_indices != 0, np.cumsum(start_indices, axis=-1), start_indices)
        sentinel_ids = np.where(sentinel_ids != 0, (self.first_sentinel - 1 + sentinel_ids), 0)  # see above
        sentinel_ids -= mask_indices - start_indices
        return sentinel_ids

    def filter_input_ids(self, input_ids, sentinel_ids):
        batch_size = input_ids.shape[0]

        input_ids_full = np.where(sentinel_ids != 0, sentinel_ids, input_ids)
        # input_ids tokens and sentinel tokens are >= 0, tokens < 0 are
        # masked tokens coming after sentinel tokens and should be removed
        input_ids = input_ids_full[input_ids_full >= 0].reshape((batch_size, -1))
        input_ids = np.concatenate(
            [input_ids, np.full((batch_size, 1), self.tokenizer.eos_token_id, dtype=np.int32)], axis=-1
        )
        return input_ids

    def random_spans_noise_mask(self, length):
        orig_length = length

        num_noise_tokens = int(np.round(length * self.noise_density))
        # avoid degeneracy by ensuring positive numbers of noise and nonnoise tokens.
        num_noise_tokens = min(max(num_noise_tokens, 1), length - 1)
        num_noise_spans = int(np.round(num_noise_tokens / self.mean_noise_span_length))

        # avoid degeneracy by ensuring positive number of noise spans
        num_noise_spans = max(num_noise_spans, 1)
        num_nonnoise_tokens = length - num_noise_tokens

        # pick the lengths of the noise spans and the non-noise spans
        def _random_segmentation(num_items, num_segments):
            mask_indices = np.arange(num_items - 1) < (num_segments - 1)
            np.random.shuffle(mask_indices)
            first_in_segment = np.pad(mask_indices, [[1, 0]])
            segment_id = np.cumsum(first_in_segment)
            # count length of sub segments assuming that list is sorted
            _, segment_length = np.unique(segment_id, return_counts=True)
            return segment_length

        noise_span_lengths = _random_segmentation(num_noise_tokens, num_noise_spans)
        nonnoise_span_lengths = _random_segmentation(num_nonnoise_tokens, num_noise_spans)

        interleaved_span_lengths = np.reshape(
            np.stack([nonnoise_span_lengths, noise_span_lengths], axis=1), [num_noise_spans * 2]
        )
        span_starts = np.cumsum(interleaved_span_lengths)[:-1]
        span_start_indicator = np.zeros((length,), dtype=np.int8)
        span_start_indicator[span_starts] = True
        span_num = np.cumsum(span_start_indicator)
        is_noise = np.equal(span_num % 2, 1)

        return is_noise[:orig_length]
# ---- end of the run_t5_mlm_flax.py code


def tokenizer_for(spm_model):
    """transformers 5's T5Tokenizer from the SentencePiece model's pieces, scores and normaliser: the constructor
    takes `vocab=` [(piece, score)] (a `vocab_file=` would be ignored: every token <unk>)."""
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(open(spm_model, "rb").read())
    vocab = [(p.piece, p.score) for p in proto.pieces]
    tokenizer = T5Tokenizer(vocab=vocab, _spm_precompiled_charsmap=proto.normalizer_spec.precompiled_charsmap,
                            eos_token=EOS, unk_token="<unk>", pad_token="<pad>", extra_ids=0)
    # the constructor hard-codes T5's unk id 2; this model's <unk> is 1
    tokenizer.backend_tokenizer.model = Unigram(vocab, unk_id=[p for p, _ in vocab].index("<unk>"), byte_fallback=False)
    ids = tokenizer("中华人民共和国成立了")["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id == [p for p, _ in vocab].index(EOS), ids
    assert len(ids) > 2 and tokenizer.unk_token_id not in ids, f"the vocabulary was not loaded: {ids}"
    return tokenizer


def main(text, spm_model, max_seq_length, num_proc, cache):
    started = time.perf_counter()
    max_seq_length, num_proc = int(max_seq_length), int(num_proc)
    tokenizer = tokenizer_for(spm_model)
    raw = load_dataset("json", data_files=text, split="train", cache_dir=cache)
    expanded_inputs_length, targets_length = compute_input_and_target_lengths(max_seq_length, NOISE_DENSITY,
                                                                              MEAN_NOISE_SPAN_LENGTH)

    def tokenize_function(examples):
        return tokenizer(examples["text"], return_attention_mask=False)

    def group_texts(examples):  # run_t5_mlm_flax.py's (chain instead of sum(lists, []), which is quadratic)
        concatenated_examples = {k: list(chain(*examples[k])) for k in examples.keys()}
        total_length = len(concatenated_examples[list(examples.keys())[0]])
        if total_length >= expanded_inputs_length:
            total_length = (total_length // expanded_inputs_length) * expanded_inputs_length
        return {k: [t[i: i + expanded_inputs_length] for i in range(0, total_length, expanded_inputs_length)]
                for k, t in concatenated_examples.items()}

    tokenized = raw.map(tokenize_function, batched=True, num_proc=num_proc, remove_columns=raw.column_names)
    tokens = sum(len(ids) for batch in tokenized.iter(batch_size=10_000) for ids in batch["input_ids"])
    blocks = tokenized.map(group_texts, batched=True, num_proc=num_proc)
    collator = FlaxDataCollatorForT5MLM(tokenizer, NOISE_DENSITY, MEAN_NOISE_SPAN_LENGTH, max_seq_length,
                                        targets_length, pad_token_id=0, decoder_start_token_id=0,
                                        first_sentinel=tokenizer.convert_tokens_to_ids("<extra_id_0>"))
    np.random.seed(0)
    order = np.random.permutation(len(blocks))
    examples = 0
    for start in range(0, len(order), BATCH_SIZE):
        samples = [blocks[int(idx)] for idx in order[start: start + BATCH_SIZE]]
        # a remainder block of a 1,000-text batch is shorter and cannot be stacked: the recipe would crash on it
        samples = [s for s in samples if len(s["input_ids"]) == expanded_inputs_length]
        if samples:
            examples += len(collator(samples)["input_ids"])
    print(json.dumps({"examples": examples, "blocks": len(blocks), "tokens": tokens, "texts": len(raw),
                      "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main(*sys.argv[1:])
