// The loader: global order, rank slices, prefetch thread, exact resume (see loader.hpp).
#include "data/loader.hpp"

#include <numeric>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace win::data {

namespace {
constexpr uint64_t kOrderStream = 0x0D3A;
}  // namespace

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle) return order;
  const Philox rng(seed, kOrderStream);
  for (int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates, draw i keyed by (epoch, i)
    const auto j = static_cast<int64_t>(rng.uniform_int(
        static_cast<uint64_t>(epoch), static_cast<uint64_t>(i), static_cast<uint64_t>(i + 1)));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

Loader::Loader(std::unique_ptr<SampleSource> source, LoaderOptions opt)
    : opt_(opt), source_(std::move(source)) {
  WIN_CHECK(opt_.world >= 1 && opt_.rank >= 0 && opt_.rank < opt_.world, ErrorKind::Internal,
            "loader: rank ", opt_.rank, " of ", opt_.world);
  WIN_CHECK(opt_.global_batch >= 1 && opt_.global_batch % opt_.world == 0, ErrorKind::Config,
            "the global batch size ", opt_.global_batch, " must be a multiple of the ", opt_.world,
            " data-parallel ranks");
  size_ = source_->size();
  local_ = opt_.global_batch / opt_.world;
  steps_per_epoch_ = size_ / opt_.global_batch;
  WIN_CHECK(steps_per_epoch_ >= 1, ErrorKind::Data, "the dataset has ", size_,
            " samples, fewer than one global batch of ", opt_.global_batch,
            opt_.batch_key.empty() ? std::string() : cat(" (", opt_.batch_key, ")"));
  if (opt_.prefetch > 0) {
    slots_.resize(static_cast<size_t>(opt_.prefetch + 1));  // prefetch ahead + the one in use
    for (auto& s : slots_) source_->allocate(s, local_);
  } else {
    source_->allocate(sync_, local_);
  }
  start();
}

Loader::~Loader() {
  stop();
}

void Loader::start() {
  if (opt_.prefetch == 0) return;
  {
    std::lock_guard lock(mu_);
    ready_.clear();
    free_.clear();
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) free_.push_back(i);
    current_ = -1;
    stopping_ = false;
    error_ = nullptr;
    prod_epoch_ = epoch_;
    prod_step_ = step_;
  }
  if (!worker_source_) worker_source_ = source_->clone();
  thread_ = std::thread([this] { worker(); });
}

void Loader::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Loader::seek(int64_t epoch, int64_t consumed) {
  WIN_CHECK(epoch >= 0 && consumed >= 0 && consumed % opt_.global_batch == 0 &&
                consumed / opt_.global_batch <= steps_per_epoch_,
            ErrorKind::Checkpoint, "cannot resume the loader at epoch ", epoch, " after ", consumed,
            " samples: not a whole number of global batches of ", opt_.global_batch, " within ",
            steps_per_epoch_ * opt_.global_batch);
  stop();
  epoch_ = epoch;
  step_ = consumed / opt_.global_batch;
  if (step_ == steps_per_epoch_) {
    ++epoch_;
    step_ = 0;
  }
  start();
}

void Loader::produce(Batch& b, int64_t epoch, int64_t step, SampleSource& src, OrderCache& cache) {
  if (cache.epoch != epoch) {
    cache.order = epoch_order(size_, opt_.seed, epoch, opt_.shuffle);
    cache.epoch = epoch;
  }
  const std::vector<int64_t>& order = cache.order;
  b.epoch = epoch;
  b.step = step;
  b.ids.resize(static_cast<size_t>(local_));
  const int64_t base = step * opt_.global_batch + opt_.rank * local_;
  for (int64_t k = 0; k < local_; ++k) {
    const int64_t sample = order[static_cast<size_t>(base + k)];
    b.ids[static_cast<size_t>(k)] = sample;
    src.fill(b, k, sample, epoch);
  }
}

void Loader::worker() {
  try {
    while (true) {
      int slot;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !free_.empty(); });
        if (stopping_) return;
        slot = free_.front();
        free_.pop_front();
      }
      produce(slots_[static_cast<size_t>(slot)], prod_epoch_, prod_step_, *worker_source_,
              worker_order_);
      if (++prod_step_ == steps_per_epoch_) {
        prod_step_ = 0;
        ++prod_epoch_;
      }
      {
        std::lock_guard lock(mu_);
        ready_.push_back(slot);
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard lock(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

const Batch& Loader::next() {
  const Batch* out;
  if (opt_.prefetch == 0) {
    produce(sync_, epoch_, step_, *source_, order_);
    out = &sync_;
  } else {
    std::unique_lock lock(mu_);
    if (current_ >= 0) free_.push_back(current_);
    cv_.notify_all();
    cv_.wait(lock, [&] { return !ready_.empty() || error_; });
    if (ready_.empty() && error_) std::rethrow_exception(error_);
    current_ = ready_.front();
    ready_.pop_front();
    out = &slots_[static_cast<size_t>(current_)];
  }
  if (++step_ == steps_per_epoch_) {
    step_ = 0;
    ++epoch_;
  }
  return *out;
}

}  // namespace win::data
