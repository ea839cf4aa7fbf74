// Trains a WordPiece vocabulary (vocab.txt for WordPieceTokenizer) from text, for corpora that come
// without one. The words are those of BERT's basic tokenizer (same casing options), so the
// vocabulary fits the tokenizer that will use it. The vocabulary is, in order:
//   1. the special tokens [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0-4),
//   2. every character seen, by code point, then the "##" form of each of them that can continue a
//      word (punctuation and CJK ideographs are always tokens of their own, so they get none),
//   3. merged pieces, most frequent first: words start as sequences of single-character pieces
//      ("w ##o ##r ##d"), and each step merges the adjacent pair of pieces that occurs most often
//      in the corpus (counted over word occurrences: frequency-based, like BPE, rather than
//      likelihood-based), ties going to the pair of earlier pieces, until the vocabulary has the
//      requested size or no pair occurs at least min_pair_count times.
// Every word of the training text therefore tokenizes without [UNK], and training is
// deterministic: the same text and options give the same file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/wordpiece.hpp"

namespace win::data {

// [PAD] [UNK] [CLS] [SEP] [MASK], the first ids of a trained vocabulary.
const std::vector<std::string>& special_tokens();

struct VocabTrainerOptions {
  int64_t vocab_size = 8000;
  bool lower_case = true;  // must match the tokenizer that will use the vocabulary
  int64_t min_pair_count = 2;
  int max_input_chars_per_word = 100;  // longer words are [UNK] anyway: not counted
};

struct VocabStats {
  int64_t specials = 0, characters = 0, merges = 0;  // token counts by kind
  int64_t words = 0, distinct_words = 0;             // of the training text
};

class VocabTrainer {
 public:
  explicit VocabTrainer(VocabTrainerOptions opt = {});

  // Counts the words of text (basic tokenizer).
  void add_text(std::string_view text);
  // Counts one already-tokenized word.
  void add_word(std::string_view word, int64_t count = 1);
  int64_t words() const { return total_; }
  int64_t distinct_words() const { return static_cast<int64_t>(counts_.size()); }

  // The vocabulary. A usage error when vocab_size cannot hold the specials and characters.
  // progress(done, total) is called now and then with the merged-token count.
  Vocab train(VocabStats* stats = nullptr,
              const std::function<void(int64_t, int64_t)>& progress = {}) const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  VocabTrainerOptions opt_;
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> counts_;
  int64_t total_ = 0;
};

}  // namespace win::data
