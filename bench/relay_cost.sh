#!/usr/bin/env bash
# What the testbed's delay relay costs per message, C (tools/delay_relay)
# against Python (scripts/delay_relay.py), on loopback and without root:
# bench_relay's echo server behind the relay, its load client in front, and
# the relay's CPU time (utime + stime from /proc/PID/stat) read before and
# after each run.
#
#   bench/relay_cost.sh [BUILD=build] [SECONDS=5] [ROUNDS=3]
#
# Scenarios (NAME SIZE REPLY INFLIGHT DELAY_MS):
#   pingpong   800-byte messages echoed, one in flight, no delay
#   pipelined  800-byte messages echoed, 48 in flight, no delay
#   stream     784-byte frames up, 40-byte results down, 48 in flight, 2 ms
#              one-way (the split-inference stream on the wifi-n link)
# and "direct" (no relay) as the ceiling. Rounds are interleaved so drift
# touches every configuration alike; the summary gives the median of the
# rounds. "us/msg" is relay CPU per message (a request and its reply: two
# chunks through the relay), "cpu%" the relay's CPU over the run's wall time.
# CLK_TCK is usually 100, so a run must be long enough for the tick count to
# be meaningful (SECONDS >= 5).
set -euo pipefail
build=${1:-build}
seconds=${2:-5}
rounds=${3:-3}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
load="$build/bench/bench_relay"
crelay="$build/hyperrep-delay-relay"
pyrelay="$repo/scripts/delay_relay.py"
python=${HR_PYTHON:-python3}
for f in "$load" "$crelay"; do
    [[ -x $f ]] || { echo "relay_cost.sh: $f is missing (cmake --build $build)" >&2; exit 1; }
done
command -v "$python" >/dev/null || { echo "relay_cost.sh: $python not found" >&2; exit 1; }
tck=$(getconf CLK_TCK)
scenarios=("pingpong 800 800 1 0" "pipelined 800 800 48 0" "stream 784 40 48 2")
relays=(direct c python)

tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# cpu_ticks PID: utime + stime of PID in clock ticks. The command name
# (field 2) may hold spaces, so the fields are counted after its ')'.
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# wait_file PATH: until PATH is non-empty (10 s at most).
wait_file() {
    for _ in $(seq 100); do
        [[ -s $1 ]] && return 0
        sleep 0.1
    done
    echo "relay_cost.sh: $1 did not appear; logs in $tmp:" >&2
    cat "$tmp"/*.log >&2 || true
    exit 1
}

# one_run RELAY NAME SIZE REPLY INFLIGHT DELAY: prints
# "RELAY NAME msg_per_s us_per_msg cpu_pct".
one_run() {
    local relay=$1 name=$2 size=$3 reply=$4 inflight=$5 delay=$6 port to rpid t0 t1 out msgs secs rate
    rm -f "$tmp/echo.out" "$tmp/ready"
    "$load" echo --listen 127.0.0.1:0 --size "$size" --reply "$reply" >"$tmp/echo.out" 2>"$tmp/echo.log" &
    local epid=$!
    pids+=("$epid")
    wait_file "$tmp/echo.out"
    port=$(awk '{print $2}' "$tmp/echo.out")
    to="127.0.0.1:$port"
    rpid=""
    if [[ $relay != direct ]]; then
        if [[ $relay == c ]]; then
            "$crelay" --listen 127.0.0.1:0 --to "$to" --delay-ms "$delay" --ready-file "$tmp/ready" 2>>"$tmp/relay.log" &
        else
            "$python" "$pyrelay" --listen 127.0.0.1:0 --to "$to" --delay-ms "$delay" --ready-file "$tmp/ready" \
                2>>"$tmp/relay.log" &
        fi
        rpid=$!
        pids+=("$rpid")
        wait_file "$tmp/ready"
        to="127.0.0.1:$(awk '{print $2}' "$tmp/ready")"
        t0=$(cpu_ticks "$rpid")
    fi
    out=$("$load" load --to "$to" --size "$size" --reply "$reply" --inflight "$inflight" --seconds "$seconds")
    msgs=$(awk '{print $2}' <<<"$out")
    secs=$(awk '{print $4}' <<<"$out")
    rate=$(awk '{print $6}' <<<"$out")
    if [[ -n $rpid ]]; then
        t1=$(cpu_ticks "$rpid")
        kill "$rpid"
        wait "$rpid" || true
        awk -v r="$relay" -v n="$name" -v rate="$rate" -v d="$((t1 - t0))" -v tck="$tck" -v m="$msgs" -v s="$secs" \
            'BEGIN { printf "%s %s %.0f %.2f %.1f\n", r, n, rate, d / tck / m * 1e6, d / tck / s * 100 }'
    else
        printf '%s %s %.0f - -\n' "$relay" "$name" "$rate"
    fi
    kill "$epid"
    wait "$epid" 2>/dev/null || true
}

echo "# relay_cost.sh: $(nproc) CPUs, $(uname -r), $("$python" --version 2>&1), ${seconds} s per run, $rounds rounds"
echo "# relay scenario msg_per_s us_per_msg cpu_pct"
for _ in $(seq "$rounds"); do
    for s in "${scenarios[@]}"; do
        for r in "${relays[@]}"; do
            # shellcheck disable=SC2086 # the scenario's fields are wanted as words
            one_run "$r" $s | tee -a "$tmp/runs"
        done
    done
done

echo
echo "median of $rounds rounds:"
printf '%-9s %-7s %10s %10s %6s\n' scenario relay msg/s us/msg cpu%
for s in "${scenarios[@]}"; do
    name=${s%% *}
    for r in "${relays[@]}"; do
        awk -v r="$r" -v n="$name" '$1 == r && $2 == n { m[++k] = $3; u[k] = $4; c[k] = $5 }
            function med(a, k,   i, j, t) {
                for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
                return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
            }
            END { if (u[1] == "-") printf "%-9s %-7s %10.0f %10s %6s\n", n, r, med(m, k), "-", "-"
                  else printf "%-9s %-7s %10.0f %10.2f %6.1f\n", n, r, med(m, k), med(u, k), med(c, k) }' "$tmp/runs"
    done
done
