#!/usr/bin/env bash
# Side-by-side benchmarks: netdojo against socat and iperf3, in one run, on
# 127.0.0.1 only. Each figure is the median of $REPS runs, and the runs of the
# tools being compared are interleaved (netdojo, socat, iperf3, netdojo, ...)
# so that a noisy neighbour slows both rather than one. What each number
# means: bench/README.md.
#
#   bench/run.sh                 # about 1 minute on 2 cores
#   REPS=5 bench/run.sh          # more runs per figure
#   bench/run.sh --table         # print the last run's table again
#
# Knobs (environment): REPS (3), TOTAL bytes each way per echo run (256 MiB),
# RR_COUNT round trips (20000), UDP_COUNT datagrams for netdojo (500000),
# UDP_SECONDS for iperf3 (5), CARGO_TARGET_DIR (/tmp/bench-target), OUT (a
# directory for the raw JSON lines; default bench/out).
set -euo pipefail

cd "$(dirname "$0")/.."
TABLE_ONLY=
if [[ ${1:-} == --table ]]; then
    TABLE_ONLY=1
elif (($#)); then
    echo "usage: bench/run.sh [--table]" >&2
    exit 2
fi
REPS=${REPS:-3}
TOTAL=${TOTAL:-268435456}
RR_COUNT=${RR_COUNT:-20000}
UDP_COUNT=${UDP_COUNT:-500000}
UDP_SECONDS=${UDP_SECONDS:-5}
UDP_SIZE=1400
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/bench-target}
OUT=${OUT:-bench/out}
# socat's PIPE echo can deadlock under load (README): such a run is retried
# with a fresh server, at most this many times per figure, and counted.
MAX_ATTEMPTS=8

missing=()
for tool in socat iperf3 jq ss setsid awk; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "missing: ${missing[*]}" >&2
    echo "install: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y socat iperf3 jq iproute2 util-linux" >&2
    exit 1
fi

mkdir -p "$OUT"
RESULTS=$OUT/results.tsv # measurement, tool, rep, value
RAW=$OUT/raw.jsonl       # every JSON line the tools printed
META=$OUT/meta.txt       # when, what, where: the table's header
WORK=$(mktemp -d)
NETDOJO=$CARGO_TARGET_DIR/release/netdojo
LOAD=$CARGO_TARGET_DIR/release/examples/echo_load
PLAIN=$CARGO_TARGET_DIR/release/examples/echo_ref

# Every server runs in a process group of its own (setsid), so that stopping
# it also stops what it forked (socat forks one process per client). Started
# from this non-interactive shell, the server is not a group leader, so
# setsid execs in place and $! is the server's own pid, which is checked.
SERVER_PID=
stop_server() {
    local pid=${SERVER_PID:-}
    SERVER_PID=
    [[ -n $pid ]] || return 0
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    # Whatever ignored the TERM (a deadlocked socat child), and stragglers.
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nothing on 127.0.0.1 uses, TCP or UDP, in any state.
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if [[ -z $(ss -Hanu "sport = :$port") && -z $(ss -Hant "sport = :$port") ]]; then
            echo "$port"
            return
        fi
    done
    echo "no free port found" >&2
    return 1
}

# Waits until process $1 itself listens on 127.0.0.1:$2 ($3 = t for TCP, u
# for UDP): a stale server on the same port would otherwise be measured.
wait_bound() {
    local pid=$1 port=$2 proto=$3
    for _ in $(seq 100); do
        if ss -Hlnp"$proto" "sport = :$port" | grep -q "pid=$pid,"; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "server pid $pid did not bind 127.0.0.1:$port/$proto" >&2
    return 1
}

# Sets ADDR from the first line of $1 ({"event":"listening","addr":...}),
# which server pid $2 ($3 = t|u) writes, and checks that it bound there.
wait_listening() {
    local out=$1 pid=$2 proto=$3
    ADDR=
    for _ in $(seq 100); do
        ADDR=$(head -n 1 "$out" | jq -r 'select(.event == "listening") | .addr' 2>/dev/null || true)
        [[ -n $ADDR ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    [[ -n $ADDR ]] || { echo "server pid $pid printed no listening line" >&2; cat "$WORK/server.err" >&2; return 1; }
    wait_bound "$pid" "${ADDR##*:}" "$proto"
}

# A netdojo server ($1 = tcp|udp) on port 0.
start_netdojo() {
    local proto=$1 out=$WORK/netdojo-$1.out
    setsid "$NETDOJO" --json "$proto" serve --listen 127.0.0.1:0 >"$out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    wait_listening "$out" "$SERVER_PID" "${proto:0:1}"
}

# The yardstick: bench/echo_ref.rs, a thread per client, blocking read/write.
start_plain() {
    setsid "$PLAIN" >"$WORK/plain.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    wait_listening "$WORK/plain.out" "$SERVER_PID" t
}

# socat's echo, as the brief has it, plus a listen backlog like netdojo's:
# with socat's default of 5, 50 clients connecting at once overflow it and
# some get reset, which is not what is being compared.
start_socat() {
    local port
    port=$(free_port)
    setsid socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,backlog=128" PIPE 2>"$WORK/socat.err" &
    SERVER_PID=$!
    ADDR=127.0.0.1:$port
    wait_bound "$SERVER_PID" "$port" t
}

start_iperf3() {
    local port
    port=$(free_port)
    setsid iperf3 -s -1 -B 127.0.0.1 -p "$port" >"$WORK/iperf3-server.out" 2>&1 &
    SERVER_PID=$!
    ADDR=127.0.0.1:$port
    wait_bound "$SERVER_PID" "$port" t
}

# CPU time, in clock ticks, of process $1 and of its children it has reaped.
cpu_ticks() {
    awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"
}

record() { # measurement tool rep value
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"
}
note() { printf '  %-28s %-8s run %s: %s\n' "$1" "$2" "$3" "$4" >&2; }

# Echo throughput through netdojo or socat: records MB/s each way, and with
# $4 = mem, the peak memory of the server's process tree instead.
echo_run() {
    local tool=$1 conns=$2 rep=$3 mem=${4:-} line attempt name
    name=echo_${conns}
    [[ -n $mem ]] && name=mem_${conns}
    for attempt in $(seq "$MAX_ATTEMPTS"); do
        "start_$tool" tcp
        local watch=() before after
        [[ -n $mem ]] && watch=(--watch-pid "$SERVER_PID" --sample-ms 20)
        before=$(cpu_ticks "$SERVER_PID")
        if line=$("$LOAD" stream --addr "$ADDR" --connections "$conns" --total "$TOTAL" --stall-s 1.5 "${watch[@]}" 2>"$WORK/load.err"); then
            # socat's children exit as their client closes; give the parent a
            # moment to reap them, so that their CPU time is counted.
            sleep 0.2
            after=$(cpu_ticks "$SERVER_PID")
            stop_server
            echo "{\"tool\":\"$tool\",\"measure\":\"$name\",\"rep\":$rep,\"result\":$line,\"server_cpu_ticks\":$((after - before))}" >>"$RAW"
            if [[ -n $mem ]]; then
                record "rss_$conns" "$tool" "$rep" "$(jq -r .peak_rss_kib <<<"$line")"
                record "pss_$conns" "$tool" "$rep" "$(jq -r .peak_pss_kib <<<"$line")"
                record "procs_$conns" "$tool" "$rep" "$(jq -r .peak_processes <<<"$line")"
                note "$name" "$tool" "$rep" "$(jq -r '"\(.peak_rss_kib) KiB RSS, \(.peak_pss_kib) KiB PSS over \(.peak_processes) process(es)"' <<<"$line")"
            else
                local cpu
                cpu=$(awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" -v b="$TOTAL" 'BEGIN { printf "%.3f", t / hz / (b / 2^30) }')
                record "$name" "$tool" "$rep" "$(jq -r .mb_per_s <<<"$line")"
                record "cpu_$conns" "$tool" "$rep" "$cpu"
                note "$name" "$tool" "$rep" "$(jq -r '"\(.mb_per_s) MB/s in \(.elapsed_s) s"' <<<"$line"), server CPU $cpu s/GiB"
            fi
            return 0
        fi
        stop_server
        record "failed_$name" "$tool" "$rep" 1
        note "$name" "$tool" "$rep" "FAILED (attempt $attempt): $(cat "$WORK/load.err")"
    done
    echo "$tool failed $MAX_ATTEMPTS times in a row on $name; giving up" >&2
    return 1
}

rr_run() {
    local tool=$1 rep=$2 line
    "start_$tool" tcp
    line=$("$LOAD" rr --addr "$ADDR" --count "$RR_COUNT")
    stop_server
    echo "{\"tool\":\"$tool\",\"measure\":\"rr\",\"rep\":$rep,\"result\":$line}" >>"$RAW"
    record rr_p50 "$tool" "$rep" "$(jq -r .p50_us <<<"$line")"
    record rr_p99 "$tool" "$rep" "$(jq -r .p99_us <<<"$line")"
    note rr "$tool" "$rep" "$(jq -r '"p50 \(.p50_us) µs, p99 \(.p99_us) µs"' <<<"$line")"
}

# iperf3's one-way TCP figure: what loopback carries when nothing echoes.
iperf3_tcp_run() {
    local rep=$1 json
    start_iperf3
    json=$(iperf3 -c 127.0.0.1 -p "${ADDR##*:}" -n "$TOTAL" -J)
    wait "$SERVER_PID" 2>/dev/null || true
    stop_server
    echo "{\"tool\":\"iperf3\",\"measure\":\"tcp\",\"rep\":$rep,\"result\":$(jq -c .end.sum_received <<<"$json")}" >>"$RAW"
    local mbs
    mbs=$(jq -r '.end.sum_received | .bytes / .seconds / 1e6 | . * 10 | round / 10' <<<"$json")
    record echo_1 iperf3 "$rep" "$mbs"
    note "tcp one-way" iperf3 "$rep" "$mbs MB/s"
}

udp_netdojo_run() {
    local rep=$1 summary received
    start_netdojo udp
    summary=$("$NETDOJO" --json udp send "$ADDR" --rate max --count "$UDP_COUNT" --size "$UDP_SIZE" | jq -c 'select(.event == "send_summary")')
    stop_server
    # The receiver's own account, printed when it stops.
    received=$(jq -c 'select(.event == "sender_summary") | {received, lost}' "$WORK/netdojo-udp.out" | head -n 1)
    [[ -n $received ]] || received='{}'
    echo "{\"tool\":\"netdojo\",\"measure\":\"udp\",\"rep\":$rep,\"result\":$summary,\"receiver\":$received}" >>"$RAW"
    record udp netdojo "$rep" "$(jq -r .datagrams_per_sec <<<"$summary")"
    record udp_loss netdojo "$rep" "$(jq -r 'if .lost == null then "?" else (.lost / (.received + .lost) * 100 | . * 100 | round / 100) end' <<<"$received")"
    note udp netdojo "$rep" "$(jq -r '"\(.datagrams_per_sec) datagrams/s (\(.sent) in \(.elapsed))"' <<<"$summary")"
}

udp_iperf3_run() {
    local rep=$1 json
    start_iperf3
    json=$(iperf3 -c 127.0.0.1 -p "${ADDR##*:}" -u -b 0 -l "$UDP_SIZE" -t "$UDP_SECONDS" -J)
    wait "$SERVER_PID" 2>/dev/null || true
    stop_server
    echo "{\"tool\":\"iperf3\",\"measure\":\"udp\",\"rep\":$rep,\"result\":$(jq -c '{sent: .end.sum_sent, received: .end.sum_received}' <<<"$json")}" >>"$RAW"
    record udp iperf3 "$rep" "$(jq -r '.end.sum_sent | .packets / .seconds | round' <<<"$json")"
    record udp_loss iperf3 "$rep" "$(jq -r '.end.sum_received.lost_percent | . * 100 | round / 100' <<<"$json")"
    note udp iperf3 "$rep" "$(jq -r '.end.sum_sent | "\(.packets / .seconds | round) datagrams/s (\(.packets) in \(.seconds) s)"' <<<"$json")"
}

measure() {
    local started rep
    started=$(date +%s)
    echo "building (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)..." >&2
    cargo build --quiet --release --bin netdojo --example echo_load --example echo_ref
    : >"$RESULTS"
    : >"$RAW"
    echo "measuring on $(nproc) core(s), $REPS run(s) per figure, $TOTAL bytes each way per echo run" >&2
    for rep in $(seq "$REPS"); do
        echo_run netdojo 1 "$rep"
        echo_run socat 1 "$rep"
        echo_run plain 1 "$rep"
        iperf3_tcp_run "$rep"
        echo_run netdojo 50 "$rep"
        echo_run socat 50 "$rep"
        echo_run plain 50 "$rep"
    done
    for rep in $(seq "$REPS"); do
        rr_run netdojo "$rep"
        rr_run socat "$rep"
    done
    # Memory in runs of their own: sampling /proc costs CPU, which would blur
    # the throughput figures above.
    for rep in $(seq "$REPS"); do
        echo_run netdojo 50 "$rep" mem
        echo_run socat 50 "$rep" mem
    done
    for rep in $(seq "$REPS"); do
        udp_netdojo_run "$rep"
        udp_iperf3_run "$rep"
    done
    {
        echo "## Results: $(date -u '+%Y-%m-%d %H:%M UTC'), netdojo $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src Cargo.toml 2>/dev/null || echo ' (modified)')"
        echo
        echo "Machine: $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r);"
        echo "$(socat -V | awk '/socat version/ { print "socat " $3 }'), $(iperf3 --version | head -n 1 | awk '{ print "iperf3 " $2 }'). Took $(($(date +%s) - started)) s."
    } >"$META"
}

if [[ -z $TABLE_ONLY ]]; then
    measure
elif [[ ! -s $RESULTS || ! -s $META ]]; then
    echo "no results in $OUT yet: run bench/run.sh first" >&2
    exit 1
fi

# The median of a figure's runs, and all runs in brackets.
median() { # measurement tool
    awk -F'\t' -v m="$1" -v t="$2" '$1 == m && $2 == t { print $4 }' "$RESULTS" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "-" } else if (NR % 2) { print v[(NR + 1) / 2] } else { print (v[NR / 2] + v[NR / 2 + 1]) / 2 } }'
}
runs() {
    awk -F'\t' -v m="$1" -v t="$2" '$1 == m && $2 == t { printf "%s%s", sep, $4; sep = ", " }' "$RESULTS"
}
count() {
    awk -F'\t' -v m="$1" -v t="$2" '$1 == m && $2 == t { n++ } END { print n + 0 }' "$RESULTS"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
verdict() { # a b goal: is a / b at least goal (on the unrounded figures)?
    awk -v a="$1" -v b="$2" -v g="$3" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "?"; else if (a / b >= g) print "yes"; else printf "**no** (%.3f)", a / b }'
}
cell() { echo "$(median "$1" "$2") ($(runs "$1" "$2"))"; }

e1n=$(median echo_1 netdojo) e1s=$(median echo_1 socat) e1i=$(median echo_1 iperf3) e1p=$(median echo_1 plain)
e50n=$(median echo_50 netdojo) e50s=$(median echo_50 socat) e50p=$(median echo_50 plain)
p50n=$(median rr_p50 netdojo) p50s=$(median rr_p50 socat)
p99n=$(median rr_p99 netdojo) p99s=$(median rr_p99 socat)
un=$(median udp netdojo) ui=$(median udp iperf3)
cn1=$(median cpu_1 netdojo) cs1=$(median cpu_1 socat)
cn50=$(median cpu_50 netdojo) cs50=$(median cpu_50 socat)
mn=$(median rss_50 netdojo) ms=$(median rss_50 socat)
pn=$(median pss_50 netdojo) ps=$(median pss_50 socat)

r_e1s=$(ratio "$e1n" "$e1s") r_e1i=$(ratio "$e1n" "$e1i")
r_e50s=$(ratio "$e50n" "$e50s") r_e50i=$(ratio "$e50n" "$e1i")
r_e1p=$(ratio "$e1n" "$e1p") r_e50p=$(ratio "$e50n" "$e50p")
r_p50=$(ratio "$p50n" "$p50s") r_p99=$(ratio "$p99n" "$p99s")
r_c1=$(ratio "$cn1" "$cs1") r_c50=$(ratio "$cn50" "$cs50")
r_udp=$(ratio "$un" "$ui") r_mem=$(ratio "$mn" "$ms") r_pss=$(ratio "$pn" "$ps")

echo
cat "$META"
cat <<EOF

Median of each figure's runs (all of them in brackets). Small, shared machine: expect
10-30 % between runs; only the ratios, taken in one run, mean much.

| measurement | netdojo | socat | plain echo | iperf3 | ratio | goal | met |
|---|---|---|---|---|---|---|---|
| echo, 1 client, MB/s each way | $(cell echo_1 netdojo) | $(cell echo_1 socat) | $(cell echo_1 plain) | $(cell echo_1 iperf3) one-way | ${r_e1s}x socat, ${r_e1i}x iperf3, ${r_e1p}x plain | >= 1.5x socat, >= 0.5x iperf3 | $(verdict "$e1n" "$e1s" 1.5), $(verdict "$e1n" "$e1i" 0.5) |
| echo, 50 clients, MB/s each way | $(cell echo_50 netdojo) | $(cell echo_50 socat) | $(cell echo_50 plain) | (as above) | ${r_e50s}x socat, ${r_e50i}x iperf3, ${r_e50p}x plain | >= 1.5x socat, >= 0.5x iperf3 | $(verdict "$e50n" "$e50s" 1.5), $(verdict "$e50n" "$e1i" 0.5) |
| server CPU s per GiB echoed, 1 client | $(cell cpu_1 netdojo) | $(cell cpu_1 socat) | $(cell cpu_1 plain) | | ${r_c1}x socat (lower is better) | (report) | |
| server CPU s per GiB echoed, 50 clients | $(cell cpu_50 netdojo) | $(cell cpu_50 socat) | $(cell cpu_50 plain) | | ${r_c50}x socat (lower is better) | (report) | |
| 1-byte round trip p50, µs | $(cell rr_p50 netdojo) | $(cell rr_p50 socat) | | | ${r_p50}x socat (lower is better) | (none) | |
| 1-byte round trip p99, µs | $(cell rr_p99 netdojo) | $(cell rr_p99 socat) | | | ${r_p99}x socat (lower is better) | (none) | |
| UDP ${UDP_SIZE}-byte datagrams/s sent | $(cell udp netdojo) | | | $(cell udp iperf3) | ${r_udp}x iperf3 | >= 0.8x | $(verdict "$un" "$ui" 0.8) |
| peak RSS, 50 clients, KiB | $(cell rss_50 netdojo) | $(cell rss_50 socat) | | | ${r_mem}x socat (lower is better) | (report) | |
| peak PSS, 50 clients, KiB | $(cell pss_50 netdojo) | $(cell pss_50 socat) | | | ${r_pss}x socat | (report) | |

- Receiver loss, % of datagrams: netdojo udp serve $(runs udp_loss netdojo); iperf3 -s $(runs udp_loss iperf3).
- Server processes at the memory peak: netdojo $(median procs_50 netdojo), socat $(median procs_50 socat).
- Echo runs that stalled and were retried with a fresh server: netdojo $(($(count failed_echo_1 netdojo) + $(count failed_echo_50 netdojo) + $(count failed_mem_50 netdojo))), socat $(($(count failed_echo_1 socat) + $(count failed_echo_50 socat) + $(count failed_mem_50 socat))) (socat: 1 client $(count failed_echo_1 socat), 50 clients $(($(count failed_echo_50 socat) + $(count failed_mem_50 socat)))).
- Raw figures: $RESULTS, $RAW.
EOF
