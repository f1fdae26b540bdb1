"""torch Datasets over corpusforge shards and collators (padding, dynamic masking, encoder-decoder batches, XLNet's
permutations)."""
from corpusforge.torch.collate import IGNORE, PretrainingCollator, Seq2SeqCollator, XLNetCollator, masking_config
from corpusforge.torch.data import (SEQ2SEQ_KINDS, DatasetInfo, EpochSampler, NotPretrainingData, PretrainingDataset,
                                    PretrainingStream, Seq2SeqDataset, Seq2SeqInfo, XLNetDataset)

__all__ = ["IGNORE", "SEQ2SEQ_KINDS", "DatasetInfo", "EpochSampler", "NotPretrainingData", "PretrainingCollator",
           "PretrainingDataset", "PretrainingStream", "Seq2SeqCollator", "Seq2SeqDataset", "Seq2SeqInfo", "XLNetCollator",
           "XLNetDataset", "masking_config"]
