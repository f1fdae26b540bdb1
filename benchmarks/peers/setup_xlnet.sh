#!/usr/bin/env bash
# zihangdai/xlnet's data_utils.py (with its prepro_utils.py), run by the tensorflow-cpu venv of setup_google.sh
# (benchmarks/_peers/tf-venv), changed in two ways only: `import tensorflow as tf` becomes
# `import tensorflow.compat.v1 as tf` (the TF1 API it was written for: tf.gfile, tf.logging, tf.python_io,
# tf.app), `np.bool` becomes `bool` (the alias numpy 1.24 removed), and the is_masked feature is written as
# int64 (protobuf 4+ refuses numpy bools in an Int64List). Idempotent.
source "$(dirname "$0")/_common.sh"
VENV="$PEERS/tf-venv"
if [ ! -x "$VENV/bin/python" ]; then
  bash "$(dirname "$0")/setup_google.sh"
fi
source_of zihangdai/xlnet "$PEERS/src/xlnet"
mkdir -p "$PEERS/xlnet"
for f in data_utils.py prepro_utils.py; do
  sed -e 's/^import tensorflow as tf$/import tensorflow.compat.v1 as tf/' -e 's/np\.bool\b/bool/g' \
    -e 's/_int64_feature(is_masked)/_int64_feature(is_masked.astype(np.int64))/' \
    "$PEERS/src/xlnet/$f" > "$PEERS/xlnet/$f"
done
"$VENV/bin/python" -c "import tensorflow, sentencepiece, absl; print('tensorflow', tensorflow.__version__)"
echo "xlnet: $PEERS/xlnet/data_utils.py"
