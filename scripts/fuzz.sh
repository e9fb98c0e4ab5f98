#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default
# 30): the PE reader with the PE corpus as seeds, the EVTX chunk decoder with
# the chunks of the corpus's EVTX files as seeds, the Sysmon for Linux reader
# with the tests' syslog and journal logs as seeds, the Sysmon ETW payload
# decoder from scratch. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shared="$(cd .. && pwd)/shared"
data="$shared/data/pe"
CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPROCTRACK_FUZZ=ON -DPROCTRACK_TESTS=OFF >/dev/null
cmake --build build-fuzz \
  --target pe_reader_fuzz evtx_chunk_fuzz sysmon_linux_fuzz etw_payload_fuzz \
  -j"$(nproc)" >/dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# run NAME ARGS...: one target, its findings and log under $work/NAME.
run() {
  local name=$1
  shift
  mkdir -p "$work/$name"
  "build-fuzz/tests/fuzz/$name" -max_total_time="$seconds" \
    -artifact_prefix="$work/$name/" "$@" 2>"$work/$name.log" || {
    tail -40 "$work/$name.log" >&2
    echo "fuzz: $name FAILED (see above)" >&2
    exit 1
  }
  grep -E "^Done|#[0-9]+.*DONE" "$work/$name.log" | tail -1 >&2 || true
  echo "fuzz: $name ran ${seconds}s without a finding" >&2
}

run pe_reader_fuzz -dict=tests/fuzz/pe_reader.dict "$work/pe_reader_fuzz" \
  "$data/bin" "$data/malformed" "$data/wine"

# EVTX seeds: every 64 KiB chunk of every EVTX file we hold (not the slack).
mkdir -p "$work/evtx-seeds"
i=0
while IFS= read -r -d '' f; do
  size=$(stat -c %s "$f")
  for ((off = 4096; off + 65536 <= size; off += 65536)); do
    if [ "$(dd if="$f" bs=1 skip="$off" count=7 2>/dev/null | tr -d '\0')" = ElfChnk ]; then
      dd if="$f" of="$work/evtx-seeds/$i" bs=4096 skip=$((off / 4096)) count=16 2>/dev/null
      i=$((i + 1))
    fi
  done
done < <(find "$shared/data" "$shared/cases" -name '*.evtx' -print0 2>/dev/null)
run evtx_chunk_fuzz -max_len=65536 "$work/evtx_chunk_fuzz" "$work/evtx-seeds"

# Sysmon for Linux seeds: the syslog and journal logs the tests read.
mkdir -p "$work/sysmon-linux-seeds"
cp tests/data/sysmon_linux/*.syslog tests/data/sysmon_linux/journal.* \
  "$work/sysmon-linux-seeds/"
run sysmon_linux_fuzz -max_len=65536 "$work/sysmon_linux_fuzz" \
  "$work/sysmon-linux-seeds"

# The Sysmon ETW payload decoder: layouts and payloads from scratch.
run etw_payload_fuzz -max_len=4096 "$work/etw_payload_fuzz"
