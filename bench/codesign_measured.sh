#!/usr/bin/env bash
# Issue 13, part 5: the co-design measured, not predicted. On the network
# testbed (scripts/testbed.sh, needs root), with the pipeline scenario's link
# (results/pipeline_info.json: wifi-n = 40 Mbit/s, 2 ms) and the edge emulated
# by the pipeline's edge profile (rpi4):
#   1. step 1 for real: `lut measure --remote` with the server in one
#      namespace on CPU HR_SERVER_CPU and `hyperrep client --edge PROFILE` in
#      the other on CPU HR_EDGE_CPU, one thread each: the server's LUT under
#      that pinning, the edge's LUT emulated from the profile, T_frame and the
#      link measured through the shaped link;
#   2. the configurations re-solved for the objective `cycle` on that LUT with
#      the domain's pruned set (bench/codesign_measured.py plan: `hyperrep
#      optimize --method exact`), each with its accuracy on the domain's test
#      part (`hyperrep eval`): co-design, neurosurgeon, edge-only,
#      server-only, best-split, and the joint's final configuration as written;
#   3. each streamed with `hyperrep serve` + `hyperrep infer --edge PROFILE
#      --lut LUT` (sequential and pipelined passes), HR_CM_RUNS interleaved
#      runs, medians.
# Writes OUT/codesign_measured.json, OUT/codesign_measured.md (the table),
# OUT/codesign_measured.png (gnuplot, when installed) and keeps every file
# (OUT/lut, OUT/configs, OUT/runs, the logs).
#
#   bench/codesign_measured.sh BUILD OUT [RESULTS=results] [--domain K=0]
# Settings (environment): HR_CM_FRAMES (200 measured frames in the sequential
# pass; the pipelined pass gets HR_CM_PIPE_SECONDS=1.5 s at the predicted rate,
# at least HR_CM_FRAMES),
# HR_CM_WARMUP (10), HR_CM_WINDOW (48: frames in flight in the pipelined pass;
# it must cover the round trip, or the window, not the cycle, sets the rate),
# HR_CM_RUNS (5), HR_CM_RATE and HR_CM_DELAY_MS (default: the pipeline's link;
# the delay is one-way, half the profile's latency, which is a round trip), HR_CM_EDGE (default: the pipeline's edge profile),
# HR_CM_LUT_WARMUP (2), HR_CM_LUT_REPEAT (8), HR_CM_LINK_SIZES
# (0.05,0.1,0.25,0.5,1 MB), HR_CM_LUT (a testbed LUT measured before: skip
# step 1), HR_CM_PREFIX (hrcm), HR_CM_PORT (6016), HR_CM_BURST (3028: the
# shaped link's token bucket, bytes), HR_CM_RELAY_CPU (unpinned).
set -euo pipefail
cd "$(dirname "$0")/.."

DOMAIN=0
POS=()
while [ $# -gt 0 ]; do
    case $1 in
        --domain) [ $# -ge 2 ] || { echo "codesign_measured: --domain needs a value" >&2; exit 2; }
                  DOMAIN=$2; shift 2 ;;
        --domain=*) DOMAIN=${1#--domain=}; shift ;;
        -h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) POS+=("$1"); shift ;;
    esac
done
[ ${#POS[@]} -ge 2 ] && [ ${#POS[@]} -le 3 ] || {
    echo "usage: bench/codesign_measured.sh BUILD OUT [RESULTS] [--domain K]" >&2; exit 2; }
[[ $DOMAIN =~ ^[0-9]$ ]] || { echo "codesign_measured: --domain '$DOMAIN' is not 0..9" >&2; exit 2; }
B=${POS[0]}
OUT=${POS[1]}
RESULTS=${POS[2]:-results}
HR=$(cd "$B" && pwd)/hyperrep
PY=bench/codesign_measured.py
TB=scripts/testbed.sh
# The testbed takes its delay relay from this build (the C relay when built).
export HR_BUILD=$(cd "$B" && pwd)
FRAMES=${HR_CM_FRAMES:-200}
WARMUP=${HR_CM_WARMUP:-10}
WINDOW=${HR_CM_WINDOW:-48}
RUNS=${HR_CM_RUNS:-5}
LUT_WARMUP=${HR_CM_LUT_WARMUP:-2}
LUT_REPEAT=${HR_CM_LUT_REPEAT:-8}
LINK_SIZES=${HR_CM_LINK_SIZES:-0.05,0.1,0.25,0.5,1}
PREFIX=${HR_CM_PREFIX:-hrcm}
PORT=${HR_CM_PORT:-6016}
# The token bucket of the shaped link: two full frames. The testbed's default
# (16 KiB) lets a sequential frame of a few kilobytes cross at line rate,
# which no radio does (scripts/testbed.sh, tbf_params).
BURST=${HR_CM_BURST:-3028}
# The delay relay is left unpinned unless HR_CM_RELAY_CPU names a CPU: pinned
# to the edge's core it competed with the edge's link thread, and the raw and
# split rows measured 25-35 % below the unpinned runs (bench/codesign_measured.md).
RELAY_CPU=${HR_CM_RELAY_CPU:-}
RELAY_PIN=()
[ -n "$RELAY_CPU" ] && RELAY_PIN=(--relay-cpu "$RELAY_CPU")

[ -x "$HR" ] || { echo "codesign_measured: $HR not found (build first)" >&2; exit 2; }
for f in pipeline_info.json base.safetensors "joint_optimization/domain_${DOMAIN}_joint.json" \
    "joint_optimization/domain_${DOMAIN}_alpha.safetensors"; do
    [ -e "$RESULTS/$f" ] || { echo "codesign_measured: $RESULTS/$f is missing (run \`hyperrep pipeline\` first)" >&2; exit 2; }
done
if ! $TB check >/dev/null; then
    echo "codesign_measured: the testbed is not permitted here:" >&2
    $TB check >&2 || true
    exit 77
fi
RESULTS=$(cd "$RESULTS" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# A previous run's configurations and streams would be read as this one's.
rm -rf "$OUT/configs" "$OUT/runs" "$OUT/plan.json" "$OUT/codesign_measured.json"
mkdir -p "$OUT/lut" "$OUT/runs" "$OUT/logs"

# The pipeline's scenario: model, link, edge (SC_* lines).
eval "$(python3 $PY scenario "$RESULTS")"
RATE=${HR_CM_RATE:-$SC_RATE}
DELAY_MS=${HR_CM_DELAY_MS:-$SC_DELAY_MS}
EDGE=${HR_CM_EDGE:-$SC_EDGE}
EDGE_FLAGS=()
if [ -n "$EDGE" ]; then EDGE_FLAGS=(--edge "$EDGE")
elif [ -n "$SC_SLOWDOWN" ]; then EDGE_FLAGS=(--edge-slowdown "$SC_SLOWDOWN"); fi

spid=""
cleanup() {
    if [ -n "$spid" ]; then kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; fi
    $TB down --prefix "$PREFIX" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
eval "$($TB up --prefix "$PREFIX" --rate "$RATE" --delay-ms "$DELAY_MS" --burst "$BURST" "${RELAY_PIN[@]}" --port "$PORT")"
echo "codesign_measured: link $RATE, one-way delay $DELAY_MS ms (via ${DELAY_VIA:-none}); edge ${EDGE_FLAGS[*]:-(none)}; edge dials $ADDR" >&2

# 1. Step 1 on the testbed.
if [ -n "${HR_CM_LUT:-}" ]; then
    [ "$HR_CM_LUT" -ef "$OUT/lut/hardware_lut_complete.json" ] || cp "$HR_CM_LUT" "$OUT/lut/hardware_lut_complete.json"
    echo "codesign_measured: step 1 skipped, LUT from $HR_CM_LUT" >&2
else
    echo "codesign_measured: step 1: lut measure --remote (server CPU ${HR_SERVER_CPU:-0}, edge CPU ${HR_EDGE_CPU:-1}, 1 thread each)" >&2
    $TB server --prefix "$PREFIX" -- "$HR" lut measure --remote --model "$SC_MODEL" --listen "$SERVER_ADDR" \
        --insecure-plain-tcp --timeout-accept 120 --threads 1 --client-threads 1 --in-forward \
        --warmup "$LUT_WARMUP" --repeat "$LUT_REPEAT" --link-sizes "$LINK_SIZES" --window "$WINDOW" \
        -o "$OUT/lut/hardware_lut_complete.json" >"$OUT/logs/lut.log" 2>&1 &
    lpid=$!
    $TB edge --prefix "$PREFIX" -- "$HR" client --server "$ADDR" --insecure-plain-tcp --threads 1 "${EDGE_FLAGS[@]}" --timeout-reconnect 120 \
        >"$OUT/logs/client.log" 2>&1 || { echo "codesign_measured: the edge worker failed (see $OUT/logs/client.log)" >&2; }
    wait $lpid || { echo "codesign_measured: lut measure --remote failed (see $OUT/logs/lut.log)" >&2; exit 1; }
fi
LUT=$OUT/lut/hardware_lut_complete.json

# 2. The configurations, re-solved on that LUT, and their accuracy.
python3 $PY plan "$HR" "$LUT" "$RESULTS" "$DOMAIN" "$OUT" | tee "$OUT/logs/plan.log" >&2
# Configurations that deploy the same thing are streamed once (plan.json "deployments").
names=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["deployments"]))' "$OUT/plan.json")

# 3. Streaming: one server, the configurations interleaved within each run.
$TB server --prefix "$PREFIX" -- "$HR" serve --listen "$SERVER_ADDR" --insecure-plain-tcp --workers 1 \
    --threads 1 --max-queue "$WINDOW" --quiet >"$OUT/logs/serve.log" 2>&1 &
spid=$!
sleep 1
for r in $(seq "$RUNS"); do
    for name in $names; do
        mapfile -t extra <"$OUT/configs/$name.args"
        echo "codesign_measured: run $r/$RUNS: $name" >&2
        $TB edge --prefix "$PREFIX" -- "$HR" infer --deploy "$OUT/configs/$name.json" --server "$ADDR" --insecure-plain-tcp --domain "$DOMAIN" \
            --lut "$LUT" "${EDGE_FLAGS[@]}" "${extra[@]}" --frames "$FRAMES" --warmup "$WARMUP" \
            --window "$WINDOW" --threads 1 -o "$OUT/runs/${name}_r$r.json" >"$OUT/logs/infer_${name}_r$r.log" 2>&1 ||
            echo "codesign_measured: $name run $r failed (see $OUT/logs/infer_${name}_r$r.log)" >&2
    done
done
kill "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
spid=""
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$OUT/scenario.json" <<EOF
import json, sys
json.dump({"link": {"rate": "$RATE", "one_way_delay_ms": float("$DELAY_MS"), "delay_via": "${DELAY_VIA:-none}",
                    "pipeline_profile": "$SC_LINK_PROFILE",
                    "tbf_burst_bytes": $BURST, "relay_cpu": "${RELAY_CPU:-unpinned}"},
           "edge": "${EDGE_FLAGS[*]:-}", "server_cpu": int("${HR_SERVER_CPU:-0}"), "edge_cpu": int("${HR_EDGE_CPU:-1}"),
           "threads": 1, "frames": $FRAMES, "pipe_seconds": ${HR_CM_PIPE_SECONDS:-1.5}, "warmup": $WARMUP, "window": $WINDOW, "runs": $RUNS,
           "lut_repeat": $LUT_REPEAT, "lut_warmup": $LUT_WARMUP, "link_sizes_mb": "$LINK_SIZES",
           "transport": "plain TCP (--insecure-plain-tcp) inside the testbed namespaces",
           "cpus": $(nproc), "loadavg_start": "$load_start", "loadavg_end": "$load_end",
           "software": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo -dirty)"},
          open(sys.argv[1], "w"), indent=1)
EOF
python3 $PY report "$OUT"
if command -v gnuplot >/dev/null; then
    gnuplot "$OUT/figure.gp" 2>"$OUT/logs/gnuplot.log" || echo "codesign_measured: gnuplot failed (see $OUT/logs/gnuplot.log)" >&2
fi
echo "codesign_measured: $OUT/codesign_measured.json, $OUT/codesign_measured.md" >&2
