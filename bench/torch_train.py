#!/usr/bin/python3
"""PyTorch side of bench/train_figures.sh: training throughput of the same
HyperRepVGG that hyperrep trains, doing exactly the same work.

  alpha: code 1 — backbone and BN frozen (BN in eval mode, requires_grad
         False), only the α trainable; loss = cross-entropy + 0.001·Σ|α|;
         SGD lr 0.01 momentum 0.9 on α.
  full:  base training — BN in training mode, every weight trained, α fixed;
         SGD momentum 0.9, weight decay on conv/linear weights.

Prints one JSON line: {"impl": "pytorch", "mode", "batch", "threads", "steps",
"ms_per_step", "images_per_s"}. Random input (throughput does not depend on
the pixels). Run with Debian's torch: /usr/bin/python3 bench/torch_train.py.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn

ARCHS = {
    # name: (blocks per stage, widths, stage0 channels, stage0 stride, in_ch, size, classes)
    "repvgg-fmnist": ([2, 2, 2, 1], [16, 32, 64, 128], 16, 1, 1, 28, 10),
    "repvgg-tiny": ([2, 2, 2, 1], [8, 16, 16, 32], 8, 2, 3, 48, 10),
}


def conv_bn(i, o, k, s, p, g):
    m = nn.Sequential()
    m.add_module("conv", nn.Conv2d(i, o, k, s, p, groups=g, bias=False))
    m.add_module("bn", nn.BatchNorm2d(o))
    return m


class Block(nn.Module):
    def __init__(self, i, o, s, hyper):
        super().__init__()
        self.hyper = hyper
        self.rbr_identity = nn.BatchNorm2d(i) if i == o and s == 1 else None
        self.rbr_dense = conv_bn(i, o, 3, s, 1, 1)
        self.rbr_1x1 = conv_bn(i, o, 1, s, 0, 1)
        if hyper:
            self.hyper_dense = nn.Parameter(torch.ones(1))
            self.hyper_1x1 = nn.Parameter(torch.ones(1))
            if self.rbr_identity is not None:
                self.hyper_identity = nn.Parameter(torch.ones(1))

    def forward(self, x):
        if self.hyper:
            y = self.hyper_dense * self.rbr_dense(x) + self.hyper_1x1 * self.rbr_1x1(x)
            if self.rbr_identity is not None:
                y = y + self.hyper_identity * self.rbr_identity(x)
        else:
            y = self.rbr_dense(x) + self.rbr_1x1(x)
        return torch.relu(y)


class Net(nn.Module):
    def __init__(self, arch):
        super().__init__()
        blocks, widths, c0, s0, cin, size, classes = ARCHS[arch]
        self.stage0 = Block(cin, c0, s0, False)
        layers, c = [], c0
        for n, w in zip(blocks, widths):
            for k in range(n):
                layers.append(Block(c, w, 2 if k == 0 else 1, True))
                c = w
        self.blocks = nn.Sequential(*layers)
        self.linear = nn.Linear(c, classes)
        self.shape = (cin, size, size)

    def forward(self, x):
        x = self.blocks(self.stage0(x))
        return self.linear(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["alpha", "full"], default="alpha")
    ap.add_argument("--model", default="repvgg-fmnist")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = Net(a.model)
    alphas = [p for n, p in net.named_parameters() if ".hyper_" in n]
    if a.mode == "alpha":
        net.eval()
        for n, p in net.named_parameters():
            p.requires_grad_(".hyper_" in n)
        opt = torch.optim.SGD(alphas, lr=0.01, momentum=0.9)
    else:
        net.train()
        for n, p in net.named_parameters():
            p.requires_grad_(".hyper_" not in n)
        decay = [p for n, p in net.named_parameters() if p.requires_grad and n.endswith("weight") and p.dim() > 1]
        rest = [p for n, p in net.named_parameters() if p.requires_grad and not (n.endswith("weight") and p.dim() > 1)]
        opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-4}, {"params": rest, "weight_decay": 0}],
                              lr=0.05, momentum=0.9)
    x = torch.randn((a.batch,) + net.shape)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x), y)
        if a.mode == "alpha":
            loss = loss + 0.001 * sum(p.abs().sum() for p in alphas)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = (time.perf_counter() - t0) / a.steps
    print(json.dumps({"impl": "pytorch", "mode": a.mode, "model": a.model, "batch": a.batch, "threads": a.threads,
                      "steps": a.steps, "ms_per_step": dt * 1e3, "images_per_s": a.batch / dt,
                      "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
