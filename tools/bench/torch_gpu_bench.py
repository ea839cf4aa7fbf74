#!/usr/bin/env python3
"""PyTorch peer of win's GPU benchmarks (BENCHMARKS.md G1, G2), run by tools/device_check.sh on the
same GPU as `win bench --device cuda`:

  G1 resnet50   torchvision ResNet-50 (v1.5; torchvision's own when installed, else the same network
                defined below), 3x224x224, batch 256, SGD momentum 0.9 wd 1e-4, cross-entropy
  G2 bert-base  BERT-base post-LN (hidden 768, 12 layers, 12 heads, FFN 3072, GELU, dropout 0.1,
                vocab 30522), seq 128, batch 64, 20 masked positions per sequence, MLM head tied to
                the token embedding + NSP head, AdamW lr 1e-4 wd 0.01, MLM CE + NSP CE

A step is forward + backward + optimizer update on one batch of random data, under bf16 autocast
(weights and optimizer state fp32). Each workload runs in eager mode and, where it works, under
torch.compile (the model's forward compiled; a failure is reported in the table, not raised). The
time of a step is taken between device synchronisations; the table gives the median over --steps
timed steps after --warmup untimed ones, and samples/s = batch / median. PyTorch's fast paths are
used as a PyTorch user would: cuDNN autotuning and channels-last for the ResNet, fused QKV and
scaled_dot_product_attention for BERT (the random batches have no padding, so no attention mask),
fused optimizers where this PyTorch has them; the notes column says which.

Usage: python3 tools/bench/torch_gpu_bench.py [--device cuda] [--steps 20] [--warmup 5]
         [--workloads resnet50,bert-base] [--compile auto|on|off] [--budget-s S] [--out FILE] [--tiny]
--tiny: small shapes (ResNet-50 on 32x32 images, batch 2; a 2-layer BERT of width 64), for checking
the script on a CPU in seconds. --budget-s: skip what would start after S seconds (compiled runs
need --compile-min-s left) and stop a run still going at S seconds (reported as failed; a failed
eager run makes the exit code 1, a failed compiled run does not). --out: the table is also written
there, row by row, so a run stopped from outside keeps the rows it finished.
"""
import argparse
import datetime
import gc
import math
import signal
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

T0 = time.monotonic()


# ---- G1: ResNet-50 (torchvision v1.5: stride in the 3x3 conv) ------------------------------------
class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + idt)


class ResNet50(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, cin = [], 64
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            stage = []
            for i in range(blocks):
                stage.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = width * 4
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(2048, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet50_model():
    try:
        import torchvision
        try:
            return torchvision.models.resnet50(weights=None), "torchvision %s" % torchvision.__version__
        except TypeError:  # torchvision < 0.13
            return torchvision.models.resnet50(pretrained=False), "torchvision %s" % torchvision.__version__
    except ImportError:
        return ResNet50(), "own ResNet-50 (no torchvision)"


# ---- G2: BERT-base with the pretraining heads ----------------------------------------------------
class BertLayer(nn.Module):
    def __init__(self, d, heads, ffn, p):
        super().__init__()
        self.heads, self.p = heads, p
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln1 = nn.LayerNorm(d, eps=1e-12)
        self.fc1 = nn.Linear(d, ffn)
        self.fc2 = nn.Linear(ffn, d)
        self.ln2 = nn.LayerNorm(d, eps=1e-12)

    def attention(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        p = self.p if self.training else 0.0
        if hasattr(F, "scaled_dot_product_attention"):
            o = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        else:  # PyTorch < 2.0
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
            o = F.dropout(a, p, self.training) @ v
        return o.transpose(1, 2).reshape(b, t, d)

    def forward(self, x):
        x = self.ln1(x + F.dropout(self.proj(self.attention(x)), self.p, self.training))
        return self.ln2(x + F.dropout(self.fc2(F.gelu(self.fc1(x))), self.p, self.training))


class Bert(nn.Module):
    def __init__(self, vocab, d, layers, heads, ffn, maxpos=512, types=2, p=0.1):
        super().__init__()
        self.p = p
        self.word = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(maxpos, d)
        self.token_type = nn.Embedding(types, d)
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList([BertLayer(d, heads, ffn, p) for _ in range(layers)])
        self.pooler = nn.Linear(d, d)
        self.nsp = nn.Linear(d, 2)
        self.transform = nn.Linear(d, d)
        self.transform_ln = nn.LayerNorm(d, eps=1e-12)
        self.mlm_bias = nn.Parameter(torch.zeros(vocab))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, ids, seg, positions):
        b, t = ids.shape
        pos = torch.arange(t, device=ids.device).expand(b, t)
        x = F.dropout(self.ln(self.word(ids) + self.pos(pos) + self.token_type(seg)), self.p, self.training)
        for layer in self.layers:
            x = layer(x)
        rows = x.gather(1, positions[:, :, None].expand(-1, -1, x.shape[-1])).reshape(-1, x.shape[-1])
        # fp32 into the LayerNorm, as CUDA autocast does anyway (CPU autocast before 2.0 does not).
        h = self.transform_ln(F.gelu(self.transform(rows)).float())
        mlm = h @ self.word.weight.t() + self.mlm_bias  # decoder tied to the token embedding
        nsp = self.nsp(torch.tanh(self.pooler(x[:, 0])))
        return mlm, nsp


# ---- the workloads -------------------------------------------------------------------------------
def make_optimizer(cls, params, dev, **kw):
    """The fused implementation where this PyTorch has one for the device, else the default."""
    if dev.type == "cuda":
        try:
            return cls(params, fused=True, **kw), "fused"
        except (TypeError, RuntimeError, ValueError):
            pass
    return cls(params, **kw), "default"


def resnet50(dev, tiny):
    model, src = resnet50_model()
    batch, hw = (2, 32) if tiny else (256, 224)
    model = model.to(dev)
    x = torch.randn(batch, 3, hw, hw, device=dev)
    notes = [src]
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
        notes.append("channels-last")
    y = torch.randint(0, 1000, (batch,), device=dev)
    opt, impl = make_optimizer(torch.optim.SGD, model.parameters(), dev, lr=0.1, momentum=0.9,
                               weight_decay=1e-4)
    notes.append("SGD " + impl)
    return model, opt, lambda m: F.cross_entropy(m(x), y), batch, notes


def bert_base(dev, tiny):
    if tiny:
        vocab, d, layers, heads, ffn, batch, seq, masked = 1000, 64, 2, 2, 256, 2, 32, 5
    else:
        vocab, d, layers, heads, ffn, batch, seq, masked = 30522, 768, 12, 12, 3072, 64, 128, 20
    model = Bert(vocab, d, layers, heads, ffn).to(dev)
    ids = torch.randint(0, vocab, (batch, seq), device=dev)
    seg = torch.zeros(batch, seq, dtype=torch.long, device=dev)
    seg[:, seq // 2:] = 1
    positions = torch.tensor([[1 + j * (seq - 2) // masked for j in range(masked)]] * batch, device=dev)
    mlm_labels = torch.randint(0, vocab, (batch * masked,), device=dev)
    nsp_labels = torch.randint(0, 2, (batch,), device=dev)
    opt, impl = make_optimizer(torch.optim.AdamW, model.parameters(), dev, lr=1e-4, weight_decay=0.01)

    def loss(m):
        mlm, nsp = m(ids, seg, positions)
        return F.cross_entropy(mlm.float(), mlm_labels) + F.cross_entropy(nsp.float(), nsp_labels)

    sdpa = "sdpa" if hasattr(F, "scaled_dot_product_attention") else "manual attention"
    return model, opt, loss, batch, ["own BERT, fused QKV, " + sdpa, "AdamW " + impl]


WORKLOADS = {"resnet50": resnet50, "bert-base": bert_base}


def measure(name, dev, args, compiled, fp32=False):
    """One (workload, mode): returns (batch, median ms, notes). fp32: no autocast and no TF32
    (matmul or cuDNN), the like-for-like peer of win's fp32 GPU path."""
    torch.manual_seed(0)
    model, opt, loss_fn, batch, notes = WORKLOADS[name](dev, args.tiny)
    model.train()
    run = torch.compile(model) if compiled else model
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, loss = [], None
    t_first = time.monotonic()
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=not fp32):
            loss = loss_fn(run)
        loss.backward()
        opt.step()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
        if i == 0 and compiled:
            notes.append("compile+1st step %.0f s" % (time.monotonic() - t_first))
    if not math.isfinite(loss.item()):
        raise RuntimeError("loss is not finite")
    if dev.type == "cuda":
        notes.append("peak %.1f GiB" % (torch.cuda.max_memory_allocated() / 2**30))
    return batch, statistics.median(times) * 1e3, notes


class BudgetSpent(Exception):
    pass


def on_alarm(signum, frame):
    raise BudgetSpent("the time budget (--budget-s) ran out during this run")


def release(dev):
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    try:
        torch._dynamo.reset()
    except AttributeError:
        pass


def device_name(dev):
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return "CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--workloads", default="resnet50,bert-base")
    ap.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                    help="auto: on for cuda, off otherwise")
    ap.add_argument("--budget-s", type=float, default=0, help="0: no limit")
    ap.add_argument("--compile-min-s", type=float, default=60,
                    help="a compiled run starts only with this much budget left")
    ap.add_argument("--out", help="also write the table here, row by row")
    ap.add_argument("--tiny", action="store_true", help="small shapes, for a CPU check in seconds")
    ap.add_argument("--fp32", action="store_true",
                    help="also eager in fp32 without TF32 (mode eager-fp32): win's fp32 GPU path's peer")
    args = ap.parse_args()
    steps_ok = args.steps >= 1 and args.warmup >= 0
    if not steps_ok:
        ap.error("--steps must be >= 1 and --warmup >= 0")
    names = [w for w in args.workloads.split(",") if w]
    for w in names:
        if w not in WORKLOADS:
            ap.error("unknown workload %r (have: %s)" % (w, ", ".join(WORKLOADS)))
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_gpu_bench: CUDA is not available to this PyTorch (%s)" % torch.__version__)
    compiled_too = args.compile == "on" or (args.compile == "auto" and dev.type == "cuda")

    signal.signal(signal.SIGALRM, on_alarm)
    out = open(args.out, "w") if args.out else None

    def emit(line):
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    emit("PyTorch peer (tools/bench/torch_gpu_bench.py%s): %s, torch %s, %s; bf16 autocast (eager-fp32: none), random data; "
         "median of %d steps after %d warm-up" %
         (" --tiny" if args.tiny else "", device_name(dev), torch.__version__,
          datetime.date.today().isoformat(), args.steps, args.warmup))
    emit("")
    emit("| workload | batch | mode | ms/step | samples/s | notes |")
    emit("| --- | --- | --- | --- | --- | --- |")

    def left():
        return math.inf if args.budget_s <= 0 else args.budget_s - (time.monotonic() - T0)

    failures = 0
    modes = ["eager"] + (["eager-fp32"] if args.fp32 else []) + (["compile"] if compiled_too else [])
    # Eager for every workload first (the numbers that matter most), then the compiled runs.
    for mode in modes:
        for w in names:
            if mode == "compile" and not hasattr(torch, "compile"):
                emit("| %s | | compile | | | unavailable: torch %s has no torch.compile |" % (w, torch.__version__))
                continue
            need = args.compile_min_s if mode == "compile" else 5
            if left() < need:
                emit("| %s | | %s | | | skipped: %.0f s of the time budget left |" % (w, mode, max(left(), 0)))
                continue
            if args.budget_s > 0:  # a run still going when the budget ends is stopped and reported
                signal.alarm(max(1, int(left())))
            try:
                fp32 = mode == "eager-fp32"
                torch.backends.cuda.matmul.allow_tf32 = False
                torch.backends.cudnn.allow_tf32 = not fp32
                batch, ms, notes = measure(w, dev, args, mode == "compile", fp32)
                if fp32:
                    notes.append("fp32, TF32 off")
                emit("| %s | %d | %s | %.2f | %.1f | %s |" % (w, batch, mode, ms, batch / ms * 1e3, "; ".join(notes)))
            except Exception as e:  # noqa: BLE001  (report, go on with the next)
                msg = " ".join(("%s: %s" % (type(e).__name__, e)).split())[:300].replace("|", "/")
                emit("| %s | | %s | | | failed: %s |" % (w, mode, msg))
                if mode == "eager":
                    failures += 1
            finally:
                signal.alarm(0)
            release(dev)
    if out:
        out.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
