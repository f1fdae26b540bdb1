"""build vocab: WordPiece, byte-level BPE and SentencePiece unigram trained on the bundled real corpus.

The files must load directly in the libraries and in transformers' tokenizer classes, encode real
sentences identically everywhere, and round-trip them. Round trip, per model:
  wordpiece  decode(encode(s)) equals s lower-cased with accents stripped (BERT's uncased normaliser),
             ignoring whitespace (BERT pre-tokenization drops it), for every sentence without [UNK];
  bpe        decode(encode(s)) == s exactly, for every sentence (byte-level: nothing is unknown);
  unigram    decode(encode(s)) equals the model's own normalisation of s (NFKC, case folding, runs of
             spaces as one, no leading or trailing space), for every sentence without <unk>.
"""
import hashlib
import json
import shutil
import unicodedata

import pytest
from corpusforge.dataset.reader import load_table
from corpusforge.tokenization import train as vocab_train
from tests.conftest import SAMPLE, run_cli

SIZES = {"wordpiece": 6000, "bpe": 3000, "unigram": 6000}


def run_vocab(*args, ok=True):
    """`corpusforge build vocab ...`, in-process."""
    return run_cli("build", "vocab", *args, ok=ok)


def manifest(out):
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def file_bytes(out):
    return {f["file"]: (out / f["file"]).read_bytes() for f in manifest(out)["files"]}


@pytest.fixture(scope="module")
def vocabs(tmp_path_factory):
    """Each model trained once on the whole bundled sample corpus (raw files as --input)."""
    root = tmp_path_factory.mktemp("vocab")
    for model, size in SIZES.items():
        run_vocab("--input", SAMPLE, "--model", model, "--vocab-size", size, "--output", root / model)
    return root


@pytest.fixture(scope="module")
def sentences(sample_dataset):
    return [s for row in load_table(str(sample_dataset)).to_pylist() for s in row["sentences"]]


def test_manifest_describes_the_files_and_the_sample(vocabs):
    for model, size in SIZES.items():
        m = manifest(vocabs / model)
        assert m["kind"] == "vocab" and m["model"] == model and m["vocab_size"] == size
        assert [f["file"] for f in m["files"]] == list(vocab_train.output_files(model))
        for f in m["files"]:
            data = (vocabs / model / f["file"]).read_bytes()
            assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["bytes"] == len(data)
        assert m["special_tokens"] == {t: i for i, t in enumerate(vocab_train.SPECIALS[model])}
        acc = m["input"]
        assert acc["read"] == acc["kept"] + acc["filtered"] + acc["rejected"] and acc["kept"] > 1800
        # the default sample (1M) is larger than the corpus: every sentence is used, once
        assert m["sample"]["sentences"] == m["sample"]["available_sentences"] > 10_000
        assert m["params"]["vocab_size"] == size and m["params"]["sample_sentences"] == 1_000_000
        assert m["params"]["lowercase"] is vocab_train.DEFAULT_LOWERCASE[model]
        assert sorted(p.name for p in (vocabs / model).iterdir()) == sorted(
            [*vocab_train.output_files(model), "manifest.json", "rejects"])
    assert not list(vocabs.glob(".*incomplete*"))


def test_wordpiece_loads_everywhere_and_round_trips(vocabs, sentences):
    from tokenizers import Tokenizer
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    from corpusforge.tokenization.tokenizer import TextTokenizer

    out = vocabs / "wordpiece"
    lines = (out / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == len(set(lines)) == 6000
    assert lines[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wp = BertWordPieceTokenizer(str(out / "vocab.txt"), lowercase=True)
    from_json = Tokenizer.from_file(str(out / "tokenizer.json"))
    # transformers 5.x ignores vocab_file= (a 5-token vocab); vocab= loads the file
    hf = BertTokenizerFast(vocab=str(out / "vocab.txt"))
    assert len(hf) == 6000 and (hf.pad_token_id, hf.unk_token_id, hf.cls_token_id, hf.sep_token_id,
                                hf.mask_token_id) == (0, 1, 2, 3, 4)
    ours = TextTokenizer(str(out / "vocab.txt"))
    assert ours.special_ids == {"cls": 2, "sep": 3, "unk": 1, "pad": 0, "mask": 4}

    encodings = wp.encode_batch(sentences)
    assert [e.ids for e in from_json.encode_batch(sentences)] == [e.ids for e in encodings]
    assert [ids for ids, _ in ours.encode(sentences)] == [e.ids[1:-1] for e in encodings]
    assert hf(sentences[:500])["input_ids"] == [e.ids for e in encodings[:500]]
    assert all(e.ids[0] == 2 and e.ids[-1] == 3 for e in encodings)

    known = [(s, e) for s, e in zip(sentences, encodings) if 1 not in e.ids]
    assert len(known) > 0.95 * len(sentences)
    for s, e in known:
        expected = wp.normalizer.normalize_str(s)  # lower-cased, accents stripped
        assert "".join(wp.decode(e.ids).split()) == "".join(expected.split()), s
    assert "".join(hf.decode(hf("北京欢迎你 Hello World")["input_ids"], skip_special_tokens=True).split()) == \
        "北京欢迎你helloworld"


def test_bpe_loads_everywhere_and_round_trips_exactly(vocabs, sentences):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast, RobertaTokenizer

    out = vocabs / "bpe"
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert tok.get_vocab_size() == 3000
    assert [tok.token_to_id(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")] == [0, 1, 2, 3, 4]
    assert len(json.loads((out / "vocab.json").read_text(encoding="utf-8"))) == 3000
    # transformers 5.x ignores vocab_file= / merges_file= (a 5-token vocab); vocab= and merges= load the files
    roberta = RobertaTokenizer(vocab=str(out / "vocab.json"), merges=str(out / "merges.txt"))
    assert len(roberta) == 3000 and (roberta.bos_token_id, roberta.pad_token_id, roberta.eos_token_id,
                                     roberta.unk_token_id, roberta.mask_token_id) == (0, 1, 2, 3, 4)
    fast = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"))
    assert len(fast) == 3000

    encodings = tok.encode_batch(sentences)
    assert all(e.ids[0] == 0 and e.ids[-1] == 2 for e in encodings)  # <s> ... </s>, as RoBERTa
    assert fast(sentences)["input_ids"] == [e.ids for e in encodings]
    assert roberta(sentences[:500])["input_ids"] == [e.ids for e in encodings[:500]]
    decoded = tok.decode_batch([e.ids for e in encodings])
    assert decoded == sentences  # cased, byte-level: exact
    mixed = "RoBERTa 学会了 ünïcödé 和 emoji 🙂"
    assert roberta.decode(roberta(mixed)["input_ids"], skip_special_tokens=True) == mixed
    assert roberta.convert_ids_to_tokens(roberta("北京 <mask>")["input_ids"])[-2:] == ["<mask>", "</s>"]


def assert_equal_but_ties(sp, theirs, ours):
    """Where two Viterbi implementations differ it must be a tie: the same text, the same total score
    of the pieces to float32 precision (1 + 11 or 11 + 1 for "111"), broken differently."""
    ties = [(a, b) for a, b in zip(theirs, ours, strict=True) if a != b]
    assert len(ties) < 0.001 * len(ours)
    for a, b in ties:
        assert sp.decode(a) == sp.decode(b)
        assert sum(map(sp.get_score, a)) == pytest.approx(sum(map(sp.get_score, b)), rel=1e-6)


def test_unigram_loads_everywhere_and_round_trips(vocabs, sentences):
    import sentencepiece as spm
    from transformers import AlbertTokenizer

    out = vocabs / "unigram"
    sp = spm.SentencePieceProcessor(model_file=str(out / "spiece.model"))
    assert sp.get_piece_size() == 6000
    assert [sp.id_to_piece(i) for i in range(5)] == ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (0, 1, -1, -1)
    assert [sp.is_control(i) for i in (2, 3, 4)] == [True] * 3
    vocab_lines = (out / "spiece.vocab").read_text(encoding="utf-8").split("\n")[:-1]
    assert [line.split("\t")[0] for line in vocab_lines] == [sp.id_to_piece(i) for i in range(6000)]

    normalizer = spm.SentencePieceNormalizer(model_file=str(out / "spiece.model"))
    ids = sp.encode(sentences)
    known = [(s, i) for s, i in zip(sentences, ids) if sp.unk_id() not in i]
    assert len(known) > 0.95 * len(sentences)
    for s, i in known:
        assert sp.decode(i) == normalizer.normalize(s).replace("▁", " ").strip(), s
    # the model itself applies NFKC and case folding
    assert sp.decode(sp.encode("Hello  ＷＯＲＬＤ 北京")) == "hello world 北京"

    # transformers 5.x ignores AlbertTokenizer(vocab_file=...) too; from_pretrained converts the .model
    albert = AlbertTokenizer.from_pretrained(str(out / "spiece.model"), keep_accents=True)
    assert len(albert) == 6000 and (albert.pad_token_id, albert.unk_token_id, albert.cls_token_id,
                                    albert.sep_token_id, albert.mask_token_id) == (0, 1, 2, 3, 4)
    assert_equal_but_ties(sp, albert(sentences, add_special_tokens=False)["input_ids"], ids)
    assert albert("北京")["input_ids"] == [2, *sp.encode("北京"), 3]
    assert albert.convert_ids_to_tokens(albert("北京 [MASK]")["input_ids"])[-2:] == ["[MASK]", "[SEP]"]
    # ALBERT's default (keep_accents=False) also applies NFKD and strips accents (ä -> a, ド -> ト, and
    # the full-width ～ that the model keeps becomes ~): ids differ only where that changes the text
    # beyond the model's own normalisation
    plain = AlbertTokenizer.from_pretrained(str(out / "spiece.model"))

    def stripped(s):
        return "".join(c for c in unicodedata.normalize("NFKD", s) if unicodedata.category(c) != "Mn")
    marked = [normalizer.normalize(stripped(s)) != normalizer.normalize(s) for s in sentences]
    unaccented = [s for s, m in zip(sentences, marked) if not m]
    assert len(unaccented) > 0.99 * len(sentences)
    assert_equal_but_ties(sp, plain(unaccented, add_special_tokens=False)["input_ids"], sp.encode(unaccented))
    accented = [s for s, m in zip(sentences, marked) if m]
    assert plain(accented, add_special_tokens=False)["input_ids"] != sp.encode(accented)


def test_same_seed_same_bytes_on_one_worker_and_two_processes(tmp_path):
    one, two, other = tmp_path / "one", tmp_path / "two", tmp_path / "other"
    args = ["--input", SAMPLE, "--model", "wordpiece", "--vocab-size", 5000, "--sample-sentences", 4000]
    run_vocab(*args, "--output", one, "--direct_num_workers=1")
    run_vocab(*args, "--output", two, "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    run_vocab(*args, "--output", other, "--seed", 7)
    assert file_bytes(one) == file_bytes(two)
    assert manifest(one) == manifest(two)
    sample = manifest(one)["sample"]
    assert sample["sentences"] == sample["requested"] == 4000 < sample["available_sentences"]
    assert manifest(other)["sample"]["sha256"] != sample["sha256"]
    assert file_bytes(other)["vocab.txt"] != file_bytes(one)["vocab.txt"]


def test_documents_dataset_input_gives_the_same_vocab_as_raw_input(tmp_path, sample_dataset):
    raw, docs = tmp_path / "raw", tmp_path / "docs"
    args = ["--model", "bpe", "--vocab-size", 1000, "--sample-sentences", 3000]
    run_vocab("--input", SAMPLE, *args, "--output", raw)
    run_vocab("--input", sample_dataset, *args, "--output", docs)
    assert manifest(raw)["sample"] == manifest(docs)["sample"]
    assert file_bytes(raw) == file_bytes(docs)


def test_duplicate_documents_count_once(tmp_path):
    """With --dedup (default) a copied file is filtered as duplicates and leaves the sample unchanged."""
    single, double = tmp_path / "single", tmp_path / "double"
    single.mkdir()
    shutil.copytree(SAMPLE / "wiki_zh", single / "wiki_zh")
    shutil.copytree(single, double / "a")
    shutil.copytree(single, double / "b")
    args = ["--model", "bpe", "--vocab-size", 600, "--sample-sentences", 1500]
    run_vocab("--input", single, *args, "--output", tmp_path / "v1")
    run_vocab("--input", double, *args, "--output", tmp_path / "v2")
    one, two = manifest(tmp_path / "v1"), manifest(tmp_path / "v2")
    assert two["input"]["read"] == 2 * one["input"]["read"]
    assert two["input"]["kept"] == one["input"]["kept"]
    assert two["input"]["filtered_by_reason"]["duplicate"] == one["input"]["kept"]
    assert two["sample"] == one["sample"]


def test_training_twice_on_the_same_sentences_gives_identical_files(tmp_path, sentences):
    """The trainers alone: WordPiece's alphabet cut and ## ids are otherwise hash-map ordered."""
    part = sentences[:3000]
    for model, size in (("wordpiece", 4000), ("bpe", 800), ("unigram", 4000)):
        a = vocab_train.train(model, part, str(tmp_path / f"{model}-a"), size, character_coverage=0.999)
        b = vocab_train.train(model, iter(part), str(tmp_path / f"{model}-b"), size, character_coverage=0.999)
        assert a["vocab_size"] == b["vocab_size"] == size
        for fa, fb in zip(a["files"], b["files"]):
            assert open(fa, "rb").read() == open(fb, "rb").read(), (model, fa)


def test_the_sample_combiner_keeps_the_smallest_distinct_keys_in_any_grouping(sentences):
    """SmallestSentences as Beam runs it: bundles add inputs and compact, then merge in any order."""
    from corpusforge.beam.sample import SmallestSentences, sample_key

    items = [(sample_key(1, f"doc{i % 700}".encode(), i % 5), s) for i, s in enumerate(sentences[:3000])]
    items += items[:500]  # duplicate documents give equal (key, sentence) pairs
    expected = sorted(set(items))[:1000]
    fn = SmallestSentences(1000)
    for bundle in (3000, 700, 64):
        accs = []
        for start in range(0, len(items), bundle):
            acc = fn.create_accumulator()
            for item in items[start:start + bundle]:
                acc = fn.add_input(acc, item)
            accs.append(fn.compact(acc))
        assert fn.extract_output(fn.merge_accumulators(accs[::-1])) == expected
        assert all(len(a[0]) <= 1000 for a in accs)


@pytest.mark.parametrize("args, message", [
    (["--model", "unigramm"], "Invalid value for '--model'"),
    (["--model", "bpe", "--vocab-size", 200], "--vocab-size 200 is too small for bpe: it needs at least 262"),
    (["--model", "wordpiece", "--vocab-size", 5], "--vocab-size 5 is too small for wordpiece"),
    (["--model", "unigram", "--character-coverage", 0], "Invalid value for '--character-coverage'"),
    (["--model", "unigram", "--sample-sentences", 0], "Invalid value for '--sample-sentences'"),
    (["--model", "bpe", "--no-such-flag"], "no such option: --no-such-flag"),
])
def test_bad_arguments_fail_before_any_work(tmp_path, args, message):
    result = run_vocab("--input", SAMPLE, "--output", tmp_path / "out", *args, ok=False)
    assert result.exit_code != 0 and message in result.output
    assert not list(tmp_path.iterdir())


def test_a_vocab_too_small_for_the_alphabet_fails_with_one_sentence(tmp_path):
    for model in ("wordpiece", "unigram"):
        result = run_vocab("--input", SAMPLE / "wiki_zh", "--model", model, "--vocab-size", 500,
                           "--output", tmp_path / model, ok=False)
        assert result.exit_code == 1
        error = result.output.strip().splitlines()[-1]
        assert error.startswith("Error: --vocab-size 500 is too small for this sample's alphabet"), error
        assert "raise --vocab-size or lower --character-coverage" in error
    assert not list(tmp_path.iterdir())  # no output, no temporary directory


def test_an_input_without_sentences_fails_with_one_sentence(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "broken.jsonl").write_text('{"id": 1, "text": \n{"id": 2\n', encoding="utf-8")
    result = run_vocab("--input", corpus, "--model", "bpe", "--output", tmp_path / "out", ok=False)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: the input has no sentences to sample (read 2 records: kept 0, filtered 0, rejected 2)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]


def test_an_existing_output_is_kept_without_overwrite(tmp_path, vocabs):
    out = tmp_path / "out"
    shutil.copytree(vocabs / "bpe", out)
    result = run_vocab("--input", SAMPLE, "--model", "bpe", "--output", out, ok=False)
    assert "already exists; pass --overwrite" in result.output
    assert file_bytes(out) == file_bytes(vocabs / "bpe")


def test_inspect_and_verify_understand_a_vocab_output(vocabs, tmp_path):
    import shutil

    from tests.conftest import run_cli

    out = vocabs / "wordpiece"
    assert "vocab.txt" in run_cli("inspect", out).output
    assert "OK" in run_cli("verify", out).output
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with open(copy / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("extra\n")
    result = run_cli("verify", copy, ok=False)
    assert result.exit_code == 1 and "vocab.txt: sha256" in result.output
