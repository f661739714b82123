#!/usr/bin/env bash
# Issue 8's figures on the network testbed (scripts/testbed.sh, needs root):
#   1. predicted vs measured end-to-end fps for 10 (gamma, split) configurations
#      of one model at two link settings: step 1 runs for real first (`lut
#      measure --remote` with the server in one namespace on CPU 0 and the
#      `hyperrep client` worker in the other on CPU 1, one thread each, so
#      the LUTs are measured under the same pinning the inference runs
#      under), then `hyperrep serve` + `hyperrep infer` per configuration;
#   2. pipelined vs sequential fps of each configuration (the same runs);
#   3. 100 concurrent edges (threads of one `infer --clients` process) for
#      60 s against one server, loopback.
# Prints the tables (bench/real_figures.py), keeps every file in OUT (the
# infer results under OUT/real/, as `hyperrep plot --results OUT` reads them)
# and draws OUT/visualization/predicted_measured.png.
#
#   bench/real_figures.sh [BUILD_DIR=build] [OUT=/tmp/hr-real-figures]
# Settings (environment): HR_FIG_MODEL (repvgg-a0), HR_FIG_SIZE (224),
# HR_FIG_LINKS ("100mbit:0 500mbit:2", rate:one-way delay ms; a delay needs
# the user-space relay, which takes some CPU), HR_FIG_FRAMES (60),
# HR_FIG_WINDOW (4), HR_FIG_LOAD_SECONDS (60), HR_FIG_SKIP_LOAD (unset).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
OUT=${2:-/tmp/hr-real-figures}
HR=$(cd "$B" && pwd)/hyperrep
MODEL=${HR_FIG_MODEL:-repvgg-a0}
SIZE=${HR_FIG_SIZE:-224}
LINKS=${HR_FIG_LINKS:-"100mbit:0 500mbit:2"}
FRAMES=${HR_FIG_FRAMES:-60}
WINDOW=${HR_FIG_WINDOW:-4}
LOAD_S=${HR_FIG_LOAD_SECONDS:-60}
TB=scripts/testbed.sh
PREFIX=hrfig

[ -x "$HR" ] || { echo "real_figures: $HR not found (build first)" >&2; exit 2; }
if ! $TB check >/dev/null; then
    echo "real_figures: the testbed is not permitted here:" >&2
    $TB check >&2 || true
    exit 77
fi
mkdir -p "$OUT"
trap '$TB down --prefix $PREFIX >/dev/null 2>&1 || true' EXIT

# Ten configurations: the deploy gamma at seven splits, and three splits
# with parallel branches (PARA_ALL where a block has three, PARA_3_1 where
# it has two) -- a different cost on every block.
nblocks=$("$HR" models "$MODEL" | awk '$1 ~ /^[0-9]+$/ {n = $1 + 1} END {print n}')
branches=$("$HR" models "$MODEL" | awk '$1 ~ /^[0-9]+$/ {print $7}')
cfgdir="$OUT/configs"
mkdir -p "$cfgdir"
write_cfg() { # name split kind(deploy|para)
    local name=$1 split=$2 kind=$3 g=() b
    for b in $branches; do
        if [ "$kind" = deploy ]; then g+=(-1)
        elif [ "$b" = dense+1x1+identity ]; then g+=(9)
        else g+=(3); fi
    done
    local list
    list=$(IFS=,; echo "${g[*]}")
    printf '{"arch": "%s", "input_size": %s, "split": %s, "gammas": [%s]}\n' "$MODEL" "$SIZE" "$split" "$list" \
        >"$cfgdir/$name.json"
}
n=0
for s in $(awk -v n="$nblocks" 'BEGIN {for (i = 1; i <= 7; i++) printf "%d ", int(i * n / 8 + 0.5)}'); do
    write_cfg "deploy_s$s" "$s" deploy; n=$((n + 1))
done
for s in $(awk -v n="$nblocks" 'BEGIN {printf "%d %d %d", int(n / 4), int(n / 2), int(3 * n / 4)}'); do
    write_cfg "para_s$s" "$s" para; n=$((n + 1))
done
echo "real_figures: $n configurations of $MODEL ($nblocks blocks) in $cfgdir" >&2

for link in $LINKS; do
    rate=${link%%:*}
    delay=${link##*:}
    dir="$OUT/real/link_${rate}_${delay}ms"
    mkdir -p "$dir"
    eval "$($TB up --prefix $PREFIX --rate "$rate" --delay-ms "$delay")"
    echo "real_figures: link $rate, one-way delay $delay ms (via ${DELAY_VIA:-none}); edge dials $ADDR" >&2
    # Step 1 for real: this is the LUT the predictions come from.
    $TB server --prefix $PREFIX -- "$HR" lut measure --remote --model "$MODEL" --input-size "$SIZE" \
        --listen "$SERVER_ADDR" --insecure-plain-tcp --timeout-accept 120 --threads 1 --client-threads 1 \
        --in-forward --warmup 2 --repeat 8 -o "$dir/lut.json" >"$dir/lut.log" 2>&1 &
    lpid=$!
    $TB edge --prefix $PREFIX -- "$HR" client --server "$ADDR" --insecure-plain-tcp --threads 1 --timeout-reconnect 120 >"$dir/client.log" 2>&1
    wait $lpid
    $TB server --prefix $PREFIX -- "$HR" serve --listen "$SERVER_ADDR" --insecure-plain-tcp --workers 1 \
        --threads 1 --quiet >"$dir/serve.log" 2>&1 &
    spid=$!
    sleep 1
    for cfg in "$cfgdir"/*.json; do
        name=$(basename "$cfg" .json)
        $TB edge --prefix $PREFIX -- "$HR" infer --deploy "$cfg" --server "$ADDR" --insecure-plain-tcp --lut "$dir/lut.json" \
            --frames "$FRAMES" --warmup 5 --window "$WINDOW" --threads 1 -o "$dir/infer_$name.json" \
            >"$dir/infer_$name.log" 2>&1 || echo "real_figures: $name failed (see $dir/infer_$name.log)" >&2
    done
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    $TB down --prefix $PREFIX >/dev/null 2>&1
done

if [ -z "${HR_FIG_SKIP_LOAD:-}" ]; then
    # 100 edges on loopback: a small model at a paced 10 fps each.
    load="$OUT/load100"
    mkdir -p "$load"
    printf '{"arch": "repvgg-fmnist", "split": 4, "gammas": [%s]}\n' \
        "$("$HR" models repvgg-fmnist | awk '$1 ~ /^[0-9]+$/ {printf "%s-1", sep; sep = ","}')" >"$load/fm4.json"
    taskset -c 0 "$HR" serve --listen 127.0.0.1:0 --port-file "$load/port" --workers 1 --quiet >"$load/serve.log" 2>&1 &
    spid=$!
    for _ in $(seq 50); do [ -s "$load/port" ] && break; sleep 0.1; done
    taskset -c 1 "$HR" infer --deploy "$load/fm4.json" --server "127.0.0.1:$(cat "$load/port")" --clients 100 \
        --fps 10 --duration "$LOAD_S" -o "$load/load100.json" >"$load/infer.log" 2>&1 ||
        echo "real_figures: the 100-client run failed (see $load/infer.log)" >&2
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
fi
python3 bench/real_figures.py "$OUT"
# The predicted-vs-measured figure (step 4 reads DIR/real/*/*.json).
"$HR" plot --results "$OUT" -o "$OUT/visualization" || true
