#!/usr/bin/env python3
"""Data-parallel ranks against threads on one machine (BENCHMARKS.md W1-W3), and a scaling model.

Each round runs, interleaved, `win bench --workload W --threads T` (1 rank x T threads) and
`mpiexec -n T win bench --workload W --threads 1` (T ranks x 1 thread, each rank stepping on its
slice of the batch and averaging gradients as training does); the table reports medians over the
rounds, the throughput ratio (ranks / threads) and the measured allreduce time per step.

The scaling model then predicts the step time of the same global batch on N nodes, each node as
fast as this machine with all its cores on one rank (compute per step c = batch / measured 1 x T
throughput), joined by a network of the given bandwidth and latency, with a ring allreduce of the
S gradient bytes:  t(N) = c / N + 2 (N - 1) / N * S / bandwidth + 2 (N - 1) * latency.
The measured 2-rank point on this machine is printed beside the model's 2-rank prediction with the
shared-memory bandwidth the measurement implies.

Usage: tools/bench/ranks_vs_threads.py [--rounds 3] [--steps 20] [--workloads mlp,resnet,bert]
       [--threads 2] [--bandwidth-gbps 100] [--latency-us 5] [--win build/bin/win]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"ranks_vs_threads: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout


def parse(out, workload):
    rate = None
    ar = None
    mb = None
    for line in out.splitlines():
        cols = line.split()
        if cols and cols[0] == workload and len(cols) >= 5:
            rate = float(cols[4])
        m = re.search(r"gradient allreduce median ([0-9.]+) ms per step .* ([0-9.]+) MB per rank", line)
        if m:
            ar, mb = float(m.group(1)), float(m.group(2))
    if rate is None:
        sys.exit(f"ranks_vs_threads: no result line for {workload} in:\n{out}")
    return rate, ar, mb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--workloads", default="mlp,resnet,bert")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bandwidth-gbps", type=float, default=100.0)
    ap.add_argument("--latency-us", type=float, default=5.0)
    ap.add_argument("--win", default="build/bin/win")
    a = ap.parse_args()
    mpiexec = shutil.which("mpiexec") or sys.exit("ranks_vs_threads: mpiexec not found")
    env_note = os.environ.get("OPENBLAS_CORETYPE", "")
    batches = {"mlp": 256, "resnet": 128, "bert": 32}
    results = {}
    for r in range(a.rounds):
        for w in a.workloads.split(","):
            common = ["bench", "--workload", w, "--steps", str(a.steps)]
            t_rate, _, _ = parse(run([a.win] + common + ["--threads", str(a.threads)]), w)
            d_rate, ar, mb = parse(
                run([mpiexec, "-n", str(a.threads), "--oversubscribe", "--allow-run-as-root", a.win]
                    + common + ["--threads", "1"]), w)
            results.setdefault(w, []).append((t_rate, d_rate, ar, mb))
            print(f"# round {r + 1}: {w}: 1x{a.threads} {t_rate:.1f}/s, {a.threads}x1 {d_rate:.1f}/s",
                  file=sys.stderr)
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"Machine: {cpu}, {os.cpu_count()} cores{'; OPENBLAS_CORETYPE=' + env_note if env_note else ''}. "
          f"Medians of {a.rounds} rounds of {a.steps} steps.\n")
    print(f"| workload | batch | 1 x {a.threads} samples/s | {a.threads} x 1 samples/s | ratio | "
          f"allreduce ms/step | gradient MB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    model = []
    for w, rows in results.items():
        t = statistics.median(x[0] for x in rows)
        d = statistics.median(x[1] for x in rows)
        ar = statistics.median(x[2] for x in rows)
        mb = rows[0][3]
        print(f"| {w} | {batches[w]} | {t:.1f} | {d:.1f} | {d / t:.2f} | {ar:.2f} | {mb:.1f} |")
        model.append((w, batches[w] / t, mb * 1e6, ar / 1e3))
    bw = a.bandwidth_gbps * 1e9 / 8
    lat = a.latency_us * 1e-6
    print(f"\nScaling model: step time (ms) of the same global batch on N nodes like this one, "
          f"{a.bandwidth_gbps:g} Gb/s, {a.latency_us:g} us; speed-up over one node in brackets.\n")
    ns = [1, 2, 4, 8, 16, 32, 64]
    print("| workload | " + " | ".join(f"N={n}" for n in ns) + " |")
    print("| --- | " + " | ".join("---" for _ in ns) + " |")
    for w, c, s, ar in model:
        cells = []
        for n in ns:
            t = c / n + (2 * (n - 1) / n * s / bw + 2 * (n - 1) * lat if n > 1 else 0)
            cells.append(f"{t * 1e3:.1f} ({c / t:.1f}x)")
        print(f"| {w} | " + " | ".join(cells) + " |")
    print("\nMeasured here: the allreduce of S bytes between 2 ranks took the times above, i.e. an "
          "effective " + ", ".join(f"{w} {s / max(ar, 1e-9) / 1e9:.1f} GB/s" for w, _, s, ar in model)
          + " (the model's 2 (N-1)/N S / bandwidth with N = 2).")


if __name__ == "__main__":
    main()
