// BERT batches from shards: token tensors as the models read them, and the masked-LM labels of
// zero-padded prediction slots set to -100 (ignored by the loss), real slots kept.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>

#include "data/bert_shard.hpp"
#include "data/loader.hpp"

using namespace win;
using namespace win::data;

TEST(BertSource, PretrainingBatchesMarkPaddedPredictionsIgnored) {
  const std::string dir = testing::TempDir() + "bert_source_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  {
    BertShardWriter w(dir, "train", BertShardKind::Pretraining, 4, 8, 3, 50, 0, "test");
    for (int i = 0; i < 6; ++i) {
      BertExample e;
      e.input_ids = {2, 10, 11, 3, 12, 13, 3, 0};
      e.input_ids[1] = 10 + i;
      e.input_mask = {1, 1, 1, 1, 1, 1, 1, 0};
      e.segment_ids = {0, 0, 0, 0, 1, 1, 1, 0};
      // i predictions used out of 3 (at most 2 here), the rest zero padded
      e.masked_lm_positions = {0, 0, 0};
      e.masked_lm_ids = {0, 0, 0};
      for (int k = 0; k < i % 3; ++k) {
        e.masked_lm_positions[static_cast<size_t>(k)] = 1 + k;
        e.masked_lm_ids[static_cast<size_t>(k)] = 20 + k;
      }
      e.next_sentence_label = i % 2;
      w.add(e);
    }
    w.finish();
  }
  Loader l(bert_source(dir, BertShardKind::Pretraining), {6, 0, 1, 0, false, 1});
  const Batch& b = l.next();
  ASSERT_EQ(b.input_ids.shape(), (Dims{6, 8}));
  ASSERT_EQ(b.mlm_labels.shape(), (Dims{18}));
  for (int64_t s = 0; s < 6; ++s) {
    const int64_t i = b.ids[static_cast<size_t>(s)];
    EXPECT_EQ(b.input_ids.at<int32_t>({s, 1}), 10 + i);
    EXPECT_EQ(b.segment_ids.at<int32_t>({s, 5}), 1);
    EXPECT_EQ(b.input_mask.at<int32_t>({s, 7}), 0);
    EXPECT_EQ(b.nsp_labels.at<int32_t>({s}), i % 2);
    for (int64_t k = 0; k < 3; ++k) {
      const int32_t lab = b.mlm_labels.at<int32_t>({s * 3 + k});
      if (k < i % 3) {
        EXPECT_EQ(lab, 20 + k);
        EXPECT_EQ(b.masked_positions.at<int32_t>({s, k}), 1 + k);
      } else {
        EXPECT_EQ(lab, -100) << "padded slot " << k << " of sample " << i;
      }
    }
  }
  std::filesystem::remove_all(dir);
}
