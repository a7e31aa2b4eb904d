#!/usr/bin/env bash
# Builds the memif libFuzzer harness (never part of the addon): clang from Debian with
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer.
#   memif/fuzz/build.sh [out-dir]          -> <out-dir>/memif_fuzz (default build/fuzz)
#   build/fuzz/memif_fuzz -max_total_time=10 build/fuzz/corpus memif/fuzz/corpus
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-build/fuzz}"
mkdir -p "$out"
CXX="${CXX:-clang++}"
"$CXX" -std=gnu++20 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Wall -Wno-unused-parameter \
  memif/fuzz/memif_fuzz.cc memif/session.cc native/pool.cc \
  -o "$out/memif_fuzz"
echo "$out/memif_fuzz"
