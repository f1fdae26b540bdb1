"""Pretraining instances as Google BERT's and ALBERT's run_pretraining.py read them: TFRecord files of
tf.train.Example, padded as create_pretraining_data.py's write_instance_to_example_files pads them.

Per instance, max_seq_length L and max_predictions_per_seq P from the dataset's manifest:
    input_ids        L  the (masked) token ids, then 0
    input_mask       L  1 per token, then 0
    segment_ids      L  token_type_ids, then 0
    token_boundary   L  ALBERT's (read with --masked_lm_budget, for masking whole words on the fly): 1 on
                        [CLS]/[SEP] and on the first token of each word, then 0. The words are the dataset's
                        segmenter's (word_ids: jieba-rs words for Chinese, as --masking wwm uses them); ALBERT's
                        script takes WordPiece words instead (every Chinese character, and no ## piece).
    masked_lm_positions, masked_lm_ids  P  then 0
    masked_lm_weights                   P  1.0 per prediction, then 0.0
    next_sentence_labels                1  nsp: 1 = B is random; sop: 1 = swapped (ALBERT keeps this name)

No TensorFlow: protobuf encodes the records, from the Example schema below held in a private descriptor pool.
The `tfrecord` package's example_pb2 registers the same `tensorflow.Example` names in protobuf's default pool
as TensorFlow does, so importing both in one process fails ("duplicate symbol 'tensorflow.BytesList'", in
either order); a private pool cannot collide. The schema is the wire format of
tensorflow/core/example/{feature,example}.proto, with the feature map spelled as its wire form (repeated
key/value entries), so the features are written in Google's order and the bytes are the same in every run
(protobuf orders a real map differently in each process). The CRC-32C of the TFRecord framing is the
`crc32c` package's.
"""
from __future__ import annotations

import functools
import struct

import numpy as np
import pyarrow as pa

from corpusforge.dataset.reader import open_shard

EXAMPLE_PROTO = """
name: "corpusforge/tensorflow_example.proto" package: "tensorflow" syntax: "proto3"
message_type { name: "Int64List" field { name: "value" number: 1 label: LABEL_REPEATED type: TYPE_INT64 } }
message_type { name: "FloatList" field { name: "value" number: 1 label: LABEL_REPEATED type: TYPE_FLOAT } }
message_type { name: "Feature"
  field { name: "float_list" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".tensorflow.FloatList" }
  field { name: "int64_list" number: 3 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".tensorflow.Int64List" } }
message_type { name: "FeatureEntry"
  field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".tensorflow.Feature" } }
message_type { name: "Features"
  field { name: "feature" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".tensorflow.FeatureEntry" } }
message_type { name: "Example"
  field { name: "features" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".tensorflow.Features" } }
"""


@functools.cache
def example_class():
    """The tf.train.Example message class, built in a pool of its own."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

    pool = descriptor_pool.DescriptorPool()
    pool.Add(text_format.Parse(EXAMPLE_PROTO, descriptor_pb2.FileDescriptorProto()))
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.Example"))


LABELS = {"nsp": "next_sentence_label", "sop": "sentence_order_label"}


class ExportError(ValueError):
    """A dataset this format cannot hold (one sentence)."""


def check_exportable(manifest: dict, name: str) -> tuple[int, int, str]:
    """(max_seq_length, max_predictions_per_seq, label column) of a pretraining dataset Google's scripts can
    train on; else ExportError with the reason."""
    params = manifest.get("params", {})
    if manifest.get("kind") != "pretraining":
        raise ExportError(f"{name} is a {manifest.get('kind')} dataset; export tfrecord takes a pretraining "
                          "dataset (build pretraining --mode nsp or sop)")
    mode = params.get("mode")
    if mode not in LABELS:
        raise ExportError(f"{name} was built with --mode {mode}, which has no sentence-pair label; run_pretraining.py "
                          "reads next_sentence_labels: build it with --mode nsp or sop")
    if params.get("masking") == "none":
        raise ExportError(f"{name} is unmasked (--masking none); run_pretraining.py reads statically masked "
                          "instances: build it with --masking token, wwm, ngram or span")
    return int(params["max_seq_length"]), int(params["max_predictions_per_seq"]), LABELS[mode]


def _padded(column: pa.ChunkedArray, width: int, name: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows x width int64 matrix, zero-padded; lengths) of a list column; ExportError if a row is longer."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = array.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    values = array.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = np.diff(offsets)
    if len(lengths) and lengths.max() > width:
        raise ExportError(f"{name}: an instance has {lengths.max()} {what}, more than the manifest's {width}")
    out = np.zeros((len(lengths), width), dtype=np.int64)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    out[rows, np.arange(len(values)) - np.repeat(offsets[:-1], lengths)] = values
    return out, lengths


def token_boundary(word_ids: np.ndarray, special: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """1 on special tokens and on the first token of each word (a word id unlike the previous token's), as
    ALBERT's create_pretraining_data.py marks word starts; 0 on continuations and padding."""
    width = word_ids.shape[1]
    starts = np.ones_like(word_ids)
    starts[:, 1:] = word_ids[:, 1:] != word_ids[:, :-1]
    boundary = (starts.astype(bool) | special.astype(bool)).astype(np.int64)
    boundary[np.arange(width)[None, :] >= lengths[:, None]] = 0
    return boundary


def shard_examples(path: str, max_seq_length: int, max_predictions: int, label: str, name: str):
    """The serialised tf.train.Example of each instance of one shard, in row order."""
    table = open_shard(path)
    ids, lengths = _padded(table.column("input_ids"), max_seq_length, name, "tokens")
    segments, _ = _padded(table.column("token_type_ids"), max_seq_length, name, "tokens")
    words, _ = _padded(table.column("word_ids"), max_seq_length, name, "tokens")
    special, _ = _padded(table.column("special_tokens_mask"), max_seq_length, name, "tokens")
    positions, predicted = _padded(table.column("masked_lm_positions"), max_predictions, name, "predictions")
    labels, _ = _padded(table.column("masked_lm_labels"), max_predictions, name, "predictions")
    mask = (np.arange(max_seq_length)[None, :] < lengths[:, None]).astype(np.int64)
    weights = (np.arange(max_predictions)[None, :] < predicted[:, None]).astype(np.float32)
    boundary = token_boundary(words, special, lengths)
    pair = table.column(label).to_numpy().astype(np.int64)[:, None]
    ints = {"input_ids": ids, "input_mask": mask, "segment_ids": segments, "token_boundary": boundary,
            "masked_lm_positions": positions, "masked_lm_ids": labels}
    example = example_class()
    for i in range(table.num_rows):
        record = example()
        entries = record.features.feature
        for key in ("input_ids", "input_mask", "segment_ids", "token_boundary", "masked_lm_positions",
                    "masked_lm_ids"):
            entries.add(key=key).value.int64_list.value.extend(ints[key][i].tolist())
        entries.add(key="masked_lm_weights").value.float_list.value.extend(weights[i].tolist())
        entries.add(key="next_sentence_labels").value.int64_list.value.extend(pair[i].tolist())
        yield record.SerializeToString()


def masked_crc(data: bytes) -> bytes:
    """TFRecord's masked CRC-32C (tensorflow/core/lib/hash/crc32c.h: rotate right by 15, add 0xa282ead8)."""
    import crc32c

    crc = crc32c.crc32c(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def write_records(records, path: str) -> int:
    """TFRecord framing (TensorFlow's record format): uint64 length, masked CRC-32C of the length, the data,
    masked CRC-32C of the data. Returns the records written."""
    n = 0
    with open(path, "wb") as f:
        for record in records:
            length = struct.pack("<Q", len(record))
            f.write(length + masked_crc(length) + record + masked_crc(record))
            n += 1
    return n
