#!/usr/bin/env bash
# Builds the Debian package (build/package/proctrack_VERSION_ARCH.deb): the
# agent, its systemd unit, /etc/proctrack/proctrack.ini (a conffile) and the
# library with its headers. Install it with `apt-get install ./FILE.deb`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
dir=${PROCTRACK_PACKAGE_DIR:-build/package}
cmake -S . -B "$dir" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX=/usr -DPROCTRACK_TESTS=OFF >/dev/null
cmake --build "$dir" --target proctrack libproctrack -j"$(nproc)"
(cd "$dir" && cpack -G DEB)
ls "$dir"/proctrack_*.deb
