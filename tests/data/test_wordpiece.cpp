// Tests of BERT's tokenizer (src/data/wordpiece.*, unicode.*) and the vocabulary trainer
// (vocab_trainer.*): golden tokenisations written by tools/make_wordpiece_golden.py with the
// independent Python reference tools/wordpiece_reference.py, compared exactly in uncased and cased
// modes; vocabulary file errors; invalid UTF-8 never crashes; the trainer's vocabulary starts with
// the specials, reaches the requested size, is deterministic and covers its training text.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/unicode.hpp"
#include "data/vocab_trainer.hpp"
#include "data/wordpiece.hpp"
#include "temp_dir_test.hpp"

namespace win::data {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = std::string(WIN_SOURCE_DIR) + "/tests/fixtures/";

// Undoes make_wordpiece_golden.py's escaping: "\\" and "\xHH".
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '\\') {
      out.push_back('\\');
      ++i;
    } else if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

std::vector<std::string> tokens_of(const std::string& column) {
  std::vector<std::string> out;
  if (column.empty()) return out;
  for (const auto& t : split(column, ' ')) out.push_back(unescape(t));
  return out;
}

std::string show(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& t : v) s += (s.empty() ? "" : " ") + t;
  return s;
}

struct GoldenCase {
  int line;
  bool uncased;
  std::string input;
  std::vector<std::string> basic, pieces;
};

std::vector<GoldenCase> load_golden() {
  std::ifstream in(kFixtures + "wordpiece_golden.txt", std::ios::binary);
  EXPECT_TRUE(in) << "missing fixture wordpiece_golden.txt";
  std::vector<GoldenCase> cases;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    // The C++ tables and the golden cases must come from the same Unicode version.
    if (line.find("unicodedata ") != std::string::npos) {
      EXPECT_NE(line.find(cat("unicodedata ", unicode::tables_version(), ".")), std::string::npos)
          << "regenerate src/data/unicode_tables.inc and the fixtures with the same Python";
    }
    if (line.empty() || line[0] == '#') continue;
    const auto cols = split(line, '\t');
    EXPECT_EQ(cols.size(), 4u) << "golden line " << n;
    if (cols.size() != 4) continue;
    cases.push_back(
        {n, cols[0] == "uncased", unescape(cols[1]), tokens_of(cols[2]), tokens_of(cols[3])});
  }
  return cases;
}

TEST(WordPieceGolden, MatchesReferenceUncasedAndCased) {
  const Vocab vocab = Vocab::load(kFixtures + "wordpiece_vocab.txt");
  const WordPieceTokenizer uncased(vocab, {.lower_case = true});
  const WordPieceTokenizer cased(vocab, {.lower_case = false});
  const auto cases = load_golden();
  ASSERT_GE(cases.size(), 80u);
  int n_uncased = 0, n_cased = 0;
  for (const auto& c : cases) {
    const WordPieceTokenizer& tok = c.uncased ? uncased : cased;
    (c.uncased ? n_uncased : n_cased)++;
    EXPECT_EQ(show(tok.basic_tokenize(c.input)), show(c.basic))
        << "golden line " << c.line << " (basic)";
    const auto pieces = tok.tokenize(c.input);
    EXPECT_EQ(show(pieces), show(c.pieces)) << "golden line " << c.line;
    std::vector<int32_t> want;
    for (const auto& p : c.pieces) want.push_back(vocab.id(p));
    EXPECT_EQ(tok.encode(c.input), want) << "golden line " << c.line << " (ids)";
  }
  EXPECT_GE(n_uncased, 40);
  EXPECT_GE(n_cased, 40);
}

TEST(WordPiece, EncodeAppendAndSpecials) {
  const Vocab vocab = Vocab::load(kFixtures + "wordpiece_vocab.txt");
  EXPECT_EQ(vocab.pad(), 0);
  EXPECT_EQ(vocab.unk(), 1);
  EXPECT_EQ(vocab.cls(), 2);
  EXPECT_EQ(vocab.sep(), 3);
  EXPECT_EQ(vocab.mask(), 4);
  EXPECT_EQ(vocab.id("no-such-token"), vocab.unk());
  EXPECT_EQ(vocab.token(vocab.id("hello")), "hello");
  EXPECT_THROW(vocab.token(static_cast<int32_t>(vocab.size())), Error);
  const WordPieceTokenizer tok(vocab);
  std::vector<int32_t> ids{7};
  tok.encode_append("Hello world", ids);
  EXPECT_EQ(ids, (std::vector<int32_t>{7, vocab.id("hello"), vocab.id("world")}));
}

TEST(WordPiece, MaxInputCharsCountsCodePoints) {
  const Vocab vocab = Vocab::from_tokens({"[UNK]", "a", "##a", "é", "##é"});
  const WordPieceTokenizer tok(vocab, {.lower_case = false, .max_input_chars_per_word = 3});
  EXPECT_EQ(tok.tokenize("ééé"), (std::vector<std::string>{"é", "##é", "##é"}));
  EXPECT_EQ(tok.tokenize("éééé aa"), (std::vector<std::string>{"[UNK]", "a", "##a"}));
}

TEST(WordPiece, GarbageBytesNeverCrash) {
  const Vocab vocab = Vocab::load(kFixtures + "wordpiece_vocab.txt");
  const WordPieceTokenizer tok(vocab);
  std::string junk;
  uint32_t x = 12345;
  for (int i = 0; i < 200000; ++i) {
    x = x * 1664525u + 1013904223u;
    junk.push_back(static_cast<char>(x >> 24));
  }
  const auto ids = tok.encode(junk);
  for (int32_t id : ids) EXPECT_TRUE(id >= 0 && id < vocab.size());
  // What the tokenizer sees is exactly the valid part of the input.
  const std::string valid = unicode::to_utf8(unicode::to_utf32(junk));
  EXPECT_TRUE(unicode::valid_utf8(valid));
  EXPECT_EQ(tok.encode(valid), ids);
}

TEST(Unicode, ClassesAndCaseMatchPython) {
  using unicode::CharClass;
  EXPECT_EQ(unicode::char_class(' '), CharClass::Whitespace);
  EXPECT_EQ(unicode::char_class(0x3000), CharClass::Whitespace);
  EXPECT_EQ(unicode::char_class('\t'), CharClass::Whitespace);
  EXPECT_EQ(unicode::char_class(0x200B), CharClass::Control);
  EXPECT_EQ(unicode::char_class('$'), CharClass::Punctuation);
  EXPECT_EQ(unicode::char_class(0x00A7), CharClass::Punctuation);  // §
  EXPECT_EQ(unicode::char_class(0x20AC), CharClass::Other);        // €
  EXPECT_EQ(unicode::char_class(0x0301), CharClass::Mark);
  EXPECT_EQ(unicode::char_class(0x2028), CharClass::Separator);
  EXPECT_TRUE(unicode::is_chinese_char(0x4E2D));
  EXPECT_FALSE(unicode::is_chinese_char(0xD55C));  // Hangul
  EXPECT_EQ(unicode::simple_lower('Q'), U'q');
  EXPECT_EQ(unicode::simple_lower(0x0100), 0x0101u);
  EXPECT_EQ(unicode::simple_lower(0x0101), 0x0101u);
  EXPECT_EQ(unicode::simple_lower(0x10400), 0x10428u);
  EXPECT_TRUE(unicode::is_upper(0x0416));
  EXPECT_TRUE(unicode::is_lower(0x0436));
  std::u32string out;
  unicode::strip_accents_append(0x1EBF, out);  // ế
  EXPECT_EQ(out, U"e");
}

// ---- vocabulary files -----------------------------------------------------------------------

class VocabFileTest : public testing_data::TempDirTest {
 protected:
  VocabFileTest() : TempDirTest("win_vocab_") {}
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
};

template <class F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no win::Error thrown";
  return Error(ErrorKind::Internal, "none");
}

TEST_F(VocabFileTest, DuplicateTokenNamesTheLine) {
  const std::string p = write("dup.txt", "[PAD]\n[UNK]\nhello\nworld\nhello\n");
  const Error e = error_of([&] { Vocab::load(p); });
  EXPECT_EQ(e.kind(), ErrorKind::Data);
  EXPECT_NE(std::string(e.what()).find("dup.txt:5"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("'hello' repeats line 3"), std::string::npos) << e.what();
}

TEST_F(VocabFileTest, MissingFileAndBlankLinesAreDataErrors) {
  const Error missing = error_of([&] { Vocab::load((dir_ / "nope.txt").string()); });
  EXPECT_EQ(missing.kind(), ErrorKind::Data);
  EXPECT_NE(std::string(missing.what()).find("nope.txt"), std::string::npos);
  const Error blank = error_of([&] { Vocab::load(write("blank.txt", "a\n\nb\n")); });
  EXPECT_EQ(blank.kind(), ErrorKind::Data);
  EXPECT_NE(std::string(blank.what()).find("blank.txt:2"), std::string::npos) << blank.what();
  EXPECT_EQ(error_of([&] { Vocab::load(write("empty.txt", "")); }).kind(), ErrorKind::Data);
  EXPECT_EQ(error_of([] { Vocab::from_tokens({"a", "b", "a"}); }).kind(), ErrorKind::Data);
  // A vocabulary without [UNK] cannot tokenize.
  const Vocab no_unk = Vocab::from_tokens({"a", "b"});
  EXPECT_EQ(error_of([&] { WordPieceTokenizer t(no_unk); }).kind(), ErrorKind::Data);
}

TEST_F(VocabFileTest, CrlfTrailingBlankLinesAndRoundTrip) {
  const Vocab v = Vocab::load(write("crlf.txt", "[UNK]\r\nhello\r\n##lo\r\n\r\n\n"));
  ASSERT_EQ(v.size(), 3);
  EXPECT_EQ(v.token(2), "##lo");
  const std::string p = (dir_ / "saved.txt").string();
  v.save(p);
  const Vocab w = Vocab::load(p);
  ASSERT_EQ(w.size(), 3);
  for (int32_t i = 0; i < 3; ++i) EXPECT_EQ(w.token(i), v.token(i));
}

// ---- the vocabulary trainer -----------------------------------------------------------------

// A deterministic pseudo-English corpus: sentences of words drawn from a small list.
std::vector<std::string> corpus_lines() {
  const std::vector<std::string> words = {
      "the",     "nation",   "Congress", "people",  "America",  "economy",  "jobs",   "health",
      "care",    "children", "families", "tonight", "future",   "world",    "peace",  "freedom",
      "we",      "must",     "will",     "can",     "and",      "of",       "to",     "in",
      "our",     "for",      "that",     "is",      "a",        "have",     "more",   "than",
      "working", "workers",  "worked",   "build",   "building", "builders", "strong", "stronger",
      "Café",    "naïve",    "3.5",      "percent", "don't",    "U.S.",     "reform", "reforms"};
  std::vector<std::string> lines;
  uint32_t x = 7;
  for (int s = 0; s < 400; ++s) {
    std::string line;
    const int n = 4 + s % 9;
    for (int w = 0; w < n; ++w) {
      x = x * 1664525u + 1013904223u;
      line += (w ? " " : "") + words[(x >> 16) % words.size()];
    }
    lines.push_back(line + (s % 3 ? "." : "!"));
  }
  return lines;
}

TEST(VocabTrainer, ReachesSizeSpecialsFirstDeterministicNoUnk) {
  const auto lines = corpus_lines();
  for (bool lower : {true, false}) {
    VocabTrainer a({.vocab_size = 160, .lower_case = lower});
    VocabTrainer b({.vocab_size = 160, .lower_case = lower});
    for (const auto& l : lines) a.add_text(l);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) b.add_text(*it);  // order is no matter
    VocabStats st;
    const Vocab va = a.train(&st);
    const Vocab vb = b.train();
    ASSERT_EQ(va.size(), 160) << "lower " << lower;
    EXPECT_EQ(st.specials, 5);
    EXPECT_EQ(st.specials + st.characters + st.merges, 160);
    EXPECT_GT(st.merges, 50);
    EXPECT_EQ(st.words, a.words());
    for (int i = 0; i < 5; ++i) EXPECT_EQ(va.token(i), special_tokens()[static_cast<size_t>(i)]);
    for (int32_t i = 0; i < va.size(); ++i) ASSERT_EQ(va.token(i), vb.token(i)) << "id " << i;
    EXPECT_EQ(va.contains("É") || va.contains("C"), !lower);
    EXPECT_TRUE(va.contains("the"));
    const WordPieceTokenizer tok(va, {.lower_case = lower});
    for (const auto& l : lines)
      for (int32_t id : tok.encode(l)) ASSERT_NE(id, va.unk()) << l;
  }
}

TEST(VocabTrainer, MergesMostFrequentPairsWithStableTies) {
  VocabTrainer t({.vocab_size = 100});
  t.add_text("the the The THE cat");
  VocabStats st;
  const Vocab v = t.train(&st);
  const std::vector<std::string> want = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a",
                                         "c",     "e",     "h",     "t",     "##a",    "##c",
                                         "##e",   "##h",   "##t",   "th",    "the"};
  ASSERT_EQ(v.size(), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(v.token(static_cast<int32_t>(i)), want[i]);
  EXPECT_EQ(st.merges, 2);  // "c ##a" occurs once: below min_pair_count
  EXPECT_EQ(t.distinct_words(), 2);
}

TEST(VocabTrainer, TooSmallSizeIsAUsageError) {
  VocabTrainer t({.vocab_size = 8});
  t.add_text("abc");
  const Error e = error_of([&] { t.train(); });
  EXPECT_EQ(e.kind(), ErrorKind::Usage);
}

}  // namespace
}  // namespace win::data
