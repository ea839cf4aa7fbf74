#!/usr/bin/python3
"""tools/bench_table.py against a real device check's outputs (H200, 2026-11-28, the README's
table: tests/fixtures/device_check) and against made-up runs for the cases that one lacks: a run
that did not finish, the extra G1/G2 variants, a missing peer."""
import importlib.util
import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "bench_table.py"
FIXTURE = ROOT / "tests" / "fixtures" / "device_check"

spec = importlib.util.spec_from_file_location("bench_table", TOOL)
bench_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_table)


def row(text, workload, label):
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[:2] == [workload, label]:
            return cells
    raise AssertionError(f"no row for {workload} {label} in\n{text}")


class RealCheck(unittest.TestCase):
    def test_the_recorded_table(self):
        out = subprocess.run([sys.executable, str(TOOL), str(FIXTURE)], capture_output=True,
                             text=True, check=True).stdout
        self.assertEqual(row(out, "resnet50", "bf16")[2:], ["105.34", "2430", "6.0%", "59.5 GiB",
                                                             "56.02", "0.53x"])
        self.assertEqual(row(out, "bert-base", "bf16")[-1], "0.21x")
        self.assertEqual(row(out, "resnet50", "fp32")[-1], "0.21x")
        self.assertEqual(row(out, "bert-base", "fp32")[-1], "0.75x")
        self.assertNotIn("profile", out)  # profiled runs are not timings to compare

    def test_missing_directory_is_an_error_naming_the_file(self):
        r = subprocess.run([sys.executable, str(TOOL), str(ROOT / "no-such-dir")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("bench.txt", r.stderr)


class MadeUpRuns(unittest.TestCase):
    BENCH = """== win bench resnet50 bf16 activations (limit 60 s): win bench ...
workload   batch  device    median_ms    samples/s  GFLOP/step   GFLOP/s      MFU
resnet50     256    cuda        50.00       5120.0      6281.0  125620.0 0.1269
# device memory: 30.10 GiB peak, 0 cudaMalloc during the 5 timed steps
== win bench bert-base bf16 composed attention (limit 60 s): win bench ...
win: error: something failed
== win bench bert-base fp32 (limit 60 s): win bench ...
workload   batch  device    median_ms    samples/s  GFLOP/step   GFLOP/s      MFU
bert-base     64    cuda       100.00        640.0      4475.5   44755.0 0.0452
"""
    TORCH = """| workload | batch | mode | ms/step | samples/s | notes |
| --- | --- | --- | --- | --- | --- |
| resnet50 | 256 | eager | 56.02 | 4569.9 | x |
| bert-base | 64 | eager | 22.90 | 2794.3 | x |
"""

    def test_variants_failures_and_missing_peers(self):
        out = bench_table.table(self.BENCH, self.TORCH)
        self.assertEqual(row(out, "resnet50", "bf16 activations")[-1], "1.12x")
        self.assertEqual(row(out, "resnet50", "bf16 activations")[5], "30.1 GiB")
        self.assertEqual(row(out, "bert-base", "bf16 composed attention")[2], "did not finish")
        fp32 = row(out, "bert-base", "fp32")  # no eager-fp32 peer in this table
        self.assertEqual(fp32[6:], ["-", "-"])
        self.assertEqual(fp32[5], "-")  # no memory line


if __name__ == "__main__":
    unittest.main()
