#!/usr/bin/env bash
# A short fuzzing run of the packet inspector (cargo-fuzz, libFuzzer), for
# each target in fuzz/:
#   dissect_and_render  any bytes as a frame of any link type, through
#                       facts(), dissect() and every view
#   read_capture        any bytes as a pcap or pcapng file, through the
#                       readers and the summary and JSON views
#
#   bash bench/inspect/fuzz.sh                  (from anywhere; 30 s per target)
#   FUZZ_SECONDS=600 bash bench/inspect/fuzz.sh longer
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and python3 (to write the
# seeds). cargo-fuzz builds with `-Z` sanitizer flags, which a stable rustc
# takes only with RUSTC_BOOTSTRAP=1: set here. The first build compiles every
# dependency with AddressSanitizer (several minutes); later runs reuse it.
#
# Seeds: every built-in example (as a frame, and written to a pcap) and a
# pcapng from `netdojo compare --pcap` (with packet comments). The corpus
# grows in fuzz/corpus/TARGET, and a crash is saved in fuzz/artifacts/TARGET
# (both ignored by git); the script fails if either target crashed. Replay
# one with: RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/../.."

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
export RUSTC_BOOTSTRAP=1
for tool in cargo-fuzz python3; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (cargo install cargo-fuzz; apt-get install -y python3)" >&2; exit 1; }
done

echo "building netdojo and the fuzz targets ..." >&2
cargo build --quiet --bin netdojo
cargo fuzz build >&2
NETDOJO=${CARGO_TARGET_DIR:-target}/debug/netdojo

SEEDS=$(mktemp -d)
trap 'rm -rf "$SEEDS"' EXIT
mkdir -p "$SEEDS/frames" "$SEEDS/captures" fuzz/corpus/dissect_and_render fuzz/corpus/read_capture
# A frame seed is one byte of options (its low three bits pick the link
# type: 0 Ethernet, 1 raw IP, 2 null, 3 Linux cooked) and the frame.
for name in $("$NETDOJO" inspect --example list | awk '{ print $1 }'); do
    "$NETDOJO" --json inspect --example "$name" --hexdump |
        python3 -c '
import json, sys
frame = json.loads(sys.stdin.read())
link = {"ethernet": 0, "raw_ip": 1, "null": 2, "linux_sll": 3}.get(frame["link"], 6)
sys.stdout.buffer.write(bytes([link]) + bytes.fromhex(frame["hex"]))
' >"$SEEDS/frames/$name"
    "$NETDOJO" inspect --example "$name" --summary --write "$SEEDS/captures/$name.pcap" >/dev/null
done
"$NETDOJO" compare --messages 4 --loss 25 --duplicate 10 --reorder 10 --corrupt 5 --seed 4 \
    --pcap "$SEEDS/captures/compare.pcapng" >/dev/null

status=0
for target in dissect_and_render read_capture; do
    seeds=$SEEDS/frames
    [[ $target == read_capture ]] && seeds=$SEEDS/captures
    echo "fuzzing $target for $FUZZ_SECONDS s ..." >&2
    log=$SEEDS/$target.log
    if cargo fuzz run "$target" "fuzz/corpus/$target" "$seeds" -- \
        -max_total_time="$FUZZ_SECONDS" -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        result=ok
    else
        result="FAILED (see fuzz/artifacts/$target)"
        status=1
        tail -n 40 "$log" >&2
    fi
    runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | awk '{ print $2 }')
    echo "$target: $result; ${runs:-?} inputs in $FUZZ_SECONDS s, coverage ${cov:-?} edges, corpus $(find "fuzz/corpus/$target" -type f | wc -l) files"
done
exit "$status"
