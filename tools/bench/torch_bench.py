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

import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp():
    layers, d = [], 784
    for _ in range(24):
        layers += [nn.Linear(d, 128), nn.ReLU()]
        d = 128
    layers.append(nn.Linear(128, 10))
    model = nn.Sequential(*layers)
    x = torch.randn(256, 784)
    y = torch.randint(0, 10, (256,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, opt, lambda: F.cross_entropy(model(x), y), 256


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        out = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))


def resnet():
    blocks, cin = [], 32
    for s, width in enumerate([16, 32, 64, 128]):
        for b in range(2):
            blocks.append(Bottleneck(cin, width, 2 if (b == 0 and s > 0) else 1))
            cin = width * 4
    model = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), *blocks,
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10))
    x = torch.randn(128, 1, 28, 28)
    y = torch.randint(0, 10, (128,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    return model, opt, lambda: F.cross_entropy(model(x), y), 128


class BertLayer(nn.Module):
    def __init__(self, d, heads, ffn, p):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.attn_out, self.ln1 = nn.Linear(d, d), nn.LayerNorm(d, eps=1e-12)
        self.inter, self.out, self.ln2 = nn.Linear(d, ffn), nn.Linear(ffn, d), nn.LayerNorm(d, eps=1e-12)
        self.p = p

    def forward(self, x, bias):
        b, t, d = x.shape
        h, dh = self.heads, d // self.heads
        split = lambda z: z.view(b, t, h, dh).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        probs = F.dropout(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + bias, -1), self.p)
        a = (probs @ v).transpose(1, 2).reshape(b, t, d)
        x = self.ln1(x + F.dropout(self.attn_out(a), self.p))
        return self.ln2(x + F.dropout(self.out(F.gelu(self.inter(x))), self.p))


class Bert(nn.Module):
    def __init__(self, vocab=30522, d=256, layers=4, heads=4, ffn=1024, maxpos=512, p=0.1):
        super().__init__()
        self.word, self.pos, self.types = nn.Embedding(vocab, d), nn.Embedding(maxpos, d), nn.Embedding(2, d)
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList([BertLayer(d, heads, ffn, p) for _ in range(layers)])
        self.pooler, self.nsp = nn.Linear(d, d), nn.Linear(d, 2)
        self.transform, self.tln = nn.Linear(d, d), nn.LayerNorm(d, eps=1e-12)
        self.mlm_bias = nn.Parameter(torch.zeros(vocab))
        self.p = p

    def forward(self, ids, seg, mask, positions):
        b, t = ids.shape
        pos = torch.arange(t).expand(b, t)
        x = F.dropout(self.ln(self.word(ids) + self.pos(pos) + self.types(seg)), self.p)
        bias = (1.0 - mask[:, None, None, :].float()) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        rows = x.gather(1, positions[:, :, None].expand(-1, -1, x.shape[-1])).reshape(-1, x.shape[-1])
        mlm = self.tln(F.gelu(self.transform(rows))) @ self.word.weight.t() + self.mlm_bias
        nsp = self.nsp(torch.tanh(self.pooler(x[:, 0])))
        return mlm, nsp


def bert():
    model = Bert()
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
