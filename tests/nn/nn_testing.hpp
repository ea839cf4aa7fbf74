// Test oracles for layers and losses:
//  - check_gradients: backward against central finite differences in double precision, for the
//    input and every parameter (flashlight/ggml style). L = sum(y * g) with a fixed random g.
//  - normalized_error: ||a - b|| / ||b|| (ggml's backend comparison), for f32 fast paths against
//    the f64 reference.
//  - copy_params: the same weights into two models (e.g. f64 reference and f32 backend).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/tensor.hpp"
#include "nn/module.hpp"

namespace win::testing_nn {

struct GradCheckOptions {
  double step = 1e-6;  // central difference step h
  double rtol = 1e-6;  // |fd - analytic| <= atol + rtol * max(|fd|, |analytic|)
  double atol = 1e-9;
  int max_per_tensor = 48;  // elements probed per tensor (evenly spread, all when fewer)
  bool check_input = true;  // false for integer inputs (token ids)
};

// Runs forward/backward of an f64 module on x and checks dL/dx and dL/dtheta; reports failures
// through gtest with the tensor name and element index. Returns the number of mismatches.
int check_gradients(nn::Module& m, const Tensor& x, nn::Context ctx,
                    const GradCheckOptions& opt = {}, uint64_t seed = 1);

// For a scalar function f of x with analytic gradient grad: the same finite-difference check.
int check_function_gradient(const std::function<double(const Tensor&)>& f, const Tensor& x,
                            const Tensor& grad, const GradCheckOptions& opt = {},
                            const std::string& what = "x");

double normalized_error(const Tensor& a, const Tensor& b);

// Copies every parameter and buffer of src into dst (same names and shapes; dtype converted).
void copy_params(nn::Module& src, nn::Module& dst);

// A tensor of normal(0, std) values (contiguous, f32 or f64) from a fixed seed.
Tensor randn(const Dims& shape, DType dtype, uint64_t seed, double std = 1.0);

// A channels-last copy of a 4-d tensor.
Tensor channels_last(const Tensor& x);

// check_gradients clones its input into a contiguous tensor; this wrapper hands its child a
// channels-last copy instead, so that layout's index arithmetic is what gets differentiated, and
// checks that dx keeps the input's layout.
class ChannelsLastInput final : public nn::Module {
 public:
  explicit ChannelsLastInput(std::unique_ptr<nn::Module> m);
  Tensor forward(const Tensor& x, nn::Context& ctx) override;
  Tensor backward(const Tensor& dy, nn::Context& ctx) override;

 private:
  nn::Module& child_;
  Tensor x_;
};

// The element at logical row-major position flat (any strides).
double get_flat(const Tensor& t, int64_t flat);
void set_flat(Tensor& t, int64_t flat, double v);

}  // namespace win::testing_nn
