#!/usr/bin/env bash
# google-research/electra's build_pretraining_dataset.py, unchanged, with the modules it imports (model/tokenization.py,
# util/utils.py), run by the TensorFlow venv of setup_google.sh (it imports tensorflow.compat.v1 itself). Idempotent.
source "$(dirname "$0")/_common.sh"
[ -x "$PEERS/tf-venv/bin/python" ] || bash "$(dirname "$0")/setup_google.sh"
source_of google-research/electra "$PEERS/src/electra"
mkdir -p "$PEERS/electra/model" "$PEERS/electra/util"
cp "$PEERS/src/electra/build_pretraining_dataset.py" "$PEERS/electra/"
for f in model/__init__.py model/tokenization.py util/__init__.py util/utils.py; do
  cp "$PEERS/src/electra/$f" "$PEERS/electra/$f"
done
"$PEERS/tf-venv/bin/python" -c "import sys; sys.path.insert(0, '$PEERS/electra'); import build_pretraining_dataset"
echo "electra: $PEERS/electra/build_pretraining_dataset.py ($(cat "$PEERS/src/electra/.commit"))"
