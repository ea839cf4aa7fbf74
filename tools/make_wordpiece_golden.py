#!/usr/bin/env python3
"""Writes the golden fixtures of win's WordPiece tokenizer (tests/data/test_wordpiece.cpp):

  tests/fixtures/wordpiece_vocab.txt   a small vocabulary: the specials, printable ASCII and the
                                       "##" forms of letters and digits, a few hundred English
                                       words and subword pieces, accented, Greek, Cyrillic and
                                       CJK characters
  tests/fixtures/wordpiece_golden.txt  one case per line, four tab-separated columns:
                                       mode (uncased|cased), input text, basic tokens, WordPiece
                                       tokens (tokens separated by single spaces)

The expected tokens are produced by tools/wordpiece_reference.py, an independent Python
implementation of Google BERT's tokenization.py semantics (see its docstring), running on this
interpreter's unicodedata. Text is escaped so every line is printable UTF-8: a backslash is
written "\\\\", and each byte of a non-printable character (controls, format characters, odd
whitespace) or of invalid UTF-8 is written "\\xHH".

Usage: python3 tools/make_wordpiece_golden.py   (from anywhere; paths are relative to the repo)
"""
import os
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wordpiece_reference import Tokenizer  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

WORDS = """
the of and to in a is that for it as was with be by on not he i this are or his from at which but
have an they you were her she there one all we their has been would will more if no when so what
out up said who about them can its into than only other new some could time these two may then
first any my now such like our over man me even most made after also did many before must through
years where much your way well down should because each just those people how too little state
good very make world still own see men work long get here between both life being under never day
same another know while last might us great old year off come since against go came right used
take three hello quick brown fox jumps lazy dog don stop art co worker mail smith love pizza and
cafe caf naive coffee price dollars percent number numbers pi http https www example com path
org html email john doe user hashtag north south america united states president congress nation
union address war peace economy jobs tax taxes america american americans government free
freedom citizens country today tonight future children family families health care security
world energy business law laws public national federal budget million billion plan help year
thank god bless city straße tokyo moscow athens angstrom un affable able believe going happen
run running runner play played playing player internet website data test tests testing
""".split()

PIECES = """
##s ##es ##ed ##ing ##er ##ers ##est ##ly ##tion ##tions ##ation ##ment ##ments ##ness ##able
##ible ##al ##ize ##ization ##ity ##ive ##ful ##less ##ous ##ism ##ist ##ian ##ic ##ical ##ee
##aff ##re ##un ##believ ##th ##ch ##sh ##ph ##qu ##ck ##ll ##ss ##tt ##nn ##ve ##ng ##nd ##st
##ow ##om ##ov ##er ##ld ##rld ##llo ##ello ##fe ##af ##ive ##gstr ##om ##str ##ström
inter ##national national re pre dis over under anti
""".split()

ACCENTED = ["é", "##é", "è", "##è", "ï", "##ï", "ö", "##ö", "å", "##å", "Å", "ü", "##ü", "ß",
            "##ß", "ñ", "##ñ", "ç", "##ç", "café", "Café", "naïve", "Ångström", "ström", "über",
            "ʃ"]
GREEK = [chr(c) for c in range(0x3B1, 0x3CA)]  # α..ω including final ς
CYRILLIC = [chr(c) for c in range(0x430, 0x450)]  # а..я
CJK = ["中", "国", "日", "本", "東", "京", "我", "爱", "文"]
CASED = ["The", "Hello", "John", "America", "President", "Tokyo", "Moscow", "Paris", "I", "U",
         "S", "Dr", "Mr"]


def build_vocab():
    toks = list(SPECIALS)
    toks += [chr(c) for c in range(33, 127)]
    toks += ["##" + chr(c) for c in range(33, 127) if chr(c).isalnum()]
    toks += WORDS + PIECES + ACCENTED + CASED + CJK
    for ch in GREEK + CYRILLIC:
        toks += [ch, "##" + ch]
    toks += ["οδος", "αθηνα", "москва", "мир", "елка", "##ка"]
    seen, out = set(), []
    for t in toks:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


CASES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "don't stop believing",
    "state-of-the-art co-worker's e-mail",
    "!!!???...---",
    "Wait... what?!",
    "café naïve Ångström",
    "CAFÉ NAÏVE ÅNGSTRÖM",
    "unaffable",
    "unbelievable running runners",
    "internationalization",
    "xyzzy qwv",
    "abcʃdef and ŋ",
    "ab" * 50,
    "ab" * 50 + "a",
    "é" * 100,
    "e\u0301" * 100,
    "我爱中国",
    "中文English混合text",
    "東京 and 日本",
    "hello\x00world",
    "a\x07b\x1bc",
    "tab\there\nnew\r\nline",
    "zero\u200bwidth\u200cjoin\u200dend",
    "\ufeffBOM at start",
    "non\u00a0breaking\u3000ideographic\u2003em\u2009thin",
    "line\u2028separator\u2029paragraph",
    "\x1c\x1d\x1e\x1f\x85\x0b\x0c",
    "I love 🍕! 👍🏽 👨\u200d👩\u200d👧",
    "Москва и 東京 and Αθήνα",
    "ΟΔΟΣ ΟΔΟΣ. ΣΑΣ Σ",
    "Ёлка и йогурт",
    "3.14159 and 1,000,000 and -2.5e10",
    "$100.00 costs 50% less #hashtag @user",
    "https://www.example.com/path?q=1&x=y#frag",
    "john.doe@example.com",
    "İstanbul and DİYARBAKIR",
    "ﬁnance ＡＢＣ ｆｕｌｌ",
    "한국어 텍스트",
    "replacement \ufffd char",
    b"invalid \xff\xfe bytes \xc3 caf\xc3\xa9 \xe2\x82A \xed\xa0\x80 \xf0\x9f\x98",
    "",
    "   \t\n  ",
    "Tiếng Việt có dấu",
    "Straße STRASSE",
    "\u212a Kelvin \u2126 ohm \u212b angstrom",
    "Greek varia \u1fef and oxia \u1ffd",
    "C++ and C# and F#",
    "“smart quotes” ‘single’ «guillemets» „low“",
    "e.g. i.e. U.S.A. Dr. Mr. Smith",
    "combining \u0301 alone and a\u0308",
    "مرحبا بالعالم שלום",
    "สวัสดีครับ नमस्ते",
    "private \ue000 use \U000f0000",
    "modifierʼs apostrophe it's it’s",
    "x²+y²=z² ½ ①",
    "^_^ ~tilde~ `backtick` |pipe| <tag>",
    "©®™ €£¥ §¶ •·",
    "Ⅻ chapters ⅻ",
    "𐐀𐐨 deseret",
    "multiple     spaces\t\t\ttabs",
    "…ellipsis… and — dash – en",
    "President of the United States of America",
    "[CLS] [MASK] [SEP] tokens are text",
    "Hello hello HELLO hElLo",
]


def escape(data):
    """Printable UTF-8 for one fixture column (see the module docstring)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(chr(b) if 32 <= b < 127 and b != 92 else "\\x%02x" % b for b in data)
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == " " or (ch.isprintable() and unicodedata.category(ch)[0] not in "ZC"):
            out.append(ch)
        else:
            out.append("".join("\\x%02x" % b for b in ch.encode("utf-8")))
    return "".join(out)


def main():
    vocab = build_vocab()
    fixtures = os.path.join(ROOT, "tests", "fixtures")
    with open(os.path.join(fixtures, "wordpiece_vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    lines = []
    for mode in ("uncased", "cased"):
        tok = Tokenizer(vocab, lower_case=(mode == "uncased"))
        for case in CASES:
            basic = tok.basic(case)
            pieces = tok.tokenize(case)
            lines.append("\t".join([mode, escape(case), " ".join(escape(t) for t in basic),
                                    " ".join(escape(t) for t in pieces)]))
    with open(os.path.join(fixtures, "wordpiece_golden.txt"), "w", encoding="utf-8") as f:
        f.write("# Generated by tools/make_wordpiece_golden.py with tools/wordpiece_reference.py\n"
                "# (Google BERT tokenization.py semantics), Python %s, unicodedata %s.\n"
                "# mode<TAB>input<TAB>basic tokens<TAB>wordpiece tokens; \\\\ and \\xHH escapes.\n"
                % (sys.version.split()[0], unicodedata.unidata_version))
        f.write("".join(line + "\n" for line in lines))
    print("%d vocabulary tokens, %d golden cases" % (len(vocab), len(lines)))


if __name__ == "__main__":
    main()
