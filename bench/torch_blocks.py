#!/usr/bin/python3
"""Block latency, hyperrep vs PyTorch, interleaved in one run.

For every block of the model and every γ valid for its existing branches, each
round measures hyperrep (a `bench_blocks --serve` subprocess per thread count)
and PyTorch back to back; PyTorch runs the same streams (fused 3x3 / 1x1
convolutions with bias, per-channel affine, sum, ReLU) on its best CPU path,
chosen per entry and round as the faster of
  - plain:  F.conv2d on NCHW tensors under torch.inference_mode(), and
  - oneDNN: modules converted by torch.utils.mkldnn.to_mkldnn (weights
            pre-packed once), input and output kept in the oneDNN layout.
Each entry's ratio is the median over the rounds of hyperrep/PyTorch; the
report ends with the median ratio over all entries, per thread count.

Run with Debian's python3-torch:
  /usr/bin/python3 bench/torch_blocks.py --bench build/bench/bench_blocks \\
      --model repvgg-b3 --threads 1,2 --rounds 5 --repeat 20
"""
import argparse
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.mkldnn

# γ table (include/hyperrep/gamma.def): branches (D, O, I) and stream kernels.
GAMMAS = [
    ("SOLO_K3", "D", ["K3"]), ("SOLO_K1", "O", ["K1"]), ("SOLO_ID", "I", ["ID"]),
    ("PARA_3_1", "DO", ["K3", "K1"]), ("FUSED_3_1", "DO", ["K3"]),
    ("PARA_3_I", "DI", ["K3", "ID"]), ("FUSED_3_I", "DI", ["K3"]),
    ("PARA_1_I", "OI", ["K1", "ID"]), ("FUSED_1_I", "OI", ["K1"]),
    ("PARA_ALL", "DOI", ["K3", "K1", "ID"]), ("PART_31_I", "DOI", ["K3", "ID"]),
    ("PART_3I_1", "DOI", ["K3", "K1"]), ("PART_1I_3", "DOI", ["K1", "K3"]),
    ("FUSED_ALL", "DOI", ["K3"]),
]

ARCHS = {  # name: (blocks per stage, widths, stage0 channels, group count)
    "repvgg-a0": ([2, 4, 14, 1], [48, 96, 192, 1280], 48, 1),
    "repvgg-b0": ([4, 6, 16, 1], [64, 128, 256, 1280], 64, 1),
    "repvgg-b1": ([4, 6, 16, 1], [128, 256, 512, 2048], 64, 1),
    "repvgg-b3": ([4, 6, 16, 1], [192, 384, 768, 2560], 64, 1),
    "repvgg-b3g2": ([4, 6, 16, 1], [192, 384, 768, 2560], 64, 2),
    "repvgg-b3g4": ([4, 6, 16, 1], [192, 384, 768, 2560], 64, 4),
}


def blocks_of(arch, size):
    nblocks, widths, c0, gc = ARCHS[arch]
    hw = (size + 2 - 3) // 2 + 1
    cin, layer, out = c0, 1, []
    for s in range(4):
        for i in range(nblocks[s]):
            stride = 2 if i == 0 else 1
            groups = gc if gc > 1 and layer % 2 == 0 else 1
            ohw = (hw + 2 - 3) // stride + 1
            branches = "DO" + ("I" if cin == widths[s] and stride == 1 else "")
            out.append((f"stage{s + 1}.{i}", cin, widths[s], hw, stride, groups, branches))
            hw, cin, layer = ohw, widths[s], layer + 1
    return out


class Block(nn.Module):
    """The streams of one γ, summed, then ReLU (weights random: timing only)."""

    def __init__(self, cin, cout, stride, groups, kernels):
        super().__init__()
        self.streams = nn.ModuleList()
        for k in kernels:
            if k == "ID":
                bn = nn.BatchNorm2d(cout).eval()
                bn.running_var.uniform_(0.5, 2.0)
                self.streams.append(bn)
            else:
                ks = 3 if k == "K3" else 1
                self.streams.append(nn.Conv2d(cin, cout, ks, stride, ks // 2, groups=groups, bias=True))

    def forward(self, x):
        y = self.streams[0](x)
        for s in self.streams[1:]:
            y = y + s(x)
        return torch.relu(y)


def time_fn(fn, x, warmup, repeat):
    for _ in range(warmup):
        fn(x)
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(x)
        t.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(t)


def torch_best(block, x, xm, mk, warmup, repeat):
    with torch.inference_mode():
        plain = time_fn(block, x, warmup, repeat)
        dnn = time_fn(mk, xm, warmup, repeat) if mk is not None else float("inf")
    return min(plain, dnn), "onednn" if dnn < plain else "plain"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default="build/bench/bench_blocks")
    ap.add_argument("--model", default="repvgg-b3", choices=sorted(ARCHS))
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--blocks", default="", help="comma-separated subset (default: all)")
    a = ap.parse_args()
    wanted = set(a.blocks.split(",")) if a.blocks else None
    print(f"# torch {torch.__version__}, model {a.model} @ {a.input_size}, rounds {a.rounds}, "
          f"repeat {a.repeat}, warmup {a.warmup}; ratio = hyperrep / PyTorch best (median over rounds)")
    summary = []
    for threads in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(threads)
        srv = subprocess.Popen([a.bench, "--model", a.model, "--input-size", str(a.input_size),
                                "--threads", str(threads), "--warmup", str(a.warmup), "--serve"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        ready = srv.stdout.readline()
        if not ready.startswith("ready"):
            sys.exit(f"bench server failed to start: {ready!r}")
        print(f"\n## threads {threads} (torch.get_num_threads() = {torch.get_num_threads()})")
        print(f"{'block':<10} {'g':>2} {'name':<10} {'hyperrep_ms':>11} {'torch_ms':>9} {'path':>6} {'ratio':>6}")
        ratios = []
        for name, cin, cout, hw, stride, groups, branches in blocks_of(a.model, a.input_size):
            if wanted and name not in wanted:
                continue
            x = torch.randn(1, cin, hw, hw)
            xm = x.to_mkldnn()
            for g, (gname, br, kernels) in enumerate(GAMMAS):
                if any(c not in branches for c in br):
                    continue
                block = Block(cin, cout, stride, groups, kernels).eval()
                try:
                    mk = torch.utils.mkldnn.to_mkldnn(Block(cin, cout, stride, groups, kernels).eval())
                    with torch.inference_mode():
                        mk(xm)
                except RuntimeError:
                    mk = None
                rs, hrs, ths, paths = [], [], [], []
                for _ in range(a.rounds):
                    srv.stdin.write(f"{name} {g} {a.repeat}\n")
                    reply = srv.stdout.readline().split()
                    if len(reply) != 4:
                        sys.exit(f"bench server: {' '.join(reply)}")
                    hr_ms = float(reply[2])
                    th_ms, path = torch_best(block, x, xm, mk, a.warmup, a.repeat)
                    rs.append(hr_ms / th_ms)
                    hrs.append(hr_ms)
                    ths.append(th_ms)
                    paths.append(path)
                r = statistics.median(rs)
                ratios.append((r, statistics.median(ths)))
                print(f"{name:<10} {g:>2} {gname:<10} {statistics.median(hrs):11.3f} {statistics.median(ths):9.3f} "
                      f"{max(set(paths), key=paths.count):>6} {r:6.2f}", flush=True)
        srv.stdin.close()
        srv.wait()
        med = statistics.median(r for r, _ in ratios)
        worst = max(r for r, _ in ratios)
        over = sum(1 for r, t in ratios if r > (1.1 if t < 0.5 else 1.0))
        summary.append((threads, len(ratios), med, worst, over))
    print()
    for threads, n, med, worst, over in summary:
        print(f"threads={threads}: entries={n} median_ratio={med:.3f} max_ratio={worst:.3f} "
              f"entries_over_limit={over} (limit 1.0, 1.1 under 0.5 ms)")


if __name__ == "__main__":
    main()
