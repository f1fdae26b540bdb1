"""Megatron-LM's indexed dataset (PREFIX.bin + PREFIX.idx, the MMapIndexedDataset layout) from our shards.

.bin: every sequence's token ids end to end. .idx: b"MMIDIDX\\x00\\x00", version 1 (<Q), the dtype
code (<B: uint16 8, int32 4), the sequence count and the document index's length (<Q each), then
each sequence's length (int32), its byte offset in .bin (int64) and the document index (int64:
0, then the sequence count after each document). The dtype is Megatron's own choice for the
vocabulary (uint16 below 65,500 entries, else int32), so its readers see what preprocess_data.py writes.

A tokenized dataset gives one sequence per document, its sentences concatenated (preprocess_data.py's
default; split_sentences: one per sentence, as its --split-sentences for BERT), and append_eod adds
the EOS to each document's end (its --append-eod); empty documents and sentences are skipped, as
there. A causal dataset gives one sequence (and one document) per block: its EOS tokens are in it.
Rows are written in the dataset's (seeded, shuffled) order, a shard at a time.
"""
from __future__ import annotations

import os
import struct
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusforge.dataset.reader import open_shard, read_manifest

HEADER = b"MMIDIDX\x00\x00"
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


def megatron_dtype(vocab_size: int) -> np.dtype:
    """Megatron's DType.optimal_dtype."""
    return np.dtype(np.uint16 if vocab_size < 65500 else np.int32)


def shard_sequences(table: pa.Table, kind: str, split_sentences: bool, eod: int | None):
    """(tokens, sequence lengths, sequences per document) of one shard."""
    ids = table.column("input_ids").combine_chunks()
    if kind == "causal":
        lengths = pc.list_value_length(ids).to_numpy().astype(np.int64)
        return ids.flatten().to_numpy(), lengths, np.ones(len(lengths), dtype=np.int64)
    sentences = ids.flatten()
    tokens = sentences.flatten().to_numpy()
    sent_len = pc.list_value_length(sentences).to_numpy().astype(np.int64)
    per_doc = pc.list_value_length(ids).to_numpy().astype(np.int64)
    doc_of = np.repeat(np.arange(len(per_doc)), per_doc)  # the document of each sentence
    if not split_sentences:  # one sequence per document
        sent_len = np.bincount(doc_of, weights=sent_len, minlength=len(per_doc)).astype(np.int64)
        doc_of = np.arange(len(per_doc))
    keep = sent_len > 0
    sent_len, doc_of = sent_len[keep], doc_of[keep]
    per_doc = np.bincount(doc_of, minlength=len(per_doc))
    if eod is not None and len(sent_len):
        last = np.cumsum(per_doc)[per_doc > 0] - 1  # each document's last sequence
        tokens = np.insert(tokens, np.cumsum(sent_len)[last], eod)
        sent_len[last] += 1
    return tokens, sent_len, per_doc[per_doc > 0]


def export_megatron(dataset: str, prefix: str, split_sentences: bool = False, eod: int | None = None) -> dict:
    """Writes PREFIX.bin and PREFIX.idx (under temporary names, renamed when complete); returns counts."""
    manifest = read_manifest(dataset)
    kind = manifest["kind"]
    dtype = megatron_dtype(manifest["tokenizer"]["vocab_size"])
    lengths, docs = [], []
    tag = uuid.uuid4().hex[:8]
    tmp_bin, tmp_idx = f"{prefix}.bin.incomplete-{tag}", f"{prefix}.idx.incomplete-{tag}"
    try:
        with open(tmp_bin, "wb") as out:
            for shard in manifest["shards"]:
                tokens, seq_len, per_doc = shard_sequences(open_shard(os.path.join(dataset, shard["file"])), kind,
                                                           split_sentences, eod)
                out.write(tokens.astype(dtype).tobytes())
                lengths.append(seq_len)
                docs.append(per_doc)
        lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
        per_doc = np.concatenate(docs) if docs else np.zeros(0, np.int64)
        pointers = np.cumsum(lengths) - lengths
        document_index = np.concatenate([[0], np.cumsum(per_doc)])
        with open(tmp_idx, "wb") as out:
            out.write(HEADER + struct.pack("<Q", 1) + struct.pack("<B", DTYPE_CODES[dtype]))
            out.write(struct.pack("<Q", len(lengths)) + struct.pack("<Q", len(document_index)))
            out.write(lengths.astype("<i4").tobytes())
            out.write((pointers * dtype.itemsize).astype("<i8").tobytes())
            out.write(document_index.astype("<i8").tobytes())
        os.replace(tmp_bin, f"{prefix}.bin")
        os.replace(tmp_idx, f"{prefix}.idx")
    finally:
        for path in (tmp_bin, tmp_idx):  # our own temporary files only
            if os.path.exists(path):
                os.remove(path)
    return {"sequences": len(lengths), "documents": len(per_doc), "tokens": int(lengths.sum()), "dtype": dtype.name}
