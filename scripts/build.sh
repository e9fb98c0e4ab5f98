#!/usr/bin/env bash
# Configures and builds proctrack (Release) into build/: every default
# target (the library, `proctrack`, the test programs), or only the targets
# named as arguments (scripts/build.sh proctrack).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j"$(nproc)" "${targets[@]}"
