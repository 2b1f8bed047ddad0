#!/usr/bin/env bash
# The broker end to end, against the same work done directly on Redis, on
# one throwaway redis-server in one run:
#   - `netdojo queue serve` with each store: memory, --data-dir (a temp
#     dir), --redis (the throwaway Redis), loaded over its WebSocket
#     protocol by bench/queue/broker_load.rs;
#   - the same load client doing XADD / XREADGROUP / XACK directly on the
#     same Redis (same producers, consumers, messages, sizes, windows);
#   - redis-benchmark XADD, for context (Redis's own C client).
# Two tests each: produce-then-consume throughput, and end-to-end latency
# at a fixed moderate rate. Median of RUNS runs, the targets interleaved
# within each run so a noisy neighbour slows all of them.
# Usage: bash bench/queue/broker.sh
#   env: MESSAGES PRODUCERS CONSUMERS BODY WINDOW PREFETCH RATE LAT_MESSAGES RUNS
set -euo pipefail
cd "$(dirname "$0")/../.."

MESSAGES=${MESSAGES:-50000}
PRODUCERS=${PRODUCERS:-4}
CONSUMERS=${CONSUMERS:-4}
BODY=${BODY:-100}
WINDOW=${WINDOW:-64}
PREFETCH=${PREFETCH:-64}
RATE=${RATE:-2000}
LAT_MESSAGES=${LAT_MESSAGES:-6000}
RUNS=${RUNS:-3}

for tool in redis-server redis-cli redis-benchmark python3 jq; do
  command -v $tool >/dev/null || { echo "missing: $tool (apt-get install redis-server jq)" >&2; exit 1; }
done
cargo build --release --quiet --bin netdojo --example queue_load
BIN=target/release/netdojo
LOAD=target/release/examples/queue_load

OUT=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$OUT"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$OUT/redis.log" 2>&1 &
PIDS+=($!)
REDIS_PID=$!
for _ in $(seq 50); do
  [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] && break
  sleep 0.1
done
INFO=$(redis-cli -p "$PORT" info server | tr -d '\r')
grep -qx "process_id:$REDIS_PID" <<<"$INFO" || { echo "the server on $PORT is not ours" >&2; exit 1; }
URL="redis://127.0.0.1:$PORT/"

# start_broker NAME ARGS...: a broker on a port of its own choosing; its
# address from its first JSON line, so it is this very process.
declare -A ADDR
start_broker() {
  local name=$1; shift
  "$BIN" --json queue serve --listen 127.0.0.1:0 "$@" >"$OUT/$name.log" 2>"$OUT/$name.err" &
  PIDS+=($!)
  for _ in $(seq 100); do
    [ -s "$OUT/$name.log" ] && break
    sleep 0.1
  done
  ADDR[$name]=$(head -1 "$OUT/$name.log" | jq -er 'select(.event == "listening") | .addr') \
    || { echo "the $name broker did not start:" >&2; cat "$OUT/$name.err" >&2; exit 1; }
}
mkdir "$OUT/data"
start_broker memory
start_broker disk --data-dir "$OUT/data"
start_broker redis --redis "$URL"

COMMON=(--producers "$PRODUCERS" --consumers "$CONSUMERS" --body-bytes "$BODY"
  --window "$WINDOW" --prefetch "$PREFETCH")
TARGETS=(memory disk redis direct)
load() { # TARGET TEST MESSAGES
  local where
  if [ "$1" = direct ]; then where=(--target redis --url "$URL"); else where=(--target broker --addr "${ADDR[$1]}"); fi
  "$LOAD" "${where[@]}" --label "$1" --test "$2" --messages "$3" --rate "$RATE" "${COMMON[@]}"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rb() { redis-benchmark -p "$PORT" -n "$MESSAGES" --csv "$@" | tail -1 | cut -d'"' -f4; }
BODY_TEXT=$(printf 'x%.0s' $(seq "$BODY"))

for run in $(seq "$RUNS"); do
  echo "run $run of $RUNS" >&2
  for t in "${TARGETS[@]}"; do
    line=$(load "$t" throughput "$MESSAGES")
    echo "$line" >&2
    jq .produce_per_s <<<"$line" >>"$OUT/$t.produce"
    jq .consume_per_s <<<"$line" >>"$OUT/$t.consume"
  done
  for t in "${TARGETS[@]}"; do
    line=$(load "$t" latency "$LAT_MESSAGES")
    echo "$line" >&2
    jq .achieved_per_s <<<"$line" >>"$OUT/$t.achieved"
    for f in p50 p99 max; do jq ".end_to_end.${f}_us" <<<"$line" >>"$OUT/$t.e2e_$f"; done
    for f in p50 p99; do jq ".stored.${f}_us" <<<"$line" >>"$OUT/$t.stored_$f"; done
  done
  redis-cli -p "$PORT" del bench:rb >/dev/null
  rb -c "$PRODUCERS" XADD bench:rb '*' body "$BODY_TEXT" >>"$OUT/rb.c"
  redis-cli -p "$PORT" del bench:rb >/dev/null
  rb -c "$PRODUCERS" -P "$WINDOW" XADD bench:rb '*' body "$BODY_TEXT" >>"$OUT/rb.p"
  redis-cli -p "$PORT" del bench:rb >/dev/null
done

declare -A F
for t in "${TARGETS[@]}"; do
  for m in produce consume stored_p50 stored_p99 achieved e2e_p50 e2e_p99 e2e_max; do
    F[$t.$m]=$(median <"$OUT/$t.$m")
  done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }

echo
echo "$PRODUCERS producers, $CONSUMERS consumers, $MESSAGES messages of $BODY bytes (window $WINDOW, prefetch $PREFETCH);"
echo "latency: $LAT_MESSAGES messages at $RATE/s, consumers connected. Median of $RUNS; $(redis-server --version | grep -o 'v=[^ ]*'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| what | produce msg/s | consume msg/s | produce vs direct | consume vs direct | stored p50 / p99 ms | end to end p50 / p99 / max ms |"
echo "|---|---|---|---|---|---|---|"
name() { case $1 in memory) echo "broker, memory";; disk) echo "broker, --data-dir";; redis) echo "broker, --redis";; direct) echo "direct Redis (XADD/XREADGROUP/XACK)";; esac; }
for t in direct memory disk redis; do
  printf "| %s | %.0f | %.0f | %s | %s | %s / %s | %s / %s / %s |\n" "$(name $t)" \
    "${F[$t.produce]}" "${F[$t.consume]}" \
    "$(ratio "${F[$t.produce]}" "${F[direct.produce]}")" "$(ratio "${F[$t.consume]}" "${F[direct.consume]}")" \
    "$(ms "${F[$t.stored_p50]}")" "$(ms "${F[$t.stored_p99]}")" \
    "$(ms "${F[$t.e2e_p50]}")" "$(ms "${F[$t.e2e_p99]}")" "$(ms "${F[$t.e2e_max]}")"
done
printf "| redis-benchmark XADD, -c %s | %.0f | | %s | | | |\n" "$PRODUCERS" "$(median <"$OUT/rb.c")" \
  "$(ratio "$(median <"$OUT/rb.c")" "${F[direct.produce]}")"
printf "| redis-benchmark XADD, -c %s -P %s | %.0f | | %s | | | |\n" "$PRODUCERS" "$WINDOW" "$(median <"$OUT/rb.p")" \
  "$(ratio "$(median <"$OUT/rb.p")" "${F[direct.produce]}")"
echo
cost() { awk -v d="$1" -v m="$2" 'BEGIN { printf "%.1f", 1e6 / d - 1e6 / m }'; }
echo "disk vs memory: produce $(ratio "${F[disk.produce]}" "${F[memory.produce]}"), consume $(ratio "${F[disk.consume]}" "${F[memory.consume]}");" \
  "the durable store's cost per message (1/disk - 1/memory): produce $(cost "${F[disk.produce]}" "${F[memory.produce]}") µs, consume $(cost "${F[disk.consume]}" "${F[memory.consume]}") µs."
echo "stored: publish -> stored answer (XADD reply), end to end: send -> consumer, both in the latency runs."
echo "latency runs reached (msg/s of $RATE): $(for t in direct memory disk redis; do printf '%s %.0f  ' "$t" "${F[$t.achieved]}"; done)"
