#!/bin/sh
# Usage: scripts/fuzz-smoke.sh [SECONDS] [BUILD_DIR]
#
# Builds the wire-codec fuzzer (fuzz/fuzz_frame.c) with clang and libFuzzer
# in BUILD_DIR (default: build-fuzz), runs it for SECONDS (default 60) on a
# scratch copy of the seed corpus fuzz/corpus/frame (the committed corpus is
# never modified), and fails on any finding: a crash, a sanitizer report, a
# property violation, a leak or a timeout. A finding's input is kept in
# BUILD_DIR/fuzz-findings/ to reproduce with `BUILD_DIR/fuzz/fuzz_frame FILE`.
# Needs the Debian packages clang and libclang-rt-14-dev (scripts/install-deps.sh).
set -eu

secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$root/build-fuzz}
jobs=$(nproc 2>/dev/null || echo 2)

case $secs in
    '' | *[!0-9]*) echo "fuzz-smoke: SECONDS must be a whole number, got '$secs'" >&2; exit 2 ;;
esac

CC=clang cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHR_BUILD_FUZZ=ON -DHR_BUILD_TESTS=OFF -DHR_BUILD_BENCH=OFF -DHR_SANITIZE=OFF >/dev/null
cmake --build "$build" --target fuzz_frame -j"$jobs" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/hr-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/corpus" "$build/fuzz-findings"
cp "$root"/fuzz/corpus/frame/* "$work/corpus/"

# -rss_limit_mb and -timeout turn runaway memory or time into findings too.
set +e
"$build/fuzz/fuzz_frame" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$root/fuzz/frame.dict" -artifact_prefix="$build/fuzz-findings/" "$work/corpus" >"$work/log" 2>&1
rc=$?
set -e

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1)
if [ "$rc" -ne 0 ] || grep -q -e 'ERROR: ' -e 'runtime error' -e 'property failed' "$work/log"; then
    tail -n 60 "$work/log" >&2
    echo "fuzz-smoke: FINDING after ${runs:-?} runs (exit $rc); inputs in $build/fuzz-findings/" >&2
    exit 1
fi
echo "fuzz-smoke: ${runs:-?} runs in ${secs} s, ${cov:-cov: ?}, corpus $(ls "$work/corpus" | wc -l) inputs, no finding"
