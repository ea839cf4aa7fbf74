#!/usr/bin/env python3
"""Generates src/data/unicode_tables.inc: the Unicode facts BERT's tokenizer needs, so that the C++
tokenizer (src/data/unicode.cpp) needs no ICU and agrees with a Python implementation that uses
this interpreter's unicodedata (the version is written into the file).

Tables (all code points U+0000..U+10FFFF; surrogates count as "other"):
  * kProps: runs of equal properties, each uint32 = start << 8 | props, where props holds
      bits 0-2  class: 0 other, 1 whitespace (Google's _is_whitespace: space, \\t \\n \\r, Zs),
                2 control (_is_control: Cc or Cf except \\t \\n \\r), 3 punctuation
                (_is_punctuation: ASCII 33-47 58-64 91-96 123-126, or category P*),
                4 nonspacing mark (Mn: dropped when stripping accents),
                5 other separator (str.isspace but none of the above: U+2028, U+2029; Python's
                str.split() splits on them)
      bit 3     cased (Unicode Cased, as Python's str.lower() sees it)
      bit 4     case-ignorable (Unicode Case_Ignorable, idem); bits 3-4 decide the final sigma
      bit 5     a nonspacing mark of canonical combining class 0: it ends a run of combining
                characters that NFD's canonical ordering may reorder
  * kLowerRuns: simple lower-case mappings as runs {first, last, stride, delta}: every stride-th
      code point from first to last maps to itself + delta (str.lower(); U+0130 is the one
      code point whose lower case is two code points, "i" + U+0307, handled in C++)
  * kStrip1: uint64 from << 21 | to, and kStrip: {from, {to0, to1, to2}} (0 = unused slot): NFD of
      `from` without its Mn marks, one code point (kStrip1) or several (kStrip), for every code point of a word where that differs from the code point itself (Mn marks
      themselves and Hangul syllables, which decompose algorithmically, are handled in C++;
      whitespace and control characters never reach accent stripping)
  * kNonStarters: {code point, canonical combining class} of the characters with a nonzero class
      that are not Mn, so survive accent stripping and may be reordered by NFD

Usage: python3 tools/gen_unicode_tables.py [OUT]   (default src/data/unicode_tables.inc)
"""
import os
import sys
import unicodedata as ud

MAX = 0x110000
SIGMA = "\u03a3"


def is_surrogate(c):
    return 0xD800 <= c <= 0xDFFF


def klass(c):
    ch = chr(c)
    cat = ud.category(ch)
    if ch in " \t\n\r" or cat == "Zs":
        return 1
    if cat in ("Cc", "Cf"):
        return 2
    if 33 <= c <= 47 or 58 <= c <= 64 or 91 <= c <= 96 or 123 <= c <= 126 or cat.startswith("P"):
        return 3
    if cat == "Mn":
        return 4
    if ch.isspace():
        return 5
    return 0


def case_bits(c):
    # Probe str.lower()'s Final_Sigma rule: "c Σ" ends in final sigma iff c is cased and not
    # case-ignorable; "A c Σ" iff c is case-ignorable or cased.
    ch = chr(c)
    t1 = (ch + SIGMA).lower()[-1] == "\u03c2"
    t2 = ("A" + ch + SIGMA).lower()[-1] == "\u03c2"
    cased = t1
    ignorable = t2 and not t1
    return (8 if cased else 0) | (16 if ignorable else 0)


def props(c):
    if is_surrogate(c):
        return 0
    k = klass(c)
    barrier = 32 if k == 4 and ud.combining(chr(c)) == 0 else 0
    return k | case_bits(c) | barrier


def strip(ch):
    return "".join(x for x in ud.normalize("NFD", ch) if ud.category(x) != "Mn")


def same_runs(nfd):
    """Whether dropping the marks of decomposition nfd first (as the C++ does, which only knows
    class-0 marks of the input text, not of decompositions) leaves the same runs of reorderable
    characters as NFD's canonical ordering sees before the marks go, with reorderable characters
    on both sides of it."""
    seq = [("N", 1)] + [(x, ud.combining(x)) for x in nfd] + [("N", 1)]

    def runs(items):
        out, run = [], 0
        for x, ccc in items:
            if ccc == 0:
                run += 1
            elif x == "N" or ud.category(x) != "Mn":
                out.append(run)
        return [out.count(r) for r in sorted(set(out))]

    kept = [(x, ccc) for x, ccc in seq if x == "N" or ud.category(x) != "Mn"]
    return runs(seq) == runs(kept)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "src", "data", "unicode_tables.inc")

    runs = []
    prev = None
    for c in range(MAX):
        p = props(c)
        if p != prev:
            runs.append((c, p))
            prev = p

    lower = []
    for c in range(MAX):
        if is_surrogate(c) or c == 0x130:
            continue
        low = chr(c).lower()
        assert len(low) == 1, hex(c)
        if ord(low) != c:
            lower.append((c, ord(low) - c))
    lruns = []  # [first, last, stride, delta]
    for c, d in lower:
        if lruns:
            r = lruns[-1]
            if r[3] == d and r[0] == r[1] and c - r[1] in (1, 2):
                r[1], r[2] = c, c - r[1]
                continue
            if r[3] == d and r[0] != r[1] and c - r[1] == r[2]:
                r[1] = c
                continue
        lruns.append([c, c, 1, d])

    strips = []
    for c in range(MAX):
        if is_surrogate(c) or 0xAC00 <= c <= 0xD7A3:
            continue
        ch = chr(c)
        if klass(c) in (1, 2, 4, 5):  # never part of a word, or dropped
            continue
        s = strip(ch)
        if s != ch:
            assert 1 <= len(s) <= 3, hex(c)
            # The output must need no further processing by the tokenizer's word splitting.
            for x in s:
                assert klass(ord(x)) in (0, 3), (hex(c), hex(ord(x)))
            strips.append((c, [ord(x) for x in s] + [0] * (3 - len(s))))
            assert same_runs(ud.normalize("NFD", ch)), hex(c)

    nonstarters = [(c, ud.combining(chr(c))) for c in range(MAX)
                   if not is_surrogate(c) and ud.combining(chr(c)) and klass(c) != 4]

    with open(out, "w", encoding="ascii") as f:
        f.write("// Generated by tools/gen_unicode_tables.py from Python %s unicodedata %s.\n"
                "// Do not edit; see that script for the meaning of each table.\n"
                % (sys.version.split()[0], ud.unidata_version))
        f.write("// clang-format off\n")
        f.write("constexpr char kUnicodeVersion[] = \"%s\";\n\n" % ud.unidata_version)

        def emit(name, ctype, items, per_line):
            f.write("constexpr %s %s[] = {\n" % (ctype, name))
            for i in range(0, len(items), per_line):
                f.write("    " + ", ".join(items[i:i + per_line]) + ",\n")
            f.write("};\n\n")

        emit("kProps", "uint32_t", ["0x%x" % (s << 8 | p) for s, p in runs], 8)
        emit("kLowerRuns", "LowerRun", ["{0x%x,0x%x,%d,%d}" % tuple(r) for r in lruns], 4)
        emit("kStrip1", "uint64_t", ["0x%x" % (c << 21 | t[0]) for c, t in strips if not t[1]], 8)
        emit("kStrip", "StripEntry",
             ["{0x%x,{0x%x,0x%x,0x%x}}" % (c, *t) for c, t in strips if t[1]], 4)
        emit("kNonStarters", "NonStarter", ["{0x%x,%d}" % t for t in nonstarters], 6)
        f.write("// clang-format on\n")
    print("%s: %d property runs, %d lower-case runs, %d strip entries" %
          (out, len(runs), len(lruns), len(strips)))


if __name__ == "__main__":
    main()
