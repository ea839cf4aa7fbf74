// Helpers for the reference loops: typed element access through strides, shape checks, and the
// deterministic chunked reduction that keeps sums identical for any thread count.
#pragma once

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/tensor.hpp"

namespace win::backend::ref {

// Raw typed base pointer and strides of a CPU tensor of element type T.
template <class T>
struct View {
  T* p;
  Dims s;
  explicit View(const Tensor& t) : p(t.data<T>()), s(t.strides()) {}
  T& operator()(int64_t i) const { return p[i * s[0]]; }
  T& operator()(int64_t i, int64_t j) const { return p[i * s[0] + j * s[1]]; }
  T& operator()(int64_t i, int64_t j, int64_t k) const { return p[i * s[0] + j * s[1] + k * s[2]]; }
  T& operator()(int64_t i, int64_t j, int64_t k, int64_t l) const {
    return p[i * s[0] + j * s[1] + k * s[2] + l * s[3]];
  }
};

inline void check_shape(const Tensor& t, const Dims& want, const char* what) {
  WIN_CHECK(t.shape() == want, ErrorKind::Internal, what, ": shape ", t.shape(), ", expected ",
            want);
}
inline void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  WIN_CHECK(a.shape() == b.shape(), ErrorKind::Internal, what, ": shapes ", a.shape(), " and ",
            b.shape(), " differ");
}

// Visits every element of same-shaped tensors in row-major order: f(flat, off_a, off_b, off_c).
template <class F>
void for_each3(const Dims& shape, const Dims& sa, const Dims& sb, const Dims& sc, F&& f) {
  const int n = shape.size();
  const int64_t total = shape.product();
  int64_t idx[Dims::kMax] = {};
  int64_t oa = 0, ob = 0, oc = 0;
  for (int64_t flat = 0; flat < total; ++flat) {
    f(flat, oa, ob, oc);
    for (int d = n - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        oa += sa[d];
        ob += sb[d];
        oc += sc[d];
        break;
      }
      oa -= (shape[d] - 1) * sa[d];
      ob -= (shape[d] - 1) * sb[d];
      oc -= (shape[d] - 1) * sc[d];
      idx[d] = 0;
    }
  }
}

// Sum over [0, n) of f(i) in double, in fixed chunks whose partial sums are added in order:
// the result does not depend on the number of threads.
template <class F>
double chunked_sum(int64_t n, F&& f) {
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double s = 0;
      const int64_t e = std::min(n, (c + 1) * kChunk);
      for (int64_t i = c * kChunk; i < e; ++i) s += f(i);
      partial[static_cast<size_t>(c)] = s;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace win::backend::ref
