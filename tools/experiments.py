#!/usr/bin/python3
"""Runs a deck under several settings and seeds and tabulates the eval results.

The README's results and ablation tables come from this script. Each (setting, seed) is one
`win run` into runs/experiments/<deck>/<setting>_s<seed> (resumable: a finished run is only
re-read; the split is part of the name), and its eval/results.csv rows are appended to a CSV with the setting, seed and split.

  tools/experiments.py run DECK --setting NAME [--set key=value]... [--seeds 0,1,2]
                       [--split val|test] [--stages a,b] [--teacher-from SETTING] [--out CSV]
                       [--scores-of-val-runs]
  tools/experiments.py table CSV [--split val|test]     # mean ± std per setting and model

--split val evaluates on the validation split (data.test unset), which is what defaults are
chosen on; --split test on the deck's test set (the reported numbers). --teacher-from reuses the
teacher of another setting's run with the same seed (teacher.checkpoint), so ablations of the
narrow/finetune stages do not retrain it. --scores-of-val-runs (with --split test) copies the
trained val-split run of the same setting and seed and runs only its eval on the test set: the
split changes nothing but the evaluation, so the test numbers are those of the very models
selected on validation data.

Paths on the command line (DECK, --out, CSV) are the caller's, relative to the directory it runs
in; win itself runs in the repository root, where the decks' own relative paths point (and
those of --set values, which go to win as they are). WIN_BIN names the win binary (default:
build/bin/win of this repository).
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {0: "teacher", 1: "vanilla", 2: "KD", 3: "WIN"}
COLUMNS = ["deck", "setting", "seed", "split", "model", "top1", "loss", "nsp", "downstream", "sets"]


def run_dir(deck, setting, seed, split):
    name = os.path.splitext(os.path.basename(deck))[0]
    return os.path.join(ROOT, "runs", "experiments", name), f"{setting}_{split}_s{seed}"


def drop_rows(path, deck, setting, seed, split):
    """Removes an earlier record of the same run, so that re-running a setting replaces it."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        rows = list(csv.reader(f))
    keep = [r for r in rows[1:] if r[:4] != [deck, setting, str(seed), split]]
    if len(keep) != len(rows) - 1:
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(rows[:1] + keep)


def cmd_run(a):
    win = os.environ.get("WIN_BIN") or os.path.join(ROOT, "build", "bin", "win")
    for seed in [int(s) for s in a.seeds.split(",")]:
        parent, name = run_dir(a.deck, a.setting, seed, a.split)
        args = [win, "run", a.deck, "--set", f"run.dir={parent}", "--set", f"run.name={name}",
                "--set", f"run.seed={seed}"]
        if a.split == "val":
            args += ["--set", "data.test="]
        if a.scores_of_val_runs:
            if a.split != "test":
                sys.exit("experiments: --scores-of-val-runs goes with --split test")
            _, vname = run_dir(a.deck, a.setting, seed, "val")
            src = os.path.join(parent, vname)
            if not os.path.exists(os.path.join(src, "eval", "results.csv")):
                sys.exit(f"experiments: {src} is not a finished val run")
            dst = os.path.join(parent, name)
            if not os.path.exists(dst):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("eval", "report.md",
                                                                        "ckpt-*.h5"))
            stages = [s for s in ["wide", "narrow", "finetune", "merge", "vanilla", "kd"]
                      if os.path.exists(os.path.join(dst, s, "final.h5"))]
            args += ["--stages", ",".join(stages + ["eval"])]
        if a.teacher_from:
            _, tname = run_dir(a.deck, a.teacher_from, seed, a.split)
            teacher = os.path.join(parent, tname, "wide", "final.h5")
            if not os.path.exists(teacher):
                sys.exit(f"experiments: {teacher} does not exist: run setting "
                         f"'{a.teacher_from}' with seed {seed} first")
            args += ["--set", f"teacher.checkpoint={teacher}"]
        for kv in a.set or []:
            args += ["--set", kv]
        if a.stages:
            args += ["--stages", a.stages]
        print("experiments:", " ".join(args), flush=True)
        log = os.path.join(parent, name + ".log")
        os.makedirs(parent, exist_ok=True)
        with open(log, "a") as f:
            rc = subprocess.call(args, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
        if rc != 0:
            sys.exit(f"experiments: win exited {rc}; see {log}")
        results = os.path.join(parent, name, "eval", "results.csv")
        drop_rows(a.out, os.path.basename(a.deck), a.setting, seed, a.split)
        write_header = not os.path.exists(a.out)
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(results) as f, open(a.out, "a", newline="") as o:
            w = csv.writer(o)
            if write_header:
                w.writerow(COLUMNS)
            for row in csv.DictReader(f):
                w.writerow([os.path.basename(a.deck), a.setting, seed, a.split,
                            MODELS[int(float(row["model"]))], row["top1"], row["loss"],
                            row.get("nsp", "-1"), row.get("downstream", "-1"),
                            " ".join(a.set or [])])


def read_results(path):
    """The rows of a results CSV, each with its line number; a file that cannot be read, a header
    without our columns, or a short (truncated), long or non-numeric row is a one-line error
    naming the file and the line."""
    rows = []
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            missing = [c for c in COLUMNS if c not in (header or [])]
            if missing:
                sys.exit(f"experiments: {path}:1: not a results CSV: no column "
                         + ", ".join(missing))
            for fields in reader:
                line = reader.line_num
                if not fields:
                    continue
                if len(fields) != len(header):
                    sys.exit(f"experiments: {path}:{line}: malformed row: {len(fields)} fields, "
                             f"expected {len(header)} (truncated file?)")
                r = dict(zip(header, fields))
                for c in ["top1", "downstream"]:
                    try:
                        r[c] = float(r[c])
                    except ValueError:
                        sys.exit(f"experiments: {path}:{line}: malformed row: {c} is "
                                 f"'{r[c]}', not a number")
                rows.append(r)
    except OSError as e:
        sys.exit(f"experiments: {path}: cannot read: {e.strerror}")
    except (csv.Error, UnicodeDecodeError) as e:
        sys.exit(f"experiments: {path}: malformed CSV: {e}")
    return rows


def cmd_table(a):
    groups = {}
    order = []
    for r in read_results(a.csv):
        if a.split and r["split"] != a.split:
            continue
        key = (r["deck"], r["setting"], r["model"])
        if key not in groups:
            order.append(key)
            groups[key] = {"top1": [], "downstream": [], "sets": r["sets"], "seeds": []}
        groups[key]["top1"].append(100 * r["top1"])
        groups[key]["downstream"].append(100 * r["downstream"])
        groups[key]["seeds"].append(r["seed"])
    if not groups:
        sys.exit(f"experiments: no rows in {a.csv}" + (f" for --split {a.split}" if a.split else ""))
    down = any(v >= 0 for g in groups.values() for v in g["downstream"])
    print("| deck | setting | model | seeds | top-1 (%) mean ± std |" +
          (" downstream (%) |" if down else "") + " overrides |")
    print("| --- | --- | --- | --- | --- |" + (" --- |" if down else "") + " --- |")
    for key in order:
        g = groups[key]

        def ms(v):
            return f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}" if len(v) > 1 \
                else f"{v[0]:.2f}"
        print(f"| {key[0]} | {key[1]} | {key[2]} | {len(g['top1'])} | {ms(g['top1'])} |" +
              (f" {ms(g['downstream'])} |" if down else "") + f" {g['sets'] or '(deck)'} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("deck")
    r.add_argument("--setting", required=True)
    r.add_argument("--set", action="append")
    r.add_argument("--seeds", default="0,1,2")
    r.add_argument("--split", choices=["val", "test"], default="val")
    r.add_argument("--stages")
    r.add_argument("--teacher-from")
    r.add_argument("--scores-of-val-runs", action="store_true")
    r.add_argument("--out", default=os.path.join(ROOT, "runs", "experiments", "results.csv"))
    t = sub.add_parser("table")
    t.add_argument("csv")
    t.add_argument("--split", choices=["val", "test"])
    a = p.parse_args()
    if a.cmd == "run":
        # The caller's paths, made absolute before win runs in ROOT.
        a.deck = os.path.abspath(a.deck)
        a.out = os.path.abspath(a.out)
        if not os.path.isfile(a.deck):
            sys.exit(f"experiments: {a.deck}: no such deck file")
        cmd_run(a)
    else:
        cmd_table(a)


if __name__ == "__main__":
    main()
