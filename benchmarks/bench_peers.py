"""Each pipeline beside its peer, back to back on the same input: rates, their ratio, peak RSS of both.

    bash benchmarks/peers/setup_all.sh     # once: the peers, into benchmarks/_peers/ (git-ignored)
    flock /tmp/corpusforge-bench.lock python benchmarks/bench_peers.py [--rows nsp,sop,electra,mlm,cooccurrence,lm]
        [--scales 1,10] [--repeats 3] [--workers 2]

Rows (ours | peer):
- nsp: build pretraining --mode nsp --masking token | google-research/bert create_pretraining_data.py
- sop: build pretraining --mode sop --masking ngram | google-research/albert create_pretraining_data.py
- electra: build pretraining --mode electra (128 tokens, no masking) | google-research/electra
  build_pretraining_dataset.py --num-processes 2; the outputs' statistics are compared (electra_stats.py)
- mlm: build pretraining --mode full-sentences --masking token, 512 tokens | the Hugging Face run_mlm recipe
  (datasets text + map(num_proc=2) with the fast BertTokenizer, group_texts, DataCollatorForLanguageModeling
  applied once to every block)
- cooccurrence: build cooccurrence, window 10, symmetric, min-count 5 | GloVe C vocab_count + cooccur; the
  outputs are compared (same vocab.txt, same records, values within 1e-9 relative)
- lm: build ngrams --order 5 + build lm (modified Kneser-Ney) | KenLM lmplz -o 5; the n-gram counts of the two
  ARPA files are compared
- xlnet: build pretraining --mode xlnet, 128 / reuse 64 / num_predict 21 | zihangdai/xlnet data_utils.py
  (bsz_per_host 32, uni-directional), both with one SentencePiece unigram model trained on the same text

Inputs, made once under benchmarks/_work/ from ../shared/corpora and scaled by k copies: the pretraining rows
read the wiki + news documents in BERT's text format (one sentence per line, a blank line between documents,
sentences split by `build documents`) in 16 files per copy; both tools read those same files, Google's script
as one process given every file (as its README runs it). The cooccurrence and lm rows are bench_cooccurrence's
and bench_ngrams' inputs: ours reads the raw JSON (cleaning and segmenting it), GloVe and lmplz read that text
segmented beforehand by the same segmenter (their input format), which is not counted in their time.
Every run is a fresh process; times are whole-process wall seconds, start-up included; peak RSS is sampled over
the process tree. Each repeat runs ours and then the peer, so both see the same machine load; the rates are
medians over the repeats. Rows go to benchmarks/peers/results.md and into BENCHMARKS.md's top table (a copy of it).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_documents import ROOT, WORK, polls, tree_rss  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora"
VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
PEERS = ROOT / "benchmarks" / "_peers"
TF_PYTHON = PEERS / "tf-venv" / "bin" / "python"
GLOVE = PEERS / "src" / "glove" / "build"
LMPLZ = PEERS / "src" / "kenlm" / "build" / "bin" / "lmplz"
RESULTS = ROOT / "benchmarks" / "peers" / "results.md"
DOC, BEGIN, END = ROOT / "BENCHMARKS.md", "<!-- peers table: written by benchmarks/bench_peers.py -->", "<!-- end of peers table -->"
FILES = 16  # text files per copy of the corpus: Google's script reads a list of files, as users give it
HEADER = ("| pipeline | input | ours | peer | ratio (ours / peer) | peak RSS MB ours / peer | runs | command "
          "| date | load (1 min, start-end) |\n|---|---|---|---|---|---|---|---|---|---|")


def measure(args: list[str], stdin=None, cwd=ROOT, env=None) -> dict:
    """One fresh process: wall and CPU seconds, peak RSS of its tree, stdout + stderr."""
    os.sync()  # no dirty page cache from the previous run to throttle this one's writes
    log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(args, stdin=stdin, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                            env={**os.environ, **(env or {})})
    ps, peak = psutil.Process(proc.pid), 0
    for _ in polls(proc):
        try:
            peak = max(peak, tree_rss(ps)[0])
        except psutil.Error:
            pass
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    log.seek(0)
    output = log.read()
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, args))}\n{output[-3000:]}")
    return {"wall": wall, "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, "rss": peak,
            "output": output}


def beam(workers: int) -> list[str]:
    return [f"--direct_num_workers={workers}"] + (["--direct_running_mode=multi_processing"] if workers > 1 else [])


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "corpusforge.cli", *map(str, args)]


# inputs

def bert_text(scale: int) -> Path:
    """A folder of k copies of the wiki + news documents in BERT's text format, FILES files per copy."""
    one = WORK / "bert_text"
    if not one.exists():
        docs = WORK / "bert_text_documents"
        subprocess.run(cli("build", "documents", "-i", CORPUS / "wiki_zh", "-i", CORPUS / "news2016zh", "-o", docs,
                           "--overwrite", "--no-dedup"), check=True, capture_output=True, cwd=ROOT)
        from corpusforge.dataset import load_table

        documents = load_table(str(docs)).column("sentences").to_pylist()
        tmp = WORK / "bert_text.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        per = -(-len(documents) // FILES)
        for i in range(FILES):
            with open(tmp / f"part{i:02d}.txt", "w", encoding="utf-8") as f:
                for sentences in documents[i * per:(i + 1) * per]:
                    f.write("\n".join(s.replace("\n", " ") for s in sentences) + "\n\n")
        tmp.rename(one)
    target = WORK / f"bert_text_{scale}x"
    if not target.exists():
        for i in range(scale):
            shutil.copytree(one, target / f"copy{i:03d}")
    return target


# rows: each returns (ours, peer) dicts with wall, rss and a rate, for one repeat

PRETRAINING = {  # row -> (our options, peer's script, peer's options)
    "nsp": (["--mode", "nsp", "--masking", "token"], "bert", []),
    "sop": (["--mode", "sop", "--masking", "ngram", "--max-ngram", "3"], "albert",
            ["--ngram=3", "--do_whole_word_mask=True", "--favor_shorter_ngram=True", "--random_next_sentence=False"]),
}


def pretraining_row(name: str, scale: int, workers: int):
    ours_args, peer, peer_args = PRETRAINING[name]
    source = bert_text(scale)
    files = sorted(source.rglob("*.txt"))
    out = WORK / "peers_out"
    ours = measure(cli("build", "pretraining", "-i", source, "-t", VOCAB, "-o", out, "--overwrite",
                       "--no-dedup", *ours_args, "--dupe-factor", "1", "--max-seq-length", "128",
                       "--max-predictions-per-seq", "20", *beam(workers)))
    ours["count"] = json.loads((out / "manifest.json").read_text())["statistics"]["instances"]
    script = PEERS / peer / "create_pretraining_data.py"
    theirs = measure([str(TF_PYTHON), str(script), "--input_file=" + ",".join(map(str, files)),
                      f"--output_file={WORK / 'peer.tfrecord'}", f"--vocab_file={VOCAB}", "--do_lower_case=True",
                      "--max_seq_length=128", "--max_predictions_per_seq=20", "--masked_lm_prob=0.15",
                      "--short_seq_prob=0.1", "--dupe_factor=1", *peer_args], cwd=script.parent,
                     env={"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(script.parent)})
    theirs["count"] = int(re.search(r"Wrote (\d+) total instances", theirs["output"]).group(1))
    for r in (ours, theirs):
        r["rate"] = r["count"] / r["wall"]
    return ours, theirs


def spiece() -> Path:
    """A SentencePiece unigram model of the wiki + news text (build vocab), shared by both sides of the xlnet row:
    data_utils.py reads raw text through a SentencePiece model only."""
    out = WORK / "xlnet_spm"
    if not (out / "spiece.model").exists():
        subprocess.run(cli("build", "vocab", "-m", "unigram", "--vocab-size", "16000", "--extra-ids", "0",
                           "-i", CORPUS / "wiki_zh", "-i", CORPUS / "news2016zh", "-o", out, "--overwrite"),
                       check=True, capture_output=True, cwd=ROOT)
    return out / "spiece.model"


def xlnet_row(scale: int, workers: int):
    source, model = bert_text(scale), spiece()
    out = WORK / "peers_out"
    ours = measure(cli("build", "pretraining", "-i", source, "-t", model, "-o", out, "--overwrite", "--no-dedup",
                       "--mode", "xlnet", "--max-seq-length", "128", *beam(workers)))
    ours["count"] = json.loads((out / "manifest.json").read_text())["rows"]
    save_dir = WORK / "xlnet_peer"
    shutil.rmtree(save_dir, ignore_errors=True)
    script = PEERS / "xlnet" / "data_utils.py"
    theirs = measure([str(TF_PYTHON), str(script), "--use_tpu=False", "--bsz_per_host=32", "--num_core_per_host=1",
                      "--seq_len=128", "--reuse_len=64", "--bi_data=False", "--uncased=True", "--mask_alpha=6",
                      "--mask_beta=1", "--num_predict=21", f"--input_glob={source}/*/*.txt", f"--sp_path={model}",
                      f"--save_dir={save_dir}"], cwd=script.parent, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    theirs["count"] = 32 * int(re.search(r"Num of batches: (\d+)", theirs["output"]).group(1))
    for r in (ours, theirs):
        r["rate"] = r["count"] / r["wall"]
    return ours, theirs


def tfrecords(directory: Path) -> int:
    """The number of records in a folder of TFRecord files, from their framing (length, CRC, data, CRC)."""
    count = 0
    for path in directory.glob("*.tfrecord*"):
        with open(path, "rb") as f:
            while header := f.read(12):
                f.seek(int.from_bytes(header[:8], "little") + 4, os.SEEK_CUR)
                count += 1
    return count


def electra_row(scale: int, workers: int):
    from peers.electra_stats import summary

    source = bert_text(scale)
    flat = WORK / f"electra_text_{scale}x"  # ELECTRA's script lists one folder
    if not flat.exists():
        tmp = WORK / "electra_text.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for f in sorted(source.rglob("*.txt")):
            (tmp / f"{f.parent.name}_{f.name}").symlink_to(f)
        tmp.rename(flat)
    out, peer_out = WORK / "peers_out", WORK / "electra_peer_out"
    ours = measure(cli("build", "pretraining", "-i", source, "-t", VOCAB, "-o", out, "--overwrite", "--no-dedup",
                       "--mode", "electra", "--dupe-factor", "1", "--max-seq-length", "128", *beam(workers)))
    manifest = json.loads((out / "manifest.json").read_text())
    ours["count"] = manifest["statistics"]["instances"]
    script = PEERS / "electra" / "build_pretraining_dataset.py"
    peer_args = [f"--corpus-dir={flat}", f"--vocab-file={VOCAB}", f"--output-dir={peer_out}", "--max-seq-length=128",
                 f"--num-processes={workers}"]
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    theirs = measure([str(TF_PYTHON), str(script), *peer_args], cwd=script.parent, env=env)
    theirs["count"] = tfrecords(peer_out)
    for r in (ours, theirs):
        r["rate"] = r["count"] / r["wall"]
    # the outputs' statistics (not timed): ours from the dataset, the same figures as of ELECTRA's records
    from corpusforge.dataset import load_table

    types = load_table(str(out)).column("token_type_ids").combine_chunks()
    lengths = types.value_lengths().to_numpy()
    flat_types, starts = types.values.to_numpy(), types.offsets.to_numpy()[:-1]
    second = np.add.reduceat(flat_types.astype(np.int64), starts)
    stats = {"ours": summary(lengths, lengths - second - 2, second > 0, 128),
             "peer": json.loads(measure([str(TF_PYTHON), str(ROOT / "benchmarks" / "peers" / "electra_stats.py"),
                                         "records", str(peer_out)], env=env)["output"].strip().splitlines()[-1])}
    stats["ours"]["random_target_share"] = manifest["statistics"]["electra"]["random_target_share"]
    if scale == 1:  # a second, counted run of the peer for its random-target share (at 1x only: it costs a run)
        counted = measure([str(TF_PYTHON), str(ROOT / "benchmarks" / "peers" / "electra_stats.py"), "random-targets",
                           str(script), *peer_args], cwd=script.parent, env=env)["output"]
        targets = sum(int(n) for n in re.findall(r"random targets: job \d+: (\d+)", counted))
        stats["peer"]["random_target_share"] = round(targets / tfrecords(peer_out), 4)
    documents = sum(1 for f in flat.iterdir() for doc in f.read_text(encoding="utf-8").split("\n\n") if doc.strip())
    for side in stats.values():
        side["documents"] = documents
        side["instances_per_document"] = round(side["instances"] / documents, 3)
    (WORK / f"electra_stats_{scale}x.json").write_text(json.dumps(stats, indent=1))
    print(json.dumps(stats), file=sys.stderr, flush=True)
    o, p = stats["ours"], stats["peer"]
    ours["check"] = (f"instances per document {o['instances_per_document']} / {p['instances_per_document']}, "
                     f"one segment {o['one_segment_share']} / {p['one_segment_share']}, first segment mean "
                     f"{o['first_segment_tokens_mean']} / {p['first_segment_tokens_mean']} tokens"
                     + (f", random target {o['random_target_share']} / {p['random_target_share']}"
                        if "random_target_share" in p else ""))
    return ours, theirs


def hf_recipe(files: list[str], max_seq_length: int, num_proc: int) -> None:
    """The run_mlm recipe (transformers' examples/pytorch/language-modeling/run_mlm.py, not line by line), with
    the masking applied once to every block (static, as ours); prints the number of blocks."""
    from datasets import load_dataset
    from transformers import BertTokenizerFast, DataCollatorForLanguageModeling

    tokenizer = BertTokenizerFast(vocab_file=str(VOCAB), do_lower_case=True)
    raw = load_dataset("text", data_files=files, split="train")
    tokenized = raw.map(lambda b: tokenizer(b["text"], return_special_tokens_mask=True), batched=True,
                        num_proc=num_proc, remove_columns=["text"])

    def group_texts(examples):
        concatenated = {k: [t for row in examples[k] for t in row] for k in examples}
        total = len(concatenated["input_ids"]) // max_seq_length * max_seq_length
        return {k: [t[i:i + max_seq_length] for i in range(0, total, max_seq_length)] for k, t in concatenated.items()}

    grouped = tokenized.map(group_texts, batched=True, num_proc=num_proc)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    tokens = 0
    for i in range(0, len(grouped), 1000):
        batch = grouped[i:i + 1000]
        tokens += collator([dict(zip(batch, row)) for row in zip(*batch.values())])["input_ids"].numel()
    print(f"{len(grouped)} instances, {tokens} tokens")


def mlm_row(scale: int, workers: int):
    source = bert_text(scale)
    files = sorted(source.rglob("*.txt"))
    out = WORK / "peers_out"
    ours = measure(cli("build", "pretraining", "-i", source, "-t", VOCAB, "-o", out, "--overwrite",
                       "--no-dedup", "--mode", "full-sentences", "--masking", "token", "--dupe-factor", "1",
                       "--max-seq-length", "512", "--max-predictions-per-seq", "80", *beam(workers)))
    ours["count"] = json.loads((out / "manifest.json").read_text())["statistics"]["tokens"]
    cache = WORK / "hf_cache"
    shutil.rmtree(cache, ignore_errors=True)  # a fresh cache: datasets would otherwise reuse the last run's maps
    theirs = measure([sys.executable, __file__, "--hf-recipe", str(workers), *map(str, files)],
                     env={"HF_DATASETS_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                          "TOKENIZERS_PARALLELISM": "false"})
    theirs["count"] = int(re.search(r"(\d+) tokens", theirs["output"].splitlines()[-1]).group(1))
    for r in (ours, theirs):
        r["rate"] = r["count"] / r["wall"]
    return ours, theirs


def cooccurrence_row(scale: int, workers: int):
    from bench_cooccurrence import pretokenized_text, scaled_inputs

    inputs = scaled_inputs(CORPUS, scale)
    text = pretokenized_text(inputs, scale)
    out = WORK / "peers_cooc"
    ours = measure(cli("build", "cooccurrence", *[x for i in inputs for x in ("-i", i)], "-o", out, "--overwrite",
                       "--window", "10", "--min-count", "5", "--units", "words", *beam(workers)))
    ours["count"] = json.loads((out / "manifest.json").read_text())["totals"]["tokens"]
    vocab, matrix = WORK / "glove_vocab.txt", WORK / "glove_cooc.bin"
    shell = ["sh", "-c", '"$0" "$@" < "$TEXT" > "$OUT"']  # both read the text on stdin and write to stdout
    v = measure([*shell, str(GLOVE / "vocab_count"), "-min-count", "5", "-verbose", "0"],
                env={"TEXT": str(text), "OUT": str(vocab)})
    c = measure([*shell, str(GLOVE / "cooccur"), "-window-size", "10", "-vocab-file", str(vocab), "-memory", "8",
                 "-overflow-file", str(WORK / "overflow"), "-verbose", "0"], env={"TEXT": str(text), "OUT": str(matrix)})
    theirs = {"wall": v["wall"] + c["wall"], "rss": max(v["rss"], c["rss"]),
              "count": sum(len(line.split()) for line in open(text, encoding="utf-8"))}
    for r in (ours, theirs):
        r["rate"] = r["count"] / r["wall"]
    ours["check"] = same_matrix(out, vocab, matrix)
    return ours, theirs


def same_matrix(out: Path, vocab: Path, matrix: Path) -> str:
    from corpusforge.dataset.cooccurrence import GLOVE_RECORD

    subprocess.run(cli("export", "cooccurrence", out, "-o", WORK / "ours_cooc.bin", "--overwrite"), check=True,
                   capture_output=True, cwd=ROOT)
    a = np.fromfile(WORK / "ours_cooc.bin", dtype=GLOVE_RECORD)
    b = np.fromfile(matrix, dtype=GLOVE_RECORD)
    if (out / "vocab.txt").read_bytes() != vocab.read_bytes():
        return "vocab.txt DIFFERS from vocab_count's"
    if len(a) != len(b) or not (np.array_equal(a["word1"], b["word1"]) and np.array_equal(a["word2"], b["word2"])):
        return f"records DIFFER ({len(a):,} vs {len(b):,})"
    off = np.abs(a["val"] - b["val"]) > 1e-9 * np.abs(b["val"])
    return (f"same vocab.txt and {len(a):,} records" + (f", values within 1e-9 relative but {off.sum()}" if off.any()
                                                         else ", values within 1e-9 relative"))


def arpa_counts(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"^ngram \d+=(\d+)$", text, flags=re.M)]


def lm_row(scale: int, workers: int):
    from bench_ngrams import scaled, words_text

    text, tokens = words_text()
    corpus = scaled(text, scale)
    count = measure(cli("build", "ngrams", "-i", corpus, "--format", "pretokenized", "--order", "5", "-o",
                        WORK / "ngrams", "--overwrite", *beam(workers)))
    build = measure(cli("build", "lm", "-i", WORK / "ngrams", "--smoothing", "modified-kneser-ney", "-o", WORK / "lm",
                        "--overwrite", "--discount-fallback"))
    ours = {"wall": count["wall"] + build["wall"], "rss": max(count["rss"], build["rss"]), "count": tokens * scale}
    with open(corpus, "rb") as f:
        theirs = measure([str(LMPLZ), "-o", "5", "-S", "40%", "-T", str(WORK), "--arpa", str(WORK / "lmplz.arpa"),
                          "--discount_fallback"], stdin=f)
    theirs["count"] = tokens * scale
    for r in (ours, theirs):
        r["rate"] = r["count"] / r["wall"]
    arpa = next((WORK / "lm").glob("*.arpa"), None)
    with open(WORK / "lmplz.arpa", encoding="utf-8") as f:
        peer_counts = arpa_counts(f.read(4096))
    with open(arpa, encoding="utf-8") as f:
        our_counts = arpa_counts(f.read(4096))
    ours["check"] = ("same n-gram counts per order: " if our_counts == peer_counts else
                     f"n-gram counts DIFFER: ours {our_counts}, lmplz ") + " / ".join(f"{n:,}" for n in peer_counts)
    return ours, theirs


ROWS = {  # name -> (pipeline, peer, unit, run, what is needed)
    "nsp": ("build pretraining nsp + token masking, 128 / 20, dupe 1", "Google BERT create_pretraining_data.py",
            "instances/s", lambda s, w: pretraining_row("nsp", s, w), PEERS / "bert" / "create_pretraining_data.py"),
    "sop": ("build pretraining sop + ngram masking (n ≤ 3), 128 / 20, dupe 1",
            "ALBERT create_pretraining_data.py (ngram 3, whole words)", "instances/s",
            lambda s, w: pretraining_row("sop", s, w), PEERS / "albert" / "create_pretraining_data.py"),
    "electra": ("build pretraining electra, 128, no masking", "ELECTRA build_pretraining_dataset.py (2 processes)",
                "instances/s", electra_row, PEERS / "electra" / "build_pretraining_dataset.py"),
    "mlm": ("build pretraining full-sentences + token masking, 512 / 80", "HF run_mlm recipe (datasets, num_proc=2)",
            "k tokens/s", mlm_row, None),
    "cooccurrence": ("build cooccurrence, window 10, symmetric, min-count 5", "GloVe C vocab_count + cooccur",
                     "M tokens/s", cooccurrence_row, GLOVE / "cooccur"),
    "lm": ("build ngrams --order 5 + build lm (modified KN)", "KenLM lmplz -o 5", "M tokens/s", lm_row, LMPLZ),
    "xlnet": ("build pretraining xlnet, 128 / reuse 64 / num_predict 21", "XLNet data_utils.py (bsz_per_host 32, uni)",
              "instances/s", xlnet_row, PEERS / "xlnet" / "data_utils.py"),
}
INPUTS = {"nsp": "wiki + news, BERT text format", "sop": "wiki + news, BERT text format",
          "electra": "wiki + news, BERT text format",
          "mlm": "wiki + news, BERT text format", "cooccurrence": "wiki + news train + webtext",
          "lm": "all ../shared/corpora, one document a line",
          "xlnet": "wiki + news, BERT text format, SentencePiece unigram 16k"}


def rate_text(rate: float, unit: str) -> str:
    if unit.startswith("M "):
        return f"{rate / 1e6:.2f} {unit}"
    return f"{rate / 1e3:,.1f} {unit}" if unit.startswith("k ") else f"{rate:,.0f} {unit}"


def save(key: str, line: str) -> None:
    lines = RESULTS.read_text().splitlines() if RESULTS.exists() else []
    rows = [x for x in lines if x.startswith("| ") and not x.startswith("| pipeline") and not x.startswith("|---")]
    rows = [x for x in rows if not x.startswith(key)] + [line]
    order = {name: i for i, name in enumerate(ROWS)}
    rows.sort(key=lambda x: (min((order[n] for n in ROWS if ROWS[n][0] in x), default=99), int(
        re.search(r", (\d+)x \|", x).group(1))))
    table = HEADER + "\n" + "\n".join(rows) + "\n"
    RESULTS.write_text(table)
    doc = DOC.read_text()
    if BEGIN in doc and END in doc:  # BENCHMARKS.md's top table is this file's copy
        DOC.write_text(doc[:doc.index(BEGIN) + len(BEGIN)] + "\n" + table + doc[doc.index(END):])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hf-recipe", nargs="+", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.hf_recipe:
        hf_recipe(a.hf_recipe[1:], 512, int(a.hf_recipe[0]))
        return
    print(HEADER, flush=True)
    for name in a.rows.split(","):
        pipeline, peer, unit, run, needs = ROWS[name]
        if needs is not None and not needs.exists():
            print(f"{name}: {needs} is missing; run bash benchmarks/peers/setup_all.sh", file=sys.stderr)
            continue
        for scale in map(int, a.scales.split(",")):
            load = os.getloadavg()[0]
            runs = [run(scale, a.workers) for _ in range(a.repeats)]
            ours, theirs = (statistics.median(r[i]["rate"] for r in runs) for i in (0, 1))
            rss = [statistics.median(r[i]["rss"] for r in runs) / 2**20 for i in (0, 1)]
            counts = f"{runs[0][0]['count']:,} / {runs[0][1]['count']:,}" if unit == "instances/s" else ""
            check = runs[-1][0].get("check", "")
            command = (f"`bench_peers.py --rows {name} --scales {scale} --repeats {a.repeats} --workers {a.workers}`")
            line = (f"| {pipeline} | {INPUTS[name]}, {scale}x | {rate_text(ours, unit)} | {peer}: "
                    f"{rate_text(theirs, unit)} | **{ours / theirs:.2f}x** | {rss[0]:,.0f} / {rss[1]:,.0f} | "
                    f"{a.repeats} (medians){'; instances ours / peer ' + counts if counts else ''}"
                    f"{'; ' + check if check else ''} | {command} | {time.strftime('%Y-%m-%d %H:%M')} | "
                    f"{load:.1f}-{os.getloadavg()[0]:.1f} |")
            print(line, flush=True)
            save(f"| {pipeline} | {INPUTS[name]}, {scale}x |", line)


if __name__ == "__main__":
    main()
