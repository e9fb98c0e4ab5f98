#!/usr/bin/env bash
# EVTX replay speed (issue 18): the bench's EVTX set (bench/run.sh: links to
# the 7 largest logs of shared/data/sysmon/evtx, repeated to EVTX_RECORDS
# records) replayed by this tree's binary and by a BASELINE binary (e.g.
# main's) in the same run, next to libevtx's evtxexport, REPS times each,
# interleaved so that load on a shared machine hits both alike.
#
#   bench/evtx_replay.sh NEW_BINARY [BASELINE_BINARY]
#   REPS=5 BASE_REPS=3 EVTX_RECORDS=200000 bench/evtx_replay.sh build/proctrack /tmp/main/proctrack
#
# Per run: wall seconds and CPU seconds (user + system, all threads) from
# /usr/bin/time. "one core" runs are pinned to one CPU (taskset -c 0): all
# threads share it, so wall and CPU both measure one core's work.
# Prints one JSON object per line and a summary of medians to stderr.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NEW=$1
BASE=${2:-}
REPS=${REPS:-5}
BASE_REPS=${BASE_REPS:-$REPS}
EVTX_RECORDS=${EVTX_RECORDS:-200000}
EVTX_SRC=${EVTX_SRC:-$ROOT/../shared/data/sysmon/evtx}
OUT=${OUT:-$ROOT/bench/out/evtx-replay}
for tool in jq taskset /usr/bin/time evtxexport; do
  command -v "$tool" >/dev/null || { echo "evtx_replay.sh: $tool is missing" >&2; exit 2; }
done

rm -rf "$OUT"
mkdir -p "$OUT/evtx" "$OUT/evtx-one"
mapfile -t LARGEST < <(ls -S "$EVTX_SRC"/*.evtx | head -7)
for f in "${LARGEST[@]}"; do ln -s "$f" "$OUT/evtx-one/$(basename "$f")"; done
PER_SET=$("$NEW" replay --format=evtx "$OUT/evtx-one" --query=stats 2>/dev/null | jq '.result.InputEvents')
SETS=$(((EVTX_RECORDS + PER_SET - 1) / PER_SET))
for ((i = 0; i < SETS; i++)); do
  for f in "${LARGEST[@]}"; do
    ln -s "$f" "$OUT/evtx/$(printf '%04d' "$i")-$(basename "$f")"
  done
done
RECORDS=$((SETS * PER_SET))
echo "{\"files\": $((SETS * ${#LARGEST[@]})), \"records\": $RECORDS, \"nproc\": $(nproc), \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"

# run NAME CMD...: one timed run, appended to $OUT/NAME.txt as "wall cpu".
run() {
  local name=$1
  shift
  /usr/bin/time -f "%e %U %S" -o "$OUT/$name.time" "$@" >/dev/null 2>"$OUT/$name.err" \
    || { echo "evtx_replay.sh: $name failed" >&2; tail -5 "$OUT/$name.err" >&2; exit 1; }
  awk '{printf "%s %.2f\n", $1, $2 + $3}' "$OUT/$name.time" >>"$OUT/$name.txt"
}
evtxexport_all() {
  for f in "$1"/*; do evtxexport -f xml "$f"; done >/dev/null 2>&1
}
export -f evtxexport_all

# Warm-up (page cache), then the repetitions, interleaved.
"$NEW" replay --format=evtx "$OUT/evtx-one" --query=stats >/dev/null 2>&1
for ((r = 0; r < REPS; r++)); do
  run new "$NEW" replay --format=evtx "$OUT/evtx" --query=stats
  run new_one_core taskset -c 0 "$NEW" replay --format=evtx "$OUT/evtx" --query=stats
  if [[ -n $BASE && $r -lt $BASE_REPS ]]; then
    run base "$BASE" replay --format=evtx "$OUT/evtx" --query=stats
    run base_one_core taskset -c 0 "$BASE" replay --format=evtx "$OUT/evtx" --query=stats
    run evtxexport bash -c 'evtxexport_all "$1"' _ "$OUT/evtx"
  fi
done
"$NEW" replay --format=evtx "$OUT/evtx" --query=stats 2>/dev/null | jq -S 'del(.result.BatchesInFlightPeak)' >"$OUT/new.stats"
[[ -n $BASE ]] && "$BASE" replay --format=evtx "$OUT/evtx" --query=stats 2>/dev/null | jq -S 'del(.result.BatchesInFlightPeak)' >"$OUT/base.stats"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for name in new new_one_core base base_one_core evtxexport; do
  [[ -f $OUT/$name.txt ]] || continue
  wall=$(cut -d' ' -f1 "$OUT/$name.txt" | median)
  cpu=$(cut -d' ' -f2 "$OUT/$name.txt" | median)
  echo "{\"run\": \"$name\", \"n\": $(wc -l <"$OUT/$name.txt"), \"median_wall_s\": $wall, \"median_cpu_s\": $cpu, \"records_per_wall_s\": $(echo "$RECORDS / $wall" | bc), \"records_per_cpu_s\": $(echo "$RECORDS / $cpu" | bc), \"walls\": \"$(cut -d' ' -f1 "$OUT/$name.txt" | tr '\n' ' ')\"}"
done
if [[ -n $BASE ]]; then
  if diff -q "$OUT/new.stats" "$OUT/base.stats" >/dev/null; then
    echo '{"stats_identical": true}'
  else
    echo '{"stats_identical": false}'
  fi
fi
