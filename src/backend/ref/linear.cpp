// Reference fused Linear forward: gemm, bias, optional ReLU as three plain steps.
#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::backend {

namespace {

class RefLinear final : public LinearOp {
 public:
  RefLinear(Ops& ops, bool relu) : ops_(ops), relu_(relu) {}
  void forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) override {
    ops_.gemm(false, true, 1.0, x, w, 0.0, y);
    if (b.defined()) ops_.add_bias(b, y);
    if (relu_) ops_.relu_backward(y, y, y);  // max(y, 0): keep y where it is positive
  }

 private:
  Ops& ops_;
  bool relu_;
};

}  // namespace

template <class T>
std::unique_ptr<LinearOp> RefOps<T>::linear(bool fuse_relu) {
  return std::make_unique<RefLinear>(*this, fuse_relu);
}

template std::unique_ptr<LinearOp> RefOps<float>::linear(bool);
template std::unique_ptr<LinearOp> RefOps<double>::linear(bool);

}  // namespace win::backend
