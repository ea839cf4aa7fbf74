// Reference layer normalisation over the last dimension of x (rows, D), any strides, statistics
// and sums in double. Rows are independent, so forward and dx run rows in parallel; dgamma and
// dbeta are sums over rows, so they run columns in parallel and add rows in order, which keeps
// them identical for any thread count.
#include <cmath>

#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::backend {

namespace {

template <class T>
class RefLayerNorm final : public LayerNormOp {
 public:
  void forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& mean,
               Tensor& var, Tensor& y) override {
    check(x, gamma, beta, mean, var);
    ref::check_same_shape(x, y, "layernorm forward");
    const int64_t rows = x.size(0), d = x.size(1);
    const ref::View<T> X(x), Y(y), G(gamma), B(beta), M(mean), V(var);
    parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        double s = 0;
        for (int64_t j = 0; j < d; ++j) s += static_cast<double>(X(r, j));
        const double mu = d > 0 ? s / static_cast<double>(d) : 0.0;
        double ss = 0;  // two passes: no cancellation when |mean| >> std
        for (int64_t j = 0; j < d; ++j) {
          const double c = static_cast<double>(X(r, j)) - mu;
          ss += c * c;
        }
        const double v = d > 0 ? ss / static_cast<double>(d) : 0.0;
        const double rstd = 1.0 / std::sqrt(v + eps);
        for (int64_t j = 0; j < d; ++j)
          Y(r, j) = static_cast<T>((static_cast<double>(X(r, j)) - mu) * rstd *
                                       static_cast<double>(G(j)) +
                                   static_cast<double>(B(j)));
        M(r) = static_cast<T>(mu);
        V(r) = static_cast<T>(v);
      }
    });
  }

  // With xhat = (x - mean) * rstd and g = dy * gamma:
  //   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), dgamma += sum dy * xhat, dbeta += sum dy.
  void backward(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& mean,
                const Tensor& var, double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta) override {
    check(x, gamma, dgamma, mean, var);
    ref::check_same_shape(x, dy, "layernorm backward dy");
    ref::check_same_shape(x, dx, "layernorm backward dx");
    ref::check_shape(dbeta, gamma.shape(), "layernorm dbeta");
    const int64_t rows = x.size(0), d = x.size(1);
    const ref::View<T> X(x), D(dy), DX(dx), G(gamma), M(mean), V(var), DG(dgamma), DB(dbeta);
    auto rstd = [&](int64_t r) { return 1.0 / std::sqrt(static_cast<double>(V(r)) + eps); };
    parallel_for(rows, 8, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const double mu = static_cast<double>(M(r)), rs = rstd(r);
        double sg = 0, sgx = 0;
        for (int64_t j = 0; j < d; ++j) {
          const double g = static_cast<double>(D(r, j)) * static_cast<double>(G(j));
          sg += g;
          sgx += g * (static_cast<double>(X(r, j)) - mu) * rs;
        }
        const double mg = sg / static_cast<double>(d), mgx = sgx / static_cast<double>(d);
        for (int64_t j = 0; j < d; ++j) {
          const double g = static_cast<double>(D(r, j)) * static_cast<double>(G(j));
          const double xhat = (static_cast<double>(X(r, j)) - mu) * rs;
          DX(r, j) = static_cast<T>(rs * (g - mg - xhat * mgx));
        }
      }
    });
    parallel_for(d, 16, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        double sg = 0, sb = 0;
        for (int64_t r = 0; r < rows; ++r) {
          const double dyv = static_cast<double>(D(r, j));
          sg += dyv * (static_cast<double>(X(r, j)) - static_cast<double>(M(r))) * rstd(r);
          sb += dyv;
        }
        DG(j) = static_cast<T>(static_cast<double>(DG(j)) + sg);
        DB(j) = static_cast<T>(static_cast<double>(DB(j)) + sb);
      }
    });
  }

 private:
  static void check(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                    const Tensor& var) {
    WIN_CHECK(x.dim() == 2, ErrorKind::Internal, "layernorm: x must be (rows, D), got ", x.shape());
    ref::check_shape(gamma, {x.size(1)}, "layernorm gamma");
    ref::check_shape(beta, {x.size(1)}, "layernorm beta");
    ref::check_shape(mean, {x.size(0)}, "layernorm mean");
    ref::check_shape(var, {x.size(0)}, "layernorm var");
  }
};

}  // namespace

template <class T>
std::unique_ptr<LayerNormOp> RefOps<T>::layernorm() {
  return std::make_unique<RefLayerNorm<T>>();
}
template std::unique_ptr<LayerNormOp> RefOps<float>::layernorm();
template std::unique_ptr<LayerNormOp> RefOps<double>::layernorm();

}  // namespace win::backend
