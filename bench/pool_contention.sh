#!/usr/bin/env bash
# Issue 12's thread-pool figure: repvgg-fmnist whole-model forward time at 1
# and 2 threads, on an idle machine and with every core busy (one spinning
# shell per core), interleaved over several rounds so that drift touches
# every configuration alike. Prints the median of each round's median and
# the ratio busy-2-threads / best idle figure (the issue's bound: <= 1.5).
#
#   bench/pool_contention.sh [ROUNDS] [BINARY...]
#
# With several binaries (e.g. a build of the previous commit beside this
# one) each is measured in the same rounds, so their figures compare.
set -euo pipefail
rounds=${1:-5}
shift || true
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(build/hyperrep)
cores=$(nproc)
repeat=${REPEAT:-2000}
model=${MODEL:-repvgg-fmnist}

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

run() { # binary threads -> median ms of one run
    "$1" forward --model "$model" --threads "$2" --repeat "$repeat" 2>&1 >/dev/null |
        sed -n 's/.*forward_ms median=\([0-9.e+-]*\).*/\1/p'
}

spin_pids=()
spin_start() { for _ in $(seq "$cores"); do sh -c 'while :; do :; done' & spin_pids+=($!); done; sleep 0.2; }
spin_stop() { kill "${spin_pids[@]}" 2>/dev/null || true; wait "${spin_pids[@]}" 2>/dev/null || true; spin_pids=(); }
trap spin_stop EXIT

tmp=$(mktemp -d)
for r in $(seq "$rounds"); do
    for b in "${!bins[@]}"; do
        for t in 1 2; do run "${bins[$b]}" $t >>"$tmp/$b.idle.$t"; done
    done
    spin_start
    for b in "${!bins[@]}"; do
        for t in 1 2; do run "${bins[$b]}" $t >>"$tmp/$b.busy.$t"; done
    done
    spin_stop
done

echo "model $model, $repeat forwards per run, $rounds rounds, $cores cores, busy = $cores spinning shells"
echo "binary | idle 1T ms | idle 2T ms | busy 1T ms | busy 2T ms | busy 2T / best idle"
for b in "${!bins[@]}"; do
    i1=$(median <"$tmp/$b.idle.1"); i2=$(median <"$tmp/$b.idle.2")
    b1=$(median <"$tmp/$b.busy.1"); b2=$(median <"$tmp/$b.busy.2")
    echo "${bins[$b]} | $i1 | $i2 | $b1 | $b2 | $(awk -v b="$b2" -v x="$i1" -v y="$i2" 'BEGIN {m = x < y ? x : y; printf "%.2f", b / m}')"
    echo "  per-round busy 2T: $(tr '\n' ' ' <"$tmp/$b.busy.2")"
done
rm -rf "$tmp"
