#!/usr/bin/env python3
"""Tables of bench/real_figures.sh: predicted vs measured fps per configuration
and link, the share within +-10 %, pipelined vs sequential, and the 100-client
run. Standard library only.

    python3 bench/real_figures.py OUT_DIR
"""
import glob
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def err_pct(measured, predicted):
    return 100.0 * (measured - predicted) / predicted


def main(out):
    rows = []
    for d in sorted(glob.glob(os.path.join(out, "real", "link_*"))):
        link = os.path.basename(d)[len("link_"):]
        lut = load(os.path.join(d, "lut.json")) if os.path.exists(os.path.join(d, "lut.json")) else {}
        lk = lut.get("link", {})
        print(f"\n## {link}: LUT link {lk}" if lk else f"\n## {link}")
        for p in sorted(glob.glob(os.path.join(d, "infer_*.json"))):
            r = load(p)
            name = os.path.basename(p)[len("infer_"):-len(".json")]
            if r.get("predicted_fps") is None:
                print(f"{name}: no prediction ({r.get('predicted', {})})")
                continue
            rows.append((link, name, r))
    if not rows:
        print("no infer results")
        return 1
    print("\n| link | configuration | predicted fps | measured fps | error | predicted sequential fps | "
          "measured sequential fps | error | pipelined / sequential |")
    print("|---|---|---|---|---|---|---|---|---|")
    within = 0
    total = 0
    for link, name, r in rows:
        e1 = err_pct(r["measured_fps"], r["predicted_fps"])
        e2 = err_pct(r["sequential_fps"], r["predicted_sequential_fps"])
        for e in (e1, e2):
            total += 1
            within += abs(e) <= 10.0
        print(f"| {link} | {name} | {r['predicted_fps']:.1f} | {r['measured_fps']:.1f} | {e1:+.1f} % | "
              f"{r['predicted_sequential_fps']:.1f} | {r['sequential_fps']:.1f} | {e2:+.1f} % | "
              f"{r['measured_fps'] / r['sequential_fps']:.2f}x |")
    pip = [abs(err_pct(r["measured_fps"], r["predicted_fps"])) <= 10 for _, _, r in rows]
    seq = [abs(err_pct(r["sequential_fps"], r["predicted_sequential_fps"])) <= 10 for _, _, r in rows]
    print(f"\nwithin +-10 %: pipelined {sum(pip)}/{len(pip)}, sequential {sum(seq)}/{len(seq)}, "
          f"all {within}/{total} = {100.0 * within / total:.1f} %")
    best = max(rows, key=lambda x: x[2]["measured_fps"] / x[2]["sequential_fps"])
    print(f"largest pipelined/sequential: {best[1]} on {best[0]}: "
          f"{best[2]['measured_fps'] / best[2]['sequential_fps']:.2f}x")
    lp = os.path.join(out, "load100", "load100.json")
    if os.path.exists(lp):
        l = load(lp)
        print("\n## 100 clients\n" + json.dumps({k: v for k, v in l.items() if k != "per_client"}, indent=1)[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/hr-real-figures"))
