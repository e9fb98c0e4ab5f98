#!/usr/bin/env bash
# What a restart costs the agent (issue 17, docs/history.md "Restart"):
# `proctrack run` started $REPS times on a copy of a history store of
# $PROCS processes (written by a replay, about 1 KB of Data each) and
# $REPS times on an empty store, alternating; medians of the time from
# exec to "ready" and of the agent's RSS once ready. Root (the agent).
#
#   sudo bench/history_restart.sh               # 20,000 processes, 5 reps
#   PROCS=100000 REPS=3 sudo bench/history_restart.sh
#
# Knobs: PROCS (20000), REPS (5), BUILD_DIR (<repo>/build-bench; built
# when proctrack is missing there), OUT (<repo>/bench/out/history_restart).
# The agent keeps its defaults (tracker.max-size 10,000, so at most that
# many are reloaded) except tracker.max-expiry, raised so the workload's
# exited processes (dated 2021) are not left out as expired.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
OUT=${OUT:-$ROOT/bench/out/history_restart}
PROCS=${PROCS:-20000}
REPS=${REPS:-5}
PT=$BUILD_DIR/proctrack
mkdir -p "$OUT"
if [ ! -x "$PT" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" -j2 --target proctrack >/dev/null
fi

W=$OUT/workload-$PROCS.jsonl
if [ ! -s "$W" ]; then
  python3 - "$PROCS" "$W" <<'EOF'
import datetime, json, random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(17)
t0 = 1609459200  # 2021-01-01T00:00:00Z
def ts(s):
    return datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
events = []
for i in range(n):
    pid, start = 1000 + i, t0 + i // 4
    ppid = 4 if i < 256 else 1000 + rnd.randrange(256)
    exe = "/usr/bin/tool%d" % rnd.randrange(20)
    data = {"Name": exe.rsplit("/", 1)[1], "Exe": exe,
            "CommandLine": exe + " " + " ".join("--arg%d=%016x" % (k, rnd.getrandbits(64)) for k in range(30)),
            "Username": "user%d" % rnd.randrange(50)}
    events.append((start, 0, json.dumps({"update_type": "start", "id": pid, "parent_id": ppid,
                                         "start_time": ts(start), "data": data}, separators=(",", ":"))))
    if i >= 256 and rnd.random() < 0.9:
        end = start + 1 + rnd.randrange(600)
        events.append((end, 1, json.dumps({"update_type": "exit", "id": pid, "end_time": ts(end)},
                                          separators=(",", ":"))))
events.sort(key=lambda e: (e[0], e[1]))
with open(path, "w") as f:
    for e in events:
        f.write(e[2] + "\n")
EOF
fi
STORE=$OUT/store-$PROCS.db
if [ ! -s "$STORE" ]; then
  "$PT" replay "$W" --history="$STORE" --log.level=warn >/dev/null
fi

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# One start: milliseconds to "ready", RSS (KB) once ready, processes
# reloaded (from the log).
start_once() {
  local db=$1 log=$OUT/agent.err
  local t0 t1 pid
  t0=$(date +%s%N)
  "$PT" run --query.socket="$OUT/q.sock" --history.path="$db" \
    --tracker.max-expiry=1000000h >/dev/null 2>"$log" &
  pid=$!
  until grep -q "ready: query socket" "$log" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.01
  done
  t1=$(date +%s%N)
  local rss
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  local n
  n=$(grep -o '[0-9]* processes reloaded' "$log" | cut -d' ' -f1 || true)
  kill -INT "$pid"
  wait "$pid" || true
  echo "$(((t1 - t0) / 1000000)) $rss ${n:-0}"
}

rm -f "$OUT"/times-*.txt
for r in $(seq "$REPS"); do
  rm -f "$OUT"/copy.db*
  cp "$STORE" "$OUT/copy.db"
  start_once "$OUT/copy.db" >>"$OUT/times-reload.txt"
  rm -f "$OUT"/empty.db*
  start_once "$OUT/empty.db" >>"$OUT/times-empty.txt"
done
reload_ms=$(cut -d' ' -f1 "$OUT/times-reload.txt" | median)
empty_ms=$(cut -d' ' -f1 "$OUT/times-empty.txt" | median)
reload_rss=$(cut -d' ' -f2 "$OUT/times-reload.txt" | median)
empty_rss=$(cut -d' ' -f2 "$OUT/times-empty.txt" | median)
reloaded=$(cut -d' ' -f3 "$OUT/times-reload.txt" | median)
size=$(stat -c %s "$STORE")
awk -v procs="$PROCS" -v size="$size" -v reps="$REPS" -v ems="$empty_ms" \
  -v erss="$empty_rss" -v rms="$reload_ms" -v rrss="$reload_rss" \
  -v n="$reloaded" 'BEGIN {
  printf "| measure (store of %d processes, %.1f MB; median of %d) | value |\n", procs, size / 1e6, reps
  printf "|---|---|\n"
  printf "| agent start to ready, empty store | %.0f ms, RSS %.0f MB |\n", ems, erss / 1024
  printf "| agent start to ready, reloading %d processes | %.0f ms, RSS %.0f MB |\n", n, rms, rrss / 1024
}'
