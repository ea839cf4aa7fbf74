#!/usr/bin/env python3
"""An independent Python implementation of BERT's tokenizer, the reference for win's C++ one.

Written from the description of the algorithm (not derived from any existing code), it implements
the behaviour of Google's BERT tokenization.py (FullTokenizer = BasicTokenizer + WordpieceTokenizer),
using this interpreter's unicodedata and str.lower():

Basic tokenizer, for a text given as bytes or str:
  1. bytes are decoded as UTF-8 with invalid sequences dropped (decode("utf-8", "ignore")).
  2. cleaning: U+0000, U+FFFD and control characters are removed, where a control character is of
     category Cc or Cf except tab, newline and carriage return; whitespace (space, tab, newline,
     carriage return, category Zs) becomes a space.
  3. every CJK ideograph (the CJK Unified Ideographs blocks U+4E00-9FFF, U+3400-4DBF,
     U+20000-2A6DF, U+2A700-2B73F, U+2B740-2B81F, U+2B820-2CEAF and the compatibility ideographs
     U+F900-FAFF, U+2F800-2FA1F) is surrounded by spaces.
  4. the text is split on whitespace as str.split() does (this also splits on U+2028 and U+2029).
  5. uncased only: each word is lower-cased by str.lower() (so Σ becomes ς at the end of a word),
     decomposed to NFD, and its nonspacing marks (category Mn) are removed.
  6. each word is split around punctuation: every punctuation character becomes a token of its
     own, where punctuation is ASCII 33-47, 58-64, 91-96, 123-126 (so $ + < = > ^ ` | ~ count)
     or any category P* character; empty pieces are dropped.
WordPiece, for each basic token:
  7. a token of more than max_input_chars_per_word code points (100) becomes [UNK].
  8. otherwise it is cut greedily from the left into the longest vocabulary entries, pieces after
     the first looked up with a "##" prefix; if some position has no matching entry the whole
     token becomes a single [UNK].

Usage as a module: Tokenizer(vocab_tokens, lower_case).tokenize(text) / .basic(text).
Usage as a script: wordpiece_reference.py VOCAB [--cased] < text  (one line in, one line out).
"""
import sys
import unicodedata

CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_cjk(ch):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def is_space(ch):
    return ch in (" ", "\t", "\n", "\r") or unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 126 and not ch.isalnum():
        return True  # every ASCII symbol, including $ + < = > ^ ` | ~
    return unicodedata.category(ch)[0] == "P"


def strip_marks(word):
    return "".join(c for c in unicodedata.normalize("NFD", word)
                   if unicodedata.category(c) != "Mn")


def split_punct(word):
    out, cur = [], ""
    for c in word:
        if is_punct(c):
            if cur:
                out.append(cur)
            out.append(c)
            cur = ""
        else:
            cur += c
    if cur:
        out.append(cur)
    return out


class Tokenizer:
    def __init__(self, vocab_tokens, lower_case=True, max_chars=100, unk="[UNK]"):
        self.vocab = set(vocab_tokens)
        self.lower_case = lower_case
        self.max_chars = max_chars
        self.unk = unk

    def basic(self, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "ignore")
        spaced = []
        for c in text:
            if c in ("\x00", "\ufffd") or is_control(c):
                continue
            if is_space(c):
                spaced.append(" ")
            elif is_cjk(c):
                spaced.append(" " + c + " ")
            else:
                spaced.append(c)
        tokens = []
        for word in "".join(spaced).split():
            if self.lower_case:
                word = strip_marks(word.lower())
            tokens.extend(split_punct(word))
        return [t for t in " ".join(tokens).split()]

    def wordpiece(self, token):
        if len(token) > self.max_chars:
            return [self.unk]
        pieces, pos = [], 0
        while pos < len(token):
            for end in range(len(token), pos, -1):
                piece = token[pos:end] if pos == 0 else "##" + token[pos:end]
                if piece in self.vocab:
                    pieces.append(piece)
                    pos = end
                    break
            else:
                return [self.unk]
        return pieces

    def tokenize(self, text):
        return [p for t in self.basic(text) for p in self.wordpiece(t)]


def main():
    args = [a for a in sys.argv[1:] if a != "--cased"]
    if len(args) != 1:
        sys.exit("usage: wordpiece_reference.py VOCAB [--cased] < text")
    with open(args[0], encoding="utf-8") as f:
        vocab = [line.strip() for line in f if line.strip()]
    tok = Tokenizer(vocab, lower_case="--cased" not in sys.argv)
    for line in sys.stdin.buffer:
        print(" ".join(tok.tokenize(line)))


if __name__ == "__main__":
    main()
