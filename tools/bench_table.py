#!/usr/bin/python3
"""The G1/G2 table of a device check: win's runs against PyTorch's, same GPU, same run.

Usage: tools/bench_table.py OUTDIR   (the directory tools/device_check.sh wrote)

Reads OUTDIR/bench.txt (each `win bench` run: a `== win bench WORKLOAD LABEL (limit ...)` header,
the result line `WORKLOAD BATCH cuda MEDIAN_MS SAMPLES/S GFLOP/STEP GFLOP/S MFU` and a
`# device memory: X GiB peak` line) and OUTDIR/torch_gpu.txt (the PyTorch peer's markdown table,
modes `eager` for bf16 autocast and `eager-fp32`), and prints one markdown row per win run that
is not a profile: its median, throughput, MFU and peak memory, PyTorch's median in the same
precision, and win's speed as a ratio of PyTorch's (PyTorch ms / win ms). Runs that did not
finish are listed as such. This is the table the README's "The CUDA backend" section records;
making it here avoids copying numbers by hand.
"""
import re
import sys
from pathlib import Path

HEADER = re.compile(r"^== win bench (\S+) (.+?) \(limit \d+ s\)")
RESULT = re.compile(r"^(\S+)\s+(\d+)\s+cuda\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)")
MEMORY = re.compile(r"^# device memory: ([\d.]+) GiB peak")


def win_runs(text):
    """[(workload, label, result dict or None)] in file order, profile runs left out."""
    runs, current = [], None
    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            workload, label = m.group(1), m.group(2)
            current = None
            if "profile" in label:
                continue
            current = {"workload": workload, "label": label, "ms": None}
            runs.append(current)
            continue
        if current is None:
            continue
        m = RESULT.match(line)
        if m and m.group(1) == current["workload"]:
            current.update(batch=int(m.group(2)), ms=float(m.group(3)),
                           samples=float(m.group(4)), mfu=m.group(7))
            continue
        m = MEMORY.match(line)
        if m:
            current["gib"] = float(m.group(1))
    return runs


def torch_runs(text):
    """{(workload, 'bf16' | 'fp32'): ms} from the peer's markdown table."""
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or cells[0] in ("workload", "---"):
            continue
        try:
            ms = float(cells[3])
        except ValueError:
            continue
        mode = {"eager": "bf16", "eager-fp32": "fp32"}.get(cells[2])
        if mode:
            out[(cells[0], mode)] = ms
    return out


def precision_of(label):
    return "fp32" if label.startswith("fp32") else "bf16"


def table(bench_text, torch_text):
    peers = torch_runs(torch_text)
    rows = ["| workload | win run | ms/step | samples/s | MFU | peak memory | PyTorch ms/step "
            "| win / PyTorch |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in win_runs(bench_text):
        peer = peers.get((r["workload"], precision_of(r["label"])))
        if r["ms"] is None:
            rows.append(f"| {r['workload']} | {r['label']} | did not finish | | | | "
                        f"{peer if peer else '-'} | - |")
            continue
        mfu = f"{100 * float(r['mfu']):.1f}%" if r["mfu"] not in ("-", "") else "-"
        gib = f"{r['gib']:.1f} GiB" if "gib" in r else "-"
        ratio = f"{peer / r['ms']:.2f}x" if peer else "-"
        rows.append(f"| {r['workload']} | {r['label']} | {r['ms']:.2f} | {r['samples']:.0f} | "
                    f"{mfu} | {gib} | {peer if peer else '-'} | {ratio} |")
    return "\n".join(rows)


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = Path(argv[1])
    paths = [out / "bench.txt", out / "torch_gpu.txt"]
    for p in paths:
        if not p.is_file():
            print(f"bench_table: {p}: no such file (run tools/device_check.sh {out} first)",
                  file=sys.stderr)
            return 2
    print(table(paths[0].read_text(), paths[1].read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
