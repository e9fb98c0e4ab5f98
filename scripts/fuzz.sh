#!/usr/bin/env bash
# Builds the libFuzzer target of the PE reader with clang and runs it for
# SECONDS (default 30) with the PE corpus as seeds. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
data="$(cd .. && pwd)/shared/data/pe"
CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPROCTRACK_FUZZ=ON -DPROCTRACK_TESTS=OFF >/dev/null
cmake --build build-fuzz --target pe_reader_fuzz -j"$(nproc)" >/dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
build-fuzz/tests/fuzz/pe_reader_fuzz -max_total_time="$seconds" \
  -dict=tests/fuzz/pe_reader.dict -artifact_prefix="$work/" "$work" \
  "$data/bin" "$data/malformed" "$data/wine" 2>"$work/log" || {
  tail -40 "$work/log" >&2
  echo "fuzz: FAILED (see above)" >&2
  exit 1
}
grep -E "^Done|#[0-9]+.*DONE" "$work/log" | tail -1 >&2 || true
echo "fuzz: pe_reader_fuzz ran ${seconds}s without a finding" >&2
