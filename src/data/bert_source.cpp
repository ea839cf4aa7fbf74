// BERT and sequence-classification shards as loader sources: examples into the i32 batch tensors
// the models read. For pretraining, the padded masked-LM slots (NVIDIA's shards zero-pad
// masked_lm_positions; position 0 is [CLS] and never predicted, so the first zero ends the real
// predictions) get label -100, the cross-entropy's ignore index.
#include "core/error.hpp"
#include "data/bert_shard.hpp"
#include "data/loader.hpp"

namespace win::data {

namespace {

class BertSource final : public SampleSource {
 public:
  BertSource(BertDataset ds, BertShardKind kind) : ds_(std::move(ds)), kind_(kind) {}
  int64_t size() const override { return ds_.size(); }
  std::unique_ptr<SampleSource> clone() const override {
    return std::make_unique<BertSource>(ds_.reopen(), kind_);
  }
  void allocate(Batch& b, int64_t local) const override {
    const int64_t l = ds_.max_seq_length();
    b.input_ids = Tensor::empty({local, l}, DType::I32);
    b.segment_ids = Tensor::empty({local, l}, DType::I32);
    b.input_mask = Tensor::empty({local, l}, DType::I32);
    if (kind_ == BertShardKind::Pretraining) {
      const int64_t p = ds_.max_predictions();
      b.masked_positions = Tensor::empty({local, p}, DType::I32);
      b.mlm_labels = Tensor::empty({local * p}, DType::I32);
      b.nsp_labels = Tensor::empty({local}, DType::I32);
    } else {
      b.labels = Tensor::empty({local}, DType::I32);
    }
  }
  void fill(Batch& b, int64_t slot, int64_t sample, int64_t) override {
    ds_.read(sample, ex_);
    const int64_t l = ds_.max_seq_length();
    int32_t* ids = b.input_ids.data<int32_t>() + slot * l;
    int32_t* seg = b.segment_ids.data<int32_t>() + slot * l;
    int32_t* mask = b.input_mask.data<int32_t>() + slot * l;
    for (int64_t j = 0; j < l; ++j) {
      ids[j] = ex_.input_ids[static_cast<size_t>(j)];
      seg[j] = ex_.segment_ids[static_cast<size_t>(j)];
      mask[j] = ex_.input_mask[static_cast<size_t>(j)];
    }
    if (kind_ == BertShardKind::Classification) {
      b.labels.data<int32_t>()[slot] = ex_.label;
      return;
    }
    const int64_t p = ds_.max_predictions();
    int32_t* pos = b.masked_positions.data<int32_t>() + slot * p;
    int32_t* lab = b.mlm_labels.data<int32_t>() + slot * p;
    bool padded = false;
    for (int64_t j = 0; j < p; ++j) {
      const int32_t q = ex_.masked_lm_positions[static_cast<size_t>(j)];
      padded = padded || q == 0;
      pos[j] = q;
      lab[j] = padded ? -100 : ex_.masked_lm_ids[static_cast<size_t>(j)];
    }
    b.nsp_labels.data<int32_t>()[slot] = ex_.next_sentence_label;
  }

 private:
  BertDataset ds_;
  BertShardKind kind_;
  BertExample ex_;
};

}  // namespace

std::unique_ptr<SampleSource> bert_source(const std::string& spec, BertShardKind kind,
                                          int64_t vocab_size) {
  return std::make_unique<BertSource>(BertDataset::open(spec, kind, vocab_size), kind);
}

}  // namespace win::data
