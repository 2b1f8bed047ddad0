#!/usr/bin/env bash
# The packet inspector's speed and memory: `netdojo inspect --summary` against
# tcpdump and tshark reading the same 1,000,000-packet captures, in one run.
#
#   bash bench/inspect/run.sh          (from anywhere; about 15 minutes on 2 cores)
#   REPS=5 bash bench/inspect/run.sh   more runs per figure
#
# Most of the time goes to tcpdump on the large mix: with a million distinct
# addresses it reads about 8,000 packets a second (see bench/README.md).
#
# 1. Writes two captures with bench/inspect/gen_pcap.rs (deterministic, seed 1):
#    `--mix small` (16 hosts, a handful of conversations) and `--mix large`
#    (almost every packet has new addresses and ports).
# 2. Checks, untimed, that every tool prints one line per packet of each file
#    (so nobody is measured skipping work).
# 3. Times, interleaved so that a noisy neighbour slows all of them rather
#    than one (netdojo, tcpdump, tshark, netdojo, ...), REPS times each:
#      netdojo inspect --summary FILE > /dev/null          (release build)
#      TZ=UTC tcpdump -S -nn -r FILE > /dev/null           (tcpdump's fastest)
#      tshark -n -r FILE > /dev/null
#      tcpdump -nn -r FILE > /dev/null                     (plain, for context;
#          in the first PLAIN_REPS runs only, as it is as slow as -S there)
#    and, for context, netdojo's capture reader alone (bench/inspect/read_frames.rs).
#    Wall time from `date +%s.%N` around each run; peak resident memory (and
#    user/system CPU) from GNU time (/usr/bin/time). Every tool here is one
#    process, so its peak RSS is its peak memory.
# 4. Prints a markdown table of medians with ratios and the issue's goals.
#
# Knobs (environment): REPS (3), PACKETS (1000000), PLAIN_REPS (1),
# CARGO_TARGET_DIR (target), OUT (bench/out/inspect: every run's
# figures in results.tsv; not committed), WORK (a scratch directory for the
# two captures, about 1.3 GB; default: a fresh one under /tmp, removed at exit).
set -euo pipefail
cd "$(dirname "$0")/../.."

REPS=${REPS:-3}
PACKETS=${PACKETS:-1000000}
PLAIN_REPS=${PLAIN_REPS:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-bench/out/inspect}
GNU_TIME=/usr/bin/time

missing=()
for tool in tcpdump tshark awk; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[[ -x $GNU_TIME ]] || missing+=("$GNU_TIME (GNU time)")
if ((${#missing[@]})); then
    echo "missing: ${missing[*]}" >&2
    echo "install: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y tcpdump tshark time" >&2
    exit 1
fi

mkdir -p "$OUT"
RESULTS=$OUT/results.tsv # tool, mix, rep, packets, wall s, user s, sys s, peak RSS KiB
if [[ -n ${WORK:-} ]]; then
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d /tmp/netdojo-bench-inspect.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
fi
trap 'exit 130' INT TERM

started=$(date +%s)
echo "building (release) ..." >&2
cargo build --release --quiet --bin netdojo --example inspect_gen_pcap --example inspect_read_frames
NETDOJO=$CARGO_TARGET_DIR/release/netdojo
GEN=$CARGO_TARGET_DIR/release/examples/inspect_gen_pcap
READ=$CARGO_TARGET_DIR/release/examples/inspect_read_frames

MIXES=(small large)
for mix in "${MIXES[@]}"; do
    echo "writing $PACKETS packets, --mix $mix ..." >&2
    "$GEN" "$WORK/$mix.pcap" "$PACKETS" --mix "$mix" --seed 1 2>/dev/null
done

# The commands, by name. Each takes the capture as its last argument; $1 of
# run_tool is the name, $2 the mix.
cmd_for() {
    local tool=$1 mix=$2
    case $tool in
    netdojo) CMD=("$NETDOJO" --color never inspect --summary) ;;
    tcpdump) CMD=(env TZ=UTC tcpdump -S -nn -r) ;;
    tshark) CMD=(tshark -n -r) ;;
    tcpdump-plain) CMD=(tcpdump -nn -r) ;;
    reader) CMD=("$READ") ;;
    esac
}
TOOLS=(netdojo tcpdump tshark tcpdump-plain reader)

# Untimed: each tool reads every packet. netdojo and tshark print one line
# per packet; tcpdump starts one line per packet with its time (a few of its
# decoders add a second line).
for mix in "${MIXES[@]}"; do
    for tool in netdojo tcpdump tshark; do
        cmd_for "$tool" "$mix"
        if [[ $tool == tcpdump ]]; then
            lines=$("${CMD[@]}" "$WORK/$mix.pcap" 2>/dev/null | grep -c '^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.' || true)
        else
            lines=$("${CMD[@]}" "$WORK/$mix.pcap" 2>/dev/null | wc -l)
        fi
        if [[ $lines != "$PACKETS" ]]; then
            echo "$tool printed $lines packet lines for $PACKETS packets of the $mix mix: not comparable" >&2
            exit 1
        fi
    done
    echo "checked: netdojo, tcpdump and tshark each show all $PACKETS packets of the $mix mix" >&2
done

now() { date +%s.%N; }
: >"$RESULTS"
for rep in $(seq "$REPS"); do
    for mix in "${MIXES[@]}"; do
        for tool in "${TOOLS[@]}"; do
            [[ $tool == tcpdump-plain ]] && ((rep > PLAIN_REPS)) && continue
            cmd_for "$tool" "$mix"
            echo "run $rep/$REPS: $tool, $mix mix ..." >&2
            t0=$(now)
            "$GNU_TIME" -f '%U %S %M' -o "$WORK/time.txt" "${CMD[@]}" "$WORK/$mix.pcap" >/dev/null 2>"$WORK/stderr.txt" ||
                { echo "$tool failed:" >&2; cat "$WORK/stderr.txt" >&2; exit 1; }
            t1=$(now)
            read -r user sys rss < <(tail -n 1 "$WORK/time.txt")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$mix" "$rep" "$PACKETS" \
                "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" "$user" "$sys" "$rss" >>"$RESULTS"
        done
    done
done

# Medians per tool and mix: packets/s and peak RSS (MiB).
median_of() { # tool mix column(awk expression over $4..$8)
    awk -F'\t' -v t="$1" -v m="$2" '$1 == t && $2 == m { print '"$3"' }' "$RESULTS" |
        sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
all_of() { # tool mix expression [printf format]
    awk -F'\t' -v t="$1" -v m="$2" -v f="${4:-%.0f}" '$1 == t && $2 == m { printf "%s" f, (n++ ? ", " : ""), '"$3"' }' "$RESULTS"
}
declare -A PPS RSS
for mix in "${MIXES[@]}"; do
    for tool in "${TOOLS[@]}"; do
        PPS[$tool.$mix]=$(median_of "$tool" "$mix" '$4 / $5')
        RSS[$tool.$mix]=$(median_of "$tool" "$mix" '$8 / 1024')
    done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
yes_no() { awk -v v="$1" -v g="$2" -v d="$3" 'BEGIN { print ((d == "ge" ? v >= g : v < g) ? "yes" : "**no**") }'; }

took=$(($(date +%s) - started))
echo "### $(date -u '+%Y-%m-%d %H:%M UTC'), netdojo $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' (with uncommitted changes to src/)')"
echo
echo "Machine: $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r);"
echo "$(tcpdump --version 2>&1 | head -n 1), $(tshark --version 2>/dev/null | head -n 1 | awk '{ print $1, $3 }')."
echo "Command: \`REPS=$REPS PACKETS=$PACKETS PLAIN_REPS=$PLAIN_REPS bash bench/inspect/run.sh\`. Took ${took} s."
echo "Captures: $(stat -c %s "$WORK/small.pcap" | awk '{ printf "%.0f", $1 / 1e6 }') MB (small mix) and $(stat -c %s "$WORK/large.pcap" | awk '{ printf "%.0f", $1 / 1e6 }') MB (large mix)."
echo
echo "Median of $REPS runs (all runs in brackets; plain tcpdump: $PLAIN_REPS)."
echo
echo "| mix | tool | packets/s | peak RSS, MiB | netdojo is |"
echo "|---|---|---|---|---|"
for mix in "${MIXES[@]}"; do
    for tool in "${TOOLS[@]}"; do
        case $tool in
        netdojo) name='`netdojo inspect --summary`' ;;
        tcpdump) name='`TZ=UTC tcpdump -S -nn -r`' ;;
        tshark) name='`tshark -n -r`' ;;
        tcpdump-plain) name='`tcpdump -nn -r` (context)' ;;
        reader) name='netdojo reader alone (no dissection, no output)' ;;
        esac
        cmp=
        [[ $tool != netdojo && $tool != reader ]] && cmp="**$(ratio "${PPS[netdojo.$mix]}" "${PPS[$tool.$mix]}")x** faster"
        printf '| %s | %s | %.0f (%s) | %.1f (%s) | %s |\n' "$mix" "$name" "${PPS[$tool.$mix]}" \
            "$(all_of "$tool" "$mix" '$4 / $5')" "${RSS[$tool.$mix]}" "$(all_of "$tool" "$mix" '$8 / 1024' '%.1f')" "$cmp"
    done
done
echo
echo "Goals (issue 3), in this run:"
echo
for mix in "${MIXES[@]}"; do
    n=${PPS[netdojo.$mix]}
    t=$(ratio "$n" "${PPS[tcpdump.$mix]}")
    s=$(ratio "$n" "${PPS[tshark.$mix]}")
    printf -- '- %s mix: %.0f packets/s (>= 1,000,000: %s); %sx tcpdump -S (>= 2x: %s); %sx tshark (>= 20x: %s); peak RSS %.1f MiB (< 50: %s).\n' \
        "$mix" "$n" "$(yes_no "$n" 1000000 ge)" "$t" "$(yes_no "$t" 2 ge)" "$s" "$(yes_no "$s" 20 ge)" \
        "${RSS[netdojo.$mix]}" "$(yes_no "${RSS[netdojo.$mix]}" 50 lt)"
done
echo
# The same ratios within each run (netdojo and its peer back to back), which
# a noisy neighbour disturbs less than medians taken across runs.
for mix in "${MIXES[@]}"; do
    for peer in tcpdump tshark; do
        printf -- '- %s mix, netdojo ÷ %s, run by run: %s\n' "$mix" "$peer" "$(awk -F'\t' -v m="$mix" -v p="$peer" '
            $2 == m && $1 == "netdojo" { n[$3] = $5 }
            $2 == m && $1 == p { t[$3] = $5 }
            END { for (r = 1; r in n; r++) printf "%s%.2fx", (r > 1 ? ", " : ""), t[r] / n[r] }' "$RESULTS")"
    done
done
