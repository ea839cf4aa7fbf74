// BERT's tokenizer: the basic tokenizer (clean control characters, split CJK ideographs into
// single tokens, split on whitespace, optionally lower-case and strip accents by Unicode NFD,
// split punctuation) followed by WordPiece (greedy longest-match-first with "##" continuation
// pieces, [UNK] for a word longer than max_input_chars_per_word or with no match), compatible with
// Google's tokenization.py and a standard bert-base-uncased vocab.txt.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace win::data {

class Vocab {
 public:
  // One token per line; the line number is the id. A data error naming the file and line when
  // unreadable or when a token repeats.
  static Vocab load(const std::string& path);
  static Vocab from_tokens(std::vector<std::string> tokens);
  void save(const std::string& path) const;

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  bool contains(const std::string& t) const { return ids_.count(t) != 0; }
  int32_t id(const std::string& t) const;  // the id of [UNK] when t is not in the vocabulary
  const std::string& token(int32_t id) const;
  // Ids of the special tokens; an error naming the token when the vocabulary lacks one.
  int32_t unk() const;
  int32_t cls() const;
  int32_t sep() const;
  int32_t mask() const;
  int32_t pad() const;

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
};

struct TokenizerOptions {
  bool lower_case = true;  // bert-base-uncased; also strips accents
  int max_input_chars_per_word = 100;
};

class WordPieceTokenizer {
 public:
  WordPieceTokenizer(const Vocab& vocab, TokenizerOptions opt = {});
  // UTF-8 text to word pieces. Invalid UTF-8 bytes are dropped like Google's cleaner does with
  // unknown characters (never an error).
  std::vector<std::string> tokenize(const std::string& text) const;
  std::vector<int32_t> encode(const std::string& text) const;
  // encode() appending to out: no allocation per call once out and the thread's scratch have grown.
  void encode_append(std::string_view text, std::vector<int32_t>& out) const;
  // The basic tokenizer alone (words and punctuation, before WordPiece).
  std::vector<std::string> basic_tokenize(const std::string& text) const;
  const Vocab& vocab() const { return vocab_; }

 private:
  struct Matcher;  // the vocabulary as two byte tries (word starts, "##" continuations)

  const Vocab& vocab_;
  TokenizerOptions opt_;
  std::shared_ptr<const Matcher> matcher_;
};

// The basic tokenizer without a vocabulary (for the vocabulary trainer): calls fn with each word or
// punctuation token (UTF-8), in order; the same tokens as WordPieceTokenizer::basic_tokenize.
void for_each_basic_token(std::string_view text, bool lower_case,
                          const std::function<void(std::string_view)>& fn);
std::vector<std::string> basic_tokenize(std::string_view text, bool lower_case);

}  // namespace win::data
