#!/usr/bin/env bash
# ctest package_test: builds the .deb from this build tree (cpack), unpacks it
# and checks what a sysadmin gets: the conffiles, the unit (systemd-analyze
# verify, against the unpacked binary), the configuration the binary accepts
# and a replay run by the packaged binary.
# usage: package_check.sh BUILD_DIR SHARED_DATA_DIR
set -euo pipefail
build=$1; data=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

(cd "$build" && cpack -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log"; fail "cpack"; }
deb=$(ls "$tmp"/out/proctrack_*.deb)
echo "package: $(basename "$deb")"
dpkg-deb -f "$deb" Depends | grep -q libcaf-core || fail "Depends lacks libcaf-core"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$tmp/conffiles"
grep -qx /etc/proctrack/proctrack.ini "$tmp/conffiles" || fail "proctrack.ini is not a conffile"
root="$tmp/root"; dpkg-deb -x "$deb" "$root"
for f in usr/bin/proctrack lib/systemd/system/proctrack.service \
         etc/proctrack/proctrack.ini etc/logrotate.d/proctrack \
         usr/include/proctrack/messages; do
  [ -e "$root/$f" ] || fail "missing /$f"
done
# lib/ or lib/<multiarch>/, as GNUInstallDirs chose for the build's prefix.
find "$root/usr/lib" -path '*/cmake/proctrack/proctrackConfig.cmake' | grep -q . ||
  fail "missing the CMake package (usr/lib/.../cmake/proctrack)"

# The unit, with ExecStart pointing at the unpacked binary.
sed "s#/usr/bin/proctrack#$root/usr/bin/proctrack#" \
  "$root/lib/systemd/system/proctrack.service" >"$tmp/proctrack.service"
if command -v systemd-analyze >/dev/null; then
  # verify exits 0 on keys it ignores; any word from it is a failure here.
  said=$(systemd-analyze verify "$tmp/proctrack.service" 2>&1) ||
    fail "systemd-analyze verify: $said"
  [ -z "$said" ] || fail "systemd-analyze verify: $said"
  echo "systemd-analyze verify: ok (no warnings)"
else
  fail "systemd-analyze missing (scripts/setup.sh installs systemd)"
fi

# The packaged binary with the packaged configuration.
log=$(ls "$data"/sysmon/evtx/*.evtx | head -1)
out=$("$root/usr/bin/proctrack" replay --config="$root/etc/proctrack/proctrack.ini" \
      "$log" --query=stats)
echo "$out" | grep -q '"StartUpdates":[1-9]' || fail "packaged replay: $out"
echo PASS
