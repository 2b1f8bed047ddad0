#!/usr/bin/env bash
# The lab's speed: how much simulated time one second of wall time buys.
#
#   bash bench/lab/run.sh          (from the repository root)
#
# 1. 1 MiB over TCP at 10% loss (1,024 messages of 1,024 bytes), 5 seeds:
#    the wall time of the whole `netdojo compare` (TCP, UDP and TCP's clean
#    baseline), and the simulated time of its TCP run.
# 2. The issue's sweep: loss=0,1,5,10,20,30 × 5 seeds × 2 protocols.
#
# Release build; nothing else should be running. Figures go to stdout as a
# markdown table, for bench/lab/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/netdojo"

now() { date +%s.%N; }

echo "| seed | TCP simulated | wall (whole compare) | simulated ÷ wall | TCP retransmissions |"
echo "|---|---|---|---|---|"
for seed in 1 2 3 4 5; do
  start=$(now)
  out=$("$bin" --json compare --messages 1024 --size 1024 --loss 10 --seed "$seed")
  end=$(now)
  tcp=$(printf '%s\n' "$out" | grep '"protocol":"tcp"')
  sim_ms=$(printf '%s' "$tcp" | sed 's/.*"completion_ms":\([0-9.]*\).*/\1/')
  retrans=$(printf '%s' "$tcp" | sed 's/.*"retransmissions":\([0-9]*\).*/\1/')
  awk -v s="$seed" -v sim="$sim_ms" -v a="$start" -v b="$end" -v r="$retrans" 'BEGIN {
    wall = b - a; printf "| %s | %.2f s | %.3f s | %.0f× | %s |\n", s, sim / 1000, wall, (sim / 1000) / wall, r }'
done

echo
start=$(now)
"$bin" --json compare --sweep loss=0,1,5,10,20,30 --seeds 5 > /dev/null
end=$(now)
awk -v a="$start" -v b="$end" 'BEGIN { printf "sweep loss=0,1,5,10,20,30 × 5 seeds × 2 protocols (200 × 1,000 bytes): %.2f s wall\n", b - a }'
