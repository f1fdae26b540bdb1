"""One protobuf for Beam and SentencePiece: apache-beam caps protobuf below 7, so the sentencepiece pin must
ship a model proto that imports under that protobuf (0.2.3's generated code demands protobuf >= 7.36 and
raises VersionError); transformers reads SentencePiece models through that very module."""
from pathlib import Path

from corpusforge.tokenization import train as vocab_train

TEXT = Path(__file__).parent / "data" / "lm" / "news_train.txt"


def test_sentencepiece_model_proto_imports_under_beams_protobuf():
    import google.protobuf
    from sentencepiece import sentencepiece_model_pb2

    assert int(google.protobuf.__version__.split(".")[0]) < 7  # what apache-beam allows
    assert sentencepiece_model_pb2.ModelProto().DESCRIPTOR.full_name == "sentencepiece.ModelProto"


def test_transformers_converter_reads_our_unigram_model(tmp_path):
    import sentencepiece as spm
    import transformers.convert_slow_tokenizer as convert
    from sentencepiece import sentencepiece_model_pb2
    from transformers import AlbertTokenizer

    sentences = [line.replace(" ", "") for line in TEXT.read_text(encoding="utf-8").splitlines()]
    vocab_train.train_unigram(sentences, str(tmp_path), vocab_size=4000)
    model = tmp_path / "spiece.model"
    # transformers takes sentencepiece's own module, not its bundled fallback copy
    assert convert.import_protobuf() is sentencepiece_model_pb2
    proto = sentencepiece_model_pb2.ModelProto.FromString(model.read_bytes())
    sp = spm.SentencePieceProcessor(model_file=str(model))
    assert [p.piece for p in proto.pieces] == [sp.id_to_piece(i) for i in range(sp.get_piece_size())]

    albert = AlbertTokenizer.from_pretrained(str(model), keep_accents=True)
    assert len(albert) == 4000 and albert.mask_token_id == 4
    held_out = (TEXT.parent / "news_heldout.txt").read_text(encoding="utf-8").replace(" ", "").splitlines()
    assert albert(held_out, add_special_tokens=False)["input_ids"] == sp.encode(held_out)
