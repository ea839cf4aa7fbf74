// BERT pretraining instance creation (see pretraining.hpp for the algorithm and where it follows
// and differs from Google's create_pretraining_data.py). Every random draw goes through Draws,
// which numbers the draws of one (dupe pass, document) so that they are a pure function of the
// seed.
#include "data/pretraining.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"

namespace win::data {

namespace {

constexpr uint64_t kStreamInstances = 0xBE27'0001;  // Philox streams of this converter
constexpr uint64_t kStreamShuffle = 0xBE27'0002;
constexpr int kDocBits = 40;  // counter hi = pass << 40 | document index

// The draws of one (pass, document), numbered in order: Python's random.random() and randint().
class Draws {
 public:
  Draws(uint64_t seed, uint64_t hi) : rng_(seed, kStreamInstances), hi_(hi) {}
  double random() { return rng_.uniform_double(hi_, next_++); }
  // Uniform in [a, b], both included (Python's randint); a <= b.
  int64_t randint(int64_t a, int64_t b) {
    return a +
           static_cast<int64_t>(rng_.uniform_int(hi_, next_++, static_cast<uint64_t>(b - a + 1)));
  }
  template <class T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates, as Python's random.shuffle
    for (size_t i = v.size(); i > 1; --i)
      std::swap(v[i - 1], v[static_cast<size_t>(randint(0, static_cast<int64_t>(i) - 1))]);
  }

 private:
  Philox rng_;
  uint64_t hi_;
  uint64_t next_ = 0;
};

// Google's truncate_seq_pair.
void truncate_pair(std::vector<int32_t>& a, std::vector<int32_t>& b, size_t max_tokens, Draws& d) {
  while (a.size() + b.size() > max_tokens) {
    std::vector<int32_t>& t = a.size() > b.size() ? a : b;
    if (d.random() < 0.5)
      t.erase(t.begin());
    else
      t.pop_back();
  }
}

// Google's create_masked_lm_predictions, on inst.tokens in place.
void mask_tokens(PretrainingInstance& inst, const Vocab& vocab, const PretrainingOptions& opt,
                 Draws& d) {
  const int32_t cls = vocab.cls(), sep = vocab.sep(), mask = vocab.mask();
  std::vector<std::vector<int32_t>> cands;
  for (size_t i = 0; i < inst.tokens.size(); ++i) {
    const int32_t t = inst.tokens[i];
    if (t == cls || t == sep) continue;
    const bool piece = opt.whole_word_mask && vocab.token(t).starts_with("##");
    if (piece && !cands.empty())
      cands.back().push_back(static_cast<int32_t>(i));
    else
      cands.push_back({static_cast<int32_t>(i)});
  }
  d.shuffle(cands);
  const std::vector<int32_t> original = inst.tokens;
  const double want = std::nearbyint(static_cast<double>(inst.tokens.size()) * opt.masked_lm_prob);
  const size_t num_to_predict = std::min(static_cast<size_t>(opt.max_predictions_per_seq),
                                         std::max<size_t>(1, static_cast<size_t>(want)));
  std::vector<std::pair<int32_t, int32_t>> lms;  // (position, original id)
  // Candidates never overlap (each position is in exactly one), so Google's covered-index check
  // cannot trigger and is left out.
  for (const auto& set : cands) {
    if (lms.size() >= num_to_predict) break;
    if (lms.size() + set.size() > num_to_predict) continue;
    for (int32_t i : set) {
      int32_t tok;
      if (d.random() < 0.8)
        tok = mask;
      else if (d.random() < 0.5)
        tok = original[static_cast<size_t>(i)];
      else
        tok = static_cast<int32_t>(d.randint(0, vocab.size() - 1));
      inst.tokens[static_cast<size_t>(i)] = tok;
      lms.emplace_back(i, original[static_cast<size_t>(i)]);
    }
  }
  std::sort(lms.begin(), lms.end());
  for (const auto& [pos, label] : lms) {
    inst.masked_positions.push_back(pos);
    inst.masked_labels.push_back(label);
  }
}

}  // namespace

void validate(const PretrainingOptions& opt) {
  WIN_CHECK(opt.max_seq_length >= 5 && opt.max_seq_length <= 65536, ErrorKind::Usage,
            "--max-seq-length must be in [5, 65536], got ", opt.max_seq_length);
  WIN_CHECK(opt.max_predictions_per_seq >= 1 && opt.max_predictions_per_seq <= opt.max_seq_length,
            ErrorKind::Usage,
            "--max-predictions must be in [1, max_seq_length = ", opt.max_seq_length, "], got ",
            opt.max_predictions_per_seq);
  WIN_CHECK(opt.masked_lm_prob >= 0 && opt.masked_lm_prob <= 1, ErrorKind::Usage,
            "--masked-lm-prob must be in [0, 1], got ", opt.masked_lm_prob);
  WIN_CHECK(opt.short_seq_prob >= 0 && opt.short_seq_prob <= 1, ErrorKind::Usage,
            "--short-seq-prob must be in [0, 1], got ", opt.short_seq_prob);
  WIN_CHECK(opt.dupe_factor >= 1 && opt.dupe_factor <= (int64_t{1} << 20), ErrorKind::Usage,
            "--dupe-factor must be in [1, 2^20], got ", opt.dupe_factor);
}

BertExample to_example(const PretrainingInstance& inst, int64_t max_seq_length,
                       int64_t max_predictions) {
  const auto L = static_cast<size_t>(max_seq_length), P = static_cast<size_t>(max_predictions);
  WIN_ASSERT(inst.tokens.size() <= L && inst.masked_positions.size() <= P &&
             inst.masked_labels.size() == inst.masked_positions.size());
  BertExample e;
  e.input_ids.assign(L, 0);
  e.input_mask.assign(L, 0);
  e.segment_ids.assign(L, 0);
  std::copy(inst.tokens.begin(), inst.tokens.end(), e.input_ids.begin());
  for (size_t i = 0; i < inst.tokens.size(); ++i) {
    e.input_mask[i] = 1;
    e.segment_ids[i] = i >= static_cast<size_t>(inst.num_a) + 2 ? 1 : 0;
  }
  e.masked_lm_positions.assign(P, 0);
  e.masked_lm_ids.assign(P, 0);
  std::copy(inst.masked_positions.begin(), inst.masked_positions.end(),
            e.masked_lm_positions.begin());
  std::copy(inst.masked_labels.begin(), inst.masked_labels.end(), e.masked_lm_ids.begin());
  e.next_sentence_label = inst.random_next ? 1 : 0;
  return e;
}

std::vector<PretrainingInstance> create_instances_from_document(
    const std::vector<TokenizedDocument>& docs, int64_t doc_index, int64_t pass, const Vocab& vocab,
    const PretrainingOptions& opt) {
  WIN_ASSERT(doc_index >= 0 && doc_index < static_cast<int64_t>(docs.size()) &&
             doc_index < (int64_t{1} << kDocBits) && pass >= 0);
  const TokenizedDocument& doc = docs[static_cast<size_t>(doc_index)];
  WIN_ASSERT(!doc.empty(), "empty document ", doc_index);
  Draws d(opt.seed, static_cast<uint64_t>(pass) << kDocBits | static_cast<uint64_t>(doc_index));

  const int64_t max_num_tokens = opt.max_seq_length - 3;
  int64_t target = max_num_tokens;
  if (d.random() < opt.short_seq_prob) target = d.randint(2, max_num_tokens);

  std::vector<PretrainingInstance> out;
  std::vector<const std::vector<int32_t>*> chunk;
  int64_t chunk_len = 0;
  const auto n = static_cast<int64_t>(doc.size());
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<int32_t>& seg = doc[static_cast<size_t>(i)];
    WIN_ASSERT(!seg.empty(), "empty sentence in document ", doc_index);
    chunk.push_back(&seg);
    chunk_len += static_cast<int64_t>(seg.size());
    if (i != n - 1 && chunk_len < target) continue;

    const auto nc = static_cast<int64_t>(chunk.size());
    const int64_t a_end = nc >= 2 ? d.randint(1, nc - 1) : 1;
    std::vector<int32_t> a, b;
    for (int64_t j = 0; j < a_end; ++j) a.insert(a.end(), chunk[j]->begin(), chunk[j]->end());
    bool random_next = false;
    if (nc == 1 || d.random() < 0.5) {
      random_next = true;
      const int64_t target_b = target - static_cast<int64_t>(a.size());
      int64_t other = 0;
      for (int tries = 0; tries < 10; ++tries) {
        other = d.randint(0, static_cast<int64_t>(docs.size()) - 1);
        if (other != doc_index) break;
      }
      const TokenizedDocument& rdoc = docs[static_cast<size_t>(other)];
      const int64_t start = d.randint(0, static_cast<int64_t>(rdoc.size()) - 1);
      for (auto j = static_cast<size_t>(start); j < rdoc.size(); ++j) {
        b.insert(b.end(), rdoc[j].begin(), rdoc[j].end());
        if (static_cast<int64_t>(b.size()) >= target_b) break;
      }
      i -= nc - a_end;  // put the unused sentences back
    } else {
      for (int64_t j = a_end; j < nc; ++j) b.insert(b.end(), chunk[j]->begin(), chunk[j]->end());
    }
    truncate_pair(a, b, static_cast<size_t>(max_num_tokens), d);
    WIN_ASSERT(!a.empty() && !b.empty());

    PretrainingInstance inst;
    inst.random_next = random_next;
    inst.num_a = static_cast<int32_t>(a.size());
    inst.tokens.reserve(a.size() + b.size() + 3);
    inst.tokens.push_back(vocab.cls());
    inst.tokens.insert(inst.tokens.end(), a.begin(), a.end());
    inst.tokens.push_back(vocab.sep());
    inst.tokens.insert(inst.tokens.end(), b.begin(), b.end());
    inst.tokens.push_back(vocab.sep());
    mask_tokens(inst, vocab, opt, d);
    out.push_back(std::move(inst));
    chunk.clear();
    chunk_len = 0;
  }
  return out;
}

std::vector<PretrainingInstance> create_pretraining_instances(
    std::vector<TokenizedDocument> docs, const Vocab& vocab, const PretrainingOptions& opt,
    const std::function<void(int64_t, int64_t)>& progress) {
  validate(opt);
  (void)vocab.cls(), (void)vocab.sep(), (void)vocab.mask();  // errors name a missing token here
  for (auto& doc : docs)
    std::erase_if(doc, [](const std::vector<int32_t>& s) { return s.empty(); });
  std::erase_if(docs, [](const TokenizedDocument& doc) { return doc.empty(); });
  WIN_CHECK(!docs.empty(), ErrorKind::Data, "no text: every document is empty after tokenization");
  WIN_CHECK(static_cast<int64_t>(docs.size()) < (int64_t{1} << kDocBits), ErrorKind::Data,
            "too many documents: ", docs.size());

  const auto nd = static_cast<int64_t>(docs.size());
  const int64_t units = nd * opt.dupe_factor;
  std::vector<std::vector<PretrainingInstance>> per_unit(static_cast<size_t>(units));
  std::exception_ptr failure;
  std::mutex mu;
  int64_t done = 0;
  constexpr int64_t kGrain = 64;
  for (int64_t begin = 0; begin < units; begin += kGrain * 64) {  // progress between blocks
    const int64_t end = std::min(units, begin + kGrain * 64);
    parallel_for(end - begin, kGrain, [&](int64_t b, int64_t e) {
      try {
        for (int64_t u = begin + b; u < begin + e; ++u)
          per_unit[static_cast<size_t>(u)] =
              create_instances_from_document(docs, u % nd, u / nd, vocab, opt);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failure) failure = std::current_exception();
      }
    });
    if (failure) std::rethrow_exception(failure);
    done = end;
    if (progress) progress(done, units);
  }

  size_t total = 0;
  for (const auto& v : per_unit) total += v.size();
  std::vector<PretrainingInstance> out;
  out.reserve(total);
  for (auto& v : per_unit) {
    for (auto& inst : v) out.push_back(std::move(inst));
    std::vector<PretrainingInstance>().swap(v);
  }
  if (opt.shuffle) {
    const Philox rng(opt.seed, kStreamShuffle);
    for (size_t i = out.size(); i > 1; --i)
      std::swap(out[i - 1], out[rng.uniform_int(0, i - 1, i)]);
  }
  return out;
}

std::vector<TokenizedDocument> tokenize_documents(const std::vector<std::vector<std::string>>& docs,
                                                  const WordPieceTokenizer& tokenizer) {
  // Flatten to sentences so that long and short documents spread evenly over the threads.
  std::vector<std::pair<size_t, size_t>> where;
  for (size_t d = 0; d < docs.size(); ++d)
    for (size_t s = 0; s < docs[d].size(); ++s) where.emplace_back(d, s);
  std::vector<std::vector<int32_t>> ids(where.size());
  std::exception_ptr failure;
  std::mutex mu;
  parallel_for(static_cast<int64_t>(where.size()), 256, [&](int64_t b, int64_t e) {
    try {
      for (int64_t i = b; i < e; ++i) {
        const auto [d, s] = where[static_cast<size_t>(i)];
        ids[static_cast<size_t>(i)] = tokenizer.encode(docs[d][s]);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      if (!failure) failure = std::current_exception();
    }
  });
  if (failure) std::rethrow_exception(failure);

  std::vector<TokenizedDocument> out(docs.size());
  for (size_t i = 0; i < where.size(); ++i)
    if (!ids[i].empty()) out[where[i].first].push_back(std::move(ids[i]));
  std::erase_if(out, [](const TokenizedDocument& doc) { return doc.empty(); });
  return out;
}

}  // namespace win::data
