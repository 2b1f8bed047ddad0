#!/usr/bin/env bash
# netdojo's chat server against a socket.io server (Node, from npm) doing the
# same broadcast, in one run, driven by the same load client
# (bench/ws/ws_load.rs):
#   - fan-out: CLIENTS clients in one room, one sender, MESSAGES messages:
#     deliveries per second and latency p50/p99 (median of RUNS runs);
#   - memory per idle connection with IDLE clients connected (fresh servers).
# Needs node and `npm ci` in tests/js (bash .ci/run does it).
# Usage: bash bench/ws/run.sh   (env: CLIENTS, MESSAGES, IDLE, RUNS)
set -euo pipefail
cd "$(dirname "$0")/../.."

CLIENTS=${CLIENTS:-100}
MESSAGES=${MESSAGES:-2000}
IDLE=${IDLE:-2000}
RUNS=${RUNS:-3}
export NODE_PATH="$PWD/tests/js/node_modules"
ulimit -n 20000 2>/dev/null || true

[ -d tests/js/node_modules/socket.io ] || (cd tests/js && npm ci --no-audit --no-fund --silent)
cargo build --release --quiet --bin netdojo --example ws_load
LOAD=target/release/examples/ws_load
OUT=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT

# start NAME CMD...: runs a server printing {"event":"listening","addr":...}
# first; sets ADDR and PID.
start() {
  local name=$1; shift
  "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 100); do
    ADDR=$(grep -m1 -o '"addr":"[^"]*"' "$OUT/$name.out" 2>/dev/null | cut -d'"' -f4 || true)
    [ -n "$ADDR" ] && return 0
    sleep 0.1
  done
  echo "$name did not start:" >&2; cat "$OUT/$name.err" >&2; exit 1
}

# The rate limit protects a chat from a flooding client; the benchmark's one
# sender is that client by design, so it is lifted (socket.io has none).
NETDOJO=(target/release/netdojo --json ws serve --listen 127.0.0.1:0 --rate-limit 0)
SOCKETIO=(node bench/ws/socketio_server.cjs)

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A RATE P50 P99
for kind in netdojo socketio; do
  if [ $kind = netdojo ]; then start $kind "${NETDOJO[@]}"; URL="ws://$ADDR/ws"
  else start $kind "${SOCKETIO[@]}"; URL="ws://$ADDR"; fi
  : >"$OUT/$kind.fanout"
  for _ in $(seq "$RUNS"); do
    "$LOAD" fanout --kind $kind --url "$URL" --clients "$CLIENTS" --messages "$MESSAGES" >>"$OUT/$kind.fanout"
  done
  kill "$PID"; wait "$PID" 2>/dev/null || true
  RATE[$kind]=$(jq .deliveries_per_sec "$OUT/$kind.fanout" | median)
  P50[$kind]=$(jq .latency_p50_us "$OUT/$kind.fanout" | median)
  P99[$kind]=$(jq .latency_p99_us "$OUT/$kind.fanout" | median)
  echo "== $kind fan-out runs:"; cat "$OUT/$kind.fanout"
done

declare -A PERCONN
for kind in netdojo socketio; do
  if [ $kind = netdojo ]; then start $kind-idle "${NETDOJO[@]}"; URL="ws://$ADDR/ws"
  else start $kind-idle "${SOCKETIO[@]}"; URL="ws://$ADDR"; fi
  "$LOAD" idle --kind $kind --url "$URL" --clients "$IDLE" --pid "$PID" >"$OUT/$kind.idle"
  kill "$PID"; wait "$PID" 2>/dev/null || true
  PERCONN[$kind]=$(jq .kib_per_connection "$OUT/$kind.idle")
  echo "== $kind idle:"; cat "$OUT/$kind.idle"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "| what | netdojo | socket.io | ratio |"
echo "|---|---|---|---|"
printf "| fan-out, %s clients, deliveries/s (median of %s) | %.0f | %.0f | **%sx** |\n" \
  "$CLIENTS" "$RUNS" "${RATE[netdojo]}" "${RATE[socketio]}" "$(ratio "${RATE[netdojo]}" "${RATE[socketio]}")"
printf "| fan-out latency p50 / p99 | %.1f / %.1f ms | %.1f / %.1f ms | %sx / %sx |\n" \
  "$(ratio "${P50[netdojo]}" 1000)" "$(ratio "${P99[netdojo]}" 1000)" \
  "$(ratio "${P50[socketio]}" 1000)" "$(ratio "${P99[socketio]}" 1000)" \
  "$(ratio "${P50[netdojo]}" "${P50[socketio]}")" "$(ratio "${P99[netdojo]}" "${P99[socketio]}")"
printf "| memory per idle connection, %s clients (RSS) | %.1f KiB | %.1f KiB | **%sx** |\n" \
  "$IDLE" "${PERCONN[netdojo]}" "${PERCONN[socketio]}" "$(ratio "${PERCONN[netdojo]}" "${PERCONN[socketio]}")"
