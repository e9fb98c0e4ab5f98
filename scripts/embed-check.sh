#!/usr/bin/env bash
# Installs proctrack to a temporary prefix, builds examples/embed against the
# installed CMake package and runs it: embedding must work from the package
# alone, not from this source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$(mktemp -d)"
out="$(mktemp -d)"
trap 'rm -rf "$prefix" "$out"' EXIT
cmake --install build --prefix "$prefix" >/dev/null
cmake -S examples/embed -B "$out" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$out" -j"$(nproc)" >/dev/null
"$out/embed_proctrack" | tail -1 | grep -qx ok
echo "embed: examples/embed built against the installed package and ran: ok" >&2
