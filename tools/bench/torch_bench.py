#!/usr/bin/python3
"""PyTorch peer of `win bench` (BENCHMARKS.md): W1 mlp, W2 resnet, W3 bert, same model, batch,
optimizer and loss, eager mode, random data; median ms/step over timed steps after warm-up, at
each requested thread count.

Usage: /usr/bin/python3 tools/bench/torch_bench.py --workload mlp [--steps 20] [--warmup 3]
       [--threads 1,2]
Prints one line per thread count: workload batch threads median_ms samples_per_s
"""
import argparse
import math
import statistics
import time

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from win_torch import Bert, Mlp, ResNet  # noqa: E402  (the same models as win's builders)


def mlp():
    model = Mlp(784, 128, 24, 10, block="plain", act="relu")
    x = torch.randn(256, 784)
    y = torch.randint(0, 10, (256,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, opt, lambda: F.cross_entropy(model(x), y), 256


def resnet():
    model = ResNet(1, 32, 16, (2, 2, 2, 2), 10)
    x = torch.randn(128, 1, 28, 28)
    y = torch.randint(0, 10, (128,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    return model, opt, lambda: F.cross_entropy(model(x), y), 128


def bert():
    model = Bert(30522, 256, 4, 4, 1024, maxpos=512, p=0.1)
    b, t, p, vocab = 32, 128, 20, 30522
    ids = torch.randint(0, vocab, (b, t))
    seg = torch.zeros(b, t, dtype=torch.long)
    seg[:, t // 2:] = 1
    mask = torch.ones(b, t, dtype=torch.long)
    positions = torch.tensor([[1 + j * (t - 2) // p for j in range(p)]] * b)
    mlm_labels = torch.randint(0, vocab, (b * p,))
    nsp_labels = torch.randint(0, 2, (b,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def loss():
        mlm, nsp = model(ids, seg, mask, positions)
        return F.cross_entropy(mlm, mlm_labels) + F.cross_entropy(nsp, nsp_labels)

    return model, opt, loss, b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True, choices=["mlp", "resnet", "bert"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    torch.manual_seed(0)
    for th in [int(v) for v in args.threads.split(",")]:
        torch.set_num_threads(th)
        model, opt, loss_fn, batch = {"mlp": mlp, "resnet": resnet, "bert": bert}[args.workload]()
        model.train()
        times = []
        for i in range(args.warmup + args.steps):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            opt.step()
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
            if not math.isfinite(loss.item()):
                raise SystemExit("loss is not finite")
        med = statistics.median(times)
        print("%s %d %d %.2f %.1f" % (args.workload, batch, th, med * 1e3, batch / med), flush=True)


if __name__ == "__main__":
    main()
