#!/usr/bin/python3
"""Driver of tools/bench/vs_pytorch.sh: runs win and PyTorch on W1-W3 in alternation and prints a
markdown table of medians (ms/step, samples/s), the win/PyTorch throughput ratio and win's MFU.
Each side runs at its best thread count among --threads (BENCHMARKS.md)."""
import argparse
import datetime
import os
import platform
import statistics
import subprocess


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def win_best(workload, steps, threads):
    out = run(["build/bin/win", "bench", "--workload", workload, "--steps", str(steps), "--threads", threads])
    best = None
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == workload:
            row = {"threads": int(f[2]), "ms": float(f[3]), "sps": float(f[4]), "mfu": float(f[7])}
            if best is None or row["ms"] < best["ms"]:
                best = row
    return best


def torch_best(workload, steps, threads):
    out = run(["/usr/bin/python3", "tools/bench/torch_bench.py", "--workload", workload, "--steps", str(steps),
               "--threads", threads])
    best = None
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == workload:
            row = {"threads": int(f[2]), "ms": float(f[3]), "sps": float(f[4])}
            if best is None or row["ms"] < best["ms"]:
                best = row
    return best


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--workloads", default="mlp,resnet,bert")
    args = ap.parse_args()
    import torch  # noqa: F401  (fail early when python3-torch is missing)

    rows = []
    for w in args.workloads.split(","):
        steps = args.steps if w != "bert" else max(5, args.steps // 4)
        wins, torches = [], []
        for r in range(args.rounds):
            wins.append(win_best(w, steps, args.threads))
            torches.append(torch_best(w, steps, args.threads))
            print("# %s round %d: win %.2f ms (%d thr), torch %.2f ms (%d thr)" %
                  (w, r + 1, wins[-1]["ms"], wins[-1]["threads"], torches[-1]["ms"], torches[-1]["threads"]),
                  flush=True)
        wm = statistics.median(x["ms"] for x in wins)
        tm = statistics.median(x["ms"] for x in torches)
        batch = {"mlp": 256, "resnet": 128, "bert": 32}[w]
        ratios = [t["ms"] / x["ms"] for x, t in zip(wins, torches)]
        rows.append((w, batch, wm, batch / wm * 1e3, tm, batch / tm * 1e3, statistics.median(ratios),
                     min(ratios), statistics.median(x["mfu"] for x in wins),
                     statistics.mode(x["threads"] for x in wins), statistics.mode(x["threads"] for x in torches)))
    print()
    print("Machine: %s, %d logical cores; %s; %d rounds x %s steps, medians." %
          (cpu_name(), os.cpu_count(), datetime.date.today().isoformat(), args.rounds, args.steps))
    print()
    print("| workload | batch | win ms/step | win samples/s | PyTorch ms/step | PyTorch samples/s | "
          "ratio (median, min) | win MFU | threads win/torch |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for w, b, wm, ws, tm, ts, ratio, rmin, mfu, wt, tt in rows:
        print("| %s | %d | %.2f | %.0f | %.2f | %.0f | %.2fx (%.2fx) | %.3f | %d / %d |" %
              (w, b, wm, ws, tm, ts, ratio, rmin, mfu, wt, tt))


if __name__ == "__main__":
    main()
