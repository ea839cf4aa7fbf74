// Bucketed gradient averaging over ranks (see grad_sync.hpp).
#include "train/grad_sync.hpp"

#include <algorithm>
#include <span>
#include <vector>

#include "core/error.hpp"

namespace win::train {

namespace {

template <class T>
void average_buckets(const dist::Comm& comm, Tensor& grads, int64_t bucket) {
  T* g = grads.data<T>();
  const int64_t n = grads.numel();
  for (int64_t begin = 0; begin < n; begin += bucket) {
    const int64_t len = std::min(bucket, n - begin);
    comm.allreduce(std::span<T>(g + begin, static_cast<size_t>(len)));
  }
  // Scaling after the sum (not before) keeps one rounding per element whatever the rank count.
  const T scale = static_cast<T>(1) / static_cast<T>(comm.size());
  for (int64_t i = 0; i < n; ++i) g[i] *= scale;
}

}  // namespace

GradientSync::GradientSync(const dist::Comm& comm, nn::ParamStore& store, double bucket_mb,
                           const std::function<bool(const nn::ParamEntry&)>& only)
    : comm_(comm), store_(store) {
  if (only) {
    selective_ = true;
    WIN_CHECK(store_.grads().dtype() == DType::F32, ErrorKind::Internal,
              "GradientSync: a selection of f32 gradients only");
    for (const auto& e : store_.entries())
      if (only(e)) ranges_.emplace_back(e.offset, e.numel);
  }
  WIN_CHECK(bucket_mb > 0, ErrorKind::Config, "dist.bucket_mb must be > 0, not ", bucket_mb);
  const Tensor& g = store_.grads();
  const double bytes = bucket_mb * 1024.0 * 1024.0;
  bucket_ = std::max<int64_t>(
      1, static_cast<int64_t>(bytes / static_cast<double>(dtype_size(g.dtype()))));
}

int64_t GradientSync::num_buckets() const {
  int64_t n = store_.grads().numel();
  if (selective_) {
    n = 0;
    for (const auto& r : ranges_) n += r.second;
  }
  return (n + bucket_ - 1) / bucket_;
}

void GradientSync::average() {
  if (comm_.size() == 1) return;
  Tensor& g = store_.grads();
  WIN_CHECK(g.is_contiguous(), ErrorKind::Internal, "GradientSync: the gradient buffer is a view");
  if (selective_) {  // pack the selection, average it as one buffer, unpack
    float* flat = g.data<float>();
    if (ranges_.empty()) return;
    packed_.clear();
    for (const auto& [off, n] : ranges_) packed_.insert(packed_.end(), flat + off, flat + off + n);
    Tensor t = Tensor::from(packed_, {static_cast<int64_t>(packed_.size())});
    average_buckets<float>(comm_, t, bucket_);
    const float* p = t.data<float>();
    for (const auto& [off, n] : ranges_) {
      std::copy(p, p + n, flat + off);
      p += n;
    }
    return;
  }
  switch (g.dtype()) {
    case DType::F32:
      average_buckets<float>(comm_, g, bucket_);
      break;
    case DType::F64:
      average_buckets<double>(comm_, g, bucket_);
      break;
    default:
      WIN_FAIL(ErrorKind::Internal, "GradientSync: gradients of dtype ", dtype_name(g.dtype()),
               " are not reduced yet");
  }
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
    const Tensor c = t->contiguous();
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
    t->copy_from(c);
  }
}

}  // namespace win::train
