#!/usr/bin/env bash
# What the live agent costs in CPU (issue 13): idle, and per kernel event in
# a fork storm. Root (the proc connector). Not a test: figures, medians.
#
#   bench/live_cpu.sh                       # the built agent, its defaults
#   BASE=/path/to/old/proctrack bench/live_cpu.sh    # plus a baseline binary
#   VARIANTS='default;stealing:--scheduler.policy=stealing' bench/live_cpu.sh
#   SOURCES='proc-connector ebpf' bench/live_cpu.sh  # live.source, in turns
#
# For every agent (A = $PT, and B = $BASE when set) and every variant in
# $VARIANTS (";"-separated "label:agent flags"; "default": no flags, what
# `proctrack run` does with its built-in defaults), in turns, REPS times:
#  - idle: a fresh agent with its default stats interval, CPU (utime+stime
#    of /proc/PID/stat, all threads) over IDLE_S seconds, measured between
#    two stats rows so the kernel events of the window (the machine's own
#    activity) come from the agent's KernelEvents counter;
#  - storm: a fresh agent with --stats.interval=1s; a stats row, CPU, then
#    bench/fork_storm.c (PROCS fork+exec(/bin/true)+exit from FORKERS
#    forkers), until the agent's LiveBacklog is 0, a new stats row, CPU.
#    CPU per event = CPU delta / KernelEvents delta (everything the agent did
#    in the window, idle included: an upper bound). "Above idle" takes the
#    run's idle median (% of a core) times the window's length out first:
#    on a busy machine the storm crawls and the window is mostly idle cost. The sources count
#    different events (the proc connector every thread's fork and exit too,
#    the eBPF source only processes'), so they are compared by CPU per storm
#    process = CPU delta / PROCS.
# SOURCES (space-separated live.source values) makes one variant per source,
# "SOURCE:--live.source=SOURCE" (replacing VARIANTS); the report then gives
# each variant's medians as a ratio of the first's.
# Prints a Markdown table and writes bench/out/live_cpu.result.json.
# Knobs: BUILD_DIR ($ROOT/build-bench), PT, BASE, VARIANTS ("default"),
# REPS (5), IDLE_S (30), PROCS (5000), FORKERS (2), PERF=1 (perf record with
# DWARF call graphs of A's first storm: bench/out/live_cpu-perf.txt; needs
# linux-perf). The table of docs/benchmarks.md "Live agent" is kept in
# bench/live_cpu.md (bench/report.py copies it there).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
PT=${PT:-$BUILD_DIR/proctrack}
BASE=${BASE:-}
VARIANTS=${VARIANTS:-default}
SOURCES=${SOURCES:-}
if [ -n "$SOURCES" ]; then
  VARIANTS=
  for s in $SOURCES; do
    VARIANTS+="${VARIANTS:+;}$s:--live.source=$s"
  done
fi
IFS=';' read -r -a VARIANT_LIST <<<"$VARIANTS"
REPS=${REPS:-5}
IDLE_S=${IDLE_S:-30}
PROCS=${PROCS:-5000}
FORKERS=${FORKERS:-2}
PERF=${PERF:-0}
HZ=$(getconf CLK_TCK)

[ "$(id -u)" = 0 ] || { echo "live_cpu.sh: run as root (the proc connector)" >&2; exit 2; }
[ -x "$PT" ] || { echo "live_cpu.sh: no agent at $PT (build it, or set PT)" >&2; exit 2; }
mkdir -p "$OUT"
STORM=$OUT/fork_storm
cc -O2 -o "$STORM" "$ROOT/bench/fork_storm.c"
WORK=$(mktemp -d)
AGENT_PID=
cleanup() {
  [ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

cpu_ticks() { # utime + stime of the whole process, in clock ticks
  sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
rows() { # stats rows written so far
  local n
  n=$(grep -c '"update_type":"stats"' "$1" 2>/dev/null) || true
  echo "${n:-0}"
}
last_stat() { # KEY of the newest stats row
  grep '"update_type":"stats"' "$1" | tail -1 \
    | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r["data"]["'"$2"'"])'
}
wait_row() { # until a stats row newer than the N-th is written
  local n=$2
  for _ in $(seq 1 400); do
    [ "$(rows "$1")" -gt "$n" ] && return 0
    sleep 0.05
  done
  echo "live_cpu.sh: no stats row in $1" >&2
  return 1
}
label() { echo "${1%%:*}"; }
flags() { [[ "$1" == *:* ]] && echo "${1#*:}" || true; }
start_agent() { # BIN VARIANT OUTFILE EXTRA...
  local bin=$1 variant=$2 out=$3
  shift 3
  local vflags
  read -r -a vflags <<<"$(flags "$variant")"
  rm -f "$out"
  "$bin" run --query.socket= --output.path="$out" "${vflags[@]}" "$@" \
    2>>"$WORK/agent.log" &
  AGENT_PID=$!
  wait_row "$out" 0 # the first stats row: the start-up sync is done
}
stop_agent() {
  kill "$AGENT_PID"
  wait "$AGENT_PID" || true
  AGENT_PID=
}

idle_run() { # BIN POLICY -> "cpu_percent events"
  local out=$WORK/idle.jsonl
  start_agent "$1" "$2" "$out"
  sleep 1 # past start-up
  local n0 t0 e0 n1 t1 e1 s0 s1
  n0=$(rows "$out")
  wait_row "$out" "$n0"
  t0=$(cpu_ticks "$AGENT_PID")
  s0=$(date +%s.%N)
  e0=$(last_stat "$out" KernelEvents)
  sleep "$IDLE_S"
  n1=$(rows "$out")
  wait_row "$out" "$n1"
  t1=$(cpu_ticks "$AGENT_PID")
  s1=$(date +%s.%N)
  e1=$(last_stat "$out" KernelEvents)
  stop_agent
  python3 -c "print(f'{100.0 * ($t1 - $t0) / $HZ / ($s1 - $s0):.3f} {$e1 - $e0} {$s1 - $s0:.2f}')"
}

storm_run() { # BIN VARIANT PERF -> "us_per_event events cpu_ms unread_exec_images us_per_process seconds"
  local out=$WORK/storm.jsonl
  start_agent "$1" "$2" "$out" --stats.interval=1s
  sleep 1
  local n t0 e0 t1 e1 u0 u1 s0 s1 perf_pid=
  n=$(rows "$out")
  wait_row "$out" "$n"
  t0=$(cpu_ticks "$AGENT_PID")
  s0=$(date +%s.%N)
  e0=$(last_stat "$out" KernelEvents)
  u0=$(last_stat "$out" UnreadExecImages)
  if [ "$3" = 1 ]; then
    perf record --call-graph dwarf,8192 -F 499 -o "$OUT/live_cpu.perf.data" \
      -p "$AGENT_PID" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  "$STORM" "$PROCS" "$FORKERS" >/dev/null
  sleep 1
  for _ in $(seq 1 600); do
    n=$(rows "$out")
    wait_row "$out" "$n"
    [ "$(last_stat "$out" LiveBacklog)" = 0 ] && break
  done
  t1=$(cpu_ticks "$AGENT_PID")
  s1=$(date +%s.%N)
  e1=$(last_stat "$out" KernelEvents)
  u1=$(last_stat "$out" UnreadExecImages)
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    perf report -i "$OUT/live_cpu.perf.data" --children --sort symbol \
      --percent-limit 1.5 --stdio -g none 2>/dev/null \
      | cut -c1-160 >"$OUT/live_cpu-perf.txt" || true
  fi
  stop_agent
  python3 -c "e=$e1-$e0; c=($t1-$t0)/$HZ; print(f'{1e6*c/e:.1f} {e} {1e3*c:.0f} {$u1-$u0} {1e6*c/$PROCS:.1f} {$s1-$s0:.2f}')"
}

declare -A IDLE STORM
agents=(A)
[ -n "$BASE" ] && agents+=(B)
bin_of() { [ "$1" = A ] && echo "$PT" || echo "$BASE"; }
log "agent A: $PT${BASE:+; baseline B: $BASE}; variants: $VARIANTS; $REPS reps"
for rep in $(seq 1 "$REPS"); do
  for a in "${agents[@]}"; do
    for v in "${VARIANT_LIST[@]}"; do
      p=$(label "$v")
      r=$(idle_run "$(bin_of "$a")" "$v")
      IDLE[$a.$p]+="$r;"
      log "rep $rep $a $p idle: $r (% of a core, kernel events, seconds)"
      perf=0
      [ "$PERF" = 1 ] && [ "$rep" = 1 ] && [ "$a" = A ] && perf=1
      r=$(storm_run "$(bin_of "$a")" "$v" "$perf")
      STORM[$a.$p]+="$r;"
      log "rep $rep $a $p storm: $r (µs per event, kernel events, agent CPU ms, exec images unread, µs per process)"
    done
  done
done

{
  echo "{"
  first=1
  for a in "${agents[@]}"; do
    for v in "${VARIANT_LIST[@]}"; do
      p=$(label "$v")
      [ $first = 1 ] || echo ","
      first=0
      printf '"%s %s": {"binary": "%s", "flags": "%s", "idle": "%s", "storm": "%s"}' \
        "$a" "$p" "$(bin_of "$a")" "$(flags "$v")" "${IDLE[$a.$p]}" "${STORM[$a.$p]}"
    done
  done
  printf ',\n"procs": %s, "forkers": %s, "idle_s": %s, "reps": %s, "nproc": %s, "date": "%s", "uptime": "%s"}\n' \
    "$PROCS" "$FORKERS" "$IDLE_S" "$REPS" "$(nproc)" "$(date -u +%FT%TZ)" "$(uptime | sed 's/^ *//')"
} >"$OUT/live_cpu.result.json"

python3 - "$OUT/live_cpu.result.json" <<'EOF'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
def runs(s):
    return [list(map(float, x.split())) for x in s.split(";") if x.strip()]
print(f"{r['reps']} runs each, medians (spread); idle windows of {r['idle_s']}+ s (to the next stats row), "
      f"storm of {r['procs']:,} fork+exec+exit from {r['forkers']} forkers; {r['uptime']}")
print()
print("| agent, flags | idle: % of a core | idle: kernel events/s | storm: agent CPU per kernel event | storm: kernel events | storm: agent CPU per process | storm: exec images unread / process | storm: events/s | storm: CPU per event above idle |")
print("|---|---|---|---|---|---|---|---|---|")
meds = []
for k, v in r.items():
    if not isinstance(v, dict):
        continue
    i, s = runs(v["idle"]), runs(v["storm"])
    ic = [x[0] for x in i]
    ie = [x[1] / x[2] for x in i]
    su = [x[0] for x in s]
    se = [x[1] for x in s]
    su_ = [x[3] / r["procs"] for x in s]
    sp = [x[4] if len(x) > 4 else float("nan") for x in s]
    # The storm's window holds the agent's idle cost too (a slow storm on
    # a busy machine holds more of it): take the run's idle median out.
    im = statistics.median(ic) / 100.0
    sw = [x[5] if len(x) > 5 else float("nan") for x in s]
    sr = [x[1] / x[5] if len(x) > 5 else float("nan") for x in s]
    sn = [(x[2] / 1e3 - im * x[5]) / x[1] * 1e6 if len(x) > 5 else float("nan") for x in s]
    fl = f" `{v['flags']}`" if v["flags"] else ""
    meds.append((k, statistics.median(ic), statistics.median(su), statistics.median(sp)))
    print(f"| {k}{fl} | **{statistics.median(ic):.2f}%** ({min(ic):.2f}–{max(ic):.2f}) "
          f"| {statistics.median(ie):.0f} | **{statistics.median(su):.1f} µs** ({min(su):.1f}–{max(su):.1f}) "
          f"| {statistics.median(se):,.0f} | **{statistics.median(sp):.1f} µs** ({min(sp):.1f}–{max(sp):.1f}) "
          f"| {100 * statistics.median(su_):.1f}% | {statistics.median(sr):.0f} "
          f"| {statistics.median(sn):.1f} µs ({min(sn):.1f}–{max(sn):.1f}) |")
if len(meds) > 1:
    print()
    b = meds[0]
    for k, ic, su, sp in meds[1:]:
        print(f"{k} / {b[0]} (medians): idle {ic / b[1]:.2f}x, CPU per kernel event "
              f"{su / b[2]:.2f}x, CPU per storm process {sp / b[3]:.2f}x")
EOF
