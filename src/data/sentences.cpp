// The sentence splitter and document readers (see sentences.hpp). The splitter works on
// whitespace-separated tokens: a token ending in terminal punctuation (before any closing quotes or
// brackets) ends a sentence unless the abbreviation rules below say otherwise or the next token
// starts in lower case. Rules are deliberately simple and English-specific; they aim at the
// training text of BERT's next-sentence task, where an occasional wrong split is harmless.
#include "data/sentences.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"
#include "data/unicode.hpp"

namespace win::data {

namespace {

namespace uc = unicode;

template <size_t N>
bool in(const std::string_view (&set)[N], std::string_view s) {
  return std::find(std::begin(set), std::end(set), s) != std::end(set);
}

// Lower-case, without their final period. Titles and words that precede a name or a number.
constexpr std::string_view kNeverEnd[] = {
    "mr",  "mrs",    "ms",   "messrs", "mmes", "dr",   "prof", "rev",  "hon",  "gen",
    "col", "lt",     "sgt",  "capt",   "cmdr", "adm",  "maj",  "brig", "cpl",  "pvt",
    "gov", "sen",    "rep",  "pres",   "supt", "insp", "fr",   "vs",   "viz",  "cf",
    "ca",  "approx", "dept", "e.g",    "i.e",  "mx",   "gens", "reps", "sens", "govs"};
// Abbreviations that end a sentence only when the next word cannot follow them: "No." and months
// before a number ("No. 5", "Jan. 20") do not.
constexpr std::string_view kBeforeNumber[] = {
    "no",  "nos", "art",  "arts", "p",   "pp",  "vol",  "vols", "fig", "figs",
    "sec", "ch",  "op",   "pt",   "jan", "feb", "mar",  "apr",  "jun", "jul",
    "aug", "sep", "sept", "oct",  "nov", "dec", "para", "chap"};
// Abbreviations that often end a sentence too: they end one only before a sentence opener.
constexpr std::string_view kAmbiguous[] = {"jr",   "sr",   "st",  "inc", "ltd", "co",
                                           "corp", "bros", "etc", "esq", "llc", "plc",
                                           "ave",  "blvd", "mt",  "al"};
// Words that typically open a sentence (capitalised as they would be there).
constexpr std::string_view kOpeners[] = {
    "A",     "An",       "And",   "As",    "At",    "But",  "By",   "During",  "Each",  "Every",
    "For",   "From",     "He",    "Her",   "Here",  "His",  "How",  "However", "I",     "If",
    "In",    "It",       "Its",   "It's",  "Many",  "Most", "My",   "No",      "Now",   "Of",
    "On",    "One",      "Our",   "She",   "So",    "Some", "That", "The",     "Their", "Then",
    "There", "These",    "They",  "This",  "Those", "Thus", "To",   "Today",   "We",    "What",
    "When",  "Where",    "Which", "While", "Who",   "Why",  "With", "Yet",     "You",   "Your",
    "After", "Although", "Since", "Before"};

bool is_opening_mark(char32_t c) {  // opening quotes and brackets, and Spanish ¿ ¡
  return c == '(' || c == '[' || c == '{' || c == '"' || c == '\'' || c == 0x201C || c == 0x2018 ||
         c == 0xAB || c == 0x2039 || c == 0xBF || c == 0xA1;
}
bool is_closing_mark(char32_t c) {
  return c == ')' || c == ']' || c == '}' || c == '"' || c == '\'' || c == 0x201D || c == 0x2019 ||
         c == 0xBB || c == 0x203A;
}
bool is_space(char32_t c) {
  if (c < 0x20 || c == 0x7F) return true;
  const auto k = uc::char_class(c);
  return k == uc::CharClass::Whitespace || k == uc::CharClass::Separator;
}

// The last code point of s and where it starts.
char32_t last_char(std::string_view s, size_t& at) {
  at = s.size();
  do --at;
  while (at > 0 && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80);
  size_t i = at;
  return uc::decode_utf8(s, i);
}

std::string_view strip_closers(std::string_view s) {
  size_t at;
  while (!s.empty() && is_closing_mark(last_char(s, at))) s = s.substr(0, at);
  return s;
}

std::string_view strip_openers(std::string_view s) {
  while (!s.empty()) {
    size_t i = 0;
    if (!is_opening_mark(uc::decode_utf8(s, i))) break;
    s = s.substr(i);
  }
  return s;
}

// Whether a sentence may start with token t: its first character after opening quotes and
// brackets is not a lower-case letter.
bool can_start(std::string_view t) {
  t = strip_openers(t);
  if (t.empty()) return false;
  size_t i = 0;
  return !uc::is_lower(uc::decode_utf8(t, i));
}

bool is_sentence_opener(std::string_view t) {
  t = strip_openers(t);
  while (!t.empty() && std::strchr(",;:", t.back())) t.remove_suffix(1);
  return in(kOpeners, t);
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return out;
}

// Whether a sentence ends after tok (followed by next; first: tok opens the current sentence).
bool ends_sentence(std::string_view tok, std::string_view next, bool first) {
  const std::string_view core = strip_closers(tok);
  if (core.empty()) return false;
  size_t at;
  const char32_t last = last_char(core, at);
  if (last == '!' || last == '?' || last == 0x203D || last == 0x2026) return can_start(next);
  if (last != '.') return false;
  if (core.size() >= 2 && core[core.size() - 2] == '.') return can_start(next);  // an ellipsis
  const std::string_view word = strip_openers(core.substr(0, core.size() - 1));
  if (word.empty()) return can_start(next);
  const std::string lw = ascii_lower(word);
  if (in(kNeverEnd, lw)) return false;
  if (in(kBeforeNumber, lw) && !next.empty() && next[0] >= '0' && next[0] <= '9') return false;
  if (uc::count_chars(word) == 1 && word != "I") {  // an initial, unless a digit or a symbol
    size_t i = 0;
    if (uc::is_cased(uc::decode_utf8(word, i))) return false;
  }
  const bool digits =
      std::all_of(word.begin(), word.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits && first) return false;  // "1. First, ..."
  const bool dotted =
      word.find('.') != std::string_view::npos && std::all_of(word.begin(), word.end(), [](char c) {
        return c == '.' || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
      });
  if (dotted || in(kAmbiguous, lw)) return is_sentence_opener(next);
  return can_start(next);
}

}  // namespace

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string_view> tokens;
  size_t start = std::string_view::npos;
  for (size_t i = 0; i < text.size();) {
    const size_t at = i;
    const char32_t c = uc::decode_utf8(text, i);
    if (is_space(c)) {
      if (start != std::string_view::npos) tokens.push_back(text.substr(start, at - start));
      start = std::string_view::npos;
    } else if (start == std::string_view::npos) {
      start = at;
    }
  }
  if (start != std::string_view::npos) tokens.push_back(text.substr(start));

  std::vector<std::string> out;
  std::string cur;
  bool first = true;
  for (size_t t = 0; t < tokens.size(); ++t) {
    if (!cur.empty()) cur += ' ';
    cur += tokens[t];
    if (t + 1 == tokens.size() || ends_sentence(tokens[t], tokens[t + 1], first)) {
      out.push_back(std::move(cur));
      cur.clear();
      first = true;
    } else {
      first = false;
    }
  }
  return out;
}

TextFormat parse_text_format(const std::string& name) {
  if (name == "lines") return TextFormat::Lines;
  if (name == "raw") return TextFormat::Raw;
  if (name == "wikiextractor") return TextFormat::WikiExtractor;
  WIN_FAIL(ErrorKind::Usage, "unknown text format '", name,
           "' (choose lines, raw or wikiextractor)");
}

const char* text_format_name(TextFormat format) {
  switch (format) {
    case TextFormat::Lines:
      return "lines";
    case TextFormat::Raw:
      return "raw";
    case TextFormat::WikiExtractor:
      return "wikiextractor";
  }
  return "?";
}

// ---- readers --------------------------------------------------------------------------------

DocumentReader::DocumentReader(std::string path, TextFormat format)
    : path_(std::move(path)), format_(format), in_(path_, std::ios::binary) {
  WIN_CHECK(in_, ErrorKind::Data, "cannot read text file '", path_, "': ", std::strerror(errno));
  std::error_code ec;
  const auto n = std::filesystem::file_size(path_, ec);
  size_ = ec ? 0 : static_cast<int64_t>(n);
}

bool DocumentReader::read_line(std::string& line) {
  if (!std::getline(in_, line)) {
    WIN_CHECK(!in_.bad(), ErrorKind::Data, "error reading '", path_, "' after line ", line_no_);
    return false;
  }
  ++line_no_;
  bytes_ += static_cast<int64_t>(line.size()) + (in_.eof() ? 0 : 1);  // the last may lack \n
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line_no_ == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // a byte-order mark
  size_t bad = 0;
  WIN_CHECK(uc::valid_utf8(line, &bad), ErrorKind::Data, path_, ":", line_no_,
            ": not UTF-8 (bad byte at column ", bad + 1, "); convert the file to UTF-8");
  return true;
}

namespace {

bool blank(std::string_view s) {
  for (size_t i = 0; i < s.size();)
    if (!is_space(uc::decode_utf8(s, i))) return false;
  return true;
}

// s with surrounding whitespace removed and inner runs made single spaces.
std::string squeeze(std::string_view s) {
  std::string out;
  bool gap = false;
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    if (is_space(uc::decode_utf8(s, i))) {
      gap = !out.empty();
    } else {
      if (gap) out += ' ';
      gap = false;
      out.append(s.substr(at, i - at));
    }
  }
  return out;
}

}  // namespace

void DocumentReader::add_paragraph(Document& doc, std::string& paragraph) {
  for (auto& s : split_sentences(paragraph)) doc.push_back(std::move(s));
  paragraph.clear();
}

bool DocumentReader::next_lines(Document& doc) {
  std::string line;
  while (read_line(line)) {
    if (blank(line)) {
      if (!doc.empty()) return true;
    } else {
      doc.push_back(squeeze(line));
    }
  }
  return !doc.empty();
}

bool DocumentReader::next_raw(Document& doc) {
  std::string line, paragraph;
  while (read_line(line)) {
    const std::string s = squeeze(line);
    if (s == "---") {
      add_paragraph(doc, paragraph);
      if (!doc.empty()) return true;
    } else if (s.empty()) {
      add_paragraph(doc, paragraph);
    } else {
      if (!paragraph.empty()) paragraph += ' ';
      paragraph += s;
    }
  }
  add_paragraph(doc, paragraph);
  return !doc.empty();
}

bool DocumentReader::next_wiki(Document& doc) {
  std::string line;
  int64_t opened = 0;  // line of the open <doc>, 0 when outside one
  bool title = false;  // the title line is still to be skipped
  while (read_line(line)) {
    const std::string s = squeeze(line);
    if (s.starts_with("<doc ") || s == "<doc>") {
      WIN_CHECK(!opened, ErrorKind::Data, path_, ":", line_no_,
                ": <doc> inside the document opened at line ", opened, " (missing </doc>?)");
      opened = line_no_;
      title = true;
    } else if (s == "</doc>") {
      WIN_CHECK(opened, ErrorKind::Data, path_, ":", line_no_, ": </doc> without <doc>");
      opened = 0;
      if (!doc.empty()) return true;
    } else if (!s.empty()) {
      WIN_CHECK(opened, ErrorKind::Data, path_, ":", line_no_,
                ": text outside <doc> ... </doc> (is this WikiExtractor output?)");
      if (title) {
        title = false;
      } else {
        for (auto& sentence : split_sentences(s)) doc.push_back(std::move(sentence));
      }
    }
  }
  WIN_CHECK(!opened, ErrorKind::Data, path_, ":", opened,
            ": the document opened here has no </doc> (file truncated?)");
  return false;
}

bool DocumentReader::next(Document& doc) {
  doc.clear();
  switch (format_) {
    case TextFormat::Lines:
      return next_lines(doc);
    case TextFormat::Raw:
      return next_raw(doc);
    case TextFormat::WikiExtractor:
      return next_wiki(doc);
  }
  return false;
}

std::vector<Document> read_documents(const std::string& path, TextFormat format) {
  DocumentReader reader(path, format);
  std::vector<Document> docs;
  Document doc;
  while (reader.next(doc)) docs.push_back(std::move(doc));
  return docs;
}

}  // namespace win::data
