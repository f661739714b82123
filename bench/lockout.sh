#!/usr/bin/env bash
# Authentication before cost (issue 15, part 1): a certified edge's time to
# its first result while N connections that never start their TLS handshake
# are held open against `serve`, from 8 loopback source addresses
# (127.0.0.2-9). Before the pending pool, each such connection took one of
# --max-clients at accept, so 8 of them locked the edge out of
# `serve --max-clients 8`. Now they wait in the pool (--max-pending 64,
# 16 per source) and the oldest is closed to make room.
#
#   bench/lockout.sh BUILD [N...]        (default N: 0 40 200; 5 runs each)
# Prints one line per N: the median and the worst of the runs, ms, from
# `infer` starting to its report (connect, TLS, hello, deploy, 1 frame).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:?usage: bench/lockout.sh BUILD [N...]}
shift
NS=("$@")
[ ${#NS[@]} -gt 0 ] || NS=(0 40 200)
HR=$BUILD/hyperrep
T=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$T"' EXIT
sh scripts/make-certs.sh "$T/certs" edge >/dev/null 2>&1
C=$T/certs
"$HR" serve --listen 127.0.0.1:0 --port-file "$T/port" --max-clients 8 --workers 1 --quiet \
    --tls-cert "$C/server.crt" --tls-key "$C/server.key" --tls-ca "$C/ca.crt" >"$T/serve.log" 2>&1 &
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port")
echo '{"arch": "repvgg-tiny", "split": 3}' >"$T/cfg.json"
echo "lockout: serve --max-clients 8 (pending pool 64, 16 per source), mutual TLS, $(nproc) cores; edge: infer --frames 1"
for n in "${NS[@]}"; do
    # hold n silent connections from 127.0.0.2-9 until killed
    rm -f "$T/ready"
    python3 - "$PORT" "$n" "$T/ready" <<'PY' &
import socket, sys, time
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
held = []
for i in range(n):
    s = socket.socket()
    s.bind(("127.0.0.%d" % (2 + i % 8), 0))
    s.connect(("127.0.0.1", port))
    held.append(s)
open(ready, "w").close()
time.sleep(3600)
PY
    hpid=$!
    for _ in $(seq 200); do [ -e "$T/ready" ] && break; sleep 0.05; done
    ms=()
    failed=0
    for r in 1 2 3 4 5; do
        t0=$(date +%s%N)
        "$HR" infer --deploy "$T/cfg.json" --server "127.0.0.1:$PORT" --frames 1 --warmup 0 --window 1 \
            --tls-cert "$C/edge.crt" --tls-key "$C/edge.key" --tls-ca "$C/ca.crt" --timeout-reply 20 \
            >"$T/infer.log" 2>&1 || { failed=$((failed + 1)); echo "lockout: N=$n run $r: infer failed: $(tail -1 "$T/infer.log")"; }
        ms+=($(( ($(date +%s%N) - t0) / 1000000 )))
    done
    kill $hpid 2>/dev/null || true
    wait $hpid 2>/dev/null || true
    sorted=($(printf '%s\n' "${ms[@]}" | sort -n))
    echo "N=$n idle connections: $((5 - failed))/5 runs served; time to first result (or to the failure) median ${sorted[2]} ms, worst ${sorted[4]} ms (runs: ${ms[*]})"
done
grep -o '[0-9]* refused\|evicted' "$T/serve.log" | sort | uniq -c || true
