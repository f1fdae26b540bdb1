#!/usr/bin/env bash
# The Hugging Face run_mlm recipe (datasets map + fast BertTokenizer + group_texts +
# DataCollatorForLanguageModeling) runs in the project's own venv, where the bench extra installs
# transformers and datasets: this only checks they import. Idempotent.
source "$(dirname "$0")/_common.sh"
PY="${PYTHON:-$(cd "$(dirname "$0")/../.." && pwd)/.venv/bin/python}"
"$PY" -c "import transformers, datasets, torch; print('transformers', transformers.__version__, 'datasets', datasets.__version__)" \
  || "$PY" -m pip install -q transformers datasets
