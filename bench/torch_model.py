#!/usr/bin/python3
"""Whole-model deploy forward, hyperrep vs PyTorch, interleaved, with peak RSS.

Each round runs, as separate child processes one after another:
  - `hyperrep forward --model M --repeat R --threads T` (fastest mode),
  - the same with --low-memory,
  - PyTorch on the same deploy-form network (a 3x3 conv with bias + ReLU per
    block, stage 0, global pooling, linear; random weights) on the plain path
    (torch.inference_mode, NCHW) and on the oneDNN path (torch.utils.mkldnn
    .to_mkldnn: weights pre-packed once, input already in oneDNN layout).
Each child reports its median forward time over R runs after warm-up; peak
RSS (VmHWM) comes from os.wait4's rusage of that child alone. The report
gives medians over rounds and the ratios hyperrep / PyTorch-best.

  /usr/bin/python3 bench/torch_model.py --hyperrep build/hyperrep --model repvgg-b3 \\
      --threads 1 --rounds 5 --repeat 10
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ARCHS = {  # blocks per stage, widths, stage0 channels, group count (as src/model/arch.c)
    "repvgg-a0": ([2, 4, 14, 1], [48, 96, 192, 1280], 48, 1),
    "repvgg-b0": ([4, 6, 16, 1], [64, 128, 256, 1280], 64, 1),
    "repvgg-b3": ([4, 6, 16, 1], [192, 384, 768, 2560], 64, 1),
    "repvgg-b3g4": ([4, 6, 16, 1], [192, 384, 768, 2560], 64, 4),
}

TORCH_CHILD = r"""
import statistics, sys, time, torch, torch.nn as nn, torch.utils.mkldnn
nblocks, widths, c0, gc, size, threads, repeat, mode = eval(sys.argv[1])
torch.set_num_threads(threads)
layers, cin, layer = [nn.Conv2d(3, c0, 3, 2, 1), nn.ReLU()], c0, 1
for s in range(4):
    for i in range(nblocks[s]):
        g = gc if gc > 1 and layer % 2 == 0 else 1
        layers += [nn.Conv2d(cin, widths[s], 3, 2 if i == 0 else 1, 1, groups=g), nn.ReLU()]
        cin, layer = widths[s], layer + 1
body = nn.Sequential(*layers).eval()
head = nn.Linear(cin, 1000).eval()
x = torch.randn(1, 3, size, size)
with torch.inference_mode():
    if mode == "onednn":
        body = torch.utils.mkldnn.to_mkldnn(body)
        x = x.to_mkldnn()
        run = lambda: head(body(x).to_dense().mean((2, 3)))
    else:
        run = lambda: head(body(x).mean((2, 3)))
    for _ in range(2):
        run()
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter(); run(); t.append((time.perf_counter() - t0) * 1e3)
print("median_ms", statistics.median(t))
"""


def run_child(cmd):
    """Runs cmd, returns (stdout+stderr text, peak RSS in MB of that child)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{out}")
    return out, ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hyperrep", default="build/hyperrep")
    ap.add_argument("--model", default="repvgg-b3", choices=sorted(ARCHS))
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=10)
    a = ap.parse_args()
    nblocks, widths, c0, gc = ARCHS[a.model]
    res = {k: ([], []) for k in ("hyperrep", "hyperrep_low_memory", "torch_plain", "torch_onednn")}
    for r in range(a.rounds):
        for key, extra in (("hyperrep", []), ("hyperrep_low_memory", ["--low-memory"])):
            out, rss = run_child([a.hyperrep, "forward", "--model", a.model, "--input-size", str(a.input_size),
                                  "--threads", str(a.threads), "--repeat", str(a.repeat)] + extra)
            m = re.search(r"forward_ms median=([0-9.]+)", out)
            res[key][0].append(float(m.group(1)))
            res[key][1].append(rss)
        for mode in ("plain", "onednn"):
            args = repr((nblocks, widths, c0, gc, a.input_size, a.threads, a.repeat, mode))
            out, rss = run_child(["/usr/bin/python3", "-c", TORCH_CHILD, args])
            res["torch_" + mode][0].append(float(out.split()[-1]))
            res["torch_" + mode][1].append(rss)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[0][-1]:.1f} ms" for k, v in res.items()), flush=True)
    med = {k: (statistics.median(v[0]), statistics.median(v[1])) for k, v in res.items()}
    best = min(("torch_plain", "torch_onednn"), key=lambda k: med[k][0])
    print(f"\n# {a.model} @ {a.input_size}, batch 1, threads {a.threads}, {a.rounds} rounds x {a.repeat} runs "
          f"(medians over rounds)")
    for k, (ms, rss) in med.items():
        print(f"{k:<20} forward_ms={ms:9.2f} peak_rss_mb={rss:8.1f}")
    print(f"ratio hyperrep/{best} = {med['hyperrep'][0] / med[best][0]:.3f}; "
          f"low_memory/{best} = {med['hyperrep_low_memory'][0] / med[best][0]:.3f}")
    print(f"peak RSS hyperrep / {best} = {med['hyperrep'][1] / med[best][1]:.3f}")


if __name__ == "__main__":
    main()
