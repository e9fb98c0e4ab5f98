#!/usr/bin/env bash
# The process history's cost (issue 17, docs/history.md): the same replay
# with and without --history, in one run, $REPS timed repetitions each
# (medians), and the store that results: rows written per second, bytes
# per process, as-of queries answered from it.
#
#   bench/history.sh                      # 200,000 processes, 5 reps
#   PROCS=1000000 REPS=3 bench/history.sh
#
# Knobs: PROCS (200000), REPS (5), BUILD_DIR (<repo>/build-bench; built
# when proctrack is missing there), OUT (<repo>/bench/out/history), BASE (a
# baseline proctrack binary, e.g. main's: its replay with --history is
# timed in the same run, alternating, and its store measured alike).
# The workload: PROCS update rows (start, Sysmon-sized Data of about 1 KB:
# Image, CommandLine, User, Hashes...; 256 sessions, then trees at most 6
# deep) and an exit for 9 of 10, in time order, seeded. Prints a Markdown
# table.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
OUT=${OUT:-$ROOT/bench/out/history}
PROCS=${PROCS:-200000}
REPS=${REPS:-5}
PT=$BUILD_DIR/proctrack
mkdir -p "$OUT"
if [ ! -x "$PT" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" -j2 --target proctrack >/dev/null
fi
command -v /usr/bin/time >/dev/null || "$ROOT/scripts/setup.sh" time

W=$OUT/workload-v2-$PROCS.jsonl
if [ ! -s "$W" ]; then
  python3 - "$PROCS" "$W" <<'EOF'
import json, random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(17)
t0 = 1609459200  # 2021-01-01T00:00:00Z
exes = ["C:\\Windows\\System32\\cmd.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "C:\\Windows\\System32\\svchost.exe", "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        "C:\\Windows\\System32\\conhost.exe", "C:\\Windows\\explorer.exe"]
def ts(s):
    import datetime
    return datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
events = []
depth = [0] * n
for i in range(n):
    pid = 1000 + i  # no pid reuse: every process distinct
    start = t0 + i // 4
    # Shallow trees, as on a real host: 256 long-lived sessions (never
    # exit), each process the child of a session or of a recent process at
    # most 5 deep (a deep chain costs the table's loop check per start).
    if i < 256:
        ppid, depth[i] = 4, 1
    else:
        j = i - 1 - rnd.randrange(64)
        if depth[j] < 5 and rnd.random() < 0.5:
            ppid, depth[i] = 1000 + j, depth[j] + 1
        else:
            s = rnd.randrange(256)
            ppid, depth[i] = 1000 + s, 2
    exe = rnd.choice(exes)
    data = {"Name": exe.rsplit("\\", 1)[1], "Exe": exe,
            "CommandLine": exe + " " + " ".join("/arg%d:%016x" % (k, rnd.getrandbits(64)) for k in range(12)),
            "CurrentDirectory": "C:\\Users\\user%d\\" % rnd.randrange(50),
            "User": "CORP\\user%d" % rnd.randrange(50), "LogonId": "0x%x" % rnd.getrandbits(32),
            "IntegrityLevel": "Medium",
            "Hashes": "SHA1=%040x,MD5=%032x,SHA256=%064x,IMPHASH=%032x" % (
                rnd.getrandbits(160), rnd.getrandbits(128), rnd.getrandbits(256), rnd.getrandbits(128)),
            "Company": "Microsoft Corporation", "Description": "Windows Command Processor",
            "Product": "Microsoft Windows Operating System", "FileVersion": "10.0.19041.746"}
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
ROWS=$(wc -l <"$W")

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# One timed replay: elapsed seconds and peak RSS (KB) into $OUT/times.
run() {
  local tag=$1
  shift
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$PT" replay "$W" --log.level=warn "$@" \
    --query=stats >"$OUT/$tag.out" 2>"$OUT/$tag.err"
  cat "$OUT/time.txt"
}

rm -f "$OUT"/times-*.txt
"$PT" replay "$W" --log.level=off --query=stats >/dev/null # warm-up (page cache)
for r in $(seq "$REPS"); do
  run plain >>"$OUT/times-plain.txt"
  rm -f "$OUT/h.db" "$OUT/h.db-wal" "$OUT/h.db-shm"
  run history --history="$OUT/h.db" >>"$OUT/times-history.txt"
  if [ -n "${BASE:-}" ]; then
    rm -f "$OUT/b.db" "$OUT/b.db-wal" "$OUT/b.db-shm"
    PT=$BASE run base --history="$OUT/b.db" >>"$OUT/times-base.txt"
  fi
done
plain=$(cut -d' ' -f1 "$OUT/times-plain.txt" | median)
hist=$(cut -d' ' -f1 "$OUT/times-history.txt" | median)
plain_rss=$(cut -d' ' -f2 "$OUT/times-plain.txt" | median)
hist_rss=$(cut -d' ' -f2 "$OUT/times-history.txt" | median)
written=$(jq -r '.result.HistoryRowsWritten' "$OUT/history.out")
stored=$("$PT" query --history="$OUT/h.db" pslist | jq '.result | length')
size=$(stat -c %s "$OUT/h.db")
# As-of queries on the store: what ran in the middle of the log.
mid=$(python3 -c "import datetime; print(datetime.datetime.fromtimestamp(1609459200 + $PROCS // 8, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))")
qtimes=()
for r in $(seq "$REPS"); do
  /usr/bin/time -f "%e" -o "$OUT/time.txt" "$PT" query --history="$OUT/h.db" "pslist@$mid" >"$OUT/asof.out"
  qtimes+=("$(cat "$OUT/time.txt")")
done
asof=$(printf '%s\n' "${qtimes[@]}" | median)
running=$(jq '.result | length' "$OUT/asof.out")
last=$((1000 + PROCS - 1))
cc=()
for r in $(seq "$REPS"); do
  /usr/bin/time -f "%e" -o "$OUT/time.txt" "$PT" query --history="$OUT/h.db" "callchain:$last@$mid" "callchain:$last" >"$OUT/cc.out"
  cc+=("$(cat "$OUT/time.txt")")
done
ccm=$(printf '%s\n' "${cc[@]}" | median)

# Lookups in the store: 1,000 callchains of processes late in the log
# (their ancestors exited long before) in one command, less the command
# alone (one get): the mean cost of one chain.
ids=()
for k in $(seq 1000); do ids+=("callchain:$((1000 + PROCS - 1 - k * (PROCS / 2000)))"); done
c1=()
c0=()
for r in $(seq "$REPS"); do
  /usr/bin/time -f "%e" -o "$OUT/time.txt" "$PT" query --history="$OUT/h.db" "${ids[@]}" >/dev/null
  c1+=("$(cat "$OUT/time.txt")")
  /usr/bin/time -f "%e" -o "$OUT/time.txt" "$PT" query --history="$OUT/h.db" "get:$last" >/dev/null
  c0+=("$(cat "$OUT/time.txt")")
done
chain_ms=$(awk -v a="$(printf '%s\n' "${c1[@]}" | median)" -v b="$(printf '%s\n' "${c0[@]}" | median)" 'BEGIN {print (a - b)}')
awk -v rows="$ROWS" -v procs="$PROCS" -v plain="$plain" -v hist="$hist" \
  -v prss="$plain_rss" -v hrss="$hist_rss" -v written="$written" \
  -v stored="$stored" -v size="$size" -v asof="$asof" -v running="$running" \
  -v ccm="$ccm" -v reps="$REPS" -v chain="$chain_ms" 'BEGIN {
  printf "| measure (%d processes, %d update rows, median of %d) | value |\n", procs, rows, reps
  printf "|---|---|\n"
  printf "| replay without history | %.2f s (%.0f rows/s), peak RSS %.0f MB |\n", plain, rows / plain, prss / 1024
  printf "| replay with --history | %.2f s (%.0f rows/s), peak RSS %.0f MB |\n", hist, rows / hist, hrss / 1024
  printf "| ratio with / without (target <= 1.5) | %.2fx |\n", hist / plain
  printf "| history rows written (inserts + updates) | %d, %.0f rows/s over the replay |\n", written, written / hist
  printf "| processes in the store | %d |\n", stored
  printf "| store size | %.1f MB, %.0f B/process (target <= 400) |\n", size / 1e6, size / stored
  printf "| query --history pslist@T (%d running), whole command | %.3f s |\n", running, asof
  printf "| query --history callchain@T + callchain, whole command | %.3f s |\n", ccm
  printf "| one callchain from the store (1,000 in one command, less the command alone; mean) | %.3f ms |\n", chain
}'
if [ -n "${BASE:-}" ]; then
  base=$(cut -d' ' -f1 "$OUT/times-base.txt" | median)
  base_rss=$(cut -d' ' -f2 "$OUT/times-base.txt" | median)
  base_written=$(jq -r '.result.HistoryRowsWritten' "$OUT/base.out")
  base_size=$(stat -c %s "$OUT/b.db")
  /usr/bin/time -f "%e" -o "$OUT/time.txt" "$BASE" query --history="$OUT/b.db" "pslist@$mid" >/dev/null
  printf '| baseline query --history pslist@T on its store, whole command (one run) | %.3f s |\n' "$(cat "$OUT/time.txt")"
  printf '| baseline (%s) replay with --history | %.2f s (%.2fx the replay without), peak RSS %.0f MB, %d rows, %.0f rows/s, %.0f B/process |\n' \
    "$BASE" "$base" "$(echo "$base / $plain" | bc -l)" "$(echo "$base_rss / 1024" | bc -l)" \
    "$base_written" "$(echo "$base_written / $base" | bc -l)" "$(echo "$base_size / $stored" | bc -l)"
fi
