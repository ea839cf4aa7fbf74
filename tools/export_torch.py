#!/usr/bin/python3
"""Loads win model weights (an HDF5 file written by win: /model/<dotted.name> and /meta/config,
the deck as TOML) into the equivalent PyTorch module from tools/win_torch.py — an independent
implementation of the same architecture — and optionally saves its state_dict or checks it.

Usage: /usr/bin/python3 tools/export_torch.py WEIGHTS.h5 [--out MODEL.pt] [--check CHECK.h5]

--check CHECK.h5: a file with datasets `input` and `logits` (win's output on that input, eval
mode); exits 1 unless max|torch - win| / max|win| <= --rtol (default 1e-4).
Families: mlp and resnet. Uses Debian's python3-torch and python3-h5py.
"""
import argparse
import os
import sys
import tomllib

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import win_torch  # noqa: E402


def load(path):
    with h5py.File(path, "r") as f:
        if "meta" not in f or "config" not in f["meta"].attrs:
            raise SystemExit("%s: no /meta config attribute: not written by win's save_weights" % path)
        config = tomllib.loads(f["meta"].attrs["config"])
        tensors = {}
        f["model"].visititems(lambda name, obj: tensors.__setitem__(name, np.array(obj))
                              if isinstance(obj, h5py.Dataset) else None)
    model = win_torch.from_config(config["model"]).double()
    state = model.state_dict()
    unknown = [k for k in tensors if k not in state]
    if any(k.startswith("bridges") for k in unknown):
        raise SystemExit("%s: holds S-bar with its bridges (the narrow or finetune stage's output, "
                         "before the merge): export the plain student, merge/final.h5" % path)
    if unknown:
        raise SystemExit("%s: tensors the PyTorch twin does not have: %s" % (path, ", ".join(unknown[:5])))
    missing = [k for k in state if k not in tensors and not k.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit("%s: tensors missing for the PyTorch twin: %s" % (path, ", ".join(missing[:5])))
    for k, v in tensors.items():
        if tuple(state[k].shape) != v.shape:
            raise SystemExit("%s: %s has shape %s, the twin expects %s" % (path, k, v.shape, tuple(state[k].shape)))
        state[k] = torch.from_numpy(v.astype(np.float64))
    model.load_state_dict(state)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("--out")
    ap.add_argument("--check")
    ap.add_argument("--rtol", type=float, default=1e-4)
    args = ap.parse_args()
    try:
        model = load(args.weights)
    except OSError as e:  # a missing or non-HDF5 file: h5py's message, without a traceback
        raise SystemExit("%s: cannot read: %s" % (args.weights, e))
    if args.out:
        try:
            torch.save(model.state_dict(), args.out)
        except OSError as e:
            raise SystemExit("%s: cannot write: %s" % (args.out, e))
        print("wrote", args.out)
    if args.check:
        try:
            with h5py.File(args.check, "r") as f:
                x = torch.from_numpy(np.array(f["input"]).astype(np.float64))
                want = np.array(f["logits"]).astype(np.float64)
        except (OSError, KeyError) as e:
            raise SystemExit("%s: not a check file with datasets 'input' and 'logits' (%s)"
                             % (args.check, e))
        with torch.no_grad():
            got = model(x).numpy()
        rel = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
        print("max |torch - win| / max |win| = %.3g (tolerance %.1g)" % (rel, args.rtol))
        if not rel <= args.rtol:
            sys.exit(1)


if __name__ == "__main__":
    main()
