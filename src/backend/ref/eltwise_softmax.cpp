// Reference activations (ReLU, erf-GELU) and softmax over the last dimension.
#include <cmath>

#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::backend {

namespace {

template <class T>
class RefEltwise final : public EltwiseOp {
 public:
  explicit RefEltwise(Eltwise kind) : kind_(kind) {}

  void forward(const Tensor& x, Tensor& y) override {
    ref::check_same_shape(x, y, "eltwise forward");
    const T* px = x.data<T>();
    T* py = y.data<T>();
    ref::for_each3(x.shape(), x.strides(), x.strides(), y.strides(),
                   [&](int64_t, int64_t ox, int64_t, int64_t oy) { py[oy] = f(px[ox]); });
  }

  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override {
    ref::check_same_shape(x, dy, "eltwise backward");
    ref::check_same_shape(x, dx, "eltwise backward");
    const T* px = x.data<T>();
    const T* pd = dy.data<T>();
    T* pg = dx.data<T>();
    ref::for_each3(x.shape(), x.strides(), dy.strides(), dx.strides(),
                   [&](int64_t, int64_t ox, int64_t od, int64_t og) {
                     pg[og] = static_cast<T>(df(px[ox]) * static_cast<double>(pd[od]));
                   });
  }

 private:
  T f(T v) const {
    const double x = static_cast<double>(v);
    if (kind_ == Eltwise::Relu) return static_cast<T>(x > 0 ? x : 0.0);
    if (kind_ == Eltwise::Tanh) return static_cast<T>(std::tanh(x));
    return static_cast<T>(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))));
  }
  double df(T v) const {
    const double x = static_cast<double>(v);
    if (kind_ == Eltwise::Relu) return x > 0 ? 1.0 : 0.0;
    if (kind_ == Eltwise::Tanh) return 1.0 - std::tanh(x) * std::tanh(x);
    const double cdf = 0.5 * (1.0 + std::erf(x / std::sqrt(2.0)));
    const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
    return cdf + x * pdf;
  }
  Eltwise kind_;
};

template <class T>
class RefSoftmax final : public SoftmaxOp {
 public:
  void forward(const Tensor& x, Tensor& y) override {
    ref::check_same_shape(x, y, "softmax forward");
    Tensor xc = x.contiguous();
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    const T* px = xc.data<T>();
    T* po = out.data<T>();
    const int64_t d = x.size(-1);
    const int64_t rows = d == 0 ? 0 : x.numel() / d;
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = px + r * d;
      double mx = -INFINITY;
      for (int64_t j = 0; j < d; ++j) mx = std::max(mx, static_cast<double>(xr[j]));
      double sum = 0;
      for (int64_t j = 0; j < d; ++j) sum += std::exp(static_cast<double>(xr[j]) - mx);
      for (int64_t j = 0; j < d; ++j)
        po[r * d + j] = static_cast<T>(std::exp(static_cast<double>(xr[j]) - mx) / sum);
    }
    y.copy_from(out);
  }

  void backward(const Tensor& y, const Tensor& dy, Tensor& dx) override {
    ref::check_same_shape(y, dy, "softmax backward");
    ref::check_same_shape(y, dx, "softmax backward");
    Tensor yc = y.contiguous(), dyc = dy.contiguous();
    Tensor out = Tensor::empty(y.shape(), y.dtype());
    const T* py = yc.data<T>();
    const T* pd = dyc.data<T>();
    T* po = out.data<T>();
    const int64_t d = y.size(-1);
    const int64_t rows = d == 0 ? 0 : y.numel() / d;
    for (int64_t r = 0; r < rows; ++r) {
      double dot = 0;
      for (int64_t j = 0; j < d; ++j)
        dot += static_cast<double>(py[r * d + j]) * static_cast<double>(pd[r * d + j]);
      for (int64_t j = 0; j < d; ++j)
        po[r * d + j] = static_cast<T>(static_cast<double>(py[r * d + j]) *
                                       (static_cast<double>(pd[r * d + j]) - dot));
    }
    dx.copy_from(out);
  }
};

}  // namespace

template <class T>
std::unique_ptr<EltwiseOp> RefOps<T>::eltwise(Eltwise kind) {
  return std::make_unique<RefEltwise<T>>(kind);
}

template <class T>
std::unique_ptr<SoftmaxOp> RefOps<T>::softmax() {
  return std::make_unique<RefSoftmax<T>>();
}

template std::unique_ptr<EltwiseOp> RefOps<float>::eltwise(Eltwise);
template std::unique_ptr<EltwiseOp> RefOps<double>::eltwise(Eltwise);
template std::unique_ptr<SoftmaxOp> RefOps<float>::softmax();
template std::unique_ptr<SoftmaxOp> RefOps<double>::softmax();

}  // namespace win::backend
