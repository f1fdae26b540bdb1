"""The Hugging Face causal-LM data recipe of transformers' examples/pytorch/language-modeling/run_clm.py:
`datasets` json loading, `map(num_proc=N)` tokenization with a fast tokenizer, then `group_texts` into
blocks of BLOCK tokens (the last partial block dropped, as run_clm does). Prints one JSON line.

    python benchmarks/peers/hf_clm.py TEXT.jsonl VOCAB BLOCK NUM_PROC CACHE_DIR
"""
import json
import sys
import time
from itertools import chain

from datasets import load_dataset
from transformers import BertTokenizer


def main(text, vocab, block, num_proc, cache):
    started = time.perf_counter()
    block, num_proc = int(block), int(num_proc)
    # bert-base-chinese's (fast) tokenizer from its vocab, no download; transformers 5 takes `vocab=` and silently
    # ignores `vocab_file=` (every token [UNK] then)
    tokenizer = BertTokenizer(vocab=vocab, do_lower_case=True)
    assert tokenizer.convert_tokens_to_ids("中") != tokenizer.unk_token_id, "the vocabulary was not loaded"
    raw = load_dataset("json", data_files=text, split="train", cache_dir=cache)

    def tokenize(examples):
        return tokenizer(examples["text"])

    def group_texts(examples):  # run_clm.py's group_texts
        concatenated = {k: list(chain(*examples[k])) for k in examples.keys()}
        total = (len(concatenated[list(examples.keys())[0]]) // block) * block
        result = {k: [t[i: i + block] for i in range(0, total, block)] for k, t in concatenated.items()}
        result["labels"] = result["input_ids"].copy()
        return result

    tokenized = raw.map(tokenize, batched=True, num_proc=num_proc, remove_columns=raw.column_names)
    blocks = tokenized.map(group_texts, batched=True, num_proc=num_proc)
    print(json.dumps({"blocks": len(blocks), "tokens": len(blocks) * block, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main(*sys.argv[1:])
