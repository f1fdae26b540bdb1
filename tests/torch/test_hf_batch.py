"""A collated batch of real sample instances goes straight into every transformers class `export hf` names
(BertForPreTraining / AlbertForPreTraining / *ForMaskedLM): `model(**batch)` computes a loss, equal to
the cross-entropies worked out from the model's own logits and to our trainer's loss on the same batch."""
import json

import pytest
import torch
import torch.nn.functional as F

from corpusforge.torch import IGNORE, PretrainingCollator, PretrainingDataset, masking_config
from tests.conftest import build_pretraining
from corpusforge.trainers.encoder import Encoder, EncoderConfig
from corpusforge.trainers.hf import save_hf


@pytest.fixture(scope="module")
def sample_sop64(tmp_path_factory, sample_tokenized):
    return build_pretraining(tmp_path_factory, sample_tokenized, "sop64", "--mode", "sop", "--max-seq-length", "64",
                             "--max-predictions-per-seq", "10")


def collated(data, sentence_head):
    ds = PretrainingDataset(str(data))
    dynamic = masking_config(ds.info, "token") if ds.info.params.get("masking") == "none" else None
    collate = PretrainingCollator(label=ds.info.label if sentence_head else None, masking=dynamic, seed=3)
    return collate([ds[i] for i in range(8)])


@pytest.mark.parametrize("arch,data,sentence_head,label,logits", [
    ("bert", "sample_nsp64", True, "next_sentence_label", "seq_relationship_logits"),
    ("albert", "sample_sop64", True, "sentence_order_label", "sop_logits"),
    ("bert", "sample_full64", False, None, None),
    ("albert", "sample_full64", False, None, None)])
def test_each_exported_class_computes_the_loss_from_a_collated_batch(request, tmp_path, arch, data,
                                                                     sentence_head, label, logits):
    import transformers

    batch = collated(request.getfixturevalue(data), sentence_head)
    assert sorted(batch) == sorted(["input_ids", "token_type_ids", "attention_mask", "labels", *[label] * bool(label)])
    torch.manual_seed(0)
    c = EncoderConfig.preset("tiny", 21128, arch=arch, embedding_size=64, share="all" if arch == "albert" else "none",
                             sentence_head=sentence_head)
    ours = Encoder(c).eval()
    save_hf(tmp_path, c, ours.state_dict(), {"pad": 0, "cls": 101, "sep": 102}, None)
    name = json.loads((tmp_path / "config.json").read_text())["architectures"][0]
    assert name == f"{arch.capitalize()}For{'PreTraining' if sentence_head else 'MaskedLM'}"
    hf = getattr(transformers, name).from_pretrained(tmp_path).eval()
    with torch.no_grad():
        out = hf(**batch)
        ours_loss = ours(batch)["loss"]
    assert out.loss is not None
    mlm = out.prediction_logits if sentence_head else out.logits
    by_hand = F.cross_entropy(mlm.reshape(-1, 21128), batch["labels"].reshape(-1), ignore_index=IGNORE)
    if label:
        assert set(batch[label].tolist()) == {0, 1}  # real labels of both kinds in the batch
        by_hand = by_hand + F.cross_entropy(getattr(out, logits), batch[label])
    assert (batch["labels"] != IGNORE).sum() > 8
    torch.testing.assert_close(out.loss, by_hand)
    torch.testing.assert_close(out.loss, ours_loss, atol=1e-4, rtol=1e-4)
