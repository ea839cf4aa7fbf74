// Reference 2-d max and average pooling with PyTorch's semantics (floor mode): max ignores padded
// positions (as if they held -inf) and picks the maximum's position exactly as PyTorch's CPU
// kernel does; average counts padded zeros (count_include_pad = true) with PyTorch's window size
// formula. Max backward recomputes the argmax from x rather than keeping a workspace, so this op
// holds no state. (n, c) planes are independent, so they run in parallel.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::backend {

namespace {

// Indices per parallel chunk so that each chunk does at least ~32k multiply-adds: tiny problems
// (the f64 gradient checks run thousands of them) then stay on one thread instead of paying for
// a parallel region each.
int64_t grain_for(int64_t work_per_index) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(work_per_index, 1));
}

template <class T>
class RefPool2d final : public Pool2dOp {
 public:
  explicit RefPool2d(const Pool2dDesc& d) : d_(d) {
    // PyTorch's own limits: beyond them a window could lie wholly in the padding.
    WIN_CHECK(d.kernel > 0 && d.stride > 0 && d.padding >= 0 && 2 * d.padding <= d.kernel,
              ErrorKind::Internal, "pool2d: kernel ", d.kernel, ", stride ", d.stride, ", padding ",
              d.padding, " (padding must be at most half the kernel)");
  }

  void forward(const Tensor& x, Tensor& y) override {
    check(x, y, "pool2d forward");
    const ref::View<T> X(x), Y(y);
    const int64_t c_n = x.size(1);
    parallel_for(x.size(0) * c_n, grain_for(plane_work(x, y)), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t n = i / c_n, c = i % c_n;
        for (int64_t p = 0; p < y.size(2); ++p)
          for (int64_t q = 0; q < y.size(3); ++q) {
            const Window win = window(x, p, q);
            if (d_.kind == Pool2dDesc::Kind::Max) {
              const auto [h, w] = argmax(X, n, c, win);
              Y(n, c, p, q) = X(n, c, h, w);
            } else {
              double s = 0;
              for (int64_t h = win.h0; h < win.h1; ++h)
                for (int64_t w = win.w0; w < win.w1; ++w) s += static_cast<double>(X(n, c, h, w));
              Y(n, c, p, q) = static_cast<T>(s / static_cast<double>(win.divisor));
            }
          }
      }
    });
  }

  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) override {
    check(x, y, "pool2d backward");
    ref::check_same_shape(y, dy, "pool2d backward dy");
    ref::check_same_shape(x, dx, "pool2d backward dx");
    const ref::View<T> X(x), D(dy), G(dx);
    const int64_t c_n = x.size(1);
    // Each (n, c) plane of dx is written by one task only, so the scatter-adds never race; they
    // are done in double and in a fixed order, so the result is deterministic.
    parallel_for(x.size(0) * c_n, grain_for(plane_work(x, y)), [&](int64_t i0, int64_t i1) {
      std::vector<double> acc(static_cast<size_t>(x.size(2) * x.size(3)));
      const int64_t wd = x.size(3);
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t n = i / c_n, c = i % c_n;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t p = 0; p < y.size(2); ++p)
          for (int64_t q = 0; q < y.size(3); ++q) {
            const Window win = window(x, p, q);
            const double g = static_cast<double>(D(n, c, p, q));
            if (d_.kind == Pool2dDesc::Kind::Max) {
              const auto [h, w] = argmax(X, n, c, win);
              acc[static_cast<size_t>(h * wd + w)] += g;
            } else {
              const double share = g / static_cast<double>(win.divisor);
              for (int64_t h = win.h0; h < win.h1; ++h)
                for (int64_t w = win.w0; w < win.w1; ++w)
                  acc[static_cast<size_t>(h * wd + w)] += share;
            }
          }
        for (int64_t h = 0; h < x.size(2); ++h)
          for (int64_t w = 0; w < wd; ++w)
            G(n, c, h, w) = static_cast<T>(acc[static_cast<size_t>(h * wd + w)]);
      }
    });
  }

 private:
  // Work of one (n, c) plane: every output visits its window, and backward also every input.
  int64_t plane_work(const Tensor& x, const Tensor& y) const {
    return y.size(2) * y.size(3) * d_.kernel * d_.kernel + x.size(2) * x.size(3);
  }

  // The part of output (p, q)'s window inside x, and the average's divisor: PyTorch's
  // (hend - hstart) * (wend - wstart) with the ends clipped to the padded extent, taken before
  // clipping to x itself, so padded zeros count.
  struct Window {
    int64_t h0, h1, w0, w1, divisor;
  };
  Window window(const Tensor& x, int64_t p, int64_t q) const {
    const int64_t h_in = x.size(2), w_in = x.size(3);
    int64_t h0 = p * d_.stride - d_.padding, w0 = q * d_.stride - d_.padding;
    int64_t h1 = std::min(h0 + d_.kernel, h_in + d_.padding);
    int64_t w1 = std::min(w0 + d_.kernel, w_in + d_.padding);
    const int64_t divisor = (h1 - h0) * (w1 - w0);
    h0 = std::max<int64_t>(h0, 0);
    w0 = std::max<int64_t>(w0, 0);
    h1 = std::min(h1, h_in);
    w1 = std::min(w1, w_in);
    return {h0, h1, w0, w1, divisor};
  }

  // PyTorch's CPU kernel exactly: the first maximum in scan order, except that a NaN always
  // takes over (so the last NaN wins).
  static std::pair<int64_t, int64_t> argmax(const ref::View<T>& X, int64_t n, int64_t c,
                                            const Window& win) {
    std::pair<int64_t, int64_t> best{win.h0, win.w0};
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t h = win.h0; h < win.h1; ++h)
      for (int64_t w = win.w0; w < win.w1; ++w) {
        const T v = X(n, c, h, w);
        if (v > m || std::isnan(v)) {
          m = v;
          best = {h, w};
        }
      }
    return best;
  }

  void check(const Tensor& x, const Tensor& y, const char* what) const {
    WIN_CHECK(x.dim() == 4, ErrorKind::Internal, what, ": input ", x.shape(), " is not 4-d");
    const int64_t p = (x.size(2) + 2 * d_.padding - d_.kernel) / d_.stride + 1;
    const int64_t q = (x.size(3) + 2 * d_.padding - d_.kernel) / d_.stride + 1;
    WIN_CHECK(x.size(2) + 2 * d_.padding >= d_.kernel && x.size(3) + 2 * d_.padding >= d_.kernel,
              ErrorKind::Internal, what, ": input ", x.shape(), " is smaller than the kernel");
    ref::check_shape(y, {x.size(0), x.size(1), p, q}, what);
  }

  Pool2dDesc d_;
};

}  // namespace

template <class T>
std::unique_ptr<Pool2dOp> RefOps<T>::pool2d(const Pool2dDesc& d) {
  return std::make_unique<RefPool2d<T>>(d);
}
template std::unique_ptr<Pool2dOp> RefOps<float>::pool2d(const Pool2dDesc&);
template std::unique_ptr<Pool2dOp> RefOps<double>::pool2d(const Pool2dDesc&);

}  // namespace win::backend
