#!/usr/bin/python3
"""Compare hyperrep's convolutions with PyTorch's, interleaved.

Run with Debian's python3 (python3-torch 1.13):

    /usr/bin/python3 bench/torch_conv.py --bench build-kern/bench/bench_conv \
        [--rounds 5] [--repeat 20] [--threads 1] [--model] [--memory]

Per round, every entry is timed in PyTorch and then in hyperrep (through a
`bench_conv --serve` subprocess), so slow drifts of the machine's speed hit
both alike. PyTorch gets its best CPU path per entry: F.conv2d on dense
tensors under no_grad, and the oneDNN path with pre-packed weights
(torch.utils.mkldnn.to_mkldnn of the module, input and output in oneDNN's
blocked layout, converted outside the timing); the faster of the two counts.
The ratio hyperrep/PyTorch is taken per entry and round; the table shows the
median over rounds, then the median over entries.

--model adds the whole RepVGG-B3 deploy forward (every block a 3x3 conv with
bias + ReLU; b3g2/b3g4 with groups on every second block), PyTorch taking
the best of eager dense, oneDNN modules and a frozen TorchScript module
(torch.jit.optimize_for_inference).
--memory measures the peak RSS of one deploy forward in a fresh process for
each side (PyTorch eager dense and oneDNN; hyperrep normal and low-memory).
"""
import argparse
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
import torch.utils.mkldnn

# (name, cin, cout, hw, k, stride, groups): the layer shapes of RepVGG-B3 at
# 224x224, the same list as bench/bench_conv.c.
SHAPES = [
    ("stage0 3x3 s2", 3, 64, 224, 3, 2, 1),
    ("stage1.0 3x3 s2", 64, 192, 112, 3, 2, 1),
    ("stage1 3x3", 192, 192, 56, 3, 1, 1),
    ("stage2.0 3x3 s2", 192, 384, 56, 3, 2, 1),
    ("stage2 3x3", 384, 384, 28, 3, 1, 1),
    ("stage3.0 3x3 s2", 384, 768, 28, 3, 2, 1),
    ("stage3 3x3", 768, 768, 14, 3, 1, 1),
    ("stage4 3x3 s2", 768, 2560, 14, 3, 2, 1),
    ("stage1 3x3 g4", 192, 192, 56, 3, 1, 4),
    ("stage2 3x3 g2", 384, 384, 28, 3, 1, 2),
    ("stage3 3x3 g2", 768, 768, 14, 3, 1, 2),
    ("stage3 3x3 g4", 768, 768, 14, 3, 1, 4),
    ("stage0 1x1 s2", 3, 64, 224, 1, 2, 1),
    ("stage1.0 1x1 s2", 64, 192, 112, 1, 2, 1),
    ("stage1 1x1", 192, 192, 56, 1, 1, 1),
    ("stage2.0 1x1 s2", 192, 384, 56, 1, 2, 1),
    ("stage2 1x1", 384, 384, 28, 1, 1, 1),
    ("stage3.0 1x1 s2", 384, 768, 28, 1, 2, 1),
    ("stage3 1x1", 768, 768, 14, 1, 1, 1),
    ("stage4 1x1 s2", 768, 2560, 14, 1, 2, 1),
    ("stage3 1x1 g4", 768, 768, 14, 1, 1, 4),
]

DEPTH = [1, 4, 6, 16, 1]
WIDTH = [64, 192, 384, 768, 2560]


def timed_median(fn, repeat):
    fn()
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


class TorchConv:
    """One entry on the PyTorch side: dense tensors and a oneDNN module."""

    def __init__(self, cin, cout, hw, k, stride, groups):
        g = torch.Generator().manual_seed(cin * 7 + cout)
        self.x = torch.rand(1, cin, hw, hw, generator=g) * 2 - 1
        self.w = (torch.rand(cout, cin // groups, k, k, generator=g) - 0.5) * (2.0 / (k * k * cin / groups))
        self.b = torch.rand(cout, generator=g) * 0.1
        self.args = (stride, k // 2, 1, groups)
        m = torch.nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups).eval()
        with torch.no_grad():
            m.weight.copy_(self.w)
            m.bias.copy_(self.b)
        self.mk = torch.utils.mkldnn.to_mkldnn(m)
        self.xm = self.x.to_mkldnn()

    def time(self, repeat):
        with torch.no_grad():
            dense = timed_median(lambda: F.conv2d(self.x, self.w, self.b, *self.args), repeat)
            onednn = timed_median(lambda: self.mk(self.xm), repeat)
        return min(dense, onednn), ("dense" if dense <= onednn else "onednn")


def torch_model(groups):
    layers, cin, idx = [], 3, 0
    for st in range(5):
        for b in range(DEPTH[st]):
            g = groups if (groups > 1 and idx % 2 == 0 and idx > 0 and st < 4) else 1
            layers += [torch.nn.Conv2d(cin, WIDTH[st], 3, 2 if b == 0 else 1, 1, groups=g), torch.nn.ReLU()]
            cin = WIDTH[st]
            idx += 1
    return torch.nn.Sequential(*layers).eval()


class TorchModel:
    def __init__(self, name):
        groups = {"b3": 1, "b3g2": 2, "b3g4": 4}[name]
        torch.manual_seed(0)
        self.m = torch_model(groups)
        self.x = torch.rand(1, 3, 224, 224)
        self.mk = torch.utils.mkldnn.to_mkldnn(self.m)
        with torch.no_grad():
            self.jit = torch.jit.optimize_for_inference(torch.jit.script(self.m))

    def time(self, repeat):
        with torch.no_grad():
            t = {
                "dense": timed_median(lambda: self.m(self.x), repeat),
                "onednn": timed_median(lambda: self.mk(self.x.to_mkldnn()).to_dense(), repeat),
                "jit": timed_median(lambda: self.jit(self.x), repeat),
            }
        best = min(t, key=t.get)
        return t[best], best


class Ours:
    def __init__(self, path):
        self.p = subprocess.Popen([path, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline()
        if not out or out.startswith("error"):
            sys.exit("bench_conv --serve: " + (out or "no answer").strip())
        return out.split()

    def close(self):
        self.p.stdin.close()
        self.p.wait()


PEAK_SCRIPT = """
import resource, torch, torch.utils.mkldnn, sys
sys.path.insert(0, {dir!r})
import torch_conv
torch.set_num_threads({threads})
m = torch_conv.torch_model({groups})
x = torch.rand(1, 3, 224, 224)
with torch.no_grad():
    if {onednn}:
        m = torch.utils.mkldnn.to_mkldnn(m)
        for _ in range(3): m(x.to_mkldnn()).to_dense()
    else:
        for _ in range(3): m(x)
# VmHWM: the peak of this process image (ru_maxrss would include the
# parent's size at fork, which survives exec)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(int(hwm[0].split()[1]) * 1024 / 1e6 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6)
"""


def measure_memory(bench, threads):
    import os

    d = os.path.dirname(os.path.abspath(__file__))
    rows = []
    for name, groups in (("b3", 1),):
        for onednn in (0, 1):
            out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT.format(dir=d, threads=threads, groups=groups,
                                                                           onednn=onednn)],
                                 capture_output=True, text=True, check=True).stdout.split()
            rows.append(("pytorch " + ("onednn" if onednn else "dense"), name, float(out[-1])))
        for low in ((), ("--low-memory",)):
            out = subprocess.run([bench, "--model", name, "--threads", str(threads), "--repeat", "3", *low],
                                 capture_output=True, text=True, check=True).stdout
            rows.append(("hyperrep" + (" low-memory" if low else ""), name, float(out.split("peak RSS ")[1].split()[0])))
            print("  " + out.strip())
    print("\npeak RSS of a deploy forward (fresh process each):")
    for who, name, mb in rows:
        print(f"  {who:22s} {name:5s} {mb:8.1f} MB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build-kern/bench/bench_conv")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", default="1", help="comma-separated thread counts")
    ap.add_argument("--only", default="", help="substring filter on entry names")
    ap.add_argument("--model", nargs="?", const="b3", default=None, help="also the whole deploy forward (b3, b3g2, b3g4)")
    ap.add_argument("--no-layers", action="store_true")
    ap.add_argument("--memory", action="store_true")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",")]

    print(f"torch {torch.__version__}, oneDNN {torch.backends.mkldnn.is_available()}, rounds {args.rounds}, "
          f"repeat {args.repeat}, threads {threads}", flush=True)
    ours = Ours(args.bench)
    entries = []
    if not args.no_layers:
        for t in threads:
            for s in SHAPES:
                if args.only in s[0]:
                    entries.append(("layer", s, t))
    if args.model:
        for t in threads:
            entries.append(("model", args.model, t))
    torch_objs = {}
    res = {i: [] for i in range(len(entries))}
    for r in range(args.rounds):
        for i, (kind, s, t) in enumerate(entries):
            torch.set_num_threads(t)
            if kind == "layer":
                if s not in torch_objs:
                    torch_objs[s] = TorchConv(*s[1:])
                pt, how = torch_objs[s].time(args.repeat)
                name, cin, cout, hw, k, stride, groups = s
                o = ours.ask(f"conv {cin} {cout} {hw} {hw} {k} {stride} {groups} {t} {args.repeat}")
                res[i].append((float(o[0]), pt, how, o[1], float(o[2])))
            else:
                if s not in torch_objs:
                    torch_objs[s] = TorchModel(s)
                pt, how = torch_objs[s].time(max(3, args.repeat // 4))
                o = ours.ask(f"model {s} {t} {max(3, args.repeat // 4)}")
                # the answer is "ms GFLOP/s ...": recover the model's GFLOP
                res[i].append((float(o[0]), pt, how, "auto", float(o[0]) * float(o[1]) * 1e-3))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    ours.close()

    print(f"\n{'entry':24s} {'T':>2s} {'algo':8s} {'ours ms':>9s} {'GFLOP/s':>8s} {'torch ms':>9s} {'path':7s} {'ratio':>6s}")
    ratios = {}
    for i, (kind, s, t) in enumerate(entries):
        rs = res[i]
        ratio = statistics.median(a / b for a, b, *_ in rs)
        our = statistics.median(a for a, *_ in rs)
        pt = statistics.median(b for _, b, *_ in rs)
        how = statistics.mode(h for _, _, h, *_ in rs)
        name = s[0] if kind == "layer" else "model " + s
        gf = rs[0][4] / our * 1e3
        print(f"{name:24s} {t:2d} {rs[0][3]:8s} {our:9.3f} {gf:8.1f} {pt:9.3f} {how:7s} {ratio:6.2f}")
        if kind == "layer":
            ratios.setdefault(t, []).append(ratio)
    for t, rl in ratios.items():
        print(f"threads {t}: median ratio {statistics.median(rl):.3f}, max {max(rl):.2f}, "
              f"{sum(r <= 0.8 for r in rl)}/{len(rl)} entries <= 0.80, {sum(r <= 1.0 for r in rl)}/{len(rl)} <= 1.0")
    if args.memory:
        measure_memory(args.bench, threads[0])


if __name__ == "__main__":
    main()
