#!/usr/bin/env bash
# The listener attacks of issue 13 against a real agent and collector
# (docs/security.md "Bounds before authentication", docs/benchmarks.md):
# for each endpoint, a fresh process started with `ulimit -n 1024`, then
# one attack (tests/tools/listener_attack.cpp), its peak VmRSS and
# descriptor count, and whether the agent still answers. One JSON line per
# attack on stdout. Root (the agent needs the kernel's process events).
#
#   bench/listener_attacks.sh BUILD_DIR [plain|tls|collector]...
set -uo pipefail
B=${1:?usage: $0 BUILD_DIR [plain|tls|collector]...}; shift
BIN=${BIN:-$B/proctrack}; ATK=${ATK:-$B/tests/listener_attack}
KINDS=${*:-plain tls collector}
D=$(mktemp -d); trap 'rm -rf "$D"' EXIT

tls_files() { # a CA and two leaves, as tests/listener_attack_test.cpp
  local ssl="openssl" n
  $ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout $D/ca.key -out $D/ca.pem -days 2 -subj /CN=ca 2>/dev/null
  for n in server client; do
    $ssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout $D/$n.key -out $D/$n.csr -subj /CN=$n 2>/dev/null
    $ssl x509 -req -in $D/$n.csr -CA $D/ca.pem -CAkey $D/ca.key \
      -set_serial $RANDOM -days 2 -out $D/$n.pem 2>/dev/null
  done
}
tls_flags() { echo "--tls.certificate=$D/$1.pem --tls.key=$D/$1.key --tls.ca=$D/ca.pem"; }

start() { # KIND -> sets PID PORT QARGS
  rm -f $D/err $D/out
  case $1 in
    plain) ( ulimit -n 1024; exec $BIN run --query.socket=$D/q.sock --query.port=0 \
               --allow-insecure=true --tracker.sync-period=2s >$D/out 2>$D/err ) & ;;
    tls) ( ulimit -n 1024; exec $BIN run --query.socket=$D/q.sock --query.port=0 \
               $(tls_flags server) --tracker.sync-period=2s >$D/out 2>$D/err ) & ;;
    collector) ( ulimit -n 1024; exec $BIN collector --listen.port=0 \
               --allow-insecure=true >$D/out 2>$D/err ) & ;;
  esac
  PID=$!
  for _ in $(seq 300); do
    if [ $1 = collector ]; then
      PORT=$(grep -o '"listening":"[^"]*' $D/out 2>/dev/null | sed 's/.*://')
    else
      PORT=$(grep -o 'ready: query endpoint [^ ]*' $D/err 2>/dev/null | sed 's/.*://')
      grep -q 'ready: query socket' $D/err 2>/dev/null || PORT=
    fi
    [ -n "$PORT" ] && break; sleep 0.1
  done
  QARGS="--connect=127.0.0.1:$PORT"; [ $1 = tls ] && QARGS="$QARGS $(tls_flags client)"
  QWORD=stats; [ $1 = collector ] && QWORD=collector-stats
  sleep 1
}
answers() { timeout 30 $BIN query $QARGS $QWORD 2>/dev/null | grep -q '"result"' && echo true || echo false; }
stop() { kill -INT $PID 2>/dev/null; wait $PID 2>/dev/null; }

tls_files
for k in $KINDS; do
  for a in "header 1 1073741824 8" "header 4 1073741824 8" "header 1 0xFFFFFFFF 8" \
           "idle 1000 5" "garbage 1073741824 8"; do
    start $k
    line=$($ATK $PID $PORT $a)
    alive=$(kill -0 $PID 2>/dev/null && echo true || echo false)
    echo "{\"endpoint\":\"$k\",\"args\":\"$a\",\"alive\":$alive,\"answers_after\":$(answers),${line#\{}"
    stop
  done
done
