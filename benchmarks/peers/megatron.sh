#!/usr/bin/env bash
# Megatron-LM's tools/preprocess_data.py, the peer of `build pretraining --mode causal` and `export megatron`:
# its source at the tag that matches the megatron-core the test extra pins, in a venv of its own (it imports
# triton at module level, although preprocessing runs on the CPU). Idempotent; nothing of it is committed.
#   bash benchmarks/peers/megatron.sh            # clones github.com/NVIDIA/Megatron-LM
#   MEGATRON_GIT=/path/to/a/clone bash ...      # or uses a local clone / mirror
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)/_peers/megatron"
tag=core_v0.16.1
if [ ! -f "$here/tools/preprocess_data.py" ]; then
  git_dir="${MEGATRON_GIT:-}"
  if [ -z "$git_dir" ]; then
    git clone -q --depth 1 --branch "$tag" https://github.com/NVIDIA/Megatron-LM "$here.clone"
    git_dir="$here.clone/.git"
  fi
  mkdir -p "$here"
  git --git-dir="$git_dir" archive "$tag" megatron tools | tar -x -C "$here"
  rm -rf "$here.clone"
fi
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
  # torch==2.13.0: the CPU build on this machine's index; the rest is what preprocess_data.py imports
  "$here/.venv/bin/pip" install -q torch==2.13.0 numpy triton packaging six regex pyyaml pydantic
fi
echo "$here"
