#!/bin/sh
# Training figures of issue 5, hyperrep against PyTorch doing the same work
# on the same machine and thread count, interleaved (C, PyTorch, C, PyTorch,
# ...) so that both see the same machine state; medians over the rounds.
#
#   bench/train_figures.sh [BUILD_DIR] [ROUNDS] [THREADS]
#
# 1. code 1 (α only, frozen backbone and BN), repvgg-fmnist, batch 32
# 2. base training (all weights, BN in training mode), repvgg-fmnist, batch 128
# Needs Debian's python3-torch (/usr/bin/python3). Prints one JSON line per
# run and a summary table. Base training's minutes to 90 % and the per-domain
# table of code 1 come from the commands themselves (see the issue note).
set -eu
BUILD=${1:-build}
ROUNDS=${2:-5}
THREADS=${3:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for r in $(seq "$ROUNDS"); do
    "$BUILD/bench/bench_train" --mode alpha --batch 32 --threads "$THREADS" --steps 300 | tee -a "$OUT"
    /usr/bin/python3 "$HERE/torch_train.py" --mode alpha --batch 32 --threads "$THREADS" --steps 300 | tee -a "$OUT"
    "$BUILD/bench/bench_train" --mode full --batch 128 --threads "$THREADS" --steps 40 | tee -a "$OUT"
    /usr/bin/python3 "$HERE/torch_train.py" --mode full --batch 128 --threads "$THREADS" --steps 40 | tee -a "$OUT"
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("\n%-6s %-6s %6s %8s %12s %12s %8s" % ("mode", "batch", "thr", "rounds", "hyperrep/s", "pytorch/s", "ratio"))
for mode in ("alpha", "full"):
    h = [r["images_per_s"] for r in rows if r["mode"] == mode and r["impl"] == "hyperrep"]
    p = [r["images_per_s"] for r in rows if r["mode"] == mode and r["impl"] == "pytorch"]
    if h and p:
        hb = next(r for r in rows if r["mode"] == mode)
        print("%-6s %-6d %6d %8d %12.0f %12.0f %7.2fx" % (mode, hb["batch"], hb["threads"], len(h),
              statistics.median(h), statistics.median(p), statistics.median(h) / statistics.median(p)))
PY
