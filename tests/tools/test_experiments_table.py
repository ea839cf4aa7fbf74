#!/usr/bin/python3
"""tools/experiments.py table: mean ± std per (deck, setting, model) over seeds, the split filter,
and an error (not a bare header) when no row matches."""
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "experiments.py"
HEADER = "deck,setting,seed,split,model,top1,loss,nsp,downstream,sets\n"


def table(csv_text, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write(csv_text)
    try:
        return subprocess.run([sys.executable, str(TOOL), "table", f.name, *args],
                              capture_output=True, text=True, timeout=60)
    finally:
        Path(f.name).unlink()


class Table(unittest.TestCase):
    def test_mean_and_std_over_seeds_per_split(self):
        rows = HEADER + "".join(
            f"d.toml,base,{seed},{split},WIN,{top1},0.5,-1,-1,\n"
            for seed, split, top1 in [(0, "test", 0.80), (1, "test", 0.90), (0, "val", 0.10)])
        out = table(rows, "--split", "test")
        self.assertEqual(out.returncode, 0, out.stderr)
        line = [l for l in out.stdout.splitlines() if l.startswith("| d.toml")]
        self.assertEqual(len(line), 1, out.stdout)
        self.assertIn("| 2 | 85.00 ± 7.07 |", line[0])

    def test_no_matching_rows_is_an_error(self):
        out = table(HEADER + "d.toml,base,0,val,WIN,0.8,0.5,-1,-1,\n", "--split", "test")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("no rows", out.stderr)
        self.assertNotIn("| deck |", out.stdout)


if __name__ == "__main__":
    unittest.main()
