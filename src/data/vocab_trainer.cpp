// The WordPiece vocabulary trainer (see vocab_trainer.hpp). Distinct words are held as sequences
// of piece ids with their corpus counts; a count per adjacent pair and the list of words holding
// each pair make a merge cost only the words it touches. A max-heap with lazy deletion (stale
// entries are re-pushed with their current count when popped) finds the most frequent pair.
#include "data/vocab_trainer.hpp"

#include <algorithm>
#include <map>
#include <queue>

#include "core/error.hpp"
#include "data/unicode.hpp"

namespace win::data {

const std::vector<std::string>& special_tokens() {
  static const std::vector<std::string> specials{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  return specials;
}

VocabTrainer::VocabTrainer(VocabTrainerOptions opt) : opt_(opt) {
  WIN_CHECK(opt_.vocab_size >= 1, ErrorKind::Usage, "vocabulary size must be positive, got ",
            opt_.vocab_size);
  WIN_CHECK(opt_.min_pair_count >= 1, ErrorKind::Usage, "min_pair_count must be at least 1");
}

void VocabTrainer::add_word(std::string_view word, int64_t count) {
  if (word.empty() || count <= 0) return;
  auto it = counts_.find(word);
  if (it == counts_.end()) it = counts_.emplace(std::string(word), 0).first;
  it->second += count;
  total_ += count;
}

void VocabTrainer::add_text(std::string_view text) {
  for_each_basic_token(text, opt_.lower_case, [this](std::string_view w) { add_word(w); });
}

namespace {

using Pair = uint64_t;
inline Pair pair_of(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
inline int32_t left_of(Pair p) {
  return static_cast<int32_t>(p >> 32);
}
inline int32_t right_of(Pair p) {
  return static_cast<int32_t>(p & 0xFFFFFFFFu);
}

struct HeapEntry {
  int64_t count;
  Pair pair;
  // Priority: more frequent first, then the pair of earlier pieces (smaller ids).
  bool operator<(const HeapEntry& o) const {
    return count != o.count ? count < o.count : pair > o.pair;
  }
};

struct Word {
  std::vector<int32_t> pieces;
  int64_t count;
};

class Merger {
 public:
  Merger(std::vector<Word> words, int64_t min_count) : words_(std::move(words)), min_(min_count) {
    for (size_t w = 0; w < words_.size(); ++w) add_pairs(static_cast<int32_t>(w), +1);
    std::vector<HeapEntry> all;
    for (const auto& [p, c] : count_)
      if (c >= min_) all.push_back({c, p});
    heap_ = std::priority_queue<HeapEntry>(std::less<HeapEntry>(), std::move(all));
    building_ = false;
  }

  // The most frequent pair with at least min_count occurrences, or false when none is left.
  bool best(Pair& out) {
    while (!heap_.empty()) {
      const HeapEntry top = heap_.top();
      heap_.pop();
      const auto it = count_.find(top.pair);
      const int64_t now = it == count_.end() ? 0 : it->second;
      if (now == top.count) {
        out = top.pair;
        return true;
      }
      if (now >= min_) heap_.push({now, top.pair});
    }
    return false;
  }

  // Replaces every occurrence of pair in the words by merged.
  void merge(Pair pair, int32_t merged) {
    const int32_t a = left_of(pair), b = right_of(pair);
    std::vector<int32_t> holders;
    holders.swap(where_[pair]);
    std::sort(holders.begin(), holders.end());
    holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
    for (int32_t w : holders) {
      auto& ps = words_[static_cast<size_t>(w)].pieces;
      bool found = false;
      for (size_t i = 0; i + 1 < ps.size() && !found; ++i) found = ps[i] == a && ps[i + 1] == b;
      if (!found) continue;  // a stale entry
      add_pairs(w, -1);
      size_t out = 0;
      for (size_t i = 0; i < ps.size(); ++i) {
        if (i + 1 < ps.size() && ps[i] == a && ps[i + 1] == b) {
          ps[out++] = merged;
          ++i;
        } else {
          ps[out++] = ps[i];
        }
      }
      ps.resize(out);
      add_pairs(w, +1);
    }
    count_.erase(pair);
  }

 private:
  void add_pairs(int32_t w, int sign) {
    const Word& word = words_[static_cast<size_t>(w)];
    for (size_t i = 0; i + 1 < word.pieces.size(); ++i) {
      const Pair p = pair_of(word.pieces[i], word.pieces[i + 1]);
      int64_t& c = count_[p];
      c += sign * word.count;
      if (sign > 0) {
        where_[p].push_back(w);
        if (!building_ && c >= min_) heap_.push({c, p});
      }
    }
  }

  std::vector<Word> words_;
  int64_t min_;
  std::unordered_map<Pair, int64_t> count_;
  std::unordered_map<Pair, std::vector<int32_t>> where_;
  std::priority_queue<HeapEntry> heap_;
  bool building_ = true;  // no heap pushes until all words are counted
};

}  // namespace

Vocab VocabTrainer::train(VocabStats* stats,
                          const std::function<void(int64_t, int64_t)>& progress) const {
  // Distinct words in a fixed (sorted) order, as code points.
  std::vector<std::pair<std::string, int64_t>> sorted(counts_.begin(), counts_.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::u32string> chars_of;
  std::map<char32_t, bool> alphabet;  // char -> needs a "##" form
  std::vector<int64_t> word_counts;
  for (const auto& [w, c] : sorted) {
    std::u32string cps = unicode::to_utf32(w);
    if (cps.empty() || cps.size() > static_cast<size_t>(opt_.max_input_chars_per_word)) continue;
    for (char32_t ch : cps) {
      const bool cont = !unicode::is_punctuation(ch) && !unicode::is_chinese_char(ch);
      alphabet[ch] = alphabet[ch] || cont;
    }
    chars_of.push_back(std::move(cps));
    word_counts.push_back(c);
  }

  std::vector<std::string> tokens = special_tokens();
  const int64_t n_specials = static_cast<int64_t>(tokens.size());
  std::unordered_map<std::string, int32_t> id_of;
  auto add = [&](std::string t) {
    const auto [it, fresh] = id_of.emplace(t, static_cast<int32_t>(tokens.size()));
    if (fresh) tokens.push_back(std::move(t));
    return it->second;
  };
  for (const auto& t : tokens) id_of.emplace(t, static_cast<int32_t>(id_of.size()));
  for (const auto& [ch, cont] : alphabet) add(unicode::to_utf8(std::u32string(1, ch)));
  for (const auto& [ch, cont] : alphabet)
    if (cont) add("##" + unicode::to_utf8(std::u32string(1, ch)));
  const int64_t n_chars = static_cast<int64_t>(tokens.size()) - n_specials;
  WIN_CHECK(static_cast<int64_t>(tokens.size()) <= opt_.vocab_size, ErrorKind::Usage,
            "a vocabulary of ", opt_.vocab_size, " tokens cannot hold the ", n_specials,
            " special tokens and the ", n_chars,
            " characters (and ## forms) of the text: ask for a larger size");

  std::vector<Word> words;
  words.reserve(chars_of.size());
  for (size_t w = 0; w < chars_of.size(); ++w) {
    Word word{{}, word_counts[w]};
    for (size_t i = 0; i < chars_of[w].size(); ++i) {
      const std::string s = unicode::to_utf8(std::u32string(1, chars_of[w][i]));
      word.pieces.push_back(id_of.at(i == 0 ? s : "##" + s));
    }
    words.push_back(std::move(word));
  }

  Merger merger(std::move(words), opt_.min_pair_count);
  const int64_t want = opt_.vocab_size - static_cast<int64_t>(tokens.size());
  int64_t merges = 0;
  Pair p;
  while (static_cast<int64_t>(tokens.size()) < opt_.vocab_size && merger.best(p)) {
    const std::string& right = tokens[static_cast<size_t>(right_of(p))];
    const std::string merged = tokens[static_cast<size_t>(left_of(p))] + right.substr(2);
    const size_t before = tokens.size();
    merger.merge(p, add(merged));
    if (tokens.size() > before && progress && (++merges % 256 == 0)) progress(merges, want);
  }
  merges = static_cast<int64_t>(tokens.size()) - n_specials - n_chars;
  if (progress) progress(merges, want);
  if (stats) *stats = {n_specials, n_chars, merges, total_, distinct_words()};
  return Vocab::from_tokens(std::move(tokens));
}

}  // namespace win::data
