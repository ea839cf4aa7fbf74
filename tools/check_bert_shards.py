#!/usr/bin/python3
"""Checks BERT shards with h5py, independently of win's C++ reader: that the files have exactly the
dataset names and dtypes of NVIDIA DeepLearningExamples' create_pretraining_data.py (so NVIDIA's
loader reads win's shards), consistent shapes, masked positions inside the sequence and the input
mask, token ids below the vocabulary size, and labels in range. Exits 1 with one line per problem.

usage: check_bert_shards.py SHARD_OR_DIR... [--kind pretraining|classification] [--vocab-size N]
  --kind defaults to what the first file holds; --vocab-size defaults to the shards' vocab_size
  attribute (no token-id bound when neither is there).
"""
import argparse
import glob
import os
import sys

import h5py
import numpy as np

PRETRAINING = {
    "input_ids": np.int32,
    "input_mask": np.int8,
    "segment_ids": np.int8,
    "masked_lm_positions": np.int32,
    "masked_lm_ids": np.int32,
    "next_sentence_labels": np.int8,
}
CLASSIFICATION = {
    "input_ids": np.int32,
    "input_mask": np.int8,
    "segment_ids": np.int8,
    "label": np.int32,
}


def expand(specs):
    files = []
    for s in specs:
        if os.path.isdir(s):
            files += sorted(glob.glob(os.path.join(s, "*.h5")))
        elif any(c in s for c in "*?["):
            files += sorted(glob.glob(s))
        else:
            files.append(s)
    return files


def check_file(path, kind, vocab_arg, problems):
    before = len(problems)

    def bad(msg):
        problems.append(f"{path}: {msg}")

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        bad(f"cannot open: {e}")
        return
    with f:
        want = PRETRAINING if kind == "pretraining" else CLASSIFICATION
        for name, dtype in want.items():
            if name not in f:
                bad(f"missing dataset '{name}'")
            elif f[name].dtype != np.dtype(dtype):
                bad(f"dataset '{name}' is {f[name].dtype}, expected {np.dtype(dtype)}")
        if len(problems) > before:
            return
        ids, mask, seg = f["input_ids"][()], f["input_mask"][()], f["segment_ids"][()]
        if ids.ndim != 2 or mask.shape != ids.shape or seg.shape != ids.shape:
            bad(f"shapes input_ids {ids.shape}, input_mask {mask.shape}, segment_ids {seg.shape}")
            return
        n, length = ids.shape
        vocab = vocab_arg or int(f.attrs.get("vocab_size", 0))
        if (ids < 0).any() or (vocab and (ids >= vocab).any()):
            i = int(np.argwhere((ids < 0) | ((ids >= vocab) if vocab else False))[0][0])
            bad(f"sample {i}: token ids outside [0, {vocab or 'inf'})")
        if not np.isin(mask, (0, 1)).all() or not np.isin(seg, (0, 1)).all():
            bad("input_mask or segment_ids not 0/1")
        lens = mask.astype(np.int64).sum(axis=1)
        prefix = np.arange(length)[None, :] < lens[:, None]
        if (mask.astype(bool) != prefix).any():
            bad("input_mask is not ones followed by zeros")
        if kind == "classification":
            labels = f["label"][()]
            k = int(f.attrs.get("num_classes", labels.max(initial=-1) + 1))
            if labels.shape != (n,):
                bad(f"label has shape {labels.shape}, expected ({n},)")
            elif ((labels < 0) | (labels >= k)).any():
                bad(f"labels outside [0, {k})")
            return
        pos, mids, nsp = f["masked_lm_positions"][()], f["masked_lm_ids"][()], f["next_sentence_labels"][()]
        if pos.ndim != 2 or pos.shape[0] != n or mids.shape != pos.shape or nsp.shape != (n,):
            bad(f"shapes masked_lm_positions {pos.shape}, masked_lm_ids {mids.shape}, "
                f"next_sentence_labels {nsp.shape} for {n} samples")
            return
        if not np.isin(nsp, (0, 1)).all():
            bad("next_sentence_labels not 0/1")
        if (mids < 0).any() or (vocab and (mids >= vocab).any()):
            bad(f"masked_lm_ids outside [0, {vocab or 'inf'})")
        # NVIDIA's loader takes the predictions up to the first zero position; the rest is padding.
        zero = pos == 0
        first = np.where(zero.any(axis=1), zero.argmax(axis=1), pos.shape[1])
        padding = np.arange(pos.shape[1])[None, :] >= first[:, None]
        for i in np.flatnonzero((padding & ~zero).any(axis=1))[:5]:
            bad(f"sample {i}: masked_lm_positions not zero padded after the first zero")
        for i in np.flatnonzero((~padding & ((pos < 0) | (pos >= length))).any(axis=1))[:5]:
            bad(f"sample {i}: masked_lm_positions outside [0, {length})")
        inside = (pos >= 0) & (pos < length)
        for i in np.flatnonzero((~padding & inside & (pos >= lens[:, None])).any(axis=1))[:5]:
            bad(f"sample {i}: masked_lm_positions outside the input_mask ({lens[i]} tokens)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("shards", nargs="+")
    ap.add_argument("--kind", choices=["pretraining", "classification"])
    ap.add_argument("--vocab-size", type=int, default=0)
    a = ap.parse_args()
    files = expand(a.shards)
    if not files:
        print("check_bert_shards: no shard files", file=sys.stderr)
        return 1
    kind = a.kind
    if kind is None:
        try:
            with h5py.File(files[0], "r") as f:
                kind = "classification" if "label" in f else "pretraining"
        except OSError as e:
            print(f"check_bert_shards: {files[0]}: cannot open: {e}", file=sys.stderr)
            return 1
    problems = []
    for path in files:
        check_file(path, kind, a.vocab_size, problems)
    for p in problems:
        print(f"check_bert_shards: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_bert_shards: {len(files)} {kind} shard(s) OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
