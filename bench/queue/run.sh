#!/usr/bin/env bash
# RedisStore against the plain stream commands, on one throwaway
# redis-server in one run:
#   - redis-benchmark: XADD, XREADGROUP (COUNT 1), XACK sent by Redis's own
#     C client (the server's ceiling on this machine);
#   - bench/queue/redis_load.rs --mode raw: the same commands sent through
#     the redis crate, as RedisStore sends its own;
#   - bench/queue/redis_load.rs --mode store: append, deliver, ack through
#     RedisStore (a Lua script each).
# Each at 1 and at CONCURRENCY clients; the median of RUNS runs.
# Usage: bash bench/queue/run.sh   (env: MESSAGES, CONCURRENCY, RUNS)
set -euo pipefail
cd "$(dirname "$0")/../.."

MESSAGES=${MESSAGES:-100000}
CONCURRENCY=${CONCURRENCY:-50}
RUNS=${RUNS:-3}
BODY=$(printf 'x%.0s' $(seq 100))

for tool in redis-server redis-cli redis-benchmark python3 jq; do
  command -v $tool >/dev/null || { echo "missing: $tool (apt-get install redis-server jq)" >&2; exit 1; }
done
cargo build --release --quiet --example queue_redis_load
LOAD=target/release/examples/queue_redis_load

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null 2>&1 &
PID=$!
OUT=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$OUT"' EXIT
for _ in $(seq 50); do
  [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] && break
  sleep 0.1
done
INFO=$(redis-cli -p "$PORT" info server | tr -d '\r')
grep -qx "process_id:$PID" <<<"$INFO" || { echo "the server on $PORT is not ours" >&2; exit 1; }
URL="redis://127.0.0.1:$PORT/"
R=(redis-cli -p "$PORT")

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# redis-benchmark -q prints `"CMD ...","RATE"` with --csv; the rate is the
# last field.
rb() { redis-benchmark -p "$PORT" -n "$MESSAGES" -c "$1" --csv "${@:2}" | tail -1 | cut -d'"' -f4; }

declare -A FIG
for c in 1 "$CONCURRENCY"; do
  for op in xadd xreadgroup xack; do : >"$OUT/rb.$op.$c"; done
  for mode in raw store; do for op in append deliver ack; do : >"$OUT/load.$mode.$op.$c"; done; done
  for _ in $(seq "$RUNS"); do
    "${R[@]}" del bench:rb >/dev/null
    "${R[@]}" xgroup create bench:rb g 0 mkstream >/dev/null
    rb "$c" XADD bench:rb '*' body "$BODY" >>"$OUT/rb.xadd.$c"
    rb "$c" XREADGROUP GROUP g c COUNT 1 STREAMS bench:rb '>' >>"$OUT/rb.xreadgroup.$c"
    # redis-benchmark repeats one command: it acknowledges one id over and
    # over (the first time it is pending, then not), which costs Redis the
    # same parse and lookup as a real ack.
    id=$("${R[@]}" xrange bench:rb - + count 1 | head -1)
    rb "$c" XACK bench:rb g "$id" >>"$OUT/rb.xack.$c"
    for mode in raw store; do
      line=$("$LOAD" --url "$URL" --mode $mode --messages "$MESSAGES" --concurrency "$c")
      echo "$line" >&2
      for op in append deliver ack; do jq ".${op}_per_s" <<<"$line" >>"$OUT/load.$mode.$op.$c"; done
    done
  done
  for op in xadd xreadgroup xack; do FIG[rb.$op.$c]=$(median <"$OUT/rb.$op.$c"); done
  for mode in raw store; do for op in append deliver ack; do
    FIG[$mode.$op.$c]=$(median <"$OUT/load.$mode.$op.$c")
  done; done
done
"${R[@]}" del bench:rb >/dev/null

echo
echo "messages/s, $MESSAGES messages of 100 bytes, median of $RUNS ($(redis-server --version | grep -o 'v=[^ ]*'))"
echo
echo "| clients | what | redis-benchmark | redis crate, plain command | RedisStore | store / plain |"
echo "|---|---|---|---|---|---|"
for c in 1 "$CONCURRENCY"; do
  for pair in xadd:append xreadgroup:deliver xack:ack; do
    cmd=${pair%%:*}; op=${pair#*:}
    printf "| %s | %s / %s | %.0f | %.0f | %.0f | %.2fx |\n" "$c" "${cmd^^}" "$op" \
      "${FIG[rb.$cmd.$c]}" "${FIG[raw.$op.$c]}" "${FIG[store.$op.$c]}" \
      "$(awk -v a="${FIG[store.$op.$c]}" -v b="${FIG[raw.$op.$c]}" 'BEGIN { print a / b }')"
  done
done
