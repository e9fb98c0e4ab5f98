#!/usr/bin/env bash
# Regenerates docs/benchmarks.md and bench/results.json from scratch (issue 6):
# builds Release, generates the workloads into bench/out/ (seeded), runs every
# benchmark with a warm-up and $REPS timed repetitions, next to the tools a
# user would run instead (jq, evtxexport, python3-pefile), in one run.
#
#   bench/run.sh                 # everything (about 20 minutes on 2 cores)
#   REPS=7 PROFILE=1 bench/run.sh
#
# Knobs: REPS (5), ROWS (1000000), EVTX_RECORDS (200000), BUILD_DIR
# (<repo>/build-bench), COMMIT (recorded; default: git HEAD), PROFILE=1 (perf profiles of the hot paths, quoted in
# docs/benchmarks.md). Installs what it needs through scripts/setup.sh (jq,
# libevtx-utils, python3-pefile, libsimdjson-dev, linux-perf for PROFILE=1).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
REPS=${REPS:-5}
ROWS=${ROWS:-1000000}
EVTX_RECORDS=${EVTX_RECORDS:-200000}
PROFILE=${PROFILE:-0}
EVTX_SRC=${EVTX_SRC:-$ROOT/../shared/data/sysmon/evtx}
PE_SRC=${PE_SRC:-$ROOT/../shared/data/pe}
PY=/usr/bin/python3 # the interpreter that sees Debian's python3-pefile

# What the benchmarks need beyond the build: the tools compared against, the
# simdjson parser comparison, and perf for PROFILE=1. Installed here, not by
# the README's two commands, so a newcomer's build stays small.
bench_packages=(jq libevtx-utils python3-pefile libsimdjson-dev time)
[ "$PROFILE" = 1 ] && bench_packages+=(linux-perf)
"$ROOT/scripts/setup.sh" "${bench_packages[@]}"

for tool in cmake jq evtxexport /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing" >&2; exit 2; }
done
$PY -c 'import pefile' || { echo "run.sh: python3-pefile is missing" >&2; exit 2; }

mkdir -p "$OUT" "$OUT/times"
rm -f "$OUT"/times/*.txt "$OUT"/*.result.json "$OUT"/profile-*.txt
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# -- build -------------------------------------------------------------------
log "build (Release) in $BUILD_DIR"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DPROCTRACK_BENCH=ON >/dev/null
cmake --build "$BUILD_DIR" -j2 --target proctrack proctrack_bench >/dev/null
PT=$BUILD_DIR/proctrack
PB=$BUILD_DIR/bench/proctrack_bench

{
  echo "{\"uptime_start\": \"$(uptime | sed 's/^ *//')\","
  echo " \"nproc\": $(nproc), \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')\","
  echo " \"kernel\": \"$(uname -r)\", \"reps\": $REPS, \"date\": \"$(date -u +%FT%TZ)\","
  echo " \"commit\": \"${COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}\","
  echo " \"jq\": \"$(jq --version)\", \"evtxexport\": \"$(evtxexport -V 2>&1 | head -1)\","
  echo " \"pefile\": \"$($PY -c 'import pefile; print(pefile.__version__)')\"}"
} >"$OUT/env.json"

# -- workloads ---------------------------------------------------------------
UPD=$OUT/updates.jsonl
log "generate $ROWS update rows"
"$PB" gen "$UPD" --rows="$ROWS" --seed=42 --data=sysmon >"$OUT/gen.result.json"

# EVTX files cannot be concatenated byte-wise: the workload is a directory
# of links to the largest logs, repeated until it holds EVTX_RECORDS events.
EVTX_DIR=$OUT/evtx
EVTX_ONE=$OUT/evtx-one
rm -rf "$EVTX_DIR" "$EVTX_ONE"
mkdir -p "$EVTX_DIR" "$EVTX_ONE"
mapfile -t LARGEST < <(ls -S "$EVTX_SRC"/*.evtx | head -7)
for f in "${LARGEST[@]}"; do ln -s "$f" "$EVTX_ONE/$(basename "$f")"; done
PER_SET=$("$PT" replay --format=evtx "$EVTX_ONE" --query=stats 2>/dev/null \
  | jq '.result.InputEvents')
SETS=$(((EVTX_RECORDS + PER_SET - 1) / PER_SET))
for ((i = 0; i < SETS; i++)); do
  for f in "${LARGEST[@]}"; do
    ln -s "$f" "$EVTX_DIR/$(printf '%04d' "$i")-$(basename "$f")"
  done
done
echo "{\"files\": ${#LARGEST[@]}, \"records_per_set\": $PER_SET, \"sets\": $SETS, \"records\": $((SETS * PER_SET))}" \
  >"$OUT/evtx.result.json"
log "EVTX workload: $SETS x ${#LARGEST[@]} files, $((SETS * PER_SET)) records"

mapfile -t PE_FILES < <(find "$PE_SRC/wine" "$PE_SRC/bin" -type f ! -name '*.md' | sort)

# -- external timings ----------------------------------------------------------
# measure NAME WARMUP_CMD -- CMD: one warm-up run, then REPS timed runs; each
# line of times/NAME.txt is "seconds peak_rss_kb".
measure() {
  local name=$1 warm=$2
  shift 3
  log "$name: warm-up + $REPS runs"
  bash -c "$warm" >/dev/null 2>&1
  for ((r = 0; r < REPS; r++)); do
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -v -o "$OUT/times/$name.time" "$@" >/dev/null 2>"$OUT/times/$name.err" \
      || { echo "run.sh: $name failed:" >&2; tail -5 "$OUT/times/$name.err" >&2; exit 1; }
    t1=$(date +%s.%N)
    echo "$(echo "$t1 - $t0" | bc -l) $(awk -F': ' '/Maximum resident/ {print $2}' "$OUT/times/$name.time")" \
      >>"$OUT/times/$name.txt"
  done
}

measure replay_updates "$PT replay --format=updates $UPD --query=stats" -- \
  "$PT" replay --format=updates "$UPD" --query=stats
measure jq "jq -c . $UPD" -- jq -c . "$UPD"
measure replay_evtx "$PT replay --format=evtx $EVTX_ONE --query=stats" -- \
  "$PT" replay --format=evtx "$EVTX_DIR" --query=stats
measure evtxexport "for f in $EVTX_ONE/*; do evtxexport -f xml \$f; done" -- \
  bash -c 'for f in "$1"/*; do evtxexport -f xml "$f"; done >/dev/null 2>&1' _ "$EVTX_DIR"
# The same replay forwarding its stream to a collector on loopback (fleet):
# it exits only once the collector has acked everything. The last run's
# stderr says how many full syncs and dropped updates that took. No TLS:
# allow-insecure on loopback (the collector's test/demo mode).
rm -f "$OUT/collector.out"
"$PT" collector --listen.port=0 --log.level=warn --allow-insecure=true >"$OUT/collector.out" 2>"$OUT/collector.err" &
COLL=$!
for ((i = 0; i < 200; i++)); do [ -s "$OUT/collector.out" ] && break; sleep 0.1; done
CPORT=$(jq -r .listening "$OUT/collector.out" | sed 's/.*://')
measure replay_forward "true" -- \
  "$PT" replay --format=updates "$UPD" --query=stats --log.level=info \
  --forward.connect="127.0.0.1:$CPORT" --agent.host-name=bench --forward.timeout=600s
kill -INT "$COLL"
wait "$COLL" || true
"$PT" replay --format=updates "$UPD" --query=stats 2>/dev/null >"$OUT/replay_updates.stats.json"
"$PT" replay --format=evtx "$EVTX_DIR" --query=stats 2>/dev/null >"$OUT/replay_evtx.stats.json"

# -- in-process benchmarks -------------------------------------------------------
log "bare process table"
/usr/bin/time -v -o "$OUT/times/table.time" "$PB" table "$UPD" --reps="$REPS" >"$OUT/table.result.json"
log "decoders: nlohmann vs simdjson"
"$PB" decode "$UPD" --reps="$REPS" >"$OUT/decode.result.json"
log "queries"
/usr/bin/time -v -o "$OUT/times/query.time" "$PB" query --n=100000 --reps="$REPS" >"$OUT/query.result.json"
"$PB" query --n=100000 --reps="$REPS" --policy=sharing >"$OUT/query_sharing.result.json"
log "queries over loopback (CAF middleman, as the agent publishes its cache)"
rm -f "$OUT/qs.in" "$OUT/qs.port"
mkfifo "$OUT/qs.in"
"$PB" query-server --n=100000 <"$OUT/qs.in" >"$OUT/qs.port" &
exec 7>"$OUT/qs.in" # the server runs until this closes
for ((i = 0; i < 240; i++)); do [ -s "$OUT/qs.port" ] && break; sleep 0.5; done
"$PB" query-client --port="$(cat "$OUT/qs.port")" --reps="$REPS" >"$OUT/loopback.result.json"
exec 7>&-
wait
log "pslist sync of 3000 spawned processes vs ps"
"$PB" pslist --spawn=3000 --reps="$REPS" >"$OUT/pslist.result.json"
log "fleet resync of a 100k-process table: exact state vs start/exit updates"
"$PB" resync --n=100000 --reps="$REPS" >"$OUT/resync.result.json"
for n in 10000 100000 1000000; do
  for d in empty sysmon; do
    log "memory: $n processes, $d data"
    /usr/bin/time -v -o "$OUT/times/mem-$n-$d.time" \
      "$PB" mem --n=$n --data=$d --factor=3 >"$OUT/mem-$n-$d.result.json"
  done
done
log "PE reader vs pefile (${#PE_FILES[@]} files)"
/usr/bin/time -v -o "$OUT/times/pe.time" "$PB" pe --reps="$REPS" --rounds=20 "${PE_FILES[@]}" >"$OUT/pe.result.json"
/usr/bin/time -v -o "$OUT/times/pefile.time" $PY "$ROOT/bench/pefile_bench.py" --reps="$REPS" "${PE_FILES[@]}" \
  >"$OUT/pefile.result.json"

# -- profiles (optional) ---------------------------------------------------------
if [[ $PROFILE == 1 ]]; then
  head -n 200000 "$UPD" >"$OUT/updates-200k.jsonl"
  profile() {
    local name=$1
    shift
    log "profile: $name"
    perf record -g -o "$OUT/perf-$name.data" "$@" >/dev/null 2>&1
    perf report -i "$OUT/perf-$name.data" --no-children --percent-limit 1.5 \
      --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 \
      >"$OUT/profile-$name.txt"
  }
  profile replay_updates "$PT" replay --format=updates "$OUT/updates-200k.jsonl" --query=stats
  profile table "$PB" table "$OUT/updates-200k.jsonl" --reps=3
  profile replay_evtx "$PT" replay --format=evtx "$EVTX_ONE" "$EVTX_ONE" "$EVTX_ONE" --query=stats
  profile query "$PB" query --n=100000 --reps=1 --tree-iters=20
fi

echo "{\"uptime_end\": \"$(uptime | sed 's/^ *//')\"}" >"$OUT/env-end.json"
log "report"
$PY "$ROOT/bench/report.py" "$OUT" "$ROOT/docs/benchmarks.md" "$ROOT/bench/results.json"
log "wrote docs/benchmarks.md and bench/results.json"
