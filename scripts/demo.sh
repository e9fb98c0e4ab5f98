#!/usr/bin/env bash
# The main job for a newcomer: set up, build, answer "what launched this?"
# on the example shipped in the repo, then start the live agent on this
# machine (needs root for the kernel's process events; Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh proctrack # the tests are built by scripts/test.sh
example=examples/updates/velociraptor_scenario.jsonl
echo "== replay of $example" >&2
build/proctrack replay "$example" --queries=examples/updates/queries.txt
echo "== starting the agent (config/proctrack.ini); Ctrl-C to stop" >&2
exec build/proctrack run --config=config/proctrack.ini
