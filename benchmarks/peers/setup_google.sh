#!/usr/bin/env bash
# Google BERT's and ALBERT's create_pretraining_data.py, with tensorflow-cpu in a venv of their own
# (benchmarks/_peers/tf-venv), unchanged but for one line: BERT's `import tensorflow as tf` becomes
# `import tensorflow.compat.v1 as tf`, the TF1 API it was written for (no TF1 wheel exists for this Python;
# ALBERT's script already imports compat.v1). ALBERT's tokenization.py imports tensorflow_hub, which needs tf-keras,
# and pip resolves that with the `tensorflow` wheel beside tensorflow-cpu (the same module; about 2.2 GB in all).
# Idempotent.
source "$(dirname "$0")/_common.sh"
VENV="$PEERS/tf-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import tensorflow, tensorflow_hub, sentencepiece" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q tensorflow-cpu tensorflow-hub tf-keras sentencepiece six psutil
fi
source_of google-research/bert "$PEERS/src/bert"
source_of google-research/albert "$PEERS/src/albert"
mkdir -p "$PEERS/bert" "$PEERS/albert/albert"
for f in create_pretraining_data.py tokenization.py; do
  sed 's/^import tensorflow as tf$/import tensorflow.compat.v1 as tf/' "$PEERS/src/bert/$f" > "$PEERS/bert/$f"
done
cp "$PEERS/src/albert/create_pretraining_data.py" "$PEERS/albert/"
cp "$PEERS/src/albert/tokenization.py" "$PEERS/albert/albert/"  # it imports `from albert import tokenization`
touch "$PEERS/albert/albert/__init__.py"
"$VENV/bin/python" -c "import tensorflow as tf; print('tensorflow', tf.__version__)"
echo "google: $PEERS/bert/create_pretraining_data.py, $PEERS/albert/create_pretraining_data.py"
