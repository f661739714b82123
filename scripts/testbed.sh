#!/usr/bin/env bash
# The edge-cloud testbed: two network namespaces joined by a shaped veth
# link, so the server and the edge client of `hyperrep serve`/`client`/`infer`
# talk over a link of known rate and delay on one machine, each pinned to its
# own core.
#
#   testbed.sh up [--rate 100mbit] [--delay-ms 5] [--prefix hr] [--port 6006]
#                 [--relay-port N] [--delay-via auto|netem|relay] [--burst BYTES]
#                 [--relay-cpu N]
#   testbed.sh down   [--prefix hr]
#   testbed.sh status [--prefix hr]
#   testbed.sh server [--prefix hr] [--] CMD [ARG...]   # in <prefix>-srv, on CPU HR_SERVER_CPU (0)
#   testbed.sh edge   [--prefix hr] [--] CMD [ARG...]   # in <prefix>-edge, on CPU HR_EDGE_CPU (1)
#   testbed.sh check                                    # 0: permitted here; 77: not, and why
#
# `up` prints KEY=VALUE lines on stdout (eval them): ADDR is what the edge
# dials, SERVER_ADDR what the server listens on. Everything else goes to
# stderr. See docs/TESTBED.md for the picture and the conventions; the main
# one: --delay-ms is the ONE-WAY delay, so a round trip costs 2 x delay-ms.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
PY_RELAY="$SCRIPT_DIR/delay_relay.py"
PYTHON=${HR_PYTHON:-python3}
RUN_BASE=${HR_TESTBED_RUNDIR:-/run}
SRV_IP=10.77.0.1
EDGE_IP=10.77.0.2
PREFIX=${HR_TESTBED_PREFIX:-hr}

die() {
    echo "testbed.sh: error: $*" >&2
    exit 1
}

note() {
    echo "testbed.sh: $*" >&2
}

usage() {
    sed -n '7,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Derives every name from the prefix. The prefix is bounded so that the
# veth names (<prefix>-s, <prefix>-e) fit the kernel's 15-character limit.
set_names() {
    [[ $PREFIX =~ ^[a-z][a-z0-9]{0,9}$ ]] ||
        die "--prefix '$PREFIX' must be 1 to 10 characters of [a-z0-9], starting with a letter"
    SRV_NS="$PREFIX-srv"
    EDGE_NS="$PREFIX-edge"
    SRV_DEV="$PREFIX-s"
    EDGE_DEV="$PREFIX-e"
    STATE_DIR="$RUN_BASE/hyperrep-testbed-$PREFIX"
}

ns_exists() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"
}

# Reads the KEY=VALUE state written by `up` into ST_<KEY> variables without
# sourcing it (the file lives in a root-writable directory, but a parser that
# accepts only known keys and plain values cannot run anything).
load_state() {
    ST_ADDR="" ST_SERVER_ADDR="" ST_RELAY_PID="" ST_RATE="" ST_DELAY_MS="" ST_DELAY_VIA=""
    local f="$STATE_DIR/state" key value
    [[ -f $f ]] || return 1
    while IFS='=' read -r key value; do
        [[ $value =~ ^[A-Za-z0-9.:_-]*$ ]] || continue
        case $key in
            ADDR | SERVER_ADDR | RELAY_PID | RATE | DELAY_MS | DELAY_VIA) printf -v "ST_$key" '%s' "$value" ;;
        esac
    done <"$f"
}

# rate_bps RATE -> bits per second on stdout; "none" -> 0. Units as tc reads
# them (decimal: 1mbit = 10^6 bit/s).
rate_bps() {
    [[ $1 == none ]] && { echo 0; return 0; }
    awk -v r="$1" 'BEGIN {
        r = tolower(r)
        if (!match(r, /^[0-9]+(\.[0-9]+)?/)) exit 1
        n = substr(r, 1, RLENGTH); u = substr(r, RLENGTH + 1)
        m["bit"] = 1; m["kbit"] = 1e3; m["mbit"] = 1e6; m["gbit"] = 1e9
        if (!(u in m)) exit 1
        printf "%.0f\n", n * m[u]
    }'
}

# pid_is_relay PID: true when PID is alive and is a delay relay (the C
# hyperrep-delay-relay or scripts/delay_relay.py), so a pid recorded long ago
# and since reused by an unrelated process is never killed.
pid_is_relay() {
    [[ $1 =~ ^[0-9]+$ ]] && [[ -r /proc/$1/cmdline ]] &&
        tr '\0' ' ' <"/proc/$1/cmdline" | grep -qE 'hyperrep-delay-relay|delay_relay\.py'
}

# pick_relay: which delay relay `up` runs, as RELAY_CMD (an array) and
# RELAY_DESC; returns 1 with the reason in RELAY_ERR when there is none.
# The C relay (tools/delay_relay, built as BUILD/hyperrep-delay-relay) costs
# a half to a fifth of the Python one's CPU per message, and at thousands of
# messages a second that CPU comes out of the two cores being measured
# (docs/TESTBED.md); scripts/delay_relay.py is the fallback. Looked for in
# order: HR_RELAY=PATH (a *.py runs under $PYTHON), $HR_BUILD/, build/.
pick_relay() {
    local c
    RELAY_CMD=() RELAY_DESC="" RELAY_ERR=""
    if [[ -n ${HR_RELAY:-} ]]; then
        if [[ ! -f $HR_RELAY ]]; then
            RELAY_ERR="HR_RELAY=$HR_RELAY: no such file"
        elif [[ $HR_RELAY == *.py ]]; then
            RELAY_CMD=("$PYTHON" "$HR_RELAY") RELAY_DESC="Python relay $HR_RELAY (HR_RELAY)"
            command -v "$PYTHON" >/dev/null || RELAY_ERR="HR_RELAY=$HR_RELAY needs $PYTHON, which is not found"
        elif [[ ! -x $HR_RELAY ]]; then
            RELAY_ERR="HR_RELAY=$HR_RELAY is not executable"
        else
            RELAY_CMD=("$HR_RELAY") RELAY_DESC="C relay $HR_RELAY (HR_RELAY)"
        fi
        [[ -z $RELAY_ERR ]]
        return
    fi
    for c in ${HR_BUILD:+"$HR_BUILD/hyperrep-delay-relay"} "$REPO_DIR/build/hyperrep-delay-relay"; do
        if [[ -f $c && -x $c ]]; then
            RELAY_CMD=("$c") RELAY_DESC="C relay $c"
            return 0
        fi
    done
    if [[ ! -f $PY_RELAY ]]; then
        RELAY_ERR="no delay relay: hyperrep-delay-relay is not built (HR_BUILD or build/) and $PY_RELAY is missing"
    elif ! command -v "$PYTHON" >/dev/null; then
        RELAY_ERR="no delay relay: hyperrep-delay-relay is not built (HR_BUILD or build/) and $PYTHON, which $PY_RELAY needs, is not found"
    else
        RELAY_CMD=("$PYTHON" "$PY_RELAY")
        RELAY_DESC="Python relay $PY_RELAY (no hyperrep-delay-relay in ${HR_BUILD:+HR_BUILD=$HR_BUILD or }build/; it costs more CPU per message)"
    fi
    [[ -z $RELAY_ERR ]]
}

# stop_pids PID...: SIGTERM, up to 3 s of grace, then SIGKILL.
stop_pids() {
    local pid alive
    [[ $# -gt 0 ]] || return 0
    kill -TERM "$@" 2>/dev/null || true
    for _ in $(seq 30); do
        alive=0
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [[ $alive == 0 ]] && return 0
        sleep 0.1
    done
    note "pids $* did not stop on SIGTERM within 3 s; sending SIGKILL"
    kill -KILL "$@" 2>/dev/null || true
}

# Removes everything `up` may have created for PREFIX, whatever state it was
# left in (a half-done `up`, a deleted state directory, stray processes).
do_down() {
    local ns pids dev
    if load_state && [[ -n $ST_RELAY_PID ]] && pid_is_relay "$ST_RELAY_PID"; then
        stop_pids "$ST_RELAY_PID"
    fi
    for ns in "$EDGE_NS" "$SRV_NS"; do
        ns_exists "$ns" || continue
        # A namespace with processes in it outlives `ip netns del` (and keeps
        # its veth end), so whatever still runs in it is stopped first.
        pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
        if [[ -n ${pids// /} ]]; then
            note "stopping processes still in $ns: $pids"
            # shellcheck disable=SC2086 # word splitting of the pid list is wanted
            stop_pids $pids
        fi
        ip netns del "$ns"
    done
    # Only present if an `up` died between creating the pair and moving it.
    for dev in "$SRV_DEV" "$EDGE_DEV"; do
        if ip link show dev "$dev" >/dev/null 2>&1; then
            ip link del dev "$dev"
        fi
    done
    rm -rf -- "$STATE_DIR"
}

# tbf parameters for a rate in bit/s and an optional burst in bytes (0: the
# default below), as "BURST LIMIT" in bytes.
# burst: tbf refills its bucket from an hrtimer, and on a loaded 2-core VM a
# wake-up can come a fraction of a millisecond late; a bucket holding 2 ms of
# traffic rides over that (a 1000mbit link still reaches its rate), while a
# floor of 16 KiB (about 11 full frames) keeps low rates from stalling TCP on
# a bucket smaller than its initial window. Within 1-1000 mbit the
# line-rate burst this allows is at most 2 ms or 16 KiB, negligible against
# the megabyte tensors the split model sends. It is not negligible against
# kilobyte ones (fashion-mnist's crossing tensors are 0.8-25 KB): a message
# smaller than the bucket crosses at line rate when the link was idle, as no
# radio does, so a sequential stream of them never pays the rate. `up
# --burst BYTES` sets a smaller bucket (at least 1600 bytes: one full
# frame) for such measurements.
# limit: the queue behind the bucket holds 20 ms of traffic (at least 32
# KiB): enough for TCP to keep the link busy without drops, small enough
# that a saturated link adds at most ~20 ms of queueing to the delay.
tbf_params() {
    awk -v bps="$1" -v want="${2:-0}" 'BEGIN {
        Bps = bps / 8
        burst = Bps * 0.002; if (burst < 16384) burst = 16384
        if (want > 0) burst = want
        q = Bps * 0.020; if (q < 32768) q = 32768
        printf "%d %d\n", burst, burst + q
    }'
}

netem_available() {
    # Probed in a throw-away namespace, so nothing of the host is touched.
    local ns="hrnp$$" ok=1
    ip netns add "$ns" 2>/dev/null || return 1
    trap 'ip netns del "hrnp$$" 2>/dev/null || true' EXIT
    if tc -n "$ns" qdisc add dev lo root netem delay 1ms 2>/dev/null; then
        ok=0
    fi
    ip netns del "$ns"
    trap - EXIT
    return $ok
}

# shape NS DEV BPS DELAY_MS USE_NETEM: the egress qdisc of one veth end.
# Both ends are shaped, so each direction has the configured rate; with
# netem each end adds the one-way delay, so a round trip gets 2 x delay.
shape() {
    local ns=$1 dev=$2 bps=$3 delay=$4 use_netem=$5 want_burst=${6:-0} burst limit pkts
    if [[ $bps -gt 0 ]]; then
        read -r burst limit < <(tbf_params "$bps" "$want_burst")
        tc -n "$ns" qdisc add dev "$dev" root handle 1: tbf rate "${bps}bit" burst "$burst" limit "$limit"
        if [[ $use_netem == 1 ]]; then
            # netem's queue must hold a bandwidth-delay product of packets.
            pkts=$(awk -v b="$bps" -v d="$delay" 'BEGIN { p = b / 8 * d / 1000 / 1500 * 2 + 100; if (p < 1000) p = 1000; printf "%d\n", p }')
            tc -n "$ns" qdisc add dev "$dev" parent 1:1 handle 10: netem delay "${delay}ms" limit "$pkts"
        fi
    elif [[ $use_netem == 1 ]]; then
        tc -n "$ns" qdisc add dev "$dev" root handle 1: netem delay "${delay}ms" limit 10000
    fi
}

start_relay() {
    local port=$1 relay_port=$2 delay=$3 cpu=${4:-} ready="$STATE_DIR/relay.ready" pin=()
    # --relay-cpu: the relay is part of the emulated link, and on a small
    # machine it competes with whatever shares its core; pinned, that is known.
    [[ -n $cpu ]] && pin=(taskset -c "$cpu")
    pick_relay || die "$RELAY_ERR"
    note "delay relay: $RELAY_DESC"
    rm -f "$ready"
    # Detached from our stdout/stderr so a caller reading this script's output
    # through a pipe sees EOF when `up` ends, not when the relay does.
    ip netns exec "$EDGE_NS" "${pin[@]}" "${RELAY_CMD[@]}" --listen "127.0.0.1:$relay_port" \
        --to "$SRV_IP:$port" --delay-ms "$delay" --ready-file "$ready" \
        </dev/null >>"$STATE_DIR/relay.log" 2>&1 &
    RELAY_PID=$!
    echo "$RELAY_PID" >"$STATE_DIR/relay.pid"
    for _ in $(seq 100); do
        [[ -s $ready ]] && return 0
        if ! kill -0 "$RELAY_PID" 2>/dev/null; then
            sed 's/^/  relay: /' "$STATE_DIR/relay.log" >&2 || true
            die "the delay relay exited at start (log above)"
        fi
        sleep 0.1
    done
    die "the delay relay did not report ready within 10 s (log: $STATE_DIR/relay.log)"
}

valid_port() {
    [[ $1 =~ ^[0-9]{1,5}$ ]] && [[ $1 -ge 1 && $1 -le 65535 ]]
}

# The EXIT trap of a failing `up`: keeps its exit status, removes the rest.
up_failed() {
    local rc=$?
    trap - EXIT
    note "up failed (status $rc); removing what it built"
    do_down || true
    exit "$rc"
}

cmd_up() {
    local rate=100mbit delay=5 port=6006 relay_port="" via=auto bps use_netem=0 addr burst=0 relay_cpu=""
    while [[ $# -gt 0 ]]; do
        case $1 in
            --rate) rate=${2:?--rate needs a value}; shift 2 ;;
            --delay-ms) delay=${2:?--delay-ms needs a value}; shift 2 ;;
            --prefix) PREFIX=${2:?--prefix needs a value}; shift 2 ;;
            --port) port=${2:?--port needs a value}; shift 2 ;;
            --relay-port) relay_port=${2:?--relay-port needs a value}; shift 2 ;;
            --delay-via) via=${2:?--delay-via needs a value}; shift 2 ;;
            --burst) burst=${2:?--burst needs a value}; shift 2 ;;
            --relay-cpu) relay_cpu=${2:?--relay-cpu needs a value}; shift 2 ;;
            -h | --help) usage ;;
            *) die "up: unknown option '$1'" ;;
        esac
    done
    set_names
    bps=$(rate_bps "$rate") || die "--rate '$rate' is not a rate like 100mbit, 1gbit, 500kbit or none"
    if [[ $bps -ne 0 ]] && { [[ $bps -lt 100000 ]] || [[ $bps -gt 10000000000 ]]; }; then
        die "--rate '$rate' is outside 100kbit..10gbit"
    fi
    if ! [[ $delay =~ ^[0-9]+(\.[0-9]+)?$ ]] || ! awk -v d="$delay" 'BEGIN { exit !(d <= 10000) }'; then
        die "--delay-ms '$delay' is not a number of milliseconds in 0..10000"
    fi
    if ! [[ $burst =~ ^[0-9]+$ ]] || { [[ $burst -ne 0 ]] && { [[ $burst -lt 1600 ]] || [[ $burst -gt 100000000 ]]; }; }; then
        die "--burst '$burst' is not a byte count in 1600..100000000 (one full frame at least)"
    fi
    if [[ -n $relay_cpu ]] && { ! [[ $relay_cpu =~ ^[0-9]{1,4}$ ]] || [[ $relay_cpu -ge $(nproc) ]]; }; then
        die "--relay-cpu '$relay_cpu' is not a CPU of this machine (0..$(($(nproc) - 1)))"
    fi
    valid_port "$port" || die "--port '$port' is not 1..65535"
    relay_port=${relay_port:-$port}
    valid_port "$relay_port" || die "--relay-port '$relay_port' is not 1..65535"
    case $via in
        auto) if awk -v d="$delay" 'BEGIN { exit !(d > 0) }'; then
                  if netem_available; then via=netem; else via=relay; fi
              else
                  via=none
              fi ;;
        netem) netem_available || die "--delay-via netem: this kernel has no netem qdisc (sch_netem); use --delay-via relay" ;;
        relay) ;;
        *) die "--delay-via '$via' is not auto, netem or relay" ;;
    esac
    [[ $via == netem ]] && use_netem=1

    do_down
    # From here on any failure (set -e or die) leaves nothing half-built.
    trap 'up_failed' EXIT
    mkdir -p "$STATE_DIR"
    ip netns add "$SRV_NS"
    ip netns add "$EDGE_NS"
    ip link add name "$SRV_DEV" netns "$SRV_NS" type veth peer name "$EDGE_DEV" netns "$EDGE_NS"
    ip -n "$SRV_NS" link set lo up
    ip -n "$EDGE_NS" link set lo up
    ip -n "$SRV_NS" addr add "$SRV_IP/24" dev "$SRV_DEV"
    ip -n "$EDGE_NS" addr add "$EDGE_IP/24" dev "$EDGE_DEV"
    ip -n "$SRV_NS" link set "$SRV_DEV" up
    ip -n "$EDGE_NS" link set "$EDGE_DEV" up
    shape "$SRV_NS" "$SRV_DEV" "$bps" "$delay" "$use_netem" "$burst"
    shape "$EDGE_NS" "$EDGE_DEV" "$bps" "$delay" "$use_netem" "$burst"
    RELAY_PID=""
    if [[ $via == relay ]]; then
        start_relay "$port" "$relay_port" "$delay" "$relay_cpu"
        addr="127.0.0.1:$relay_port"
    else
        addr="$SRV_IP:$port"
    fi
    {
        echo "ADDR=$addr"
        echo "SERVER_ADDR=$SRV_IP:$port"
        echo "SERVER_NS=$SRV_NS"
        echo "EDGE_NS=$EDGE_NS"
        echo "SERVER_DEV=$SRV_DEV"
        echo "EDGE_DEV=$EDGE_DEV"
        echo "RATE=$rate"
        echo "DELAY_MS=$delay"
        echo "DELAY_VIA=$via"
        echo "RELAY_PID=$RELAY_PID"
    } >"$STATE_DIR/state"
    trap - EXIT
    cat "$STATE_DIR/state"
    note "testbed '$PREFIX' up: rate $rate each way, one-way delay ${delay} ms via $via; edge dials $addr"
}

cmd_down() {
    while [[ $# -gt 0 ]]; do
        case $1 in
            --prefix) PREFIX=${2:?--prefix needs a value}; shift 2 ;;
            *) die "down: unknown option '$1'" ;;
        esac
    done
    set_names
    do_down
    note "testbed '$PREFIX' down"
}

cmd_status() {
    local ns dev
    while [[ $# -gt 0 ]]; do
        case $1 in
            --prefix) PREFIX=${2:?--prefix needs a value}; shift 2 ;;
            *) die "status: unknown option '$1'" ;;
        esac
    done
    set_names
    if ! ns_exists "$SRV_NS" && ! ns_exists "$EDGE_NS"; then
        echo "testbed '$PREFIX': down"
        return 1
    fi
    if load_state; then
        echo "testbed '$PREFIX': rate $ST_RATE each way, one-way delay $ST_DELAY_MS ms via $ST_DELAY_VIA"
        echo "  edge dials $ST_ADDR; server listens on $ST_SERVER_ADDR"
    else
        echo "testbed '$PREFIX': namespaces exist but $STATE_DIR/state is missing (run down, then up)"
    fi
    for pair in "$SRV_NS:$SRV_DEV" "$EDGE_NS:$EDGE_DEV"; do
        ns=${pair%%:*} dev=${pair#*:}
        echo "-- $ns"
        ip -n "$ns" -br addr show || true
        tc -n "$ns" -s qdisc show dev "$dev" || true
    done
    if [[ -n ${ST_RELAY_PID:-} ]]; then
        if pid_is_relay "$ST_RELAY_PID"; then
            echo "-- relay pid $ST_RELAY_PID running ($(tr '\0' ' ' <"/proc/$ST_RELAY_PID/cmdline" 2>/dev/null | cut -d' ' -f1-2)); last log lines:"
        else
            echo "-- relay pid $ST_RELAY_PID NOT running; last log lines:"
        fi
        tail -n 5 "$STATE_DIR/relay.log" 2>/dev/null | sed 's/^/  /' || true
    fi
}

# run_in ROLE NS CPU CMD...: one command in a namespace, pinned to one core
# and told to use one thread, so the server and the edge never share a core
# (the LUTs must be measured the same way: docs/TESTBED.md).
run_in() {
    local role=$1 ns=$2 cpu=$3
    shift 3
    [[ $# -gt 0 ]] || die "$role: no command given (usage: testbed.sh $role [--prefix P] [--] CMD [ARG...])"
    ns_exists "$ns" || die "testbed '$PREFIX' is not up (no namespace $ns); run: testbed.sh up --prefix $PREFIX"
    [[ $cpu =~ ^[0-9]+$ ]] || die "$role: CPU '$cpu' is not a CPU number (HR_${role^^}_CPU)"
    taskset -c "$cpu" true 2>/dev/null ||
        die "$role: cannot pin to CPU $cpu (allowed: $(taskset -pc $$ | sed 's/.*: //')); set HR_${role^^}_CPU"
    load_state || true
    exec ip netns exec "$ns" env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
        HR_TESTBED_ROLE="$role" HR_TESTBED_ADDR="${ST_ADDR:-}" HR_TESTBED_SERVER_ADDR="${ST_SERVER_ADDR:-}" \
        taskset -c "$cpu" "$@"
}

cmd_run() {
    local role=$1
    shift
    while [[ $# -gt 0 ]]; do
        case $1 in
            --prefix) PREFIX=${2:?--prefix needs a value}; shift 2 ;;
            --) shift; break ;;
            *) break ;;
        esac
    done
    set_names
    if [[ $role == server ]]; then
        run_in server "$SRV_NS" "${HR_SERVER_CPU:-0}" "$@"
    else
        run_in edge "$EDGE_NS" "${HR_EDGE_CPU:-1}" "$@"
    fi
}

# Exits 0 when this machine can build the testbed, else 77 (the automake and
# ctest "skipped" code) after one line per missing piece. It tries the real
# thing in a throw-away namespace, since capabilities alone do not tell
# whether the kernel has veth and tbf.
cmd_check() {
    local missing=() cap ns="hrck$$" notes=() cpu
    for tool in ip tc taskset awk; do
        command -v "$tool" >/dev/null || missing+=("command '$tool' not found")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        cap=$(awk '/^CapEff:/ {print $2}' /proc/self/status 2>/dev/null || echo 0)
        # CAP_NET_ADMIN (12) for links and qdiscs, CAP_SYS_ADMIN (21) for the
        # mount namespace tricks behind `ip netns add`.
        if (((0x${cap:-0} >> 12 & 1) == 0)); then
            missing+=("CAP_NET_ADMIN (run as root)")
        fi
        if (((0x${cap:-0} >> 21 & 1) == 0)); then
            missing+=("CAP_SYS_ADMIN, needed by 'ip netns add' (run as root)")
        fi
    fi
    if [[ ${#missing[@]} -eq 0 ]]; then
        if ! ip netns add "$ns" 2>/dev/null; then
            missing+=("'ip netns add' fails (no network namespaces?)")
        else
            trap 'ip netns del "hrck$$" 2>/dev/null || true' EXIT
            if ! ip link add name "${ns}a" netns "$ns" type veth peer name "${ns}b" netns "$ns" 2>/dev/null; then
                missing+=("veth pairs cannot be created (kernel without veth?)")
            elif ! tc -n "$ns" qdisc add dev "${ns}a" root tbf rate 100mbit burst 16384 limit 65536 2>/dev/null; then
                missing+=("the tbf qdisc is unavailable (kernel without sch_tbf?)")
            elif tc -n "$ns" qdisc add dev "${ns}b" root netem delay 1ms 2>/dev/null; then
                notes+=("netem: available (delay added by netem on both veth ends)")
            elif pick_relay; then
                notes+=("netem: missing (delay added by the user-space relay: $RELAY_DESC)")
            else
                missing+=("netem is missing, and $RELAY_ERR")
            fi
            ip netns del "$ns" || true
            trap - EXIT
        fi
    fi
    if [[ ${#missing[@]} -gt 0 ]]; then
        for m in "${missing[@]}"; do
            echo "testbed not permitted: $m"
        done
        exit 77
    fi
    for cpu in "${HR_SERVER_CPU:-0}" "${HR_EDGE_CPU:-1}"; do
        taskset -c "$cpu" true 2>/dev/null ||
            notes+=("warning: CPU $cpu is not available for pinning; set HR_SERVER_CPU/HR_EDGE_CPU")
    done
    echo "testbed permitted: network namespaces, veth and tbf work"
    for n in "${notes[@]}"; do
        echo "$n"
    done
}

main() {
    [[ $# -gt 0 ]] || usage
    # A global --prefix before the subcommand is accepted too.
    if [[ $1 == --prefix ]]; then
        PREFIX=${2:?--prefix needs a value}
        shift 2
        [[ $# -gt 0 ]] || usage
    fi
    local sub=$1
    shift
    case $sub in
        up) cmd_up "$@" ;;
        down) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        server | edge) cmd_run "$sub" "$@" ;;
        check) cmd_check ;;
        -h | --help | help) usage ;;
        *) note "unknown subcommand '$sub'"; usage ;;
    esac
}

main "$@"
