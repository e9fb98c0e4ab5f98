#!/usr/bin/env bash
# fresh-windows-check.sh: issue 19's "build-windows.sh on a fresh Debian 12
# machine". Like ../shared/tools/fresh-debian-check (whose base system it
# reuses, or makes the same way), it unpacks a brand-new Debian 12 root file
# system, clones what is committed (HEAD) into it with ../shared beside it,
# and runs `PROCTRACK_WINDOWS=1 .ci/run` there: the Linux build and suites,
# then scripts/build-windows.sh --test (mingw-w64 and wine64 from Debian,
# CAF/zlib/pugixml from Debian's source packages, proctrack.exe, the zip, the
# Windows suites under wine64, the replay compared byte for byte with the
# Linux build, and the agent's refusals and pslist tracking under wine).
#
#   scripts/fresh-windows-check.sh          # as root, from the project
#   scripts/fresh-windows-check.sh --windows-only
#       # setup, the Linux build (the replay check compares against it) and
#       # build-windows.sh --test, without the Linux suites and fuzzing that
#       # ../shared/tools/fresh-debian-check runs anyway
#   KEEP=1 scripts/fresh-windows-check.sh   # keep the root file system
#
# Exit status: that of .ci/run inside. The log is kept as
# /var/tmp/fresh-debian/windows-last.log. Takes about an hour on 2 cores
# (most of it the CAF cross-build, which a fresh machine cannot skip).
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "fresh-windows-check: run as root" >&2; exit 2; }
project=$(git rev-parse --show-toplevel)
shared=$(cd "$project/../shared" 2>/dev/null && pwd) ||
  { echo "fresh-windows-check: no ../shared beside the project" >&2; exit 2; }
job='bash .ci/run'
[ "${1:-}" = "--windows-only" ] &&
  job='scripts/setup.sh && scripts/build.sh && scripts/build-windows.sh --test'
cache=/var/tmp/fresh-debian
base=$cache/bookworm-base.tar
mkdir -p "$cache"
if [ ! -s "$base" ]; then
  command -v mmdebstrap >/dev/null ||
    { apt-get update -qq; apt-get install -y -qq mmdebstrap >/dev/null; }
  sources=$(ls /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
  [ -n "$sources" ] || sources=/etc/apt/sources.list
  mmdebstrap --quiet --variant=apt --include=ca-certificates,git,sudo,procps \
    bookworm "$base.tmp" "$sources"
  mv "$base.tmp" "$base"
fi
root=$(mktemp -d "$cache/root.XXXXXX")
cleanup() {
  for m in dev/pts dev sys proc; do umount -l "$root/$m" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] && { echo "kept: $root" >&2; return; }
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
tar -C "$root" -xf "$base"
mkdir -p "$root/src"
git clone -q "$project" "$root/src/project"
cp -a "$shared" "$root/src/shared"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
for m in proc sys dev dev/pts; do mount --bind "/$m" "$root/$m"; done
set +e
start=$(date +%s)
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  CI=true LANG=C.UTF-8 PROCTRACK_WINDOWS=1 \
  bash -c "cd /src/project && $job" 2>&1 | tee "$cache/windows-last.log"
rc=${PIPESTATUS[0]}
echo "fresh-windows-check: PROCTRACK_WINDOWS=1 $job: exit $rc after" \
  "$(($(date +%s) - start)) s on a fresh Debian 12 (log: $cache/windows-last.log)"
exit $rc
