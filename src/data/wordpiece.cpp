// BERT's tokenizer (see wordpiece.hpp) with the semantics of Google's tokenization.py, checked
// against the independent Python reference tools/wordpiece_reference.py by golden tests. One pass
// over the text cleans it and splits it into words in a reused per-thread buffer; each word is
// lower-cased and accent-stripped (uncased: in place for ASCII words, through code points for the
// others), split on punctuation, and matched greedily against two byte tries of the vocabulary,
// so nothing is allocated per character or per lookup (~75 MB/s of English on one core).
#include "data/wordpiece.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "core/error.hpp"
#include "data/unicode.hpp"

namespace win::data {

namespace uc = unicode;

// ---- Vocab ----------------------------------------------------------------------------------

namespace {

void check_token(const std::string& t, const std::string& where) {
  WIN_CHECK(!t.empty(), ErrorKind::Data, where, ": empty vocabulary token");
  WIN_CHECK(t.find_first_of("\r\n") == std::string::npos, ErrorKind::Data, where,
            ": vocabulary token contains a line break");
}

int32_t special(const std::unordered_map<std::string, int32_t>& ids, const char* name) {
  const auto it = ids.find(name);
  WIN_CHECK(it != ids.end(), ErrorKind::Data, "the vocabulary has no ", name, " token");
  return it->second;
}

}  // namespace

Vocab Vocab::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  WIN_CHECK(in, ErrorKind::Data, "cannot read vocabulary file '", path,
            "': ", std::strerror(errno));
  std::vector<std::string> tokens;
  std::unordered_map<std::string, int32_t> ids;
  std::string line;
  int64_t lineno = 0, blank_at = 0;
  while (std::getline(in, line)) {
    ++lineno;
    // Like Google's load_vocab, surrounding whitespace (and a Windows \r) is not part of a token.
    const size_t b = line.find_first_not_of(" \t\r\f\v");
    if (b == std::string::npos) {
      if (!blank_at) blank_at = lineno;  // an error unless only blank lines follow
      continue;
    }
    WIN_CHECK(!blank_at, ErrorKind::Data, path, ":", blank_at, ": empty vocabulary token");
    std::string tok = line.substr(b, line.find_last_not_of(" \t\r\f\v") + 1 - b);
    const auto [it, fresh] = ids.emplace(tok, static_cast<int32_t>(tokens.size()));
    WIN_CHECK(fresh, ErrorKind::Data, path, ":", lineno, ": token '", tok, "' repeats line ",
              it->second + 1);
    tokens.push_back(std::move(tok));
  }
  WIN_CHECK(!in.bad(), ErrorKind::Data, "error reading vocabulary file '", path, "'");
  WIN_CHECK(!tokens.empty(), ErrorKind::Data, "vocabulary file '", path, "' has no tokens");
  Vocab v;
  v.tokens_ = std::move(tokens);
  v.ids_ = std::move(ids);
  return v;
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens) {
  Vocab v;
  v.ids_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    check_token(tokens[i], cat("vocabulary token ", i));
    const auto [it, fresh] = v.ids_.emplace(tokens[i], static_cast<int32_t>(i));
    WIN_CHECK(fresh, ErrorKind::Data, "vocabulary token ", i, " '", tokens[i], "' repeats token ",
              it->second);
  }
  v.tokens_ = std::move(tokens);
  return v;
}

void Vocab::save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  WIN_CHECK(out, ErrorKind::Output, "cannot write vocabulary file '", path,
            "': ", std::strerror(errno));
  for (const auto& t : tokens_) out << t << '\n';
  out.flush();
  WIN_CHECK(out, ErrorKind::Output, "error writing vocabulary file '", path, "'");
}

int32_t Vocab::id(const std::string& t) const {
  const auto it = ids_.find(t);
  return it != ids_.end() ? it->second : unk();
}

const std::string& Vocab::token(int32_t id) const {
  WIN_CHECK(id >= 0 && id < size(), ErrorKind::Data, "token id ", id,
            " is outside the vocabulary [0, ", size(), ")");
  return tokens_[static_cast<size_t>(id)];
}

int32_t Vocab::unk() const {
  return special(ids_, "[UNK]");
}
int32_t Vocab::cls() const {
  return special(ids_, "[CLS]");
}
int32_t Vocab::sep() const {
  return special(ids_, "[SEP]");
}
int32_t Vocab::mask() const {
  return special(ids_, "[MASK]");
}
int32_t Vocab::pad() const {
  return special(ids_, "[PAD]");
}

// ---- the basic tokenizer --------------------------------------------------------------------

namespace {

struct Scratch {
  std::string word;                       // UTF-8 of the current word (cleaned)
  std::u32string chars, lowered, folded;  // non-ASCII words only
  std::string bytes;
  std::vector<int32_t> pieces;  // token ids of the current basic token
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// The class of each ASCII byte (the same as unicode::char_class), looked up without a call.
const std::array<uc::CharClass, 128>& ascii_classes() {
  static const auto table = [] {
    std::array<uc::CharClass, 128> t{};
    for (char32_t c = 0; c < 128; ++c) t[c] = uc::char_class(c);
    return t;
  }();
  return table;
}

// Splits a folded word on punctuation: emit(utf8, n_chars) per piece.
template <class Emit>
void split_punctuation(const std::u32string& src, std::string& b, Emit&& emit) {
  b.clear();
  size_t n = 0;
  for (char32_t c : src) {
    if (uc::char_class(c) == uc::CharClass::Punctuation) {
      if (n) emit(std::string_view(b), n);
      b.clear();
      uc::append_utf8(b, c);
      emit(std::string_view(b), size_t{1});
      b.clear();
      n = 0;
    } else {
      uc::append_utf8(b, c);
      ++n;
    }
  }
  if (n) emit(std::string_view(b), n);
}

// Calls emit(utf8, n_chars) for each basic token of text. Words of ASCII only (most of them)
// are lower-cased and split in place; others go through code points for case and accents.
template <class Emit>
void basic_tokens(std::string_view text, bool lower_case, Scratch& sc, Emit&& emit) {
  const auto& ascii = ascii_classes();
  std::string& word = sc.word;
  word.clear();
  bool only_ascii = true;
  auto flush = [&] {
    if (word.empty()) return;
    if (only_ascii) {
      size_t start = 0;
      for (size_t i = 0; i < word.size(); ++i) {
        char& ch = word[i];
        if (ascii[static_cast<unsigned char>(ch)] == uc::CharClass::Punctuation) {
          if (i > start) emit(std::string_view(word).substr(start, i - start), i - start);
          emit(std::string_view(word).substr(i, 1), size_t{1});
          start = i + 1;
        } else if (lower_case && ch >= 'A' && ch <= 'Z') {
          ch = static_cast<char>(ch + ('a' - 'A'));
        }
      }
      if (word.size() > start) emit(std::string_view(word).substr(start), word.size() - start);
    } else {
      sc.chars = uc::to_utf32(word);
      if (lower_case) {
        sc.lowered.clear();
        uc::lower_append(sc.chars, sc.lowered);
        sc.folded.clear();
        uc::strip_accents_word(sc.lowered, sc.folded);
        split_punctuation(sc.folded, sc.bytes, emit);
      } else {
        split_punctuation(sc.chars, sc.bytes, emit);
      }
    }
    word.clear();
    only_ascii = true;
  };
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {  // ASCII: no decoding, no CJK
      ++i;
      switch (ascii[b]) {
        case uc::CharClass::Control:
          continue;  // removed (NUL included)
        case uc::CharClass::Whitespace:
          flush();
          continue;
        default:
          word.push_back(static_cast<char>(b));
          continue;
      }
    }
    const size_t at = i;
    const char32_t c = uc::decode_utf8(text, i);
    if (c == uc::kInvalid || c == 0xFFFD) continue;  // Python's decode(..., "ignore")
    switch (uc::char_class(c)) {
      case uc::CharClass::Control:
        continue;
      case uc::CharClass::Whitespace:
      case uc::CharClass::Separator:
        flush();
        continue;
      default:
        break;
    }
    const bool cjk = uc::is_chinese_char(c);
    if (cjk) flush();
    word.append(text.substr(at, i - at));
    only_ascii = false;
    if (cjk) flush();
  }
  flush();
}

}  // namespace

// These two use their own buffers: fn may call the tokenizer, which uses the thread's.
void for_each_basic_token(std::string_view text, bool lower_case,
                          const std::function<void(std::string_view)>& fn) {
  Scratch sc;
  basic_tokens(text, lower_case, sc, [&](std::string_view t, size_t) { fn(t); });
}

std::vector<std::string> basic_tokenize(std::string_view text, bool lower_case) {
  std::vector<std::string> out;
  Scratch sc;
  basic_tokens(text, lower_case, sc, [&](std::string_view t, size_t) { out.emplace_back(t); });
  return out;
}

// ---- WordPiece ------------------------------------------------------------------------------

namespace {

// A byte trie: node 0 is the root. Nodes with many children (the root, the first bytes of
// multi-byte characters) get a dense 256-entry child table; the others keep their edges sorted.
class ByteTrie {
 public:
  void insert(std::string_view key, int32_t id) {
    int32_t node = 0;
    for (unsigned char b : key) {
      auto [it, fresh] = build_[static_cast<size_t>(node)].emplace(b, 0);
      if (fresh) {
        it->second = static_cast<int32_t>(build_.size());
        build_.emplace_back();
        ids_.push_back(-1);
      }
      node = it->second;
    }
    ids_[static_cast<size_t>(node)] = id;
  }
  // Flattens the build maps into the lookup arrays.
  void freeze() {
    nodes_.assign(build_.size(), {});
    for (size_t n = 0; n < build_.size(); ++n) {
      Node& node = nodes_[n];
      node.first = static_cast<int32_t>(bytes_.size());
      node.count = static_cast<int32_t>(build_[n].size());
      for (const auto& [b, child] : build_[n]) {
        bytes_.push_back(b);
        child_.push_back(child);
      }
      if (node.count > kDenseFrom) {
        node.dense = static_cast<int32_t>(dense_.size());
        dense_.resize(dense_.size() + 256, -1);
        for (const auto& [b, child] : build_[n])
          dense_[static_cast<size_t>(node.dense) + b] = child;
      }
    }
    build_.clear();
    build_.shrink_to_fit();
  }
  // The id and length of the longest key that prefixes s and ends on a character boundary of s;
  // {-1, 0} when none does.
  std::pair<int32_t, size_t> longest(std::string_view s) const {
    int32_t node = 0, best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      node = child(node, static_cast<unsigned char>(s[i]));
      if (node < 0) break;
      const int32_t id = ids_[static_cast<size_t>(node)];
      if (id >= 0 && (i + 1 == s.size() || (static_cast<unsigned char>(s[i + 1]) & 0xC0) != 0x80)) {
        best = id;
        best_len = i + 1;
      }
    }
    return {best, best_len};
  }

 private:
  static constexpr int32_t kDenseFrom = 8;
  struct Node {
    int32_t first = 0, count = 0, dense = -1;
  };
  int32_t child(int32_t node, unsigned char b) const {
    const Node& n = nodes_[static_cast<size_t>(node)];
    if (n.dense >= 0) return dense_[static_cast<size_t>(n.dense) + b];
    const unsigned char* bytes = bytes_.data() + n.first;
    for (int32_t k = 0; k < n.count; ++k)
      if (bytes[k] == b) return child_[static_cast<size_t>(n.first + k)];
    return -1;
  }

  std::vector<std::map<unsigned char, int32_t>> build_{1};
  std::vector<int32_t> ids_{-1};
  std::vector<Node> nodes_;
  std::vector<int32_t> child_, dense_;
  std::vector<unsigned char> bytes_;
};

// Greedy longest-match-first WordPiece of one basic token; calls emit(id) per piece.
template <class Emit>
void wordpiece(const ByteTrie& start_trie, const ByteTrie& cont_trie, int32_t unk,
               std::string_view word, size_t n_chars, int max_chars, std::vector<int32_t>& pieces,
               Emit&& emit) {
  if (n_chars > static_cast<size_t>(max_chars)) {
    emit(unk);
    return;
  }
  pieces.clear();
  for (size_t start = 0; start < word.size();) {
    const auto [id, len] = (start == 0 ? start_trie : cont_trie).longest(word.substr(start));
    if (id < 0) {
      emit(unk);
      return;
    }
    pieces.push_back(id);
    start += len;
  }
  for (int32_t id : pieces) emit(id);
}

}  // namespace

struct WordPieceTokenizer::Matcher {
  ByteTrie start, cont;  // every token; tokens starting with "##", without it
  int32_t unk = -1;
};

WordPieceTokenizer::WordPieceTokenizer(const Vocab& vocab, TokenizerOptions opt)
    : vocab_(vocab), opt_(opt) {
  WIN_CHECK(opt_.max_input_chars_per_word >= 1, ErrorKind::Config,
            "max_input_chars_per_word must be at least 1, got ", opt_.max_input_chars_per_word);
  auto m = std::make_shared<Matcher>();
  m->unk = vocab.unk();
  for (int32_t id = 0; id < vocab.size(); ++id) {
    const std::string& t = vocab.token(id);
    m->start.insert(t, id);
    if (t.size() > 2 && t[0] == '#' && t[1] == '#')
      m->cont.insert(std::string_view(t).substr(2), id);
  }
  m->start.freeze();
  m->cont.freeze();
  matcher_ = std::move(m);
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  Scratch& sc = scratch();
  basic_tokens(text, opt_.lower_case, sc, [&](std::string_view w, size_t n) {
    wordpiece(matcher_->start, matcher_->cont, matcher_->unk, w, n, opt_.max_input_chars_per_word,
              sc.pieces, [&](int32_t id) { out.push_back(vocab_.token(id)); });
  });
  return out;
}

void WordPieceTokenizer::encode_append(std::string_view text, std::vector<int32_t>& out) const {
  Scratch& sc = scratch();
  basic_tokens(text, opt_.lower_case, sc, [&](std::string_view w, size_t n) {
    wordpiece(matcher_->start, matcher_->cont, matcher_->unk, w, n, opt_.max_input_chars_per_word,
              sc.pieces, [&](int32_t id) { out.push_back(id); });
  });
}

std::vector<int32_t> WordPieceTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> out;
  encode_append(text, out);
  return out;
}

std::vector<std::string> WordPieceTokenizer::basic_tokenize(const std::string& text) const {
  return data::basic_tokenize(text, opt_.lower_case);
}

}  // namespace win::data
