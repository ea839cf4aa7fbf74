// BERT shards in NVIDIA DeepLearningExamples' layout (create_pretraining_data.py), so their
// shards load in win and win's in their reader — the same dataset names and dtypes, gzip:
//   input_ids i4 [N, L], input_mask i1 [N, L], segment_ids i1 [N, L],
//   masked_lm_positions i4 [N, P] (zero padded), masked_lm_ids i4 [N, P] (zero padded),
//   next_sentence_labels i1 [N].
// Sequence-classification shards (fine-tuning): input_ids i4 [N, L], input_mask i1 [N, L],
// segment_ids i1 [N, L], label i4 [N], attribute num_classes.
// win adds attributes (vocab_size, max_seq_length, max_predictions_per_seq, source) that other
// readers ignore. Opening validates shapes and dtypes; reading a sample validates token ids
// (< vocab size), masked positions (< L, and inside the unpadded sequence) and labels; every
// problem is a data error (exit 3) naming the file and the sample index.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace win::data {

// One pretraining instance (or one classification example: masked_* empty, label set).
struct BertExample {
  std::vector<int32_t> input_ids;  // max_seq_length, zero padded
  std::vector<int8_t> input_mask;
  std::vector<int8_t> segment_ids;
  std::vector<int32_t> masked_lm_positions;  // max_predictions_per_seq, zero padded
  std::vector<int32_t> masked_lm_ids;
  int32_t next_sentence_label = 0;  // 1 = B is a random sentence (Google's convention)
  int32_t label = 0;                // classification only
};

enum class BertShardKind { Pretraining, Classification };

class BertShardWriter {
 public:
  // <dir>/<prefix>-00000.h5, ... of at most per_shard examples.
  BertShardWriter(std::string dir, std::string prefix, BertShardKind kind, int64_t per_shard,
                  int64_t max_seq_length, int64_t max_predictions, int64_t vocab_size,
                  int64_t num_classes, std::string source);
  ~BertShardWriter();
  BertShardWriter(const BertShardWriter&) = delete;
  BertShardWriter& operator=(const BertShardWriter&) = delete;
  void add(const BertExample& e);
  int64_t count() const;
  std::vector<std::string> finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class BertDataset {
 public:
  // spec as for ImageDataset; vocab_size bounds the token ids (0 = use the shards' attribute,
  // or skip that check when they have none).
  static BertDataset open(const std::string& spec, BertShardKind kind, int64_t vocab_size = 0);
  BertDataset(BertDataset&&) noexcept;
  BertDataset& operator=(BertDataset&&) noexcept;
  ~BertDataset();

  BertDataset reopen() const;
  int64_t size() const;
  int64_t max_seq_length() const;
  int64_t max_predictions() const;  // 0 for classification shards
  int64_t num_classes() const;      // classification shards
  int64_t vocab_size() const;       // the shards' vocab_size attribute (largest); 0: none
  const std::vector<std::string>& files() const;
  // Example i, validated.
  void read(int64_t i, BertExample& out) const;

 private:
  BertDataset();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace win::data
