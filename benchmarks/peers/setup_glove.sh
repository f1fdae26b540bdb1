#!/usr/bin/env bash
# GloVe's C tools (vocab_count, cooccur), built from stanfordnlp/GloVe with its Makefile. Idempotent.
source "$(dirname "$0")/_common.sh"
source_of stanfordnlp/GloVe "$PEERS/src/glove"
[ -x "$PEERS/src/glove/build/cooccur" ] || make -C "$PEERS/src/glove" >/dev/null
echo "glove: $PEERS/src/glove/build"
