#!/usr/bin/env bash
# Issue 13, part 2's figure: branches pruned and objective gained per domain,
# goal programming (SPEC §13.5) against progressive pruning, on the results of
# `pipeline --quick` (its base weights, Code-1 alpha, LUT and progressive
# joint results). Goal runs with the pipeline's quick joint setting (1 epoch
# per phase A) once per strength given (--goal-l1 X), and once with
# --plain-l1 ("plain").
#
#   bench/goal_figures.sh RESULTS [STRENGTH ...]
#
# RESULTS is a `pipeline --quick -o RESULTS` directory; goal outputs go to
# RESULTS/goal_l1_X/ (and RESULTS/goal_plain/). Prints a markdown table:
# per domain and method, branches pruned, test accuracy initial -> final
# (drop), and the exact optimum's objective before any pruning (round 0) and
# after (the final pruned set) with the gain in percent, plus the goal run's
# own configuration (round(lambda), argmax theta) objective and its stop.
set -euo pipefail
res=${1:?usage: bench/goal_figures.sh RESULTS [STRENGTH ...]}
shift
strengths=("$@")
[ ${#strengths[@]} -gt 0 ] || strengths=(0.25)
bin=${HYPERREP:-build/hyperrep}
threads=${THREADS:-2}
domains=${DOMAINS:-"0 1 2 3 4 5 6 7 8 9"}
model=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"])' "$res/pipeline_info.json")
alpha=$res/task1_trained_weights_$model/trained_hyper_weights.json

goal() { # tag extra-flags...
    local tag=$1
    shift
    for k in $domains; do
        "$bin" joint --method goal --domain "$k" --model "$model" --weights "$res/base.safetensors" \
            --alpha "$alpha" --lut "$res/hardware_lut_complete.json" --epochs 1 --steps 100 \
            --threads "$threads" --restart "$@" -o "$res/goal_$tag" | grep -E "^goal programming" || true
    done
}

for s in "${strengths[@]}"; do
    goal "l1_$s" --goal-l1 "$s"
done
goal plain --plain-l1

/usr/bin/python3 - "$res" "${strengths[@]}" <<'PY'
import json, os, sys
res, strengths = sys.argv[1], sys.argv[2:]
methods = [("progressive", "joint_optimization")] + [("goal %s" % s, "goal_l1_%s" % s) for s in strengths] \
    + [("goal plain-l1", "goal_plain")]
print("| domain | method | pruned | test acc initial → final (drop) | exact optimum round 0 → final (ms) | gain | goal's own config (ms) | stop |")
print("|---|---|---|---|---|---|---|---|")
tot = {}
for k in range(10):
    for name, d in methods:
        p = os.path.join(res, d, "domain_%d_joint.json" % k)
        if not os.path.exists(p):
            continue
        j = json.load(open(p))
        s1, s2 = j["stage1_accuracy"], j["stage2_throughput"]
        r0 = s1["pruning_rounds"][0]["exact_optimum"]["objective_ms"]
        fin = s2["exact_optimum"]["objective_value"]
        gain = 100.0 * (1.0 - fin / r0) if r0 > 0 else 0.0
        own = ""
        if "goal_programming" in s1:
            gd = s2["results"]["gd"]
            own = "%.4f" % gd["objective_value"]
        drop = s1["initial_accuracy"] - s1["final_accuracy"]
        t = tot.setdefault(name, [0, 0.0, 0.0, 0])
        t[0] += s1["total_pruned"]; t[1] += gain; t[2] += drop; t[3] += 1
        print("| %d | %s | %d | %.2f → %.2f (%.2f) | %.4f → %.4f | %.2f %% | %s | %s |" % (
            k, name, s1["total_pruned"], s1["initial_accuracy"], s1["final_accuracy"], drop, r0, fin, gain, own,
            s1["stop_reason"]))
print()
print("| method | domains | branches pruned | mean objective gain | mean test drop |")
print("|---|---|---|---|---|")
for name, _ in methods:
    if name in tot:
        t = tot[name]
        print("| %s | %d | %d | %.2f %% | %.2f |" % (name, t[3], t[0], t[1] / t[3], t[2] / t[3]))
PY
