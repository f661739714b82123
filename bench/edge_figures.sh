#!/bin/sh
# The edge emulation figure of issue 12 part 3 (SPEC 13.2): the emulated head
# time over a whole forward (the local placement: everything on the edge)
# against the LUT's prediction, for an edge profile and for a flat factor.
#
#   bench/edge_figures.sh BUILD OUTDIR [MODEL] [PROFILE] [FACTOR]
#
# defaults: repvgg-fmnist, rpi4, 4. BUILD is a build directory (hyperrep and
# bench/bench_edge_emulate inside); OUTDIR receives the LUTs and the output.
# Steps: the server and client LUTs of MODEL at 1 thread (the client twice:
# emulated from PROFILE, and x FACTOR), merged; then bench_edge_emulate on
# each merged LUT (FRAMES=N, default 300, frames each). The profile's
# emulation measures this machine's roofline at 1 thread (lut measure --edge).
set -eu
build=$1 out=$2 model=${3:-repvgg-fmnist} profile=${4:-rpi4} factor=${5:-4}
frames=${FRAMES:-300}
mkdir -p "$out"
run() { echo "+ $*" >&2; "$@"; }
hr=$build/hyperrep
run "$hr" lut measure --role server --model "$model" --threads 1 -o "$out/s.json" >/dev/null 2>&1
run "$hr" lut measure --role client --model "$model" --threads 1 --edge "$profile" -o "$out/c_$profile.json" \
    >/dev/null 2>&1
run "$hr" lut measure --role client --model "$model" --threads 1 --edge-slowdown "$factor" \
    -o "$out/c_x$factor.json" >/dev/null 2>&1
run "$hr" lut merge --server-lut "$out/s.json" --client-lut "$out/c_$profile.json" -o "$out/lut_$profile.json" >/dev/null
run "$hr" lut merge --server-lut "$out/s.json" --client-lut "$out/c_x$factor.json" -o "$out/lut_x$factor.json" >/dev/null
echo "== edge profile $profile"
run "$build/bench/bench_edge_emulate" --lut "$out/lut_$profile.json" --frames "$frames" | tee "$out/profile.txt"
echo "== flat x $factor"
run "$build/bench/bench_edge_emulate" --lut "$out/lut_x$factor.json" --frames "$frames" --flat "$factor" |
    tee "$out/flat.txt"
