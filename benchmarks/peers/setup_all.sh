#!/usr/bin/env bash
# Every peer of benchmarks/bench_peers.py, into benchmarks/_peers/ (git-ignored). Idempotent; a peer that
# fails to set up is named and the others go on.
cd "$(dirname "$0")"
status=0
for peer in google electra xlnet glove kenlm hf; do
  bash "setup_$peer.sh" || { echo "setup_$peer.sh failed" >&2; status=1; }
done
exit $status
