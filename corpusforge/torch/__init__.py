"""torch Datasets over corpusforge shards and collators (padding, dynamic masking)."""
from corpusforge.torch.collate import IGNORE, PretrainingCollator, masking_config
from corpusforge.torch.data import (DatasetInfo, EpochSampler, NotPretrainingData, PretrainingDataset,
                                    PretrainingStream)

__all__ = ["IGNORE", "DatasetInfo", "EpochSampler", "NotPretrainingData", "PretrainingCollator", "PretrainingDataset",
           "PretrainingStream", "masking_config"]
