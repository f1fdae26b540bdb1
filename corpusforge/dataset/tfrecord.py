"""Pretraining instances as Google BERT's and ALBERT's run_pretraining.py read them: TFRecord files of
tf.train.Example, padded as create_pretraining_data.py's write_instance_to_example_files pads them.

Per instance, max_seq_length L and max_predictions_per_seq P from the dataset's manifest:
    input_ids        L  the (masked) token ids, then 0
    input_mask       L  1 per token, then 0
    segment_ids      L  token_type_ids, then 0
    token_boundary   L  ALBERT's: 1 on [CLS]/[SEP] and on each word's first token (our word_ids), then 0
    masked_lm_positions, masked_lm_ids  P  then 0
    masked_lm_weights                   P  1.0 per prediction, then 0.0
    next_sentence_labels                1  nsp: 1 = B is random; sop: 1 = swapped (ALBERT keeps this name)

Written with the `tfrecord` package (its Example proto and TFRecord CRC), serialised with
deterministic=True: protobuf's plain serialisation orders the feature map differently in each process,
so the same dataset would give other bytes on every run.
"""
from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa

from corpusforge.dataset.reader import open_shard

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
    from tfrecord import example_pb2 as pb

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
    pair = table.column(label).to_numpy().astype(np.int64)

    def ints(values):
        return pb.Feature(int64_list=pb.Int64List(value=values))

    for i in range(table.num_rows):
        feature = {"input_ids": ints(ids[i].tolist()), "input_mask": ints(mask[i].tolist()),
                   "segment_ids": ints(segments[i].tolist()), "token_boundary": ints(boundary[i].tolist()),
                   "masked_lm_positions": ints(positions[i].tolist()), "masked_lm_ids": ints(labels[i].tolist()),
                   "masked_lm_weights": pb.Feature(float_list=pb.FloatList(value=weights[i].tolist())),
                   "next_sentence_labels": ints([int(pair[i])])}
        yield pb.Example(features=pb.Features(feature=feature)).SerializeToString(deterministic=True)


def write_records(records, path: str) -> int:
    """TFRecord framing (TensorFlow's record format): uint64 length, masked CRC-32C of the length, the data,
    masked CRC-32C of the data; the CRC is the tfrecord package's. Returns the records written."""
    from tfrecord.writer import TFRecordWriter

    n = 0
    with open(path, "wb") as f:
        for record in records:
            length = struct.pack("<Q", len(record))
            f.write(length + TFRecordWriter.masked_crc(length) + record + TFRecordWriter.masked_crc(record))
            n += 1
    return n
