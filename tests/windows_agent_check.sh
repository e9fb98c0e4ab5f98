#!/usr/bin/env bash
# The Windows agent (`proctrack.exe run`) under wine64 (docs/windows.md,
# docs/windows-live.md):
#
# 1. The ETW source's error paths: wine has no Sysmon and only stubs ETW,
#    so `run` must exit 2 at once with a message saying what to install or
#    to use --tracker.sources=pslist; never hang (each run has 120 s):
#    - Sysmon not installed (a fresh wine prefix);
#    - Sysmon installed but stopped (its two services created with sc.exe,
#      never started);
#    - the presence check off (tracker.sysmon-file-location="") so the ETW
#      session itself is tried: wine's OpenTraceW fails;
#    - a tracker.sources value that does not exist.
# 2. `run --tracker.sources=pslist` tracks wine's own processes: a child
#    started while the agent runs (cmd.exe running ping.exe for ~6 s) shows
#    up in a sync listing with cmd.exe as its parent, is gone from the first
#    listing after its exit, and the agent's stream, replayed by the same
#    proctrack.exe, ends the process at that listing's time.
#
#   tests/windows_agent_check.sh PROCTRACK_EXE
#
# Uses a fresh WINEPREFIX (removed at the end) unless WINEPREFIX is set.
# Exits 1 on the first failed expectation, 0 when all hold.
set -euo pipefail
exe=$(realpath "${1:?usage: tests/windows_agent_check.sh PROCTRACK_EXE}")
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
wineserver=$(command -v wineserver || echo /usr/lib/wine/wineserver)
export WINEDEBUG=-all
work=$(mktemp -d)
own_prefix=0
if [ -z "${WINEPREFIX:-}" ]; then
  export WINEPREFIX=$work/prefix
  own_prefix=1
fi
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
  # Only this prefix's wine processes (ours): its wineserver ends them.
  [ $own_prefix -eq 1 ] && WINEPREFIX=$work/prefix "$wineserver" -k 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "windows_agent_check: FAILED: $*" >&2
  exit 1
}
winpath() { echo "Z:${1//\//\\}"; }

# -- 1. the ETW source cannot work under wine: exit 2, clear, at once --------
refused() { # name, expected substrings (|-separated), run arguments...
  local name=$1 want=$2
  shift 2
  local rc=0 start=$SECONDS
  timeout 120 "$wine" "$exe" run "$@" >"$work/out" 2>"$work/err" || rc=$?
  local took=$((SECONDS - start))
  [ $rc -ne 124 ] || fail "$name: still running after 120 s (a hang)"
  [ $rc -eq 2 ] || {
    cat "$work/err" >&2
    fail "$name: exit $rc, want 2"
  }
  [ ! -s "$work/out" ] || fail "$name: wrote to stdout before refusing"
  local IFS='|'
  for w in $want; do
    grep -qF -- "$w" "$work/err" || {
      cat "$work/err" >&2
      fail "$name: the message lacks \"$w\""
    }
  done
  echo "windows_agent_check: $name: exit 2 in ${took} s: $(grep -m1 'proctrack run:' "$work/err")"
}

# Creates the prefix (its first start is the slow one).
"$wine" cmd /c exit 0 >/dev/null 2>&1 || true

refused "no Sysmon" \
  "Sysmon is not installed|sysmon64.exe -accepteula -i|--tracker.sources=pslist"
"$wine" sc create Sysmon64 binPath= 'C:\windows\sysmon64.exe' >/dev/null
"$wine" sc create SysmonDrv type= kernel binPath= 'C:\windows\SysmonDrv.sys' >/dev/null
refused "Sysmon installed, stopped" \
  "Sysmon is installed but not running|driver SysmonDrv is stopped|sc.exe start|--tracker.sources=pslist"
"$wine" sc delete Sysmon64 >/dev/null
"$wine" sc delete SysmonDrv >/dev/null
refused "ETW session (presence check off)" \
  "the ETW source cannot start|OpenTraceW|Administrator|--tracker.sources=pslist" \
  '--tracker.sysmon-file-location=""'
refused "unknown source" "tracker.sources must be auto or pslist" \
  --tracker.sources=etw

# -- 2. pslist alone tracks wine's processes ---------------------------------
stream=$work/stream.jsonl
"$wine" "$exe" run --tracker.sources=pslist --tracker.sync-period=2s \
  --stats.interval=1h --tracker.also-forward-updates=true \
  --output.path="$(winpath "$stream")" 2>"$work/agent.err" &
agent_pid=$!
for _ in $(seq 1 120); do
  grep -q "ready:" "$work/agent.err" 2>/dev/null && break
  kill -0 "$agent_pid" 2>/dev/null || {
    cat "$work/agent.err" >&2
    fail "the pslist agent exited at start"
  }
  sleep 1
done
grep -q "ready:" "$work/agent.err" || fail "the pslist agent not ready in 120 s"
echo "windows_agent_check: agent ready: $(grep -m1 'first process list' "$work/agent.err")"
# ping -n 7 waits ~6 s; its parent is cmd.exe.
marker="ping -n 7 127.0.0.1"
"$wine" cmd /c "$marker >nul"
child_done=$(date -u +%FT%T)
sleep 7 # three more listings at least
kill "$agent_pid"
wait "$agent_pid" 2>/dev/null || true
agent_pid=""
"$wine" "$exe" replay "$(winpath "$stream")" --query=pslist \
  >"$work/pslist.json" 2>"$work/replay.err" ||
  fail "replay of the agent's stream failed: $(head -5 "$work/replay.err")"
python3 - "$stream" "$work/pslist.json" "$marker" "$child_done" <<'EOF'
import json, sys
stream, pslist, marker, child_done = sys.argv[1:5]
def fail(msg):
    print("windows_agent_check: FAILED: " + msg, file=sys.stderr)
    sys.exit(1)
syncs = []
for line in open(stream, encoding="utf-8"):
    row = json.loads(line)
    if row.get("update_type") == "sync":
        syncs.append(row)
if len(syncs) < 4:
    fail(f"only {len(syncs)} sync rows in the stream")
def listed(row):
    return {p["data"]["Pid"]: p for p in row.get("processes", [])}
seen = None
for i, row in enumerate(syncs):
    for p in row.get("processes", []):
        d = p["data"]
        if d.get("Name") == "ping.exe" and "127.0.0.1" in d.get("CommandLine", ""):
            seen = (i, p)
            break
    if seen:
        break
if not seen:
    fail("ping.exe never appeared in a sync listing")
i, ping = seen
d = ping["data"]
parent = listed(syncs[i]).get(d.get("Ppid"))
if parent is None:
    fail(f"ping.exe (pid {d['Pid']}) listed without its parent pid {d.get('Ppid')}")
pd = parent["data"]
if pd.get("Name") != "cmd.exe" or marker not in pd.get("CommandLine", ""):
    fail(f"ping.exe's parent is {pd.get('Name')} ({pd.get('CommandLine')})")
print(f"windows_agent_check: sync {i} at {syncs[i]['time']}: ping.exe pid {d['Pid']}"
      f" ({d['Exe']}, \"{d['CommandLine']}\", user {d.get('Username')},"
      f" started {d['StartTime']}), parent cmd.exe pid {pd['Pid']}"
      f" (\"{pd['CommandLine']}\")")
gone = None
for j in range(i + 1, len(syncs)):
    if d["Pid"] not in listed(syncs[j]) or \
       listed(syncs[j])[d["Pid"]]["data"]["StartTime"] != d["StartTime"]:
        gone = j
        break
if gone is None:
    fail("ping.exe is still listed in the last sync")
print(f"windows_agent_check: sync {gone} at {syncs[gone]['time']}: ping.exe gone"
      f" (exited before {child_done}Z)")
rows = json.load(open(pslist, encoding="utf-8"))["result"]
mine = [r for r in rows if r["Data"].get("Pid") == d["Pid"]
        and r["Data"].get("StartTime") == d["StartTime"]]
if len(mine) != 1:
    fail(f"the replayed stream has {len(mine)} records of ping.exe")
r = mine[0]
if r["EndTime"] != syncs[gone]["time"]:
    fail(f"ping.exe ends at {r['EndTime']}, want the listing's {syncs[gone]['time']}")
if not r["ParentId"].startswith(f"{pd['Pid']}-"):
    fail(f"ping.exe's replayed parent is {r['ParentId']}, want cmd.exe pid {pd['Pid']}")
print(f"windows_agent_check: the stream replayed: {r['Id']} parent {r['ParentId']},"
      f" EndTime {r['EndTime']}")
EOF
echo "windows_agent_check: all checks passed"
