"""The reference figures of `build pretraining --mode electra` (tests/data/electra/reference.json).

Runs google-research/electra's own ExampleBuilder (build_pretraining_dataset.py, given by path: its code is
not part of this repository) over the sample wiki + news text as corpusforge tokenizes it, one sentence a
line and a blank line after each document (the script's --blanks-separate-docs input), with `--seeds`
seeds of Python's random; tensorflow and ELECTRA's tokenizer are stubbed (the builder gets token ids, so
both tools see the same sentences). Records the pooled share of one-segment examples, of examples built
towards a random target length, and the first segment's length histogram of two-segment examples.

It also drives corpusforge.objectives.electra.electra_examples with the same Python random and checks
that it yields the very same examples (token for token) for every seed.

    python tests/data/electra/make_reference.py --electra-source PATH/build_pretraining_dataset.py
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import tempfile
import types
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
VOCAB = ROOT / "samples" / "vocab" / "bert-base-chinese-vocab.txt"
INPUTS = (ROOT / "samples" / "corpora" / "wiki_zh", ROOT / "samples" / "corpora" / "news2016zh")
MAX_LENGTH = 128


def load_reference(path: str):
    """The reference module, with stubs for what it imports but the builder does not use."""
    for name in ("tensorflow", "tensorflow.compat", "tensorflow.compat.v1", "model", "model.tokenization",
                 "util", "util.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    spec = importlib.util.spec_from_file_location("electra_build_pretraining_dataset", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Recorder:
    """Python's random for the reference module, noting whether randint (a random target) was drawn."""

    def __init__(self):
        self.randint_called = False

    def random(self):
        return random.random()

    def randint(self, a, b):
        self.randint_called = True
        return random.randint(a, b)


def reference_examples(module, documents, max_length):
    """(first, second, random_target) for every example of the reference builder over the documents."""
    recorder = Recorder()
    module.random = recorder

    class IdTokenizer:
        vocab = {"[CLS]": -1, "[SEP]": -2}

        def tokenize(self, line):
            return line.split()

        def convert_tokens_to_ids(self, tokens):
            return [int(t) for t in tokens]

    class Builder(module.ExampleBuilder):
        next_random = False

        def _create_example(self):
            this_random, recorder.randint_called = self.next_random, False
            first, second = super()._create_example()
            self.next_random = recorder.randint_called
            return first, second, this_random

        def _make_tf_example(self, first_segment, second_segment):
            return list(first_segment), list(second_segment)

    builder, out = Builder(IdTokenizer(), max_length), []
    for sentences in documents:
        for ids in sentences:
            if ids:  # an empty line would end the document
                example = builder.add_line(" ".join(map(str, ids)))
                if example:
                    out.append(example)
        example = builder.add_line("")
        if example:
            out.append(example)
    return out


def ours(documents, max_length):
    """corpusforge's examples, driven by Python's random exactly as the reference draws."""
    from corpusforge.objectives.electra import electra_examples

    flat, bounds = [], []
    for sentences in documents:
        doc = []
        for ids in sentences:
            doc.append((len(flat), len(flat) + len(ids)))
            flat += ids
        bounds.append(doc)
    out = []
    for ex in electra_examples(bounds, max_length, lambda p: random.random() < p, random.randint):
        out.append(([t for a, b in ex.first for t in flat[a:b]], [t for a, b in ex.second for t in flat[a:b]],
                    ex.random_target))
    return out


def tokenized_documents(work: Path):
    """The sample wiki + news documents as corpusforge tokenizes them (CLI defaults), in dataset order."""
    from click.testing import CliRunner

    from corpusforge.cli import main
    from corpusforge.dataset import load_table

    out = work / "tokenized"
    args = ["build", "tokenized", *[x for i in INPUTS for x in ("--input", str(i))], "-t", str(VOCAB),
            "--output", str(out)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return load_table(str(out)).column("input_ids").to_pylist()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--electra-source", required=True,
                        help="google-research/electra's build_pretraining_dataset.py")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--output", default=str(Path(__file__).with_name("reference.json")))
    args = parser.parse_args()
    module = load_reference(args.electra_source)
    with tempfile.TemporaryDirectory() as work:
        documents = tokenized_documents(Path(work))
    examples, one, rand, firsts = 0, 0, 0, Counter()
    for seed in range(args.seeds):
        random.seed(seed)
        ref = reference_examples(module, documents, MAX_LENGTH)
        random.seed(seed)
        assert ours(documents, MAX_LENGTH) == ref, f"seed {seed}: corpusforge's examples differ from the reference's"
        examples += len(ref)
        for first, second, random_target in ref:
            one += not second
            rand += random_target
            if second:
                firsts[len(first)] += 1
    figures = {"source": "google-research/electra build_pretraining_dataset.py ExampleBuilder (commit 8a46635f)",
               "text": "samples/corpora/wiki_zh + samples/corpora/news2016zh, build tokenized defaults, "
                       "bert-base-chinese vocab",
               "max_seq_length": MAX_LENGTH, "documents": len(documents), "seeds": args.seeds, "examples": examples,
               "identical_to_corpusforge": True,
               "one_segment_share": round(one / examples, 5), "random_target_share": round(rand / examples, 5),
               "first_segment_tokens": {str(k): firsts[k] for k in sorted(firsts)}}
    Path(args.output).write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in figures.items() if k != "first_segment_tokens"}))


if __name__ == "__main__":
    main()
