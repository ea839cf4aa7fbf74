// Reference 2-d convolution (PyTorch's cross-correlation, zero padding, no dilation or groups) in
// direct loops that accumulate in double and read any strides. It is the oracle for the oneDNN
// convolution and runs the f64 gradient checks, so it favours obviousness over speed; each output
// element is one independent sum, so every loop nest below parallelises over its outer indices
// without atomics and gives the same result for any thread count.
#include <algorithm>

#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::backend {

namespace {

// Output extent of a convolution along one axis (PyTorch's floor mode).
int64_t out_extent(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}

// Indices per parallel chunk so that each chunk does at least ~32k multiply-adds: tiny problems
// (the f64 gradient checks run thousands of them) then stay on one thread instead of paying for
// a parallel region each.
int64_t grain_for(int64_t work_per_index) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(work_per_index, 1));
}

template <class T>
class RefConv2d final : public Conv2dOp {
 public:
  explicit RefConv2d(const Conv2dDesc& d) : d_(d), rs_(d.kernel_h * d.kernel_w) {
    WIN_CHECK(d.kernel_h > 0 && d.kernel_w > 0 && d.stride > 0 && d.padding >= 0,
              ErrorKind::Internal, "conv2d: kernel ", d.kernel_h, "x", d.kernel_w, ", stride ",
              d.stride, ", padding ", d.padding);
  }

  void forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) override {
    const Shape s = check(x, w, y, b, "conv2d forward");
    const ref::View<T> X(x), W(w), Y(y);
    const T* pb = b.defined() ? b.data<T>() : nullptr;
    const int64_t bs = b.defined() ? b.stride(0) : 0;
    parallel_for(s.n * s.k, grain_for(s.p * s.q * s.c * rs_), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t n = i / s.k, k = i % s.k;
        for (int64_t p = 0; p < s.p; ++p)
          for (int64_t q = 0; q < s.q; ++q) {
            double acc = pb ? static_cast<double>(pb[k * bs]) : 0.0;
            for (int64_t c = 0; c < s.c; ++c)
              for (int64_t r = 0; r < d_.kernel_h; ++r) {
                const int64_t h = p * d_.stride - d_.padding + r;
                if (h < 0 || h >= s.h) continue;
                for (int64_t t = 0; t < d_.kernel_w; ++t) {
                  const int64_t ww = q * d_.stride - d_.padding + t;
                  if (ww < 0 || ww >= s.w) continue;
                  acc += static_cast<double>(X(n, c, h, ww)) * static_cast<double>(W(k, c, r, t));
                }
              }
            Y(n, k, p, q) = static_cast<T>(acc);
          }
      }
    });
  }

  void backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) override {
    const Shape s = check(dx, w, dy, Tensor(), "conv2d backward_data");
    const ref::View<T> D(dy), W(w), G(dx);
    // dx(n,c,h,w) gathers every output whose window covers (h, w): p * stride - pad + r = h.
    parallel_for(s.n * s.c, grain_for(s.h * s.w * s.k * rs_), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t n = i / s.c, c = i % s.c;
        for (int64_t h = 0; h < s.h; ++h)
          for (int64_t ww = 0; ww < s.w; ++ww) {
            double acc = 0;
            for (int64_t r = 0; r < d_.kernel_h; ++r) {
              const int64_t ph = h + d_.padding - r;
              if (ph < 0 || ph % d_.stride != 0 || ph / d_.stride >= s.p) continue;
              const int64_t p = ph / d_.stride;
              for (int64_t t = 0; t < d_.kernel_w; ++t) {
                const int64_t qw = ww + d_.padding - t;
                if (qw < 0 || qw % d_.stride != 0 || qw / d_.stride >= s.q) continue;
                const int64_t q = qw / d_.stride;
                for (int64_t k = 0; k < s.k; ++k)
                  acc += static_cast<double>(D(n, k, p, q)) * static_cast<double>(W(k, c, r, t));
              }
            }
            G(n, c, h, ww) = static_cast<T>(acc);
          }
      }
    });
  }

  void backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) override {
    const Shape s = check(x, dw, dy, db, "conv2d backward_weights");
    const ref::View<T> X(x), D(dy), G(dw);
    parallel_for(s.k * s.c * rs_, grain_for(s.n * s.p * s.q), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t k = i / (s.c * rs_), c = i / rs_ % s.c;
        const int64_t r = i % rs_ / d_.kernel_w, t = i % d_.kernel_w;
        double acc = 0;
        for (int64_t n = 0; n < s.n; ++n)
          for (int64_t p = 0; p < s.p; ++p) {
            const int64_t h = p * d_.stride - d_.padding + r;
            if (h < 0 || h >= s.h) continue;
            for (int64_t q = 0; q < s.q; ++q) {
              const int64_t ww = q * d_.stride - d_.padding + t;
              if (ww < 0 || ww >= s.w) continue;
              acc += static_cast<double>(D(n, k, p, q)) * static_cast<double>(X(n, c, h, ww));
            }
          }
        G(k, c, r, t) = static_cast<T>(static_cast<double>(G(k, c, r, t)) + acc);
      }
    });
    if (!db.defined()) return;
    const ref::View<T> B(db);
    parallel_for(s.k, grain_for(s.n * s.p * s.q), [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        double acc = 0;
        for (int64_t n = 0; n < s.n; ++n)
          for (int64_t p = 0; p < s.p; ++p)
            for (int64_t q = 0; q < s.q; ++q) acc += static_cast<double>(D(n, k, p, q));
        B(k) = static_cast<T>(static_cast<double>(B(k)) + acc);
      }
    });
  }

 private:
  struct Shape {
    int64_t n, c, h, w, k, p, q;
  };

  // Checks that x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q) and b (K, when defined) fit this desc.
  Shape check(const Tensor& x, const Tensor& w, const Tensor& y, const Tensor& b,
              const char* what) const {
    WIN_CHECK(x.dim() == 4 && w.dim() == 4 && y.dim() == 4, ErrorKind::Internal, what, ": x ",
              x.shape(), ", w ", w.shape(), ", y ", y.shape());
    Shape s{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), 0, 0};
    s.p = out_extent(s.h, d_.kernel_h, d_.stride, d_.padding);
    s.q = out_extent(s.w, d_.kernel_w, d_.stride, d_.padding);
    WIN_CHECK(s.p > 0 && s.q > 0, ErrorKind::Internal, what, ": input ", x.shape(),
              " is smaller than the kernel");
    ref::check_shape(w, {s.k, s.c, d_.kernel_h, d_.kernel_w}, what);
    ref::check_shape(y, {s.n, s.k, s.p, s.q}, what);
    if (b.defined()) ref::check_shape(b, {s.k}, what);
    return s;
  }

  Conv2dDesc d_;
  int64_t rs_;  // kernel taps
};

}  // namespace

template <class T>
std::unique_ptr<Conv2dOp> RefOps<T>::conv2d(const Conv2dDesc& d) {
  return std::make_unique<RefConv2d<T>>(d);
}
template std::unique_ptr<Conv2dOp> RefOps<float>::conv2d(const Conv2dDesc&);
template std::unique_ptr<Conv2dOp> RefOps<double>::conv2d(const Conv2dDesc&);

}  // namespace win::backend
