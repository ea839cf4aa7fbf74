// Reference losses (cross-entropy, MSE, Hinton KL) with PyTorch's semantics (backend/ops.hpp).
// These loops are also the f32 CPU backend's losses, so rows with unit column stride take a path
// the compiler vectorises (a polynomial exp for f32, since libm's expf does not vectorise without
// -ffast-math), rows are threaded with parallel_for, and every loss sum adds per-row (or
// fixed-chunk) partials in a fixed order: the same bits for any thread count.
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::backend {

namespace {

// exp(x) for x <= 0 (arguments already shifted by the row maximum). double: libm. float: Cephes'
// expf polynomial after Cody-Waite reduction, within 2 ulp of exp, written without branches,
// floor or float-to-int conversion so that it vectorises; below -87 it returns 0 (exp(-87) is
// 1.6e-38, at the bottom of f32's normal range). NaN stays NaN.
template <class T>
inline T exp_nonpos(T x);
template <>
inline double exp_nonpos<double>(double x) {
  return std::exp(x);
}
template <>
inline float exp_nonpos<float>(float x) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float xc = std::max(x, -87.0f);
  const float kf = xc * 1.44269504088896341f + kMagic;
  const int32_t ki = std::bit_cast<int32_t>(kf) - std::bit_cast<int32_t>(kMagic);
  const float k = kf - kMagic;  // round(x / ln 2), in [-126, 0]
  const float r = (xc - k * 0.693359375f) + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = (p * r) * r + r + 1.0f;
  const float two_k = std::bit_cast<float>((ki + 127) << 23);
  return e * two_k * static_cast<float>(x >= -87.0f);
}

// Row accessors: unit column stride (vectorises) or any stride (the reference path).
template <class T>
struct UnitRow {
  T* p;
  T& operator[](int64_t j) const { return p[j]; }
};
template <class T>
struct StridedRow {
  T* p;
  int64_t s;
  T& operator[](int64_t j) const { return p[j * s]; }
};

template <class T, class R>
T row_max(R x, int64_t c) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < c; ++j) m = std::max(m, x[j]);
  return m;
}

// d[j] = exp((x[j] - m) * inv_t); returns the sum in double.
template <class T, class R, class D>
double exp_row(R x, D d, int64_t c, T m, T inv_t) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < c; ++j) {
    const T e = exp_nonpos<T>((x[j] - m) * inv_t);
    d[j] = e;
    s += static_cast<double>(e);
  }
  return s;
}

struct CeRow {
  double loss;
  bool correct;
};

// One counted row: loss = logsumexp(x) - x[label]; d = (softmax(x) - onehot) * g.
template <class T, class R, class D>
CeRow ce_row(R x, D d, int64_t c, int32_t label, double g) {
  const T m = row_max<T>(x, c), xl = x[label];
  // The first maximum, as torch.argmax (c, matching no label, when the row holds NaN only).
  int64_t arg = c;
#pragma omp simd reduction(min : arg)
  for (int64_t j = 0; j < c; ++j) arg = std::min(arg, x[j] == m ? j : c);
  const double s = exp_row<T>(x, d, c, m, T(1));
  const T k = static_cast<T>(g / s);
#pragma omp simd
  for (int64_t j = 0; j < c; ++j) d[j] *= k;
  d[label] -= static_cast<T>(g);
  const double loss = std::log(s) + static_cast<double>(m) - static_cast<double>(xl);
  return {loss, arg == label};
}

// One row of Hinton KD: returns KL(p || q) with p = softmax(t/T), q = softmax(s/T), and writes
// d = c * (q - p). et is scratch for C values.
template <class T, class R, class D>
double kl_row(R s, R t, D d, T* et, int64_t c, double temp, double coef) {
  const T ms = row_max<T>(s, c), mt = row_max<T>(t, c);
  const T inv_t = static_cast<T>(1.0 / temp);
  const double ss = exp_row<T>(s, d, c, ms, inv_t);
  const double st = exp_row<T>(t, UnitRow<T>{et}, c, mt, inv_t);
  // sum_j p_j (log p_j - log q_j) = sum_j et_j ((t_j - mt) - (s_j - ms)) / (T st) + log(ss / st)
  double w = 0;
#pragma omp simd reduction(+ : w)
  for (int64_t j = 0; j < c; ++j)
    w += static_cast<double>(et[j]) *
         (static_cast<double>(t[j] - mt) - static_cast<double>(s[j] - ms));
  // c (es/ss - et/st) = (es - et ss/st) c/ss: exactly 0 when student and teacher agree, even
  // when the compiler contracts the product into a fused multiply-add.
  const T ratio = static_cast<T>(ss / st), k = static_cast<T>(coef / ss);
#pragma omp simd
  for (int64_t j = 0; j < c; ++j) d[j] = (d[j] - et[j] * ratio) * k;
  return w / (temp * st) + std::log(ss) - std::log(st);
}

// Rows per parallel chunk: about 16k elements of work each.
int64_t row_grain(int64_t c) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(c, 1));
}

double ordered_sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

}  // namespace

template <class T>
Ops::CeResult RefOps<T>::cross_entropy(const Tensor& logits, const Tensor& labels,
                                       int64_t ignore_index, double grad_scale, Tensor& dlogits) {
  WIN_CHECK(logits.dim() == 2, ErrorKind::Internal, "cross_entropy: logits ", logits.shape(),
            ", expected (N, C)");
  const int64_t n = logits.size(0), c = logits.size(1);
  WIN_CHECK(labels.dtype() == DType::I32 && labels.dim() == 1 && labels.size(0) == n,
            ErrorKind::Internal, "cross_entropy: labels ", labels.shape(), " (",
            dtype_name(labels.dtype()), ") for logits ", logits.shape());
  ref::check_same_shape(logits, dlogits, "cross_entropy gradient");
  const ref::View<int32_t> lab(labels);
  CeResult r;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t l = lab(i);
    if (l == ignore_index) continue;
    WIN_CHECK(l >= 0 && l < c, ErrorKind::Data, "cross_entropy: label ", l, " of row ", i,
              " is outside [0, ", c, ")");
    ++r.counted;
  }
  if (r.counted == 0) {
    dlogits.zero();
    return r;
  }
  const double g = grad_scale / static_cast<double>(r.counted);
  std::vector<double> row_loss(static_cast<size_t>(n), 0.0);
  std::vector<uint8_t> row_ok(static_cast<size_t>(n), 0);
  const ref::View<T> x(logits), d(dlogits);
  const bool unit = x.s[1] == 1 && d.s[1] == 1;
  parallel_for(n, row_grain(c), [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      const int32_t l = lab(i);
      T* xi = &x(i, 0);
      T* di = &d(i, 0);
      if (l == ignore_index) {
        for (int64_t j = 0; j < c; ++j) di[j * d.s[1]] = T(0);
        continue;
      }
      const CeRow cr =
          unit ? ce_row<T>(UnitRow<T>{xi}, UnitRow<T>{di}, c, l, g)
               : ce_row<T>(StridedRow<T>{xi, x.s[1]}, StridedRow<T>{di, d.s[1]}, c, l, g);
      row_loss[static_cast<size_t>(i)] = cr.loss;
      row_ok[static_cast<size_t>(i)] = cr.correct;
    }
  });
  r.loss = ordered_sum(row_loss) / static_cast<double>(r.counted);
  for (uint8_t ok : row_ok) r.correct += ok;
  return r;
}

template <class T>
double RefOps<T>::mse(const Tensor& x, const Tensor& target, double grad_scale, Tensor& dx) {
  ref::check_same_shape(x, target, "mse target");
  ref::check_same_shape(x, dx, "mse gradient");
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  const T k = static_cast<T>(2.0 * grad_scale / static_cast<double>(n));
  const T* px = x.data<T>();
  const T* pt = target.data<T>();
  T* pd = dx.data<T>();
  double sum = 0;
  if (x.strides() == target.strides() && x.strides() == dx.strides() && is_dense(x)) {
    // Fixed chunks, partial sums added in chunk order: independent of the thread count.
    constexpr int64_t kChunk = 8192;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
    parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t ch = c0; ch < c1; ++ch) {
        const int64_t b = ch * kChunk, e = std::min(n, b + kChunk);
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = b; i < e; ++i) {
          const T diff = px[i] - pt[i];
          pd[i] = k * diff;
          s += static_cast<double>(diff) * static_cast<double>(diff);
        }
        partial[static_cast<size_t>(ch)] = s;
      }
    });
    sum = ordered_sum(partial);
  } else {
    ref::for_each3(x.shape(), x.strides(), target.strides(), dx.strides(),
                   [&](int64_t, int64_t ox, int64_t ot, int64_t od) {
                     const T diff = px[ox] - pt[ot];
                     pd[od] = k * diff;
                     sum += static_cast<double>(diff) * static_cast<double>(diff);
                   });
  }
  return sum / static_cast<double>(n);
}

template <class T>
double RefOps<T>::kl_div(const Tensor& student, const Tensor& teacher, double temperature,
                         double grad_scale, Tensor& dstudent) {
  WIN_CHECK(student.dim() == 2, ErrorKind::Internal, "kl_div: student ", student.shape(),
            ", expected (N, C)");
  ref::check_same_shape(student, teacher, "kl_div teacher");
  ref::check_same_shape(student, dstudent, "kl_div gradient");
  WIN_CHECK(temperature > 0, ErrorKind::Internal, "kl_div: temperature ", temperature,
            " must be > 0");
  const int64_t n = student.size(0), c = student.size(1);
  if (n == 0) return 0.0;
  WIN_CHECK(c > 0, ErrorKind::Internal, "kl_div: no classes in ", student.shape());
  const double coef = grad_scale * temperature / static_cast<double>(n);
  std::vector<double> row_loss(static_cast<size_t>(n), 0.0);
  const ref::View<T> s(student), t(teacher), d(dstudent);
  const bool unit = s.s[1] == 1 && t.s[1] == 1 && d.s[1] == 1;
  parallel_for(n, row_grain(c), [&](int64_t r0, int64_t r1) {
    std::vector<T> et(static_cast<size_t>(c));
    for (int64_t i = r0; i < r1; ++i) {
      T* si = &s(i, 0);
      T* ti = &t(i, 0);
      T* di = &d(i, 0);
      row_loss[static_cast<size_t>(i)] =
          unit ? kl_row<T>(UnitRow<T>{si}, UnitRow<T>{ti}, UnitRow<T>{di}, et.data(), c,
                           temperature, coef)
               : kl_row<T>(StridedRow<T>{si, s.s[1]}, StridedRow<T>{ti, t.s[1]},
                           StridedRow<T>{di, d.s[1]}, et.data(), c, temperature, coef);
    }
  });
  return temperature * temperature * ordered_sum(row_loss) / static_cast<double>(n);
}

#define WIN_INSTANTIATE(T)                                                                       \
  template Ops::CeResult RefOps<T>::cross_entropy(const Tensor&, const Tensor&, int64_t, double, \
                                                  Tensor&);                                      \
  template double RefOps<T>::mse(const Tensor&, const Tensor&, double, Tensor&);                 \
  template double RefOps<T>::kl_div(const Tensor&, const Tensor&, double, double, Tensor&);
WIN_INSTANTIATE(float)
WIN_INSTANTIATE(double)
#undef WIN_INSTANTIATE

}  // namespace win::backend
