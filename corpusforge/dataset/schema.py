"""Arrow schemas of the datasets corpusforge writes: the column names are the contract."""
from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

# kind "documents": one row per cleaned, sentence-split document
DOCUMENTS = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),  # "<file relative to the input root>:<byte offset>"
        pa.field("source", pa.string(), nullable=False),  # the raw layout it was read as, e.g. "wiki2019zh"
        pa.field("title", pa.string(), nullable=False),  # "" where the layout has none
        pa.field("sentences", pa.list_(pa.string()), nullable=False),
    ]
)
# kind "documents" built with --lang-filter: the same, plus CLD2's label of the (kept) text and its share
DOCUMENTS_LANGUAGE = DOCUMENTS.append(pa.field("language", pa.string(), nullable=False)).append(
    pa.field("language_score", pa.float32(), nullable=False))  # share of the text's letters in that language, 0..1


def tokenized_schema(id_type: pa.DataType = pa.uint16()) -> pa.Schema:
    """kind "tokenized": one row per document, token ids and word indices per sentence."""
    return pa.schema(
        [
            pa.field("doc_id", pa.string(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            # token ids per sentence, no special tokens; uint16 when the vocab has <= 65536 entries, else int32
            pa.field("input_ids", pa.list_(pa.list_(id_type)), nullable=False),
            # aligned 1:1 with input_ids: the index of the word each token belongs to, counted through the
            # document (the tokens of one word are consecutive and share one index)
            pa.field("word_ids", pa.list_(pa.list_(pa.int32())), nullable=False),
        ]
    )


def pretraining_schema(id_type: pa.DataType = pa.uint16(), label: str | None = "next_sentence_label") -> pa.Schema:
    """kind "pretraining": one row per instance, variable length, no padding (the trainer pads per batch)."""
    fields = [
        pa.field("input_ids", pa.list_(id_type), nullable=False),  # [CLS] A [SEP] (B [SEP]), masked tokens replaced
        pa.field("token_type_ids", pa.list_(pa.uint8()), nullable=False),  # 0 for [CLS] A [SEP], 1 for B [SEP]
        pa.field("special_tokens_mask", pa.list_(pa.uint8()), nullable=False),  # 1 on [CLS]/[SEP], never masked
        pa.field("word_ids", pa.list_(pa.int32()), nullable=False),  # word index per token (0..), -1 on specials
    ]
    if label:  # next_sentence_label (nsp: 0 = B is the true next, 1 = random) or sentence_order_label (sop: 1 = swapped)
        fields.append(pa.field(label, pa.int8(), nullable=False))
    fields += [
        pa.field("masked_lm_positions", pa.list_(pa.int32()), nullable=False),  # ascending; empty for --masking none
        pa.field("masked_lm_labels", pa.list_(id_type), nullable=False),  # the original ids at those positions
    ]
    return pa.schema(fields)


def causal_schema(id_type: pa.DataType = pa.uint16()) -> pa.Schema:
    """kind "causal": one row per GPT block (build pretraining --mode causal); labels are the inputs."""
    return pa.schema(
        [
            # documents, each followed by the end-of-document token, cut into blocks of max_seq_length (the
            # last block of a bucket, or with --no-cross-document of each document, is shorter); no padding
            pa.field("input_ids", pa.list_(id_type), nullable=False),
            # ascending positions p > 0 where a document starts inside the block (after an EOS): where attention
            # and position ids restart (Megatron's reset_attention_mask); empty with --no-cross-document
            pa.field("document_boundaries", pa.list_(pa.int32()), nullable=False),
        ]
    )


def bilm_schema(id_type: pa.DataType = pa.uint16()) -> pa.Schema:
    """kind "bilm": one row per sentence (build pretraining --mode bilm, ELMo); see objectives/bilm.py."""
    return pa.schema(
        [
            pa.field("input_ids", pa.list_(id_type), nullable=False),  # [CLS] sentence [SEP] (ELMo's <S> .. </S>)
            pa.field("next_ids", pa.list_(id_type), nullable=False),  # forward targets: input_ids[t + 1], last [PAD]
            pa.field("previous_ids", pa.list_(id_type), nullable=False),  # backward: input_ids[t - 1], first [PAD]
            pa.field("word_ids", pa.list_(pa.int32()), nullable=False),  # the segmenter's word per token, -1 on specials
            # 50 per token: AllenNLP's ELMoCharacterMapper ids (UTF-8 bytes + 1, markers 257..261)
            pa.field("char_ids", pa.list_(pa.list_(pa.uint16())), nullable=False),
        ]
    )


def stream_schema(id_type: pa.DataType = pa.uint16()) -> pa.Schema:
    """kind "stream": one row per Transformer-XL segment (build pretraining --mode stream); see objectives/stream.py."""
    return pa.schema(
        [
            pa.field("input_ids", pa.list_(id_type), nullable=False),  # max_seq_length tokens, a stream's last fewer
            pa.field("stream_id", pa.int64(), nullable=False),  # the stream; its segments concatenate to it
            pa.field("segment_index", pa.int32(), nullable=False),  # 0, 1, ... in the stream's order
        ]
    )


# rejects/: one JSON object per line with these keys (see sources.formats.Reject)


def t5_schema(id_type: pa.DataType = pa.uint16()) -> pa.Schema:
    """kind "t5": one row per span-corruption example (build pretraining --mode t5), transformers' names."""
    return pa.schema(
        [
            # the raw block's non-noise tokens, each noise span replaced by its sentinel, then EOS
            pa.field("input_ids", pa.list_(id_type), nullable=False),
            # each sentinel followed by the noise span it replaced, then EOS (the decoder's targets)
            pa.field("labels", pa.list_(id_type), nullable=False),
        ]
    )


def bart_schema(id_type: pa.DataType = pa.uint16()) -> pa.Schema:
    """kind "bart": one row per denoising example (build pretraining --mode bart), transformers' names."""
    return pa.schema(
        [
            # BOS, the block's sentences (permuted with --permute-sentences), text-infilled, EOS
            pa.field("input_ids", pa.list_(id_type), nullable=False),
            # BOS, the original block, EOS (the decoder's targets)
            pa.field("labels", pa.list_(id_type), nullable=False),
        ]
    )


def mass_schema(id_type: pa.DataType = pa.uint16()) -> pa.Schema:
    """kind "mass": one row per masked sequence-to-sequence example (build pretraining --mode mass); see
    objectives/mass.py. The decoder sees only the fragment; decoder_position_ids place it in the segment."""
    return pa.schema(
        [
            # the segment (a block of a document's sentences, then EOS), its fragment replaced 80/10/10
            # ([MASK] / a random token / itself), as MASS's encoder sees it
            pa.field("input_ids", pa.list_(id_type), nullable=False),
            # the fragment shifted right: the token before it (BOS when it starts the segment), then the
            # fragment but its last token
            pa.field("decoder_input_ids", pa.list_(id_type), nullable=False),
            pa.field("labels", pa.list_(id_type), nullable=False),  # the fragment: the original tokens
            # the fragment's positions in the segment (start .. start + len - 1): the decoder's position ids
            pa.field("decoder_position_ids", pa.list_(pa.int32()), nullable=False),
        ]
    )


def translation_schema(id_type: pa.DataType = pa.uint16()) -> pa.Schema:
    """kind "translation": one row per translation pair and direction (build pretraining --mode translation)."""
    return pa.schema(
        [
            pa.field("input_ids", pa.list_(id_type), nullable=False),  # the source sentence, then EOS
            pa.field("labels", pa.list_(id_type), nullable=False),  # the target sentence, then EOS
            pa.field("source_lang", pa.string(), nullable=False),  # "zh" or "en"
            pa.field("target_lang", pa.string(), nullable=False),
        ]
    )


def tlm_schema(id_type: pa.DataType = pa.uint16()) -> pa.Schema:
    """kind "tlm": one row per translation pair and order (build pretraining --mode tlm), XLM's layout."""
    return pa.schema(
        [
            # EOS first EOS EOS second EOS (XLM's </s> framing of each sentence), masked jointly
            pa.field("input_ids", pa.list_(id_type), nullable=False),
            pa.field("position_ids", pa.list_(pa.int32()), nullable=False),  # 0.. per sentence: reset at the second
            pa.field("langs", pa.list_(pa.uint8()), nullable=False),  # language id per token (manifest "languages")
            pa.field("special_tokens_mask", pa.list_(pa.uint8()), nullable=False),  # 1 on the EOS tokens
            pa.field("masked_lm_positions", pa.list_(pa.int32()), nullable=False),  # ascending; empty for none
            pa.field("masked_lm_labels", pa.list_(id_type), nullable=False),  # the original ids at those positions
        ]
    )


def xlnet_schema(id_type: pa.DataType = pa.uint16()) -> pa.Schema:
    """kind "xlnet": one row per XLNet record (build pretraining --mode xlnet), data_utils.py's features; see
    objectives/xlnet.py. The permutation is the collator's (corpusforge.torch.collate.XLNetCollator)."""
    return pa.schema(
        [
            # the reuse part, then A [SEP] B [SEP] [CLS]: max_seq_length tokens, no padding
            pa.field("input_ids", pa.list_(id_type), nullable=False),
            pa.field("seg_id", pa.list_(pa.uint8()), nullable=False),  # 0: reuse, A, [SEP]; 1: B, [SEP]; 2: [CLS]
            pa.field("is_masked", pa.list_(pa.uint8()), nullable=False),  # 1 at the num_predict positions to predict
            pa.field("label", pa.int8(), nullable=False),  # 1: B continues A; 0: B is random
        ]
    )


REJECT_FIELDS = ("reason", "file", "line", "offset", "excerpt", "detail")

SCHEMAS = {"documents": DOCUMENTS, "tokenized": tokenized_schema(), "pretraining": pretraining_schema(),
           "causal": causal_schema(), "bilm": bilm_schema(), "stream": stream_schema(),
           "t5": t5_schema(), "bart": bart_schema(), "mass": mass_schema(),
           "translation": translation_schema(), "tlm": tlm_schema(), "xlnet": xlnet_schema()}


def hf_features(schema: pa.Schema) -> dict:
    """The `features` of a Hugging Face dataset_info.json for the Arrow types used here."""

    def feature(t: pa.DataType) -> dict:
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return {"feature": feature(t.value_type), "_type": "List"}
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            dtype = "string" if pa.types.is_string(t) else "large_string"
        else:
            dtype = str(t)  # int8..int64, uint8..uint64, float32/64, bool: same spelling in datasets
        return {"dtype": {"float": "float32", "double": "float64"}.get(dtype, dtype), "_type": "Value"}

    return {f.name: feature(f.type) for f in schema}
