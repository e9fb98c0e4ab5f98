#!/usr/bin/env bash
# Installs what proctrack needs to build and test on Debian 12 (as root or
# through sudo), plus any further Debian packages named as arguments (bench/
# run.sh names its own). Does nothing when everything is there already.
#
#   scripts/setup.sh                      # the build and the tests
#   scripts/setup.sh jq libsimdjson-dev   # ... and these
set -euo pipefail
# build: compiler, cmake, the libraries (libboost-dev: Boost.Asio for the
# agent's query socket; libsqlite3-dev, libzstd-dev: the process history store;
# libjemalloc-dev: the executable's allocator); tests:
# Boost.Test, procps (ps, the
# pslist comparison), openssl (test certificates), python3-pefile (the PE
# reader's reference implementation), python3-evtx (python-evtx: the
# Security log tests' independent reading of EVTX), file and systemd (the .deb: cpack's
# dependency scan, systemd-analyze verify of the unit); fuzz: clang with its
# libFuzzer runtime; the eBPF live source: clang (the BPF program),
# libbpf-dev (its loader) and bpftool (vmlinux.h and the skeleton).
packages=(build-essential cmake pkg-config libcaf-dev nlohmann-json3-dev
  libspdlog-dev libboost-dev libboost-test-dev libevtx-dev libpugixml-dev
  zlib1g-dev libssl-dev libsqlite3-dev libzstd-dev libjemalloc-dev clang libclang-rt-14-dev procps openssl
  python3-pefile python3-evtx file systemd libbpf-dev bpftool "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
