#!/usr/bin/python3
"""Writes the PyTorch reference fixtures that win's C++ tests compare against.

Usage: /usr/bin/python3 tools/make_fixtures.py [--out tests/fixtures]

Uses Debian's python3-torch (1.13) and python3-h5py. Everything is computed in float64 so the
fixtures are exact references; the tests compare win's f64 reference path tightly and its f32
backend with looser, stated tolerances. The script is deterministic (fixed seeds); re-running it
rewrites identical values.

layers.h5, one group per case:
  attrs      layer (type name) and its configuration (ints / floats / strings)
  input      the layer input (NCHW logical order for images; ids are int32)
  params/*   parameters before the step, under PyTorch's names (weight, bias, ...)
  buffers/*  buffers after the forward (BatchNorm running statistics)
  output     the forward output
  grad_output, grad_input, grads/*   the backward of sum(output * grad_output)
Loss cases hold input, target (or labels), loss ([1]) and grad_input (d mean-loss / d input).
Optimizer cases hold param0, grads (steps, n), params (steps, n) after each step, and the
optimizer state after each step under PyTorch's state names (momentum_buffer, exp_avg, ...).

models.h5 (tiny MLP, ResNet and BERT, three training steps each) is written by
make_model_fixtures() further down.
"""
import argparse
import math
import os

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from win_torch import Bert, Mlp, ResNet, SelfAttention

torch.set_default_dtype(torch.float64)


def np64(t):
    return t.detach().cpu().numpy().astype(np.float64)


def write_tensor(g, name, t):
    if isinstance(t, torch.Tensor):
        if t.dtype in (torch.int32, torch.int64):
            g.create_dataset(name, data=t.cpu().numpy().astype(np.int32))
        else:
            g.create_dataset(name, data=np64(t))
    else:
        g.create_dataset(name, data=t)


def layer_case(f, name, module, x, attrs, grad_input=True, train=True, seed=0):
    """Runs module on x, backward of sum(y * g) for a fixed random g, and stores everything."""
    g = f.create_group(name)
    for k, v in attrs.items():
        g.attrs[k] = v
    module.train(train)
    write_tensor(g, "input", x)
    for pname, p in module.named_parameters():
        write_tensor(g, "params/" + pname, p)
    for bname, b in module.named_buffers():
        if b.dtype.is_floating_point:
            write_tensor(g, "buffers_before/" + bname, b)
    if grad_input:
        x = x.clone().requires_grad_(True)
    y = module(x)
    gen = torch.Generator().manual_seed(1000 + seed)
    gy = torch.randn(y.shape, generator=gen)
    (y * gy).sum().backward()
    write_tensor(g, "output", y)
    write_tensor(g, "grad_output", gy)
    if grad_input:
        write_tensor(g, "grad_input", x.grad)
    for pname, p in module.named_parameters():
        write_tensor(g, "grads/" + pname, p.grad)
    for bname, b in module.named_buffers():
        if b.dtype.is_floating_point:
            write_tensor(g, "buffers/" + bname, b)


def rand(gen, *shape, scale=1.0):
    return torch.randn(*shape, generator=gen) * scale


def make_layer_fixtures(path):
    gen = torch.Generator().manual_seed(0)
    with h5py.File(path, "w") as f:
        f.attrs["generator"] = "tools/make_fixtures.py (torch %s)" % torch.__version__
        torch.manual_seed(1)
        layer_case(f, "linear", nn.Linear(5, 4), rand(gen, 3, 5), {"layer": "Linear", "in": 5, "out": 4, "bias": 1})
        layer_case(f, "linear_nobias", nn.Linear(6, 3, bias=False), rand(gen, 2, 4, 6),
                   {"layer": "Linear", "in": 6, "out": 3, "bias": 0})
        convs = [
            ("conv3x3_s1_p1", 3, 4, 3, 1, 1, True, (2, 3, 6, 6)),
            ("conv3x3_s2_p1_nobias", 4, 3, 3, 2, 1, False, (2, 4, 7, 7)),
            ("conv1x1_s2_nobias", 4, 8, 1, 2, 0, False, (2, 4, 6, 6)),
            ("conv7x7_s2_p3", 1, 4, 7, 2, 3, True, (1, 1, 12, 12)),
        ]
        for name, cin, cout, k, s, p, bias, shape in convs:
            layer_case(f, name, nn.Conv2d(cin, cout, k, s, p, bias=bias), rand(gen, *shape),
                       {"layer": "Conv2d", "in": cin, "out": cout, "kernel": k, "stride": s,
                        "padding": p, "bias": int(bias)})
        bn = nn.BatchNorm2d(3, eps=1e-5, momentum=0.1)
        with torch.no_grad():
            bn.weight.copy_(1 + 0.1 * rand(gen, 3))
            bn.bias.copy_(0.1 * rand(gen, 3))
        layer_case(f, "batchnorm_train", bn, rand(gen, 4, 3, 3, 3) * 2 + 1,
                   {"layer": "BatchNorm2d", "channels": 3, "eps": 1e-5, "momentum": 0.1, "training": 1})
        bn_eval = nn.BatchNorm2d(3, eps=1e-5, momentum=0.1)
        with torch.no_grad():
            bn_eval.weight.copy_(1 + 0.1 * rand(gen, 3))
            bn_eval.bias.copy_(0.1 * rand(gen, 3))
            bn_eval.running_mean.copy_(0.5 * rand(gen, 3))
            bn_eval.running_var.copy_(1 + 0.5 * torch.rand(3, generator=gen))
        layer_case(f, "batchnorm_eval", bn_eval, rand(gen, 2, 3, 4, 4),
                   {"layer": "BatchNorm2d", "channels": 3, "eps": 1e-5, "momentum": 0.1, "training": 0},
                   train=False)
        layer_case(f, "relu", nn.ReLU(), rand(gen, 3, 7), {"layer": "ReLU"})
        layer_case(f, "gelu", nn.GELU(), rand(gen, 3, 7), {"layer": "GELU"})
        layer_case(f, "tanh", nn.Tanh(), rand(gen, 3, 7), {"layer": "Tanh"})
        layer_case(f, "maxpool_k3_s2_p1", nn.MaxPool2d(3, 2, 1), rand(gen, 2, 3, 7, 7),
                   {"layer": "MaxPool2d", "kernel": 3, "stride": 2, "padding": 1})
        layer_case(f, "avgpool_k2_s2", nn.AvgPool2d(2, 2), rand(gen, 2, 3, 6, 6),
                   {"layer": "AvgPool2d", "kernel": 2, "stride": 2, "padding": 0})
        layer_case(f, "avgpool_k3_s2_p1", nn.AvgPool2d(3, 2, 1), rand(gen, 2, 3, 7, 7),
                   {"layer": "AvgPool2d", "kernel": 3, "stride": 2, "padding": 1})
        layer_case(f, "global_avg_pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                   rand(gen, 2, 3, 4, 5), {"layer": "GlobalAvgPool"})
        ln = nn.LayerNorm(8, eps=1e-12)
        with torch.no_grad():
            ln.weight.copy_(1 + 0.1 * rand(gen, 8))
            ln.bias.copy_(0.1 * rand(gen, 8))
        layer_case(f, "layernorm", ln, rand(gen, 3, 4, 8), {"layer": "LayerNorm", "dim": 8, "eps": 1e-12})
        emb = nn.Embedding(10, 4)
        ids = torch.tensor([[1, 3, 3, 9, 0], [3, 1, 7, 7, 7]], dtype=torch.int64)
        layer_case(f, "embedding", emb, ids, {"layer": "Embedding", "vocab": 10, "dim": 4},
                   grad_input=False)
        att = SelfAttention(8, 2)
        att.mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.int32)
        layer_case(f, "attention", att, rand(gen, 2, 5, 8),
                   {"layer": "SelfAttention", "hidden": 8, "heads": 2})
        f["attention"].create_dataset("mask", data=att.mask.numpy().astype(np.int32))

        # Losses: mean reductions, gradient of the mean loss.
        logits = rand(gen, 6, 5).requires_grad_(True)
        labels = torch.tensor([0, 4, -100, 2, 2, -100])
        loss = F.cross_entropy(logits, labels, ignore_index=-100)
        loss.backward()
        g = f.create_group("cross_entropy")
        g.attrs.update({"layer": "CrossEntropy", "ignore_index": -100})
        write_tensor(g, "input", logits)
        write_tensor(g, "labels", labels.to(torch.int32))
        write_tensor(g, "loss", loss.reshape(1))
        write_tensor(g, "grad_input", logits.grad)

        x = rand(gen, 4, 6).requires_grad_(True)
        target = rand(gen, 4, 6)
        loss = F.mse_loss(x, target)
        loss.backward()
        g = f.create_group("mse")
        g.attrs["layer"] = "MSE"
        write_tensor(g, "input", x)
        write_tensor(g, "target", target)
        write_tensor(g, "loss", loss.reshape(1))
        write_tensor(g, "grad_input", x.grad)

        s = rand(gen, 5, 7).requires_grad_(True)
        t = rand(gen, 5, 7)
        temp = 4.0
        loss = F.kl_div(F.log_softmax(s / temp, 1), F.softmax(t / temp, 1), reduction="batchmean") * temp * temp
        loss.backward()
        g = f.create_group("kl_div")
        g.attrs.update({"layer": "KLDiv", "temperature": temp})
        write_tensor(g, "input", s)
        write_tensor(g, "target", t)
        write_tensor(g, "loss", loss.reshape(1))
        write_tensor(g, "grad_input", s.grad)

        # Optimizers: three steps on one parameter vector with given gradients.
        for name, make, state_names in [
            ("sgd_momentum", lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=1e-2),
             ["momentum_buffer"]),
            ("sgd_nesterov", lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9, nesterov=True,
                                                       weight_decay=1e-2), ["momentum_buffer"]),
            ("adamw", lambda p: torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-8,
                                                  weight_decay=0.1), ["exp_avg", "exp_avg_sq"]),
        ]:
            p = torch.nn.Parameter(rand(gen, 11))
            opt = make(p)
            g = f.create_group(name)
            g.attrs["layer"] = "Optimizer"
            d = opt.defaults
            for k in ("lr", "momentum", "weight_decay", "eps"):
                if k in d:
                    g.attrs[k] = float(d[k])
            if "nesterov" in d:
                g.attrs["nesterov"] = int(d["nesterov"])
            if "betas" in d:
                g.attrs["beta1"], g.attrs["beta2"] = d["betas"]
            write_tensor(g, "param0", p)
            grads, params, states = [], [], {s: [] for s in state_names}
            for _ in range(3):
                grad = rand(gen, 11)
                p.grad = grad.clone()
                opt.step()
                grads.append(grad)
                params.append(p.detach().clone())
                for s_name in state_names:
                    states[s_name].append(opt.state[p][s_name].clone())
            write_tensor(g, "grads", torch.stack(grads))
            write_tensor(g, "params", torch.stack(params))
            for s_name in state_names:
                write_tensor(g, s_name, torch.stack(states[s_name]))


# ---- tiny models, three training steps ---------------------------------------------------------

def no_decay_groups(model, wd):
    """win's default rule (no_decay = bn, ln, bias): biases and norm parameters skip decay."""
    decay, skip = [], []
    for name, p in model.named_parameters():
        norm = ".bn" in name or name.startswith("bn") or "LayerNorm" in name or "downsample.1" in name
        (skip if name.endswith("bias") or norm else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": skip, "weight_decay": 0.0}]


def train_case(f, name, model, opt, batches, loss_fn, state_names, attrs):
    g = f.create_group(name)
    g.attrs.update(attrs)
    for pname, p in model.named_parameters():
        write_tensor(g, "params0/" + pname, p)
    for k, batch in enumerate(batches):
        for bname, t in batch.items():
            write_tensor(g, "batch%d/%s" % (k, bname), t)
    model.train()
    for k, batch in enumerate(batches):
        opt.zero_grad()
        loss = loss_fn(model, batch)
        loss.backward()
        opt.step()
        s = g.create_group("step%d" % k)
        write_tensor(s, "loss", loss.detach().reshape(1))
        for pname, p in model.named_parameters():
            write_tensor(s, "params/" + pname, p)
            for st in state_names:
                write_tensor(s, "state/%s/%s" % (st, pname), opt.state[p][st])
        for bname, b in model.named_buffers():
            if b.dtype.is_floating_point:
                write_tensor(s, "buffers/" + bname, b)


def make_model_fixtures(path):
    gen = torch.Generator().manual_seed(7)
    with h5py.File(path, "w") as f:
        f.attrs["generator"] = "tools/make_fixtures.py (torch %s)" % torch.__version__
        torch.manual_seed(11)
        mlp = Mlp(12, 8, 3, 4, inner=6, block="inner", act="gelu")
        batches = [{"x": rand(gen, 5, 12), "labels": torch.randint(0, 4, (5,), generator=gen)} for _ in range(3)]
        opt = torch.optim.SGD(no_decay_groups(mlp, 1e-4), lr=0.1, momentum=0.9)
        train_case(f, "mlp", mlp, opt, batches, lambda m, b: F.cross_entropy(m(b["x"]), b["labels"]),
                   ["momentum_buffer"], {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4})

        torch.manual_seed(12)
        net = ResNet(1, 4, 2, (1, 1, 1, 1), 3)
        batches = [{"x": rand(gen, 4, 1, 16, 16), "labels": torch.randint(0, 3, (4,), generator=gen)} for _ in range(3)]
        opt = torch.optim.SGD(no_decay_groups(net, 1e-4), lr=0.05, momentum=0.9, nesterov=True)
        train_case(f, "resnet", net, opt, batches, lambda m, b: F.cross_entropy(m(b["x"]), b["labels"]),
                   ["momentum_buffer"], {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": 1,
                                         "weight_decay": 1e-4})

        torch.manual_seed(13)
        bert = Bert(30, 8, 2, 2, 16, maxpos=16)
        batches = []
        for _ in range(3):
            b, t = 3, 6
            seg = torch.zeros(b, t, dtype=torch.int64)
            seg[:, t // 2:] = 1
            mask = torch.ones(b, t, dtype=torch.int64)
            mask[2, 4:] = 0
            batches.append({
                "input_ids": torch.randint(0, 30, (b, t), generator=gen),
                "segment_ids": seg, "input_mask": mask,
                "masked_lm_positions": torch.tensor([[1, 3], [2, 5], [1, 2]]),
                "masked_lm_labels": torch.tensor([4, 17, -100, 9, 22, 3]),
                "next_sentence_labels": torch.randint(0, 2, (b,), generator=gen),
            })

        def bert_loss(m, b):
            mlm, nsp = m(b["input_ids"], b["segment_ids"], b["input_mask"], b["masked_lm_positions"])
            return F.cross_entropy(mlm, b["masked_lm_labels"], ignore_index=-100) + \
                F.cross_entropy(nsp, b["next_sentence_labels"])

        opt = torch.optim.AdamW(no_decay_groups(bert, 0.01), lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
        train_case(f, "bert", bert, opt, batches, bert_loss, ["exp_avg", "exp_avg_sq"],
                   {"optimizer": "adamw", "lr": 1e-2, "weight_decay": 0.01})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    make_layer_fixtures(os.path.join(args.out, "layers.h5"))
    make_model_fixtures(os.path.join(args.out, "models.h5"))
    print("wrote layers.h5 and models.h5 in", args.out)


if __name__ == "__main__":
    main()
