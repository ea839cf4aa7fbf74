// The training-data loader (DESIGN §7). The global sample order of an epoch is a permutation
// keyed by (seed, epoch) alone, so it never depends on the number of ranks; the global batch is
// cut into equal per-rank slices (rank r takes samples [r B/W, (r+1) B/W) of every global batch);
// a background thread prefetches and decodes the next batches; image augmentation (random crop
// with zero padding, horizontal flip) is drawn from the counter-based RNG by (epoch, global sample
// index), then pixels are normalised with the shards' mean and std. A run resumes exactly from
// (epoch, samples consumed in that epoch). Errors in the prefetch thread (a corrupt sample) come
// out of next() on the training thread, as the data error they are.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/tensor.hpp"

namespace win::data {

// The permutation of [0, n) used in epoch `epoch` (identity when shuffle is false).
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle = true);

// One local batch. Image batches fill x (local, C, H, W) f32 channels-last and labels (local)
// i32; BERT batches fill the token tensors (i32) and labels; classification batches input_ids,
// segment_ids, input_mask and labels.
struct Batch {
  Tensor x, labels;
  Tensor input_ids, segment_ids, input_mask, masked_positions, mlm_labels, nsp_labels;
  std::vector<int64_t> ids;  // global sample index of each slot
  int64_t epoch = 0;
  int64_t step = 0;  // step within the epoch
};

// Turns a global sample index into one slot of a batch. The loader gives its thread a clone.
class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual int64_t size() const = 0;
  virtual std::unique_ptr<SampleSource> clone() const = 0;
  // Shapes the batch tensors for `local` samples (called once per buffer).
  virtual void allocate(Batch& b, int64_t local) const = 0;
  virtual void fill(Batch& b, int64_t slot, int64_t sample, int64_t epoch) = 0;
};

struct LoaderOptions {
  int64_t global_batch = 128;
  int rank = 0;
  int world = 1;
  uint64_t seed = 0;
  bool shuffle = true;
  int prefetch = 2;            // batches decoded ahead (0: decode on the training thread)
  std::string batch_key = "";  // the deck key of global_batch, for messages ("wide.batch_size")
};

class Loader {
 public:
  Loader(std::unique_ptr<SampleSource> source, LoaderOptions opt);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Positions the loader at epoch `epoch` after `consumed` samples of it (a multiple of the
  // global batch): what a checkpoint stores.
  void seek(int64_t epoch, int64_t consumed);
  // The next local batch; valid until the next call. Steps past the end of an epoch continue
  // with the next epoch (the last partial global batch is dropped).
  const Batch& next();

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t local_batch() const { return local_; }
  // Position of this rank's slice in the global batch (keys per-sample draws such as dropout).
  int64_t slice_offset() const { return static_cast<int64_t>(opt_.rank) * local_; }
  int world() const { return opt_.world; }
  int64_t dataset_size() const { return size_; }
  // Position after the batches handed out so far.
  int64_t epoch() const { return epoch_; }
  int64_t consumed() const { return step_ * opt_.global_batch; }

 private:
  struct OrderCache {  // the permutation of the epoch a thread is in
    int64_t epoch = -1;
    std::vector<int64_t> order;
  };
  void produce(Batch& b, int64_t epoch, int64_t step, SampleSource& src, OrderCache& cache);
  void start();
  void stop();
  void worker();

  LoaderOptions opt_;
  std::unique_ptr<SampleSource> source_;  // the training thread's (no prefetch) or the template
  int64_t size_ = 0, local_ = 0, steps_per_epoch_ = 0;
  int64_t epoch_ = 0, step_ = 0;  // of the next batch next() returns

  // Prefetch ring: the worker produces batches in order into free slots.
  std::vector<Batch> slots_;
  std::deque<int> ready_, free_;
  int current_ = -1;  // slot handed out by the last next()
  OrderCache order_, worker_order_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  bool stopping_ = false;
  std::exception_ptr error_;
  int64_t prod_epoch_ = 0, prod_step_ = 0;
  std::unique_ptr<SampleSource> worker_source_;
  Batch sync_;  // the batch when prefetch is 0
};

struct AugmentOptions {
  bool augment = false;      // random crop with padding and flip (training data)
  int64_t crop_padding = 4;  // zero padding on each side before the random crop
  bool flip = true;
  bool normalize = true;  // (pixel / 255 - mean) / std with the shards' statistics
  // Per-channel statistics to normalise with instead of these shards' own (empty: their own):
  // the training set's, for the validation and test sets of a run, so that a model is scored on
  // inputs normalised as it was trained.
  std::vector<double> mean = {}, std = {};
};

// Image shards as a sample source.
std::unique_ptr<SampleSource> image_source(const std::string& spec, AugmentOptions aug,
                                           uint64_t seed);

enum class BertShardKind;
// BERT pretraining or sequence-classification shards as a sample source (token ids checked
// against vocab_size; 0 = the shards' own attribute).
std::unique_ptr<SampleSource> bert_source(const std::string& spec, BertShardKind kind,
                                          int64_t vocab_size = 0);

}  // namespace win::data
