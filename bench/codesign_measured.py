#!/usr/bin/env python3
"""Helper of bench/codesign_measured.sh (issue 13, part 5): the co-design and
its baselines re-solved on the testbed's LUT, then measured. Standard library
only; the solving is done by `hyperrep optimize`, the accuracy by `hyperrep
eval`, the streaming by `hyperrep serve` + `hyperrep infer` (run by the .sh).

    codesign_measured.py scenario RESULTS
        KEY=VALUE lines for the shell: the pipeline's model, link and edge.
    codesign_measured.py plan HYPERREP LUT RESULTS DOMAIN OUT
        Writes OUT/configs/NAME.json (deployment JSONs, as `infer --help`
        documents), OUT/configs/NAME.args (extra infer arguments, one a line)
        and OUT/plan.json (placement, gamma, pruned, accuracy, the LUT's
        prediction per configuration).
    codesign_measured.py report OUT
        Reads OUT/plan.json and OUT/runs/NAME_rR.json (infer -o), writes
        OUT/codesign_measured.json, OUT/codesign_measured.md (table, text
        figure, goals) and OUT/figure.dat + OUT/figure.gp for gnuplot.

Configurations (each re-solved for the objective `cycle` = pipelined
throughput on the testbed's LUT; `optimize --method exact` picks the placement
and, for a fixed placement, every block's fastest valid gamma on the device
that runs it, which is what src/optim/exact.c does):
  co-design     the best (lowest predicted cycle) of the states the joint's
                final configuration is chosen from (src/joint/final.c): the
                unpruned model at deploy gamma, round 0 (the starting alpha,
                free gamma) and the domain's last accepted pruning state
                (free gamma); ties stay with the earlier one, as in final.c;
  neurosurgeon  unpruned, deploy gamma on every block, best placement;
  edge-only     the pruned state, everything on the edge (local);
  server-only   the pruned state, raw 8-bit frames, everything on the server;
  best-split    the pruned state at the best split s in 0..N;
  joint-final   the joint output's own final_configuration as written (planned
                on the pipeline's LUT for the joint's objective), not re-solved.
"""
import json
import os
import re
import statistics
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BRANCHES = ("dense", "1x1", "identity")  # D, O, I: bits 1, 2, 4 (gamma.def)
BIT = {"D": 1, "O": 2, "I": 4}
# Frames: the sequential pass measures FRAMES; the pipelined pass about
# PIPE_SECONDS at the predicted rate, at least FRAMES and at most
# PFRAMES_MAX (the test set has 10000 images).
FRAMES = int(os.environ.get("HR_CM_FRAMES", "200"))
PIPE_SECONDS = float(os.environ.get("HR_CM_PIPE_SECONDS", "1.5"))
PFRAMES_MAX = 9000


def load(path):
    with open(path) as f:
        return json.load(f)


def dump(obj, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def gamma_table():
    """{id: (name, branch mask)} from include/hyperrep/gamma.def."""
    out = {}
    with open(os.path.join(ROOT, "include", "hyperrep", "gamma.def")) as f:
        for line in f:
            m = re.match(r"\s*HR_GAMMA\(\s*(\d+)\s*,\s*(\w+)\s*,\s*\"\w+\"\s*,\s*([DOI|]+)\s*,", line)
            if m:
                mask = 0
                for t in m.group(3).split("|"):
                    mask |= BIT[t.strip()]
                out[int(m.group(1))] = (m.group(2), mask)
    if len(out) < 14:
        sys.exit("codesign_measured.py: cannot read the gamma table from include/hyperrep/gamma.def")
    return out


def deploy_gamma(live, table):
    """hr_gamma_deploy: the single-kernel fused gamma of exactly these branches."""
    single = [g for g, (_, m) in table.items() if m == live and ("FUSED" in table[g][0] or "SOLO" in table[g][0])]
    if not single:
        sys.exit(f"codesign_measured.py: no deploy gamma for branch mask {live}")
    return min(single)


def read_safetensors(path):
    """{name: float} of a safetensors file of one-value F32 tensors (alpha)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    head = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        if v["dtype"] != "F32":
            sys.exit(f"codesign_measured.py: {path}: {k} is {v['dtype']}, expected F32")
        s, e = v["data_offsets"]
        vals = struct.unpack("<%df" % ((e - s) // 4), data[s:e])
        out[k] = vals[0]
    return out


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"codesign_measured.py: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r.stdout


# --------------------------------------------------------------------- scenario
def cmd_scenario(results):
    info = load(os.path.join(results, "pipeline_info.json"))
    link = info.get("link") or {}
    edge = info.get("edge") or {}
    bw = link.get("bandwidth_mbit", 40.0)
    lat = link.get("latency_ms", 2.0)
    print(f"SC_MODEL={info.get('model', 'repvgg-fmnist')}")
    print(f"SC_RATE={bw:g}mbit")
    # The profile's latency is the fixed cost of one transfer, the
    # acknowledgement's return included (docs/LINK_PROFILES.md): a round
    # trip, so the testbed delays each direction by half of it.
    print(f"SC_DELAY_MS={lat / 2:g}")
    print(f"SC_LINK_PROFILE={link.get('profile') or 'custom'}")
    print(f"SC_EDGE={edge.get('profile') or ''}")
    print(f"SC_SLOWDOWN={edge.get('slowdown') or ''}")
    print(f"SC_SEED={info.get('seed', 42)}")
    return 0


# ------------------------------------------------------------------------- plan
def block_names(lut):
    return list(lut["T_client"].keys())


def existing_masks(lut, table):
    """Each block's existing branches: the union of the masks of its gammas
    that the LUT times (an invalid gamma is -1 on both devices)."""
    out = {}
    for b, row in lut["T_client"].items():
        m = 0
        for g, t in enumerate(row):
            if t >= 0:
                m |= table[g][1]
        out[b] = m
    return out


def live_masks(existing, pruned):
    live = dict(existing)
    for name in pruned:
        block, _, br = name.partition(".hyper_")
        if block in live and br in BRANCHES:
            live[block] &= ~(1 << BRANCHES.index(br))
    return live


def best_gammas(lut, live, table, placement, nblocks):
    """exact.c's hr__optim_exact_gamma: blocks [0, lo) on the client (head),
    the rest on the server; each its first fastest gamma whose branches are
    exactly the live ones (--mask exact)."""
    lo = 0 if placement == "raw" else nblocks if placement == "local" else int(placement)
    out = {}
    for k, b in enumerate(block_names(lut)):
        dev = "T_client" if k < lo else "T_server"
        best = None
        for g in range(len(lut[dev][b])):
            if table[g][1] != live[b]:
                continue
            if best is None or lut[dev][b][g] < lut[dev][b][best]:
                best = g
        out[b] = best
    return out


def optimize(hr, lut_path, out_path, pruned_path=None, extra=()):
    cmd = [hr, "optimize", "--lut", lut_path, "--objective", "cycle", "--method", "exact", "-o", out_path, "--quiet"]
    if pruned_path:
        cmd += ["--pruned", pruned_path]
    run(cmd + list(extra))
    return load(out_path)["results"]["exact"]


def priced_out(lut, names, out):
    """A copy of the LUT where every valid entry (block b, gamma g) with
    out(b, g) costs 1e6 ms on both devices, so optimize never picks it:
    the way to pin gamma, which optimize has no switch for."""
    c = json.loads(json.dumps(lut))
    for dev in ("T_client", "T_server"):
        for b in names:
            for g in range(len(c[dev][b])):
                if out(b, g) and c[dev][b][g] >= 0:
                    c[dev][b][g] = 1e6
    return c


def placement_key(p):
    if isinstance(p, str):
        return p
    return str(int(p))


def eval_accuracy(hr, model, weights, alpha_json, domain, seed, out_path, threads):
    if os.path.exists(out_path):
        return load(out_path)
    run([hr, "eval", "--model", model, "--weights", weights, "--domain", str(domain), "--alpha", alpha_json,
         "--part", "test", "--seed", str(seed), "--threads", str(threads), "-o", out_path])
    return load(out_path)


def cmd_plan(hr, lut_path, results, domain, out):
    domain = int(domain)
    table = gamma_table()
    lut = load(lut_path)
    info = load(os.path.join(results, "pipeline_info.json"))
    model = info.get("model", lut["metadata"]["model"])
    seed = int(info.get("seed", 42))
    jdir = os.path.join(results, "joint_optimization")
    joint_path = os.path.join(jdir, f"domain_{domain}_joint.json")
    joint = load(joint_path)
    alpha_st = os.path.join(jdir, f"domain_{domain}_alpha.safetensors")
    weights = os.path.join(results, "base.safetensors")
    s1 = joint.get("stage1_accuracy", {})
    fin = joint.get("final_configuration", {})
    settings = joint.get("metadata", {}).get("settings", {})
    threshold = float(settings.get("threshold", info.get("joint", {}).get("threshold", 2.0)))
    hyper = settings.get("alpha") or os.path.join(results, f"task1_trained_weights_{model}", "trained_hyper_weights.json")
    if not os.path.exists(hyper):
        hyper = os.path.join(results, f"task1_trained_weights_{model}", "trained_hyper_weights.json")
    cfgdir = os.path.join(out, "configs")
    os.makedirs(cfgdir, exist_ok=True)
    names = block_names(lut)
    n = len(names)
    existing = existing_masks(lut, table)

    notes = []
    # Three states, as src/joint/final.c chooses the final configuration
    # among them (ties stay with the state listed first, which prunes less):
    #   unpruned  round -1: the unpruned model at deploy gamma (every existing
    #             branch; an alpha the starting point had at 0 is put back to 1),
    #   round0    the starting alpha (Code 1's, train-hyper) with any branch it
    #             has at 0 pruned, free gamma,
    #   pruned    the domain's last accepted pruning state (the joint's
    #             domain_K_alpha.safetensors; its zeros are the pruned set).
    # The joint's intermediate accepted rounds are not candidates here: their
    # alpha is not written to a file.
    hyper_all = load(hyper)
    alpha0 = hyper_all.get(f"domain_{domain}", hyper_all)
    alpha_p = read_safetensors(alpha_st)
    zero_p = sorted(k for k, v in alpha_p.items() if v == 0.0)
    pruned = list(s1.get("pruned_weights") or [])
    if sorted(pruned) != zero_p:
        notes.append(f"stage1_accuracy.pruned_weights {sorted(pruned)} differ from the zero alpha of "
                     f"{os.path.basename(alpha_st)} {zero_p}; the alpha file's zeros are used")
    states = {}

    def branch_ok(name):
        block, _, br = name.partition(".hyper_")
        return block in existing and br in BRANCHES and existing[block] >> BRANCHES.index(br) & 1

    def state(key, alpha, deploy_only, how):
        alpha = {k: float(v) for k, v in alpha.items() if branch_ok(k)}
        if key == "unpruned":
            alpha = {k: (1.0 if v == 0.0 else v) for k, v in alpha.items()}
        zeros = sorted(k for k, v in alpha.items() if v == 0.0)
        rows = [[alpha.get(f"{b}.hyper_{br}", 0.0) if existing[b] >> i & 1 else 0.0
                 for i, br in enumerate(BRANCHES)] for b in names]
        flat = os.path.join(cfgdir, f"alpha_{key}.json")
        dump(alpha, flat)
        pfile = os.path.join(cfgdir, f"pruned_{key}.json")
        dump(zeros, pfile)
        acc = eval_accuracy(hr, model, weights, flat, domain, seed, os.path.join(cfgdir, f"eval_{key}.json"), 2)
        states[key] = {"key": key, "pruned": zeros, "live": live_masks(existing, zeros), "rows": rows,
                       "accuracy": acc["accuracy"], "eval": acc, "pruned_file": pfile, "deploy_only": deploy_only,
                       "how": how}

    state("unpruned", alpha0, True, "round -1: unpruned, deploy gamma")
    state("round0", alpha0, False, "round 0: the starting alpha, free gamma")
    state("pruned", alpha_p, False, "the last accepted pruning state, free gamma")
    acc_u = states["unpruned"]["accuracy"]

    # Re-solve each state on the testbed's LUT. For the deploy-gamma state,
    # every other gamma of its live branches is priced out (1e6 ms on both
    # devices), so the exact solver's placement search runs on the
    # baseline's own gamma; the prediction itself comes from `infer --lut`
    # on the unmodified LUT.
    for key, st in states.items():
        if st["deploy_only"]:
            dep = {b: deploy_gamma(st["live"][b], table) for b in names}
            lut_d = priced_out(lut, names, lambda b, g: table[g][1] == st["live"][b] and g != dep[b])
            lut_d_path = os.path.join(cfgdir, "lut_deploy_only.json")
            dump(lut_d, lut_d_path)
            ex = optimize(hr, lut_d_path, os.path.join(cfgdir, f"optimize_{key}.json"), st["pruned_file"])
            if {b: int(g) for b, g in ex["optimal_gamma"].items()} != dep:
                sys.exit(f"codesign_measured.py: the deploy-only solve chose {ex['optimal_gamma']}, not {dep}")
        else:
            ex = optimize(hr, lut_path, os.path.join(cfgdir, f"optimize_{key}.json"), st["pruned_file"])
            # the reproduction of exact.c below must agree with optimize's choice
            mine = best_gammas(lut, st["live"], table, ex["placement"], n)
            if mine != {b: int(g) for b, g in ex["optimal_gamma"].items()}:
                sys.exit(f"codesign_measured.py: gamma per block {mine} differs from optimize's "
                         f"{ex['optimal_gamma']}")
        st["exact"] = ex
        st["all"] = {placement_key(p["placement"]): p for p in ex["all_placements"]}

    configs = []

    def add(name, placement, gammas, st, how, lut_eval):
        cfg = {"arch": model, "split": placement if isinstance(placement, str) else int(placement),
               "gammas": [int(gammas[b]) for b in names], "pruned": st["pruned"]}
        args = ["--weights", weights]
        if st["key"] == "pruned":
            args += ["--alpha", alpha_st]
        else:
            cfg["alpha"] = st["rows"]
        # A configuration that deploys exactly what an earlier one does is
        # that deployment: it is streamed once, and both rows report its
        # runs, so the runs go to telling distinct deployments apart.
        key = json.dumps([cfg, args], sort_keys=True)
        deployment = next((c["deployment"] for c in configs if c["_key"] == key), name)
        # The pipelined pass gets enough frames to last about
        # HR_CM_PIPE_SECONDS at the predicted rate (a 200-frame pass of a
        # 4000 fps stream lasts 50 ms, less than this machine's slow phases).
        pfps = (lut_eval or {}).get("pipelined_fps") or 0
        pframes = int(min(PFRAMES_MAX, max(FRAMES, pfps * PIPE_SECONDS)))
        dump(cfg, os.path.join(cfgdir, name + ".json"))
        with open(os.path.join(cfgdir, name + ".args"), "w") as f:
            f.write("\n".join(args + ["--pipelined-frames", str(pframes)]) + "\n")
        configs.append({"name": name, "deployment": deployment, "_key": key, "pipelined_frames": pframes, "placement": placement, "gamma": {b: int(gammas[b]) for b in names},
                        "pruned": st["pruned"], "state": st["key"], "accuracy": st["accuracy"],
                        "accuracy_drop": acc_u - st["accuracy"], "how": how,
                        "optimize_cycle_ms": lut_eval.get("cycle_ms") if lut_eval else None,
                        "optimize_pipelined_fps": lut_eval.get("pipelined_fps") if lut_eval else None,
                        "optimize_fps": lut_eval.get("fps") if lut_eval else None})

    # As final.c: the lowest objective; a tie goes to the higher validation
    # accuracy (the selection's estimate; never the test part's), then to
    # the state listed first.
    val = {"unpruned": s1.get("initial_val_accuracy"), "round0": s1.get("initial_val_accuracy"),
           "pruned": s1.get("final_val_accuracy")}
    order = ["unpruned", "round0", "pruned"]
    win = order[0]
    for key in order[1:]:
        a, b = states[key]["exact"]["objective_value"], states[win]["exact"]["objective_value"]
        if a < b - 1e-9 * max(abs(b), 1e-12) or (abs(a - b) <= 1e-9 * max(abs(b), 1e-12) and
                                                 (val[key] or -1) > (val[win] or -1)):
            win = key
    w = states[win]
    add("co-design", w["exact"]["placement"], w["exact"]["optimal_gamma"], w,
        f"exact, cycle, best of the three states: {w['how']} ("
        + ", ".join(f"{k} {states[k]['exact']['objective_value']:.4f} ms at {states[k]['exact']['placement']}"
                    for k in order) + ")", w["exact"])
    u = states["unpruned"]
    add("neurosurgeon", u["exact"]["placement"], u["exact"]["optimal_gamma"], u,
        "unpruned, deploy gamma, exact placement for cycle", u["exact"])
    p_ = states["pruned"]
    live_p = p_["live"]
    add("edge-only", "local", best_gammas(lut, live_p, table, "local", n), p_,
        "pruned state, local, fastest client gamma per block", p_["all"].get("local"))
    add("server-only", "raw", best_gammas(lut, live_p, table, "raw", n), p_,
        "pruned state, raw 8-bit frames, fastest server gamma per block", p_["all"].get("raw"))
    splits = [p_["all"][str(s_)] for s_ in range(n + 1) if str(s_) in p_["all"]]
    if splits:
        best_s = min(splits, key=lambda e: e["objective_value"])
        s_ = int(best_s["placement"])
        add("best-split", s_, best_gammas(lut, live_p, table, s_, n), p_,
            f"pruned state, the best split s in 0..{n} for cycle (s = {s_})", best_s)
    # The joint's own final configuration, as it is written (not re-solved).
    if fin:
        fp = fin.get("placement", fin.get("split_point"))
        if fp is None:
            fp = "raw"
        dep_u = {b: deploy_gamma(existing[b], table) for b in names}
        fg = {b: int(fin.get("gamma_config", {}).get(b, dep_u[b])) for b in names}
        rnd = fin.get("round")
        fst = states["unpruned"] if rnd == -1 else states["round0"] if rnd == 0 else states["pruned"]
        # Its figures on the testbed LUT: optimize on a copy where every γ
        # but the chosen one costs 1e6 ms, read at its placement (so its
        # pipelined pass is sized like the others', not a 200-frame burst).
        lut_j = priced_out(lut, names, lambda b, g: g != fg[b])
        lut_j_path = os.path.join(cfgdir, "lut_joint_final.json")
        dump(lut_j, lut_j_path)
        ex_j = optimize(hr, lut_j_path, os.path.join(cfgdir, "optimize_joint_final.json"), fst["pruned_file"])
        eval_j = {placement_key(q["placement"]): q for q in ex_j["all_placements"]}.get(placement_key(fp))
        if eval_j and not eval_j.get("cycle_ms", 1e6) < 1e5:
            eval_j = None  # a γ the state cannot run: the optimizer fell back to a priced-out one
        add("joint-final", fp, fg, fst, "the joint output's final_configuration as written (pipeline LUT, "
            f"objective {settings.get('objective', '?')}, round {rnd}), not re-solved", eval_j)

    plan = {"lut": os.path.abspath(lut_path), "results": os.path.abspath(results), "domain": domain,
            "model": model, "threshold_points": threshold, "pruned": states["pruned"]["pruned"],
            "alpha_pruned": alpha_st, "alpha_start": hyper, "weights": weights,
            "accuracy": {"test_part_by_state": {k: v["eval"] for k, v in states.items()},
                         "joint_recorded": {"initial_accuracy": s1.get("initial_accuracy"),
                                            "final_accuracy": s1.get("final_accuracy"),
                                            "final_configuration.accuracy": fin.get("accuracy"),
                                            "final_configuration.round": fin.get("round")}},
            "optimize": {k: {"exact": {kk: vv for kk, vv in v["exact"].items() if kk != "all_placements"},
                             "all_placements": v["exact"]["all_placements"]} for k, v in states.items()},
            "notes": notes, "deployments": [c["name"] for c in configs if c["deployment"] == c["name"]],
            "configs": configs}
    for c in configs:
        del c["_key"]
    dump(plan, os.path.join(out, "plan.json"))
    for c in configs:
        same = f"  (= {c['deployment']})" if c["deployment"] != c["name"] else ""
        print(f"plan: {c['name']:13s} placement {str(c['placement']):6s} {c['state']:8s} "
              f"accuracy {c['accuracy']:.2f} %  optimize cycle {c['optimize_cycle_ms'] or float('nan'):.3f} ms{same}")
    return 0


# ----------------------------------------------------------------------- report
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def err_pct(m, p):
    return None if m is None or not p else 100.0 * (m - p) / p


def fmt(x, spec=".1f"):
    return "—" if x is None else format(x, spec)


def cmd_report(out):
    plan = load(os.path.join(out, "plan.json"))
    scen = load(os.path.join(out, "scenario.json")) if os.path.exists(os.path.join(out, "scenario.json")) else {}
    lut = load(plan["lut"])
    rows = []
    for c in plan["configs"]:
        runs = []
        r = 1
        dep = c.get("deployment", c["name"])
        while os.path.exists(os.path.join(out, "runs", f"{dep}_r{r}.json")):
            runs.append(load(os.path.join(out, "runs", f"{dep}_r{r}.json")))
            r += 1
        runs_ok = [x for x in runs if x.get("measured_fps")]
        pred = runs_ok[0].get("predicted", {}) if runs_ok else {}
        emu = [x.get("edge_emulation", {}) for x in runs_ok]
        row = {
            "name": c["name"], "placement": c["placement"], "gamma": c["gamma"], "pruned": c["pruned"],
            "accuracy": c["accuracy"],
            "predicted_fps": pred.get("sequential_fps"),
            "measured_fps": med([x.get("sequential_fps") for x in runs_ok]),
            "predicted_pipelined_fps": pred.get("pipelined_fps"),
            "measured_pipelined_fps": med([x.get("measured_fps") for x in runs_ok]),
            "accuracy_drop": c["accuracy_drop"],
            "state": c["state"], "how": c["how"],
            "runs": len(runs_ok), "runs_failed": len(runs) - len(runs_ok),
            "measured_fps_runs": [x.get("sequential_fps") for x in runs_ok],
            "measured_pipelined_fps_runs": [x.get("measured_fps") for x in runs_ok],
            "predicted_ms": {k: pred.get(k) for k in ("head_ms", "link_ms", "link_busy_ms", "tail_ms", "latency_ms",
                                                      "cycle_ms")},
            "measured_stage_ms_p50": {k: med([x.get("stages", {}).get(k, {}).get("p50") for x in runs_ok])
                                      for k in ("head_ms", "link_queue_ms", "tail_ms")},
            "measured_latency_ms_p50": med([x.get("latency_ms", {}).get("p50") for x in runs_ok]),
            "stream_accuracy_pct": med([x.get("accuracy_pct") for x in runs_ok]),
            "edge_emulation": {"mode": emu[0].get("mode") if emu else None,
                               "overruns": [e.get("overruns") for e in emu],
                               "emulated_ms_per_frame": med([e.get("emulated_ms_per_frame") for e in emu])},
        }
        if c["placement"] == "local":
            # Nothing to pipeline and nothing sent: infer measures one pass.
            # The LUT's sequential figure charges the link for the 40-byte
            # result, which the local run does not send; 1 / head is the
            # prediction without it.
            row["predicted_fps_without_link"] = 1000.0 / pred["head_ms"] if pred.get("head_ms") else None
            row["note"] = ("local: one pass, measured pipelined = sequential; the predicted sequential fps "
                           "includes the link time of the result, which the run does not send, so its error is "
                           "against predicted_fps_without_link (1 / head)")
        # Diagnostic, not the LUT's model: a sequential frame waits for its
        # result, so it costs a round trip, not one transfer. With the round
        # trip measured in step 1 (empty probes) in place of the link's
        # fitted intercept: head + RTT + occupancy + tail (local: head only).
        rtt = (lut.get("metadata", {}).get("link_measurement") or {}).get("rtt_median_ms")
        if pred.get("head_ms") is not None and rtt is not None:
            t = pred["head_ms"] if c["placement"] == "local" else \
                pred["head_ms"] + rtt + (pred.get("link_busy_ms") or 0) + (pred.get("tail_ms") or 0)
            row["predicted_fps_rtt"] = 1000.0 / t
            row["error_rtt_pct"] = err_pct(row["measured_fps"], row["predicted_fps_rtt"])
        # local: the run sends no result, so it is held to the prediction
        # without the result's transfer (1 / head), and says so in its note.
        row["error_pct"] = err_pct(row["measured_fps"], row.get("predicted_fps_without_link")
                                   or row["predicted_fps"])
        row["pipelined_error_pct"] = err_pct(row["measured_pipelined_fps"], row["predicted_pipelined_fps"])
        rows.append(row)

    thr = plan["threshold_points"]
    # Identical deployments (same placement, gamma, pruned set and measured
    # accuracy; alpha values do not change the cost) are one configuration measured several times: their spread is
    # the noise. The goals are judged both per row and on deployments, with
    # the runs of identical rows pooled.
    groups = {}
    for r in rows:
        key = json.dumps([str(r["placement"]), list(r["gamma"].values()), sorted(r["pruned"]),
                          round(r["accuracy"], 6)])
        groups.setdefault(key, []).append(r)
    for key, members in groups.items():
        names_ = [m["name"] for m in members]
        pooled = {"names": names_,
                  "measured_pipelined_fps": med([x for m in members for x in m["measured_pipelined_fps_runs"]]),
                  "measured_fps": med([x for m in members for x in m["measured_fps_runs"]])}
        for m in members:
            m["same_deployment_as"] = [x for x in names_ if x != m["name"]]
            m["pooled"] = pooled
    ok_rows = [r for r in rows if r["measured_pipelined_fps"] is not None]
    eligible = [r for r in ok_rows if r["accuracy_drop"] <= thr + 1e-9]
    cd = next((r for r in rows if r["name"] == "co-design"), None)
    ns = next((r for r in rows if r["name"] == "neurosurgeon"), None)
    goals = {}
    if cd and eligible and cd["measured_pipelined_fps"] is not None:
        best = max(eligible, key=lambda r: r["measured_pipelined_fps"])
        short = 100.0 * (best["measured_pipelined_fps"] - cd["measured_pipelined_fps"]) / best["measured_pipelined_fps"]
        goals["codesign_best"] = {"met": short <= 5.0, "best_eligible": best["name"],
                                  "best_eligible_pipelined_fps": best["measured_pipelined_fps"],
                                  "codesign_pipelined_fps": cd["measured_pipelined_fps"],
                                  "codesign_below_best_pct": short, "threshold_points": thr}
    if cd and cd.get("pooled", {}).get("measured_pipelined_fps") is not None:
        elig_groups = [m[0]["pooled"] for m in groups.values()
                       if m[0]["accuracy_drop"] <= thr + 1e-9 and m[0]["pooled"]["measured_pipelined_fps"] is not None]
        bestg = max(elig_groups, key=lambda g_: g_["measured_pipelined_fps"])
        c_fps = cd["pooled"]["measured_pipelined_fps"]
        short = 100.0 * (bestg["measured_pipelined_fps"] - c_fps) / bestg["measured_pipelined_fps"]
        goals["codesign_best_deployments"] = {
            "met": short <= 5.0, "best_eligible": bestg["names"],
            "best_eligible_pipelined_fps": bestg["measured_pipelined_fps"], "codesign_names": cd["pooled"]["names"],
            "codesign_pipelined_fps": c_fps, "codesign_below_best_pct": short, "distinct_deployments": len(groups)}
    # The runs are interleaved (run r streams every configuration back to
    # back), so the ratio within a run sees the same machine phase on both
    # sides; its median over the runs is the paired comparison. A
    # diagnostic beside the verdict above, which stays on the medians.
    cd_runs = cd.get("measured_pipelined_fps_runs") if cd else None
    if cd_runs and len(cd_runs) >= 1:
        paired = []
        for r in eligible:
            xr = r.get("measured_pipelined_fps_runs") or []
            if r is cd or len(xr) != len(cd_runs):
                continue
            ratios = [a / b for a, b in zip(cd_runs, xr) if a and b]
            if ratios:
                paired.append((statistics.median(ratios), min(ratios), max(ratios), r["name"]))
        if paired:
            worst = min(paired)
            goals["codesign_best_paired"] = {"met": worst[0] >= 0.95, "against": worst[3],
                                             "median_ratio": worst[0], "min_ratio": worst[1],
                                             "max_ratio": worst[2], "runs": len(cd_runs)}
    within_cfg = [r for r in ok_rows if r["error_pct"] is not None and r["pipelined_error_pct"] is not None
                  and abs(r["error_pct"]) <= 15 and abs(r["pipelined_error_pct"]) <= 15]
    within_pip = [r for r in ok_rows if r["pipelined_error_pct"] is not None and abs(r["pipelined_error_pct"]) <= 15]
    within_seq = [r for r in ok_rows if r["error_pct"] is not None and abs(r["error_pct"]) <= 15]
    goals["predictions_within_15pct"] = {
        "met": bool(ok_rows) and len(within_cfg) >= 0.8 * len(ok_rows),
        "configs_both_within": len(within_cfg), "configs": len(ok_rows),
        "pipelined_within": len(within_pip), "sequential_within": len(within_seq)}
    if cd and ns and ns["measured_pipelined_fps"] and cd["measured_pipelined_fps"]:
        goals["gain_over_neurosurgeon"] = {
            "measured_pipelined_pct": 100.0 * (cd["measured_pipelined_fps"] / ns["measured_pipelined_fps"] - 1),
            "predicted_pipelined_pct": 100.0 * (cd["predicted_pipelined_fps"] / ns["predicted_pipelined_fps"] - 1),
            "measured_sequential_pct": 100.0 * (cd["measured_fps"] / ns["measured_fps"] - 1),
            "predicted_sequential_pct": 100.0 * (cd["predicted_fps"] / ns["predicted_fps"] - 1),
            "accuracy_drop_points": ns["accuracy"] - cd["accuracy"]}

    link = lut.get("bandwidth", {})
    scenario = dict(scen)
    scenario.update({
        "domain": plan["domain"], "model": plan["model"], "results": plan["results"], "lut": plan["lut"],
        "lut_link": {k: link.get(k) for k in ("bandwidth_mbit_s", "latency_ms", "per_message_ms", "measured",
                                                "source")},
        "lut_T_frame": lut.get("T_frame"), "lut_threads": lut.get("metadata", {}).get("threads"),
        "lut_emulated_client": (lut.get("metadata", {}).get("emulated") or {}).get("client"),
        "pruned": plan["pruned"], "threshold_points": thr, "accuracy": plan["accuracy"],
        "notes": plan.get("notes", []), "goals": goals})
    result = {"scenario": scenario, "configs": rows}
    dump(result, os.path.join(out, "codesign_measured.json"))

    # Table, text figure, goals.
    L = []
    L.append("| configuration | placement | pruned | accuracy % (drop) | predicted fps | measured fps | error | "
             "predicted pipelined fps | measured pipelined fps | error | runs |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        L.append(f"| {r['name']} | {r['placement']} | {len(r['pruned'])} | {r['accuracy']:.2f} "
                 f"({r['accuracy_drop']:+.2f}) | {fmt(r['predicted_fps'])} | {fmt(r['measured_fps'])} | "
                 f"{fmt(r['error_pct'], '+.1f')} % | {fmt(r['predicted_pipelined_fps'])} | "
                 f"{fmt(r['measured_pipelined_fps'])} | {fmt(r['pipelined_error_pct'], '+.1f')} % | "
                 f"{r['runs']}{' (' + str(r['runs_failed']) + ' failed)' if r['runs_failed'] else ''} |")
    L.append("")
    L.append("Sequential fps against a round-trip prediction (diagnostic; head + the round trip measured in step 1 "
             f"({fmt((lut.get('metadata', {}).get('link_measurement') or {}).get('rtt_median_ms'), '.2f')} ms) + link "
             "occupancy + tail; local: head only):")
    L.append("")
    L.append("| configuration | LUT model | round-trip model | measured | error vs round-trip model |")
    L.append("|---|---|---|---|---|")
    for r in rows:
        L.append(f"| {r['name']} | {fmt(r['predicted_fps'])} | {fmt(r.get('predicted_fps_rtt'))} | "
                 f"{fmt(r['measured_fps'])} | {fmt(r.get('error_rtt_pct'), '+.1f')} % |")
    L.append("")
    L.append("Gamma per block (" + ", ".join(next(iter(rows))["gamma"].keys()) + "):" if rows else "")
    for r in rows:
        L.append(f"- {r['name']}: {list(r['gamma'].values())}; {r['how']}")
    L.append("")
    top = max([r["measured_pipelined_fps"] or 0 for r in rows] + [r["predicted_pipelined_fps"] or 0 for r in rows]
              + [1])
    L.append("```")
    L.append("pipelined fps   P = predicted (testbed LUT), M = measured (median)")
    for r in rows:
        for tag, v in (("P", r["predicted_pipelined_fps"]), ("M", r["measured_pipelined_fps"])):
            bar = "#" * int(round(50 * (v or 0) / top))
            L.append(f"{r['name']:13s} {tag} {bar:50s} {fmt(v)}")
    L.append("```")
    L.append("")
    g = goals.get("codesign_best")
    if g:
        L.append(f"- Co-design measured best on pipelined fps (within 5 % of the best configuration whose accuracy "
                 f"drop is within {thr:g} points): **{'met' if g['met'] else 'not met'}**: co-design "
                 f"{g['codesign_pipelined_fps']:.1f} fps, best eligible {g['best_eligible']} "
                 f"{g['best_eligible_pipelined_fps']:.1f} fps ({g['codesign_below_best_pct']:+.1f} % below).")
    g = goals.get("codesign_best_deployments")
    if g:
        L.append(f"- The same, identical deployments pooled ({g['distinct_deployments']} distinct deployments among "
                 f"{len(rows)} rows): **{'met' if g['met'] else 'not met'}**: co-design ({', '.join(g['codesign_names'])}) "
                 f"{g['codesign_pipelined_fps']:.1f} fps, best eligible ({', '.join(g['best_eligible'])}) "
                 f"{g['best_eligible_pipelined_fps']:.1f} fps ({g['codesign_below_best_pct']:+.1f} % below).")
    g = goals.get("codesign_best_paired")
    if g:
        L.append(f"- Paired over the interleaved runs (diagnostic): co-design / {g['against']}, the eligible "
                 f"configuration it trails most, median of {g['runs']} per-run ratios {g['median_ratio']:.3f} "
                 f"(range {g['min_ratio']:.2f}–{g['max_ratio']:.2f}): "
                 f"**{'within' if g['met'] else 'not within'} 5 %**.")
    g = goals["predictions_within_15pct"]
    L.append(f"- Predictions within ±15 % for ≥ 80 % of configurations: **{'met' if g['met'] else 'not met'}**: "
             f"{g['configs_both_within']}/{g['configs']} configurations with both figures within; pipelined "
             f"{g['pipelined_within']}/{g['configs']}, sequential {g['sequential_within']}/{g['configs']}.")
    g = goals.get("gain_over_neurosurgeon")
    if g:
        L.append(f"- Gain over Neurosurgeon: pipelined {g['measured_pipelined_pct']:+.1f} % measured "
                 f"({g['predicted_pipelined_pct']:+.1f} % predicted); sequential {g['measured_sequential_pct']:+.1f} % "
                 f"measured ({g['predicted_sequential_pct']:+.1f} % predicted); accuracy drop "
                 f"{g['accuracy_drop_points']:+.2f} points.")
    text = "\n".join(L) + "\n"
    with open(os.path.join(out, "codesign_measured.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "figure.dat"), "w") as f:
        f.write("# name predicted_pipelined measured_pipelined predicted_sequential measured_sequential\n")
        for r in rows:
            f.write(f"\"{r['name']}\" {r['predicted_pipelined_fps'] or 0} {r['measured_pipelined_fps'] or 0} "
                    f"{r['predicted_fps'] or 0} {r['measured_fps'] or 0}\n")
    with open(os.path.join(out, "figure.gp"), "w") as f:
        f.write(f"""set terminal pngcairo size 1000,480 noenhanced
set output '{os.path.join(out, "codesign_measured.png")}'
set title 'Domain {plan["domain"]}: predicted vs measured fps on the testbed'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'frames per second (log scale)'
set logscale y
set yrange [10:*]
set key outside right top
set grid ytics
set xtics rotate by -20
plot '{os.path.join(out, "figure.dat")}' using 2:xtic(1) title 'predicted pipelined', \\
     '' using 3 title 'measured pipelined', '' using 4 title 'predicted sequential', '' using 5 title 'measured sequential'
""")
    print(text)
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "scenario" and len(argv) == 3:
        return cmd_scenario(argv[2])
    if len(argv) >= 2 and argv[1] == "plan" and len(argv) == 7:
        return cmd_plan(*argv[2:])
    if len(argv) >= 2 and argv[1] == "report" and len(argv) == 3:
        return cmd_report(argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
