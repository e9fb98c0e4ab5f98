#!/usr/bin/env bash
# Cross-builds proctrack for Windows x86-64 on Debian 12 (docs/windows.md):
#  1. installs the mingw-w64 toolchain (posix threads), wine64 and zip from
#     Debian, and the header-only libraries the build takes from Debian;
#  2. fetches Debian's source packages of CAF 0.17.6, zlib and pugixml
#     (`apt-get source`, adding a deb-src entry for the configured Debian
#     mirror when there is none), patches CAF (scripts/windows/*.patch: a
#     missing include, and the mingw TLS fix of its logger) and
#     cross-builds the three as static libraries into $PREFIX, with the
#     header-only libraries staged there (one directory each);
#  3. cross-builds proctrack.exe (static: runs with nothing installed) with
#     cmake/mingw-w64-x86_64.cmake and packs it with config/ and docs/ into
#     $BUILD/proctrack-windows-x86_64.zip.
# With --test it then runs the Windows unit suites under wine64 (ctest) and
# tests/windows_replay_check.sh (the Windows replay's answers against the
# Linux build's, byte for byte; needs build/proctrack from scripts/build.sh)
# and tests/windows_agent_check.sh (`run`: the ETW source's refusals, and
# pslist-only tracking of wine's processes).
#
#   scripts/build-windows.sh [--test]
#
# Environment: PROCTRACK_MINGW_PREFIX (default /opt/proctrack-mingw, where
# CAF & co. go; kept between runs: a prefix with READY is not rebuilt),
# PROCTRACK_WIN_BUILD (default build-windows/), JOBS (default nproc),
# PROCTRACK_WIN_OPT (proctrack's optimization, default -O2).
# Each step says how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
src_dir=$PWD
PREFIX=${PROCTRACK_MINGW_PREFIX:-/opt/proctrack-mingw}
BUILD=${PROCTRACK_WIN_BUILD:-$src_dir/build-windows}
JOBS=${JOBS:-$(nproc)}
OPT=${PROCTRACK_WIN_OPT:--O2}
run_tests=0
[ "${1:-}" = "--test" ] && run_tests=1
toolchain=$src_dir/cmake/mingw-w64-x86_64.cmake
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

step() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "build-windows.sh: $name took $((SECONDS - start)) s" >&2
}

install_packages() {
  local packages=(g++-mingw-w64-x86-64-posix wine64 zip cmake ninja-build
    nlohmann-json3-dev libspdlog-dev libfmt-dev libboost-dev)
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
      grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
      --no-install-recommends "${missing[@]}"
  fi
}

# A deb-src entry for the Debian mirror the machine uses, when it has none.
ensure_deb_src() {
  if grep -rqsE '^(deb-src |Types:.*deb-src)' /etc/apt/sources.list \
    /etc/apt/sources.list.d/; then
    return
  fi
  local uri suite
  uri=$(grep -rhsE '^URIs:' /etc/apt/sources.list.d/*.sources |
    grep -m1 -E 'debian/?$' | awk '{print $2}') || true
  if [ -z "$uri" ]; then
    uri=$(grep -hsE '^deb ' /etc/apt/sources.list | grep -m1 -E '/debian/? ' |
      awk '{print $2}') || true
  fi
  [ -n "$uri" ] || uri=http://deb.debian.org/debian
  suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
  echo "adding deb-src $uri $suite main" >&2
  $sudo tee /etc/apt/sources.list.d/proctrack-deb-src.sources >/dev/null <<EOF
Types: deb-src
URIs: $uri
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  $sudo apt-get update -qq
}

# Debian's source package $1 (upstream tarball $2, a glob): downloaded by
# apt (which checks it against the signed Sources index) and unpacked into
# $BUILD/src. The upstream source is used, not Debian's packaging patches:
# some mirrors lack the .debian.tar.xz (a 404 for actor-framework here);
# apt has verified the upstream tarball when that happens, and we check its
# SHA-256 against the .dsc again.
fetch_source() {
  local pkg=$1 glob=$2
  mkdir -p "$BUILD/src"
  cd "$BUILD/src"
  if ! ls $glob >/dev/null 2>&1; then
    apt-get source --download-only -qq "$pkg" ||
      echo "apt-get source $pkg: not every file came (see above); using the" \
        "upstream tarball if it did" >&2
  fi
  local tarball
  tarball=$(ls $glob | head -1)
  local dsc
  dsc=$(ls "${pkg}"_*.dsc | head -1)
  local want
  want=$(awk '/^Checksums-Sha256:/{f=1;next} /^[^ ]/{f=0} f' "$dsc" |
    awk -v t="$tarball" '$3==t{print $1}')
  local have
  have=$(sha256sum "$tarball" | awk '{print $1}')
  if [ -z "$want" ] || [ "$want" != "$have" ]; then
    echo "build-windows.sh: $tarball does not match $dsc" >&2
    exit 1
  fi
  cd "$src_dir"
}

unpack() { # tarball glob, directory made
  local glob=$1 dir=$2
  rm -rf "$BUILD/src/$dir"
  tar -C "$BUILD/src" -xf "$(ls "$BUILD"/src/$glob | head -1)"
}

build_zlib() {
  [ -f "$PREFIX/lib/libz.a" ] && return
  fetch_source zlib 'zlib_*.orig.tar.*'
  unpack 'zlib_*.orig.tar.*' 'zlib-*'
  local zsrc
  zsrc=$(ls -d "$BUILD"/src/zlib-*/ | head -1)
  cmake -S "$zsrc" -B "$BUILD/zlib" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" >/dev/null
  ninja -C "$BUILD/zlib" -j"$JOBS" zlibstatic
  $sudo mkdir -p "$PREFIX/lib" "$PREFIX/include"
  $sudo cp "$BUILD/zlib/libzlibstatic.a" "$PREFIX/lib/libz.a"
  $sudo cp "$zsrc/zlib.h" "$BUILD/zlib/zconf.h" "$PREFIX/include/"
}

build_pugixml() {
  [ -f "$PREFIX/lib/libpugixml.a" ] && return
  fetch_source pugixml 'pugixml_*.orig.tar.*'
  unpack 'pugixml_*.orig.tar.*' 'pugixml-*'
  cmake -S "$(ls -d "$BUILD"/src/pugixml-*/ | head -1)" -B "$BUILD/pugixml" \
    -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
    -DBUILD_SHARED_LIBS=OFF -DPUGIXML_BUILD_TESTS=OFF \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" >/dev/null
  ninja -C "$BUILD/pugixml" -j"$JOBS"
  $sudo cmake --install "$BUILD/pugixml" >/dev/null
}

# CAF 0.17.6 core and io, static. OpenSSL, OpenCL, Python, tools, examples
# and CAF's own tests are off. -O1: CAF at -O3 took half again as long on
# the 2-core build machine; the agent's hot path (decoders, the table) is
# ours and built at -O3.
# READY names the patches the prefix's CAF was built with: a prefix built
# before a patch was added (e.g. the mingw TLS fix, whose absence hangs
# every CAF program now and then at exit) is built again.
caf_patches() {
  (cd "$src_dir/scripts/windows" && ls caf-0.17.6-*.patch | sort | tr '\n' ' ')
}

build_caf() {
  if [ -f "$PREFIX/READY" ] && [ -f "$PREFIX/lib/libcaf_io_static.a" ] &&
    grep -qxF "patches: $(caf_patches)" "$PREFIX/READY"; then
    return
  fi
  [ -f "$PREFIX/READY" ] &&
    echo "build-windows.sh: $PREFIX's CAF lacks a patch of" \
      "scripts/windows/ ($(caf_patches)): building it again" >&2
  fetch_source actor-framework 'actor-framework_0.17.6.orig.tar.*'
  unpack 'actor-framework_0.17.6.orig.tar.*' actor-framework-0.17.6
  local caf_src=$BUILD/src/actor-framework-0.17.6
  for p in "$src_dir"/scripts/windows/caf-0.17.6-*.patch; do
    patch -d "$caf_src" -p1 --quiet <"$p"
  done
  cmake -S "$caf_src" -B "$BUILD/caf" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
    -DCAF_BUILD_STATIC_ONLY=yes -DCAF_BUILD_STATIC_RUNTIME=yes \
    -DCAF_NO_OPENSSL=yes -DCAF_NO_OPENCL=yes -DCAF_NO_PYTHON=yes \
    -DCAF_NO_TOOLS=yes -DCAF_NO_EXAMPLES=yes -DCAF_NO_UNIT_TESTS=yes \
    -DCAF_NO_SUMMARY=yes >/dev/null
  ninja -C "$BUILD/caf" -j"$JOBS"
  $sudo cmake --install "$BUILD/caf" >/dev/null
  # Others (e.g. the Windows live sources' developers) may build against
  # the prefix once this exists.
  printf 'CAF 0.17.6 core+io static, mingw-w64 posix; %s\npatches: %s\n' \
    "$(date -u +%FT%TZ)" "$(caf_patches)" | $sudo tee "$PREFIX/READY" >/dev/null
}

# Debian's header-only libraries, one directory each: the mingw compiler
# gets -I$PREFIX/include, never /usr/include.
stage_headers() {
  $sudo mkdir -p "$PREFIX/include"
  for d in nlohmann spdlog fmt boost; do
    [ -e "$PREFIX/include/$d" ] || $sudo ln -s "/usr/include/$d" "$PREFIX/include/$d"
  done
}

build_proctrack() {
  local tests=OFF
  [ $run_tests -eq 1 ] && tests=ON
  cmake -S "$src_dir" -B "$BUILD/proctrack" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
    -DCMAKE_CXX_FLAGS_RELEASE="$OPT -DNDEBUG" \
    -DPROCTRACK_MINGW_PREFIX="$PREFIX" -DPROCTRACK_TESTS=$tests
  local targets=(proctrack)
  [ $run_tests -eq 1 ] && targets+=(proctrack_tests)
  ninja -C "$BUILD/proctrack" -j"$JOBS" "${targets[@]}"
}

pack() {
  local stage=$BUILD/zip/proctrack-windows-x86_64
  rm -rf "$BUILD/zip"
  mkdir -p "$stage"
  cp "$BUILD/proctrack/proctrack.exe" "$stage/"
  cp -r "$src_dir/config" "$src_dir/docs" "$stage/"
  cp "$src_dir/README.md" "$stage/"
  rm -f "$BUILD/proctrack-windows-x86_64.zip"
  (cd "$BUILD/zip" && zip -qr "$BUILD/proctrack-windows-x86_64.zip" \
    proctrack-windows-x86_64)
  echo "build-windows.sh: $BUILD/proctrack-windows-x86_64.zip" >&2
}

windows_tests() {
  # A wine prefix of the build's own, booted and its wineserver kept
  # (persistent) before ctest: else the first suites start wine's services,
  # which inherit those suites' output pipes, and ctest sees them end only
  # when the wineserver goes idle (two 1-minute suites reported 172 s each).
  export WINEPREFIX=${WINEPREFIX:-$BUILD/wineprefix} WINEDEBUG=-all
  # wineserver refuses a prefix directory that does not exist yet (a new
  # build directory: it failed so on a fresh one); wine fills an empty one.
  mkdir -p "$WINEPREFIX"
  local wineserver
  wineserver=$(command -v wineserver || echo /usr/lib/wine/wineserver)
  # (It also refuses when a server for the prefix runs already: fine.)
  "$wineserver" -p 600 </dev/null >/dev/null 2>&1 || true
  "$(command -v wine64 || echo /usr/lib/wine/wine64)" cmd /c exit 0 \
    >/dev/null 2>&1 || true
  (cd "$BUILD/proctrack" && ctest --output-on-failure --timeout 900 -j"$JOBS")
  tests/windows_replay_check.sh "$BUILD/proctrack/proctrack.exe"
  # Its own prefix (a fresh one), not the suites'.
  WINEPREFIX= tests/windows_agent_check.sh "$BUILD/proctrack/proctrack.exe"
  "$wineserver" -k || true
}

step packages install_packages
step deb-src ensure_deb_src
step stage-headers stage_headers
step zlib build_zlib
step pugixml build_pugixml
step caf build_caf
step proctrack build_proctrack
step zip pack
[ $run_tests -eq 1 ] && step windows-tests windows_tests
echo "build-windows.sh: all steps passed in $SECONDS s" >&2
