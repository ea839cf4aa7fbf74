// Reference element-wise ops, bias add/grad, sum of squares and global average pooling. These
// loops also serve CpuOps for f32: contiguous fast paths vectorise, parallel_for threads them.
#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

#include <type_traits>

namespace win::backend {

namespace {
constexpr int64_t kGrain = 1 << 14;

// f(y_i, a_i, b_i) over same-shaped tensors, fast when all three are dense in the same order.
template <class T, class F>
void map3(const Tensor& a, const Tensor& b, Tensor& y, F&& f) {
  if (a.strides() == y.strides() && b.strides() == y.strides() && is_dense(y)) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.data<T>();
    parallel_for(y.numel(), kGrain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) py[i] = f(pa[i], pb[i], py[i]);
    });
    return;
  }
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* py = y.data<T>();
  ref::for_each3(
      y.shape(), a.strides(), b.strides(), y.strides(),
      [&](int64_t, int64_t oa, int64_t ob, int64_t oy) { py[oy] = f(pa[oa], pb[ob], py[oy]); });
}
}  // namespace

template <class T>
void RefOps<T>::add(const Tensor& a, const Tensor& b, Tensor& y) {
  ref::check_same_shape(a, y, "add");
  ref::check_same_shape(b, y, "add");
  map3<T>(a, b, y, [](T x, T z, T) { return static_cast<T>(x + z); });
}

template <class T>
void RefOps<T>::add_relu(const Tensor& a, const Tensor& b, Tensor& y) {
  ref::check_same_shape(a, y, "add_relu");
  ref::check_same_shape(b, y, "add_relu");
  map3<T>(a, b, y, [](T x, T z, T) {
    const T s = static_cast<T>(x + z);
    return s > T(0) ? s : T(0);
  });
}

template <class T>
void RefOps<T>::relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  ref::check_same_shape(y, dx, "relu_backward");
  ref::check_same_shape(dy, dx, "relu_backward");
  map3<T>(y, dy, dx, [](T out, T g, T) { return out > T(0) ? g : T(0); });
}

template <class T>
void RefOps<T>::axpy(double alpha, const Tensor& x, Tensor& y) {
  ref::check_same_shape(x, y, "axpy");
  const T al = static_cast<T>(alpha);
  map3<T>(x, x, y, [al](T v, T, T old) { return static_cast<T>(old + al * v); });
}

template <class T>
void RefOps<T>::scale(double alpha, Tensor& x) {
  const T al = static_cast<T>(alpha);
  map3<T>(x, x, x, [al](T v, T, T) { return static_cast<T>(al * v); });
}

template <class T>
void RefOps<T>::copy(const Tensor& x, Tensor& y) {
  ref::check_same_shape(x, y, "copy");
  map3<T>(x, x, y, [](T v, T, T) { return v; });
}

namespace {
template <class D>
D converted(double v) {
  if constexpr (std::is_same_v<D, bf16>)
    return bf16(static_cast<float>(v));  // f64 -> bf16 through f32 (exact for f32 sources)
  else
    return static_cast<D>(v);
}
template <class S>
double widened(S v) {
  return static_cast<double>(static_cast<std::conditional_t<std::is_same_v<S, bf16>, float, S>>(v));
}
}  // namespace

// Not specific to T: any pair of the floating dtypes, element by element over any layouts.
template <class T>
void RefOps<T>::convert(const Tensor& x, Tensor& y) {
  ref::check_same_shape(x, y, "convert");
  auto floating = [](DType t) { return t == DType::F32 || t == DType::F64 || t == DType::BF16; };
  WIN_CHECK(floating(x.dtype()) && floating(y.dtype()) && x.device() == Device::CPU &&
                y.device() == Device::CPU,
            ErrorKind::Internal, "convert: ", dtype_name(x.dtype()), " on ",
            device_name(x.device()), " -> ", dtype_name(y.dtype()), " on ", device_name(y.device()),
            " (host f32, f64 and bf16 only)");
  dispatch_dtype(x.dtype(), [&](auto xs) {
    using S = decltype(xs);
    dispatch_dtype(y.dtype(), [&](auto ys) {
      using D = decltype(ys);
      if constexpr ((std::is_floating_point_v<S> || std::is_same_v<S, bf16>)&&(
                        std::is_floating_point_v<D> || std::is_same_v<D, bf16>)) {
        const S* px = x.data<S>();
        D* py = y.data<D>();
        ref::for_each3(y.shape(), x.strides(), x.strides(), y.strides(),
                       [&](int64_t, int64_t ox, int64_t, int64_t oy) {
                         py[oy] = converted<D>(widened(px[ox]));
                       });
      }
    });
  });
}

template <class T>
void RefOps<T>::add_bias(const Tensor& bias, Tensor& y) {
  WIN_CHECK(y.dim() == 2 && bias.dim() == 1 && bias.size(0) == y.size(1), ErrorKind::Internal,
            "add_bias: bias ", bias.shape(), " for ", y.shape());
  const ref::View<T> Y(y), B(bias);
  const int64_t n = y.size(1);
  parallel_for(y.size(0), 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < n; ++j) Y(r, j) += B(j);
  });
}

namespace {

// Column sums of a (rows, cols) matrix produced row by row: rows are cut into fixed blocks whose
// partial sums (double) are added in block order, so the result does not depend on the thread
// count, while each thread streams whole rows (vectorised over columns). make_row(r, out) writes
// row r's values into out (and may write other outputs as a side effect).
template <class T, class MakeRow>
void blocked_column_sums(int64_t rows, int64_t cols, MakeRow&& make_row, double* sums) {
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (rows + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks * cols), 0.0);
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> row(static_cast<size_t>(cols));
    for (int64_t b = b0; b < b1; ++b) {
      double* acc = partial.data() + b * cols;
      for (int64_t r = b * kBlock; r < std::min(rows, (b + 1) * kBlock); ++r) {
        make_row(r, row.data());
        for (int64_t j = 0; j < cols; ++j)
          acc[j] += static_cast<double>(row[static_cast<size_t>(j)]);
      }
    }
  });
  for (int64_t j = 0; j < cols; ++j) sums[j] = 0;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t j = 0; j < cols; ++j) sums[j] += partial[static_cast<size_t>(b * cols + j)];
}

}  // namespace

template <class T>
void RefOps<T>::bias_grad(const Tensor& dy, Tensor& db) {
  WIN_CHECK(dy.dim() == 2 && db.dim() == 1 && db.size(0) == dy.size(1), ErrorKind::Internal,
            "bias_grad: db ", db.shape(), " for ", dy.shape());
  const ref::View<T> D(dy), G(db);
  const int64_t cols = dy.size(1);
  std::vector<double> sums(static_cast<size_t>(cols));
  blocked_column_sums<T>(
      dy.size(0), cols,
      [&](int64_t r, T* out) {
        if (dy.stride(1) == 1) {
          const T* d = &D(r, 0);
          for (int64_t j = 0; j < cols; ++j) out[j] = d[j];
        } else {
          for (int64_t j = 0; j < cols; ++j) out[j] = D(r, j);
        }
      },
      sums.data());
  for (int64_t j = 0; j < cols; ++j)
    G(j) = static_cast<T>(static_cast<double>(G(j)) + sums[static_cast<size_t>(j)]);
}

template <class T>
void RefOps<T>::relu_bias_backward(const Tensor& y, const Tensor& dy, Tensor& dz, Tensor& db) {
  ref::check_same_shape(y, dy, "relu_bias_backward");
  ref::check_same_shape(y, dz, "relu_bias_backward");
  WIN_CHECK(y.dim() == 2, ErrorKind::Internal, "relu_bias_backward of ", y.shape());
  const int64_t cols = y.size(1);
  const ref::View<T> Y(y), D(dy), Z(dz);
  if (!db.defined()) {
    relu_backward(y, dy, dz);
    return;
  }
  WIN_CHECK(db.dim() == 1 && db.size(0) == cols, ErrorKind::Internal, "relu_bias_backward: db ",
            db.shape(), " for ", y.shape());
  std::vector<double> sums(static_cast<size_t>(cols));
  blocked_column_sums<T>(
      y.size(0), cols,
      [&](int64_t r, T* out) {
        if (y.stride(1) == 1 && dy.stride(1) == 1 && dz.stride(1) == 1) {
          const T* py = &Y(r, 0);
          const T* pd = &D(r, 0);
          T* pz = &Z(r, 0);
          for (int64_t j = 0; j < cols; ++j) {
            const T v = py[j] > T(0) ? pd[j] : T(0);
            pz[j] = v;
            out[j] = v;
          }
        } else {
          for (int64_t j = 0; j < cols; ++j) {
            const T v = Y(r, j) > T(0) ? D(r, j) : T(0);
            Z(r, j) = v;
            out[j] = v;
          }
        }
      },
      sums.data());
  const ref::View<T> G(db);
  for (int64_t j = 0; j < cols; ++j)
    G(j) = static_cast<T>(static_cast<double>(G(j)) + sums[static_cast<size_t>(j)]);
}

template <class T>
double RefOps<T>::sum_squares(const Tensor& x) {
  WIN_CHECK(is_dense(x), ErrorKind::Internal, "sum_squares of a non-dense tensor");
  const T* p = x.data<T>();
  return ref::chunked_sum(x.numel(), [p](int64_t i) {
    const double v = static_cast<double>(p[i]);
    return v * v;
  });
}

template <class T>
void RefOps<T>::global_avg_pool(const Tensor& x, Tensor& y) {
  WIN_CHECK(x.dim() == 4, ErrorKind::Internal, "global_avg_pool of ", x.shape());
  ref::check_shape(y, {x.size(0), x.size(1)}, "global_avg_pool output");
  const int64_t h = x.size(2), w = x.size(3);
  const ref::View<T> X(x), Y(y);
  const double inv = 1.0 / static_cast<double>(h * w);
  parallel_for(x.size(0) * x.size(1), 8, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t n = i / x.size(1), c = i % x.size(1);
      double s = 0;
      for (int64_t a = 0; a < h; ++a)
        for (int64_t b = 0; b < w; ++b) s += static_cast<double>(X(n, c, a, b));
      Y(n, c) = static_cast<T>(s * inv);
    }
  });
}

template <class T>
void RefOps<T>::global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  WIN_CHECK(dx.dim() == 4, ErrorKind::Internal, "global_avg_pool_backward into ", dx.shape());
  ref::check_shape(dy, {dx.size(0), dx.size(1)}, "global_avg_pool_backward dy");
  const int64_t h = dx.size(2), w = dx.size(3);
  const ref::View<T> D(dy), X(dx);
  const double inv = 1.0 / static_cast<double>(h * w);
  parallel_for(dx.size(0), 1, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t a = 0; a < h; ++a)
        for (int64_t b = 0; b < w; ++b)
          for (int64_t c = 0; c < dx.size(1); ++c)
            X(n, c, a, b) = static_cast<T>(static_cast<double>(D(n, c)) * inv);
  });
}

#define WIN_INSTANTIATE(T)                                                                     \
  template void RefOps<T>::add(const Tensor&, const Tensor&, Tensor&);                         \
  template void RefOps<T>::add_relu(const Tensor&, const Tensor&, Tensor&);                    \
  template void RefOps<T>::relu_backward(const Tensor&, const Tensor&, Tensor&);               \
  template void RefOps<T>::axpy(double, const Tensor&, Tensor&);                               \
  template void RefOps<T>::scale(double, Tensor&);                                             \
  template void RefOps<T>::copy(const Tensor&, Tensor&);                                       \
  template void RefOps<T>::convert(const Tensor&, Tensor&);                                    \
  template void RefOps<T>::add_bias(const Tensor&, Tensor&);                                   \
  template void RefOps<T>::bias_grad(const Tensor&, Tensor&);                                  \
  template void RefOps<T>::relu_bias_backward(const Tensor&, const Tensor&, Tensor&, Tensor&); \
  template double RefOps<T>::sum_squares(const Tensor&);                                       \
  template void RefOps<T>::global_avg_pool(const Tensor&, Tensor&);                            \
  template void RefOps<T>::global_avg_pool_backward(const Tensor&, Tensor&);
WIN_INSTANTIATE(float)
WIN_INSTANTIATE(double)
#undef WIN_INSTANTIATE

}  // namespace win::backend
