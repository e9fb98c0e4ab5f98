#!/usr/bin/env bash
# Sets up, builds and runs every test suite (ctest), builds the embedding
# example against the installed package, then fuzzes the PE reader briefly. The corpus is read from ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
(cd build && ctest --output-on-failure --timeout 900 -j2)
scripts/embed-check.sh
scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
