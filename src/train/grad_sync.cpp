// Bucketed gradient averaging over ranks (see grad_sync.hpp).
#include "train/grad_sync.hpp"

#include <algorithm>
#include <span>
#include <type_traits>
#include <vector>

#include "backend/ops.hpp"
#include "backend/transfer.hpp"
#include "core/error.hpp"

namespace win::train {

namespace {

// Sums over ranks become means. Scaling after the sum (not before) keeps one rounding per element
// whatever the rank count.
template <class T>
void divide(T* g, int64_t n, int ranks) {
  const T scale = static_cast<T>(1) / static_cast<T>(ranks);
  for (int64_t i = 0; i < n; ++i) g[i] *= scale;
}

template <class T>
void average_buckets(const dist::Comm& comm, T* g, int64_t n, int64_t bucket) {
  for (int64_t begin = 0; begin < n; begin += bucket) {
    const int64_t len = std::min(bucket, n - begin);
    comm.allreduce(std::span<T>(g + begin, static_cast<size_t>(len)));
  }
  divide(g, n, comm.size());
}

}  // namespace

GradientSync::GradientSync(const dist::Comm& comm, nn::ParamStore& store, double bucket_mb,
                           const std::function<bool(const nn::ParamEntry&)>& only,
                           dist::DeviceComm* device)
    : comm_(comm), store_(store), device_(comm.size() > 1 ? device : nullptr) {
  WIN_CHECK(bucket_mb > 0, ErrorKind::Config, "dist.bucket_mb must be > 0, not ", bucket_mb);
  WIN_CHECK(!device_ || device_->size() == comm_.size(), ErrorKind::Internal,
            "GradientSync: a device communicator of ", device_ ? device_->size() : 0,
            " ranks for a group of ", comm_.size());
  const Tensor& g = store_.grads();
  // Without a device communicator, gradients on a GPU are reduced through a host copy (MPI needs
  // host memory unless it is CUDA-aware, which nothing here may assume): one copy each way per
  // step, no early buckets.
  if (g.defined() && g.device() != Device::CPU && comm_.size() > 1 && !device_)
    host_ = Tensor::empty(g.shape(), g.dtype());
  const double bytes = bucket_mb * 1024.0 * 1024.0;
  bucket_ = std::max<int64_t>(
      1, static_cast<int64_t>(bytes / static_cast<double>(dtype_size(g.dtype()))));
  if (only) {
    selective_ = true;
    WIN_CHECK(g.dtype() == DType::F32, ErrorKind::Internal,
              "GradientSync: a selection of f32 gradients only");
    for (const auto& e : store_.entries()) {
      if (!only(e)) continue;
      if (!ranges_.empty() && ranges_.back().first + ranges_.back().second == e.offset)
        ranges_.back().second += e.numel;  // adjacent entries: one run
      else
        ranges_.emplace_back(e.offset, e.numel);
    }
    return;
  }
  const int64_t n = g.numel(), nb = (n + bucket_ - 1) / bucket_;
  bucket_size_.assign(static_cast<size_t>(nb), 0);
  for (int64_t k = 0; k < nb; ++k)
    bucket_size_[static_cast<size_t>(k)] = std::min(bucket_, n - k * bucket_);
  const auto& entries = store_.entries();
  entry_buckets_.resize(entries.size());
  std::vector<int64_t> params_in(static_cast<size_t>(nb), 0);
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    entry_of_[e.param] = i;
    for (int64_t at = e.offset; at < e.offset + e.numel;) {
      const int64_t k = at / bucket_;
      const int64_t len = std::min(e.offset + e.numel, (k + 1) * bucket_) - at;
      entry_buckets_[i].emplace_back(k, len);
      params_in[static_cast<size_t>(k)] += len;
      at += len;
    }
  }
  waiting_ = params_in;  // a bucket of padding only waits for nothing and starts in finish()
  started_.assign(static_cast<size_t>(nb), 0);
  entry_done_.assign(entries.size(), 0);
  waiting_template_ = params_in;
}

int64_t GradientSync::num_buckets() const {
  int64_t n = store_.grads().numel();
  if (selective_) {
    n = 0;
    for (const auto& r : ranges_) n += r.second;
  }
  return (n + bucket_ - 1) / bucket_;
}

void GradientSync::begin() {
  if (comm_.size() == 1 || selective_) return;
  waiting_ = waiting_template_;
  std::fill(started_.begin(), started_.end(), 0);
  std::fill(entry_done_.begin(), entry_done_.end(), 0);
}

Tensor& GradientSync::flat() {
  return host_.defined() ? host_ : store_.grads();
}

void GradientSync::reduce_bucket(int64_t k, bool now) {
  Tensor& g = flat();
  const int64_t begin = k * bucket_, len = bucket_size_[static_cast<size_t>(k)];
  if (device_) {  // queued either way: the device path never blocks the host
    device_->start_sum(g, begin, len);
    return;
  }
  auto reduce = [&](auto* p) {
    const std::span<std::remove_pointer_t<decltype(p)>> s(p + begin, static_cast<size_t>(len));
    if (now)
      comm_.allreduce(s);
    else
      comm_.start_allreduce(s);
  };
  if (g.dtype() == DType::F32)
    reduce(g.data<float>());
  else if (g.dtype() == DType::F64)
    reduce(g.data<double>());
  else
    WIN_FAIL(ErrorKind::Internal, "GradientSync: gradients of dtype ", dtype_name(g.dtype()),
             " are not reduced yet");
}

void GradientSync::start_bucket(int64_t k) {
  started_[static_cast<size_t>(k)] = 1;
  reduce_bucket(k, false);
}

void GradientSync::ready(nn::Module& m) {
  if (comm_.size() == 1 || selective_ || host_.defined()) return;
  auto it = module_entries_.find(&m);
  if (it == module_entries_.end()) {
    std::vector<size_t> idx;
    m.for_each_param([&](const std::string&, nn::Param& p) {
      if (auto e = entry_of_.find(&p); e != entry_of_.end()) idx.push_back(e->second);
    });
    it = module_entries_.emplace(&m, std::move(idx)).first;
  }
  for (size_t i : it->second) {
    if (entry_done_[i]) continue;
    entry_done_[i] = 1;
    for (const auto& [k, len] : entry_buckets_[i])
      if ((waiting_[static_cast<size_t>(k)] -= len) == 0) {
        start_bucket(k);
        ++early_;
      }
  }
  if (!device_) comm_.progress();
}

void GradientSync::finish() {
  if (comm_.size() == 1) return;
  if (device_) {
    finish_on_device();
    return;
  }
  if (host_.defined()) {
    backend::copy_across(store_.grads(), host_);
    reduce_flat();
    backend::copy_across(host_, store_.grads());
    return;
  }
  reduce_flat();
}

void GradientSync::reduce_flat() {
  Tensor& g = flat();
  WIN_CHECK(g.is_contiguous(), ErrorKind::Internal, "GradientSync: the gradient buffer is a view");
  if (selective_) {  // pack the selection, average it as one buffer, unpack
    if (ranges_.empty()) return;
    float* flat = g.data<float>();
    packed_.clear();
    for (const auto& [off, n] : ranges_) packed_.insert(packed_.end(), flat + off, flat + off + n);
    average_buckets(comm_, packed_.data(), static_cast<int64_t>(packed_.size()), bucket_);
    const float* p = packed_.data();
    for (const auto& [off, n] : ranges_) {
      std::copy(p, p + n, flat + off);
      p += n;
    }
    return;
  }
  // Buckets that were not complete during backward gain nothing from a non-blocking reduction
  // (whose algorithms are slower than the blocking ones in Open MPI): reduce them directly, in
  // order, after the started ones.
  comm_.wait_all();
  for (size_t k = 0; k < started_.size(); ++k)
    if (!started_[k]) reduce_bucket(static_cast<int64_t>(k), true);
  if (g.dtype() == DType::F32)
    divide(g.data<float>(), g.numel(), comm_.size());
  else
    divide(g.data<double>(), g.numel(), comm_.size());
}

void GradientSync::finish_on_device() {
  Tensor& g = store_.grads();
  WIN_CHECK(g.is_contiguous(), ErrorKind::Internal, "GradientSync: the gradient buffer is a view");
  backend::Ops& ops = backend::ops_for(g);
  const double inv = 1.0 / static_cast<double>(comm_.size());
  if (selective_) {
    // Each run of adjacent selected entries is summed in place, in bucket-sized pieces: no
    // packing copy is needed on the device.
    for (const auto& [off, n] : ranges_)
      for (int64_t at = off; at < off + n; at += bucket_)
        device_->start_sum(g, at, std::min(bucket_, off + n - at));
    device_->join();
    for (const auto& [off, n] : ranges_) {
      Tensor part = g.slice(0, off, off + n);
      ops.scale(inv, part);
    }
    return;
  }
  for (size_t k = 0; k < started_.size(); ++k)
    if (!started_[k]) reduce_bucket(static_cast<int64_t>(k), false);
  device_->join();
  ops.scale(inv, g);
}

void GradientSync::average() {
  begin();
  finish();
}

void average_buffers(const dist::Comm& comm, nn::Module& m) {
  if (comm.size() == 1) return;
  std::vector<Tensor*> bufs;
  int64_t total = 0;
  m.for_each_buffer([&](const std::string&, Tensor& t) {
    if (t.dtype() != DType::F32 && t.dtype() != DType::F64) return;
    bufs.push_back(&t);
    total += t.numel();
  });
  std::vector<double> v;
  v.reserve(static_cast<size_t>(total));
  for (Tensor* t : bufs) {
    const Tensor c = backend::to_device(*t, Device::CPU).contiguous();
    for (int64_t i = 0; i < c.numel(); ++i)
      v.push_back(c.dtype() == DType::F32 ? static_cast<double>(c.data<float>()[i])
                                          : c.data<double>()[i]);
  }
  comm.allreduce(std::span<double>(v));
  const double inv = static_cast<double>(comm.size());
  size_t k = 0;
  for (Tensor* t : bufs) {
    Tensor c = Tensor::empty(t->shape(), t->dtype());
    for (int64_t i = 0; i < c.numel(); ++i, ++k) {
      const double mean = v[k] / inv;
      if (c.dtype() == DType::F32)
        c.data<float>()[i] = static_cast<float>(mean);
      else
        c.data<double>()[i] = mean;
    }
    backend::copy_across(c, *t);
  }
}

}  // namespace win::train
