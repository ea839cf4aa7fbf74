#!/usr/bin/python3
"""tools/experiments.py: `table` (mean ± std per (deck, setting, model) over seeds, the split
filter, an error (not a bare header) when no row matches, a one-line error naming the file and
line for a malformed CSV) and `run`'s paths (the deck and --out are the caller's, not the
repository root's), the latter with a stand-in for win (WIN_BIN)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "experiments.py"
HEADER = "deck,setting,seed,split,model,top1,loss,nsp,downstream,sets\n"

# A stand-in for `win run DECK --set ...`: records its arguments and directory, fails as win does
# on a deck it cannot read, and writes eval/results.csv into run.dir/run.name.
FAKE_WIN = r'''#!/usr/bin/python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_WIN_LOG"], "w") as f:
    json.dump({"args": args, "cwd": os.getcwd()}, f)
deck = args[1]
try:
    open(deck).read()
except OSError as e:
    print(f"win: error: {deck}: cannot read deck file: {e.strerror}", file=sys.stderr)
    sys.exit(2)
sets = dict(args[i + 1].split("=", 1) for i in range(len(args)) if args[i] == "--set")
out = os.path.join(sets["run.dir"], sets["run.name"], "eval")
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "results.csv"), "w") as f:
    f.write("model,top1,loss\n3,0.875,0.4\n")
'''


def table(csv_text, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write(csv_text)
    try:
        return subprocess.run([sys.executable, str(TOOL), "table", f.name, *args],
                              capture_output=True, text=True, timeout=60), f.name
    finally:
        Path(f.name).unlink()


class Table(unittest.TestCase):
    def test_mean_and_std_over_seeds_per_split(self):
        rows = HEADER + "".join(
            f"d.toml,base,{seed},{split},WIN,{top1},0.5,-1,-1,\n"
            for seed, split, top1 in [(0, "test", 0.80), (1, "test", 0.90), (0, "val", 0.10)])
        out, _ = table(rows, "--split", "test")
        self.assertEqual(out.returncode, 0, out.stderr)
        line = [l for l in out.stdout.splitlines() if l.startswith("| d.toml")]
        self.assertEqual(len(line), 1, out.stdout)
        self.assertIn("| 2 | 85.00 ± 7.07 |", line[0])

    def test_no_matching_rows_is_an_error(self):
        out, _ = table(HEADER + "d.toml,base,0,val,WIN,0.8,0.5,-1,-1,\n", "--split", "test")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("no rows", out.stderr)
        self.assertNotIn("| deck |", out.stdout)

    def assert_one_line_error(self, out, expected):
        self.assertNotEqual(out.returncode, 0)
        self.assertNotIn("Traceback", out.stderr)
        self.assertEqual(out.stderr.strip().count("\n"), 0, out.stderr)
        self.assertIn(expected, out.stderr)
        self.assertNotIn("| deck |", out.stdout)

    def test_a_truncated_row_is_a_one_line_error_naming_file_and_line(self):
        good = "d.toml,base,0,test,WIN,0.8,0.5,-1,-1,\n"
        out, name = table(HEADER + good + "d.toml,base,1,test,WI", "--split", "test")
        self.assert_one_line_error(out, f"{name}:3: malformed row")

    def test_a_non_numeric_value_is_a_one_line_error_naming_file_and_line(self):
        out, name = table(HEADER + "d.toml,base,0,test,WIN,0.8x,0.5,-1,-1,\n")
        self.assert_one_line_error(out, f"{name}:2: malformed row: top1 is '0.8x'")

    def test_a_header_without_the_columns_is_a_one_line_error(self):
        out, name = table("deck,setting,seed\nd.toml,base,0\n")
        self.assert_one_line_error(out, f"{name}:1: not a results CSV")

    def test_a_missing_file_is_a_one_line_error(self):
        out = subprocess.run([sys.executable, str(TOOL), "table", "/nonexistent/results.csv"],
                             capture_output=True, text=True, timeout=60)
        self.assert_one_line_error(out, "/nonexistent/results.csv: cannot read")


class RunPaths(unittest.TestCase):
    """`run` from another directory: relative paths are the caller's, while win runs in ROOT."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.stem = f"test_experiments_{uuid.uuid4().hex[:8]}"
        # What a run leaves in ROOT (run directories, logs): removed again in tearDown.
        self.runs = [ROOT / "runs" / "experiments" / n for n in [self.stem, self.stem + "_nosuch"]]
        self.created = [p for p in [ROOT / "runs", ROOT / "runs" / "experiments"]
                        if not p.exists()]
        fake = self.tmp / "win"
        fake.write_text(FAKE_WIN)
        fake.chmod(0o755)
        self.log = self.tmp / "win.json"
        self.env = dict(os.environ, WIN_BIN=str(fake), FAKE_WIN_LOG=str(self.log))
        (self.tmp / "decks").mkdir()
        (self.tmp / "decks" / f"{self.stem}.toml").write_text('[model]\nfamily = "mlp"\n')

    def tearDown(self):
        for p in self.runs:
            shutil.rmtree(p, ignore_errors=True)
        for p in reversed(self.created):
            try:
                p.rmdir()
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def experiments(self, *args):
        return subprocess.run([sys.executable, str(TOOL), *args], cwd=self.tmp, env=self.env,
                              capture_output=True, text=True, timeout=60)

    def test_relative_deck_and_out_are_resolved_against_the_callers_directory(self):
        out = self.experiments("run", f"decks/{self.stem}.toml", "--setting", "x", "--seeds", "0",
                               "--out", "res/results.csv")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        seen = json.loads(self.log.read_text())
        self.assertEqual(Path(seen["cwd"]).resolve(), ROOT)  # win runs in the repository root
        self.assertEqual(seen["args"][:2], ["run", str(self.tmp / "decks" / f"{self.stem}.toml")])
        results = (self.tmp / "res" / "results.csv").read_text().splitlines()
        self.assertEqual(results[0], HEADER.strip())
        self.assertEqual(results[1:], [f"{self.stem}.toml,x,0,val,WIN,0.875,0.4,-1,-1,"])

    def test_a_missing_deck_is_named_before_win_runs(self):
        deck = f"decks/{self.stem}_nosuch.toml"
        out = self.experiments("run", deck, "--setting", "x", "--seeds", "0")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn(f"{self.tmp / deck}: no such deck file", out.stderr)
        self.assertFalse(self.log.exists(), "win ran")


if __name__ == "__main__":
    unittest.main()
