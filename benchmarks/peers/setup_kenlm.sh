#!/usr/bin/env bash
# KenLM's lmplz, built from kpu/kenlm with CMake; it needs Boost (program_options, system, thread) and
# Eigen headers, installed with apt-get where they are missing (root, or sudo). Idempotent.
source "$(dirname "$0")/_common.sh"
need=()
for pkg in libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev libeigen3-dev \
           zlib1g-dev libbz2-dev liblzma-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q "${need[@]}" >/dev/null
fi
source_of kpu/kenlm "$PEERS/src/kenlm"
if [ ! -x "$PEERS/src/kenlm/build/bin/lmplz" ]; then
  cmake -S "$PEERS/src/kenlm" -B "$PEERS/src/kenlm/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$PEERS/src/kenlm/build" --target lmplz -j 2 >/dev/null
fi
echo "kenlm: $PEERS/src/kenlm/build/bin/lmplz"
