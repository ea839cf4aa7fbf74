// Synchronised BatchNorm2d forward and backward (see batchnorm_sync.hpp): strided loops over the
// channels, parallel over channel chunks, with the per-channel partial sums exchanged between
// replicas in one ReplicaSum call per pass.
#include "nn/batchnorm_sync.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace win::nn {

namespace {

// Calls f(c, off) for every element (n, c, h, w) with c in [c0, c1), where off[k] is that
// element's offset in ts[k] (tensors of one shape, each with its own strides: y and dx follow x's
// layout when x is dense, but not always dy, nor any of them for a non-dense x). Within one
// channel the elements always come in (n, h, w) order, so a channel's sums are formed in the same
// order, and come out bitwise the same, for contiguous and channels-last inputs; only the
// interleaving of channels differs, following x's layout for locality.
template <size_t K, class F>
void for_channels(const std::array<const Tensor*, K>& ts, int64_t c0, int64_t c1, F&& f) {
  const Tensor& x = *ts[0];
  const int64_t n_n = x.size(0), h_n = x.size(2), w_n = x.size(3);
  std::array<std::array<int64_t, 4>, K> st;  // st[k][d] = ts[k]->stride(d)
  for (size_t k = 0; k < K; ++k)
    for (int d = 0; d < 4; ++d) st[k][static_cast<size_t>(d)] = ts[k]->stride(d);
  std::array<int64_t, K> off{};
  if (x.stride(1) == 1) {  // channels innermost (channels-last): one sweep of the plane
    for (int64_t n = 0; n < n_n; ++n)
      for (int64_t h = 0; h < h_n; ++h)
        for (int64_t w = 0; w < w_n; ++w)
          for (int64_t c = c0; c < c1; ++c) {
            for (size_t k = 0; k < K; ++k)
              off[k] = n * st[k][0] + c * st[k][1] + h * st[k][2] + w * st[k][3];
            f(c, off);
          }
    return;
  }
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t n = 0; n < n_n; ++n)
      for (int64_t h = 0; h < h_n; ++h)
        for (int64_t w = 0; w < w_n; ++w) {
          for (size_t k = 0; k < K; ++k)
            off[k] = n * st[k][0] + c * st[k][1] + h * st[k][2] + w * st[k][3];
          f(c, off);
        }
}

// Channels per parallel chunk: enough that a chunk does ~32k element visits (tiny problems, such
// as the f64 gradient checks, stay on one thread instead of paying for a parallel region), and
// for channels-last at least 16 channels so that chunks mostly write whole cache lines.
int64_t channel_grain(const Tensor& x) {
  const int64_t per_channel = std::max<int64_t>(1, x.numel() / std::max<int64_t>(1, x.size(1)));
  int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / per_channel);
  if (x.stride(1) == 1) grain = std::max<int64_t>(grain, 16);
  return grain;
}

void check_like(const Tensor& t, const Tensor& x, const char* what) {
  WIN_CHECK(t.shape() == x.shape() && t.dtype() == x.dtype(), ErrorKind::Internal,
            "sync batchnorm: ", what, " ", t.shape(), " ", dtype_name(t.dtype()),
            " does not match x ", x.shape(), " ", dtype_name(x.dtype()));
}

void check_channels(const Tensor& t, int64_t c_n, DType dtype, const char* what) {
  WIN_CHECK(t.dim() == 1 && t.size(0) == c_n && t.dtype() == dtype, ErrorKind::Internal,
            "sync batchnorm: ", what, " ", t.shape(), " for ", c_n, " channels");
}

// Per-channel vector element (parameters may be strided views of a flat buffer).
template <class T>
T& at(const Tensor& t, int64_t c) {
  return t.data<T>()[c * t.stride(0)];
}

template <class T>
void forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                  double momentum, bool relu, ReplicaSum& replicas, Tensor& running_mean,
                  Tensor& running_var, SyncBatchNormState& s, Tensor& y) {
  const int64_t c_n = x.size(1);
  const int64_t grain = channel_grain(x);
  const T* px = x.data<T>();
  // Sums of x and x^2 rather than the reference's two passes: one exchange gives the global
  // mean and variance (var = E[x^2] - mean^2). In double, the cancellation that costs is
  // ~1e-16 * mean^2 / var relative, negligible for activations.
  std::vector<double>& p = s.packed;
  p.assign(static_cast<size_t>(2 * c_n + 1), 0.0);
  parallel_for(c_n, grain, [&](int64_t c0, int64_t c1) {
    for_channels(std::array<const Tensor*, 1>{&x}, c0, c1, [&](int64_t c, const auto& o) {
      const double v = static_cast<double>(px[o[0]]);
      p[static_cast<size_t>(c)] += v;
      p[static_cast<size_t>(c_n + c)] += v * v;
    });
  });
  p[static_cast<size_t>(2 * c_n)] = static_cast<double>(x.size(0) * x.size(2) * x.size(3));
  replicas.sum(p);
  const double n = p[static_cast<size_t>(2 * c_n)];
  // Checked after the exchange: every replica sees the same global count, so either all throw or
  // none does, and no replica is left waiting in a collective.
  WIN_CHECK(
      n > 1, ErrorKind::Internal,
      "sync batchnorm: training needs more than one value per channel over all replicas, got ", n,
      " (local input ", x.shape(), ")");
  s.count = n;
  s.mean.resize(static_cast<size_t>(c_n));
  s.rstd.resize(static_cast<size_t>(c_n));
  for (int64_t c = 0; c < c_n; ++c) {
    const auto i = static_cast<size_t>(c);
    const double mu = p[i] / n;
    const double var = std::max(p[static_cast<size_t>(c_n + c)] / n - mu * mu, 0.0);
    s.mean[i] = mu;
    s.rstd[i] = 1.0 / std::sqrt(var + eps);
    // PyTorch: the running variance moves with the unbiased variance of the global batch.
    T& rm = at<T>(running_mean, c);
    T& rv = at<T>(running_var, c);
    rm = static_cast<T>((1 - momentum) * static_cast<double>(rm) + momentum * mu);
    rv = static_cast<T>((1 - momentum) * static_cast<double>(rv) + momentum * var * n / (n - 1));
  }
  T* py = y.data<T>();
  parallel_for(c_n, grain, [&](int64_t c0, int64_t c1) {
    for_channels(std::array<const Tensor*, 2>{&x, &y}, c0, c1, [&](int64_t c, const auto& o) {
      const auto i = static_cast<size_t>(c);
      const double scale = static_cast<double>(at<T>(gamma, c)) * s.rstd[i];
      const double v =
          (static_cast<double>(px[o[0]]) - s.mean[i]) * scale + static_cast<double>(at<T>(beta, c));
      py[o[1]] = static_cast<T>(relu && v < 0 ? 0.0 : v);
    });
  });
}

template <class T>
void backward_impl(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& gamma,
                   bool relu, ReplicaSum& replicas, SyncBatchNormState& s, Tensor& dx,
                   Tensor& dgamma, Tensor& dbeta) {
  const int64_t c_n = x.size(1);
  const int64_t grain = channel_grain(x);
  const T* px = x.data<T>();
  const T* pdy = dy.data<T>();
  const T* py = relu ? y.data<T>() : nullptr;
  T* pdx = dx.data<T>();
  // dy through the fused ReLU: zero where the output was clipped (as the unsynchronised op).
  // o: offsets in x, dy, y, dx.
  const std::array<const Tensor*, 4> ts{&x, &dy, &y, &dx};
  auto grad = [&](const std::array<int64_t, 4>& o) {
    return py && py[o[2]] <= T(0) ? 0.0 : static_cast<double>(pdy[o[1]]);
  };
  std::vector<double>& p = s.packed;
  p.assign(static_cast<size_t>(2 * c_n), 0.0);
  parallel_for(c_n, grain, [&](int64_t c0, int64_t c1) {
    for_channels(ts, c0, c1, [&](int64_t c, const std::array<int64_t, 4>& o) {
      const auto i = static_cast<size_t>(c);
      const double g = grad(o);
      p[i] += g;
      p[static_cast<size_t>(c_n + c)] +=
          g * (static_cast<double>(px[o[0]]) - s.mean[i]) * s.rstd[i];
    });
  });
  // gamma and beta get this replica's own contributions, taken before the exchange turns the
  // sums into global ones: the data-parallel gradient reduction adds the replicas' up later.
  for (int64_t c = 0; c < c_n; ++c) {
    T& dg = at<T>(dgamma, c);
    T& db = at<T>(dbeta, c);
    dg = static_cast<T>(static_cast<double>(dg) + p[static_cast<size_t>(c_n + c)]);
    db = static_cast<T>(static_cast<double>(db) + p[static_cast<size_t>(c)]);
  }
  replicas.sum(p);
  // dx = gamma * rstd * (dy - sum(dy) / N - xhat * sum(dy * xhat) / N) with the sums and N over
  // the global batch: the mean and variance depend on every replica's x, so every replica's
  // loss reaches this x through them.
  const double n = s.count;
  parallel_for(c_n, grain, [&](int64_t c0, int64_t c1) {
    for_channels(ts, c0, c1, [&](int64_t c, const std::array<int64_t, 4>& o) {
      const auto i = static_cast<size_t>(c);
      const double mean_dy = p[i] / n, mean_dy_xhat = p[static_cast<size_t>(c_n + c)] / n;
      const double xhat = (static_cast<double>(px[o[0]]) - s.mean[i]) * s.rstd[i];
      const double a = static_cast<double>(at<T>(gamma, c)) * s.rstd[i];
      pdx[o[3]] = static_cast<T>(a * (grad(o) - mean_dy - xhat * mean_dy_xhat));
    });
  });
}

}  // namespace

void sync_batchnorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                            double momentum, bool relu, ReplicaSum& replicas, Tensor& running_mean,
                            Tensor& running_var, SyncBatchNormState& state, Tensor& y) {
  WIN_CHECK(x.dim() == 4, ErrorKind::Internal, "sync batchnorm: input ", x.shape(), " is not 4-d");
  const int64_t c_n = x.size(1);
  check_like(y, x, "y");
  for (const Tensor* t :
       std::initializer_list<const Tensor*>{&gamma, &beta, &running_mean, &running_var})
    check_channels(*t, c_n, x.dtype(), "per-channel vector");
  switch (x.dtype()) {
    case DType::F32:
      return forward_impl<float>(x, gamma, beta, eps, momentum, relu, replicas, running_mean,
                                 running_var, state, y);
    case DType::F64:
      return forward_impl<double>(x, gamma, beta, eps, momentum, relu, replicas, running_mean,
                                  running_var, state, y);
    default:
      WIN_FAIL(ErrorKind::Internal, "sync batchnorm: dtype ", dtype_name(x.dtype()),
               " (f32 and f64 only)");
  }
}

void sync_batchnorm_backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                             const Tensor& gamma, bool relu, ReplicaSum& replicas,
                             SyncBatchNormState& state, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  WIN_CHECK(x.dim() == 4, ErrorKind::Internal, "sync batchnorm: input ", x.shape(), " is not 4-d");
  const int64_t c_n = x.size(1);
  WIN_CHECK(state.mean.size() == static_cast<size_t>(c_n) && state.count > 1, ErrorKind::Internal,
            "sync batchnorm: backward without a synchronised forward");
  check_like(dy, x, "dy");
  check_like(dx, x, "dx");
  check_like(y, x, "y");
  for (const Tensor* t : std::initializer_list<const Tensor*>{&gamma, &dgamma, &dbeta})
    check_channels(*t, c_n, x.dtype(), "per-channel vector");
  switch (x.dtype()) {
    case DType::F32:
      return backward_impl<float>(x, y, dy, gamma, relu, replicas, state, dx, dgamma, dbeta);
    case DType::F64:
      return backward_impl<double>(x, y, dy, gamma, relu, replicas, state, dx, dgamma, dbeta);
    default:
      WIN_FAIL(ErrorKind::Internal, "sync batchnorm: dtype ", dtype_name(x.dtype()),
               " (f32 and f64 only)");
  }
}

}  // namespace win::nn
