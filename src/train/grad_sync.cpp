// Bucketed gradient averaging over ranks (see grad_sync.hpp).
#include "train/grad_sync.hpp"

#include <algorithm>
#include <span>

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

GradientSync::GradientSync(const dist::Comm& comm, nn::ParamStore& store, double bucket_mb)
    : comm_(comm), store_(store) {
  WIN_CHECK(bucket_mb > 0, ErrorKind::Config, "dist.bucket_mb must be > 0, not ", bucket_mb);
  const Tensor& g = store_.grads();
  const double bytes = bucket_mb * 1024.0 * 1024.0;
  bucket_ = std::max<int64_t>(
      1, static_cast<int64_t>(bytes / static_cast<double>(dtype_size(g.dtype()))));
}

int64_t GradientSync::num_buckets() const {
  const int64_t n = store_.grads().numel();
  return (n + bucket_ - 1) / bucket_;
}

void GradientSync::average() {
  if (comm_.size() == 1) return;
  Tensor& g = store_.grads();
  WIN_CHECK(g.is_contiguous(), ErrorKind::Internal, "GradientSync: the gradient buffer is a view");
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

}  // namespace win::train
