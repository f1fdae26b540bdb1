"""ELECTRA's build_pretraining_dataset.py, looked at from outside (run by the TensorFlow venv of setup_google.sh).

    electra_stats.py records OUTPUT_DIR          # its tfrecords' statistics, as JSON (bench_peers.py's electra row)
    electra_stats.py random-targets SCRIPT ARGS  # runs the script unchanged but for a counter on its `random`:
                                                 # prints how many examples drew a random target length

The statistics are those bench_peers.py reads from our dataset too: instances, the share with one segment, the
first segment's tokens in two-segment instances, the tokens per instance ([CLS] and [SEP] included).
"""
import glob
import json
import runpy
import sys

import numpy as np


def summary(lengths, first_tokens, two_segments, max_length):
    """The figures both outputs are compared on (bench_peers.py computes ours with the same function)."""
    lengths, first_tokens, two = np.asarray(lengths), np.asarray(first_tokens), np.asarray(two_segments, dtype=bool)
    firsts = first_tokens[two]
    return {"instances": int(len(lengths)), "one_segment_share": round(float(1 - two.mean()), 4),
            "first_segment_tokens_mean": round(float(firsts.mean()), 2),
            "first_segment_tokens_p10_p50_p90": [int(q) for q in np.percentile(firsts, [10, 50, 90])],
            "tokens_per_instance_mean": round(float(lengths.mean()), 2),
            "share_at_max_length": round(float((lengths == max_length).mean()), 4)}


def records(directory: str, max_length: int = 128) -> dict:
    import tensorflow as tf

    spec = {k: tf.io.FixedLenFeature([max_length], tf.int64) for k in ("input_mask", "segment_ids")}
    files = sorted(glob.glob(f"{directory}/pretrain_data.tfrecord-*"))
    lengths, firsts, two = [], [], []
    for batch in tf.data.TFRecordDataset(files).batch(8192):
        parsed = tf.io.parse_example(batch, spec)
        mask, segments = parsed["input_mask"].numpy(), parsed["segment_ids"].numpy()
        lengths.append(mask.sum(1))
        firsts.append(((segments == 0) & (mask == 1)).sum(1) - 2)  # [CLS] A [SEP]
        two.append(segments.max(1) > 0)
    return summary(np.concatenate(lengths), np.concatenate(firsts), np.concatenate(two), max_length)


class Counted:
    """Python's random for the script, counting its randint calls (one per random target) and its examples."""

    def __init__(self, random):
        self.random_module, self.targets = random, 0

    def __getattr__(self, name):
        return getattr(self.random_module, name)

    def randint(self, a, b):
        self.targets += 1
        return self.random_module.randint(a, b)


def random_targets(script: str, args: list) -> None:
    import random

    sys.argv = [script, *args]
    sys.path.insert(0, str(__import__("pathlib").Path(script).parent))
    module = runpy.run_path(script, run_name="electra_build")  # its functions, main() not run
    counted = Counted(random)
    module["main"].__globals__["random"] = counted
    write = module["write_examples"]

    def counting(job_id, a):  # each job (a forked process) prints its own count
        write(job_id, a)
        print(f"random targets: job {job_id}: {counted.targets}", flush=True)

    module["main"].__globals__["write_examples"] = counting
    module["main"]()


if __name__ == "__main__":
    if sys.argv[1] == "records":
        print(json.dumps(records(sys.argv[2])))
    else:
        random_targets(sys.argv[2], sys.argv[3:])
