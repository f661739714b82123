#!/bin/sh
# The LUT figures of issue 4, one step at a time (each prints the commands it
# runs; measurements are heavy: run them on an otherwise idle machine).
#
#   bench/lut_figures.sh BUILD OUTDIR time MODEL THREADS    # time a full LUT measurement
#   bench/lut_figures.sh BUILD OUTDIR repeat MODEL THREADS GAP_S
#                                      # two LUTs GAP_S seconds apart, then their difference
#   bench/lut_figures.sh BUILD OUTDIR predict LUT.json MODEL THREADS
#                                      # LUT-predicted vs measured whole-model time
#                                      # (bench_lut predict, then `hyperrep forward --repeat`)
#
# BUILD is a build directory (hyperrep and bench/bench_lut inside), OUTDIR
# receives the LUTs; PASSES=P in the environment adds --passes P to every
# measurement (files then end in _pP). Examples:
#   bench/lut_figures.sh build figs time repvgg-b3 1
#   bench/lut_figures.sh build figs repeat repvgg-fmnist 1 600
#   bench/lut_figures.sh build figs predict figs/lut_repvgg-b3_t1.json repvgg-b3 1
set -eu
build=$1 out=$2 step=$3
shift 3
mkdir -p "$out"
run() { echo "+ $*" >&2; "$@"; }
passes=${PASSES:-1}
tag=$([ "$passes" -gt 1 ] && echo "_p$passes" || true)

case $step in
time)
    model=$1 threads=$2
    start=$(date +%s.%N)
    run "$build/hyperrep" lut measure --role client --model "$model" --threads "$threads" --passes "$passes" \
        -o "$out/lut_${model}_t${threads}$tag.json" 2>"$out/lut_${model}_t${threads}$tag.log"
    end=$(date +%s.%N)
    echo "$model, $threads thread(s), $passes pass(es): full LUT measured in $(awk "BEGIN { printf \"%.1f\", $end - $start }") s"
    ;;
repeat)
    model=$1 threads=$2 gap=$3
    run "$build/hyperrep" lut measure --role client --model "$model" --threads "$threads" --passes "$passes" \
        -o "$out/rep_${model}_t${threads}${tag}_a.json" 2>/dev/null
    echo "waiting $gap s" >&2
    sleep "$gap"
    run "$build/hyperrep" lut measure --role client --model "$model" --threads "$threads" --passes "$passes" \
        -o "$out/rep_${model}_t${threads}${tag}_b.json" 2>/dev/null
    run "$build/bench/bench_lut" compare "$out/rep_${model}_t${threads}${tag}_a.json" \
        "$out/rep_${model}_t${threads}${tag}_b.json"
    ;;
predict)
    lut=$1 model=$2 threads=$3
    run "$build/bench/bench_lut" predict --lut "$lut" --threads "$threads"
    run "$build/hyperrep" forward --model "$model" --threads "$threads" --repeat 100 >/dev/null
    ;;
*)
    echo "unknown step '$step' (time, repeat, predict)" >&2
    exit 2
    ;;
esac
