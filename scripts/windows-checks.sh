#!/bin/sh
# Cross-builds the Windows live source's standalone checks with Debian's
# mingw-w64 and runs them under wine64 (docs/windows-live.md):
#   pslist_check.exe  the Windows pslist reader lists wine's processes: this
#                     one, a child it starts (with its parent and command
#                     line), then not the child once it has exited;
#   etw_check.exe     the Sysmon presence verdict and the ETW session: under
#                     wine ETW is a stub, so it must fail with a clear message
#                     and exit 2, never hang.
# Needs: apt-get install -y --no-install-recommends g++-mingw-w64-x86-64-posix wine64
# Usage: scripts/windows-checks.sh [BUILD_DIR]   (default /tmp/proctrack-wincheck)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/proctrack-wincheck}
cxx=${CXX_MINGW:-x86_64-w64-mingw32-g++-posix}
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
mkdir -p "$out"
flags="-std=c++17 -O1 -static -Wall -Wextra -I$src"
common="$src/actors/common/json_text.cpp $src/actors/common/time.cpp"
$cxx $flags -o "$out/pslist_check.exe" "$src/tests/windows/pslist_check.cpp" \
  "$src/actors/winpslist/windows_pslist.cpp" $common -lntdll
$cxx $flags -o "$out/etw_check.exe" "$src/tests/windows/etw_check.cpp" \
  "$src/actors/etw/etw_session.cpp" "$src/actors/etw/sysmon_presence.cpp" \
  "$src/actors/etw/sysmon_etw_decoder.cpp" \
  "$src/actors/ingest/sysmon_event.cpp" "$src/actors/ingest/evtx_binxml.cpp" \
  $common -ltdh -ladvapi32
export WINEPREFIX=${WINEPREFIX:-$out/wineprefix} WINEDEBUG=${WINEDEBUG:--all}
status=0
echo "== pslist_check.exe"
timeout 300 "$wine" "$out/pslist_check.exe" || status=1
echo "== etw_check.exe (wine: must exit 2 with a clear message, no hang)"
set +e
timeout 120 "$wine" "$out/etw_check.exe" > "$out/etw_check.log" 2>&1
rc=$?
set -e
cat "$out/etw_check.log"
if [ "$rc" -eq 0 ]; then
  echo "etw_check: session ran (a real Windows host)"
elif [ "$rc" -eq 2 ] && grep -q "failed: Win32 error" "$out/etw_check.log"; then
  echo "etw_check: clear error, exit 2"
else
  echo "etw_check: FAILED (exit $rc)"; status=1
fi
exit $status
