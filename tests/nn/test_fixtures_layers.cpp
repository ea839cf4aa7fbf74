// Every layer, loss and optimizer against PyTorch (tests/fixtures/layers.h5, written in float64 by
// tools/make_fixtures.py): outputs, input gradients, parameter gradients and buffers. Tolerances
// are normalised errors (||ours - torch|| / ||torch||): kF64Tol for win's f64 reference path
// (only summation order differs from PyTorch), kF32Tol for the f32 oneDNN backend (24-bit
// mantissas over sums of at most a few hundred terms).
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "data/hdf5.hpp"
#include "nn/activation.hpp"
#include "nn/attention.hpp"
#include "nn/batchnorm.hpp"
#include "nn/conv2d.hpp"
#include "nn/embedding.hpp"
#include "nn/layernorm.hpp"
#include "nn/linear.hpp"
#include "nn/pool.hpp"
#include "nn_testing.hpp"

using namespace win;
using namespace win::nn;
using namespace win::testing_nn;

namespace {

constexpr double kF64Tol = 1e-12;
constexpr double kF32Tol = 1e-5;
const std::string kFixtures = std::string(WIN_SOURCE_DIR) + "/tests/fixtures/layers.h5";

h5::Group fixture(const std::string& name) {
  static h5::File f = h5::File::open(kFixtures);
  return f.root().group(name);
}

// Normalised error, except against a reference that is zero up to round-off (attention's key bias
// gets no gradient: softmax ignores a per-row constant), where the norm of ours must be tiny.
double error_vs(const Tensor& ours, const Tensor& torch, double tol) {
  double norm = 0;
  for (double v : torch.to_vector()) norm += v * v;
  if (std::sqrt(norm) < 1e-9) {
    double ours_norm = 0;
    for (double v : ours.to_vector()) ours_norm += v * v;
    return std::sqrt(ours_norm) < 1e-6 ? 0.0 : 2 * tol;
  }
  return normalized_error(ours, torch);
}

using Factory = std::function<std::unique_ptr<Module>(const h5::Group&, DType)>;

// Runs one layer case in dtype and compares everything the fixture holds.
void check_layer_case(const std::string& name, const Factory& make, DType dtype) {
  SCOPED_TRACE(name + (dtype == DType::F64 ? " (f64)" : " (f32)"));
  const double tol = dtype == DType::F64 ? kF64Tol : kF32Tol;
  const h5::Group g = fixture(name);
  auto m = make(g, dtype);
  m->for_each_param([&](const std::string& n, Param& p) {
    p.value.copy_from(g.read("params/" + n));
    p.grad.zero();
  });
  if (g.has("buffers_before"))
    m->for_each_buffer(
        [&](const std::string& n, Tensor& t) { t.copy_from(g.read("buffers_before/" + n)); });
  Tensor x = g.read("input");
  if (x.dtype() == DType::F64) x = x.to(dtype);
  Context ctx;
  ctx.training = !g.has_attr("training") || g.attr<int64_t>("training") != 0;
  if (auto* att = dynamic_cast<SelfAttention*>(m.get())) att->set_mask(g.read("mask"));
  const Tensor y = m->forward(x, ctx).clone();
  EXPECT_LT(normalized_error(y, g.read("output")), tol) << "output";
  const Tensor dx = m->backward(g.read("grad_output").to(dtype), ctx);
  if (g.has("grad_input")) {
    EXPECT_LT(normalized_error(dx, g.read("grad_input")), tol) << "grad_input";
  }
  int params = 0;
  m->for_each_param([&](const std::string& n, Param& p) {
    ++params;
    EXPECT_LT(error_vs(p.grad, g.read("grads/" + n), tol), tol) << "grad of " << n;
  });
  EXPECT_EQ(params, g.has("params") ? static_cast<int>(g.group("params").list().size()) : 0);
  if (g.has("buffers"))
    m->for_each_buffer([&](const std::string& n, Tensor& t) {
      EXPECT_LT(normalized_error(t, g.read("buffers/" + n)), tol) << "buffer " << n;
    });
}

void check_both(const std::string& name, const Factory& make) {
  check_layer_case(name, make, DType::F64);
  check_layer_case(name, make, DType::F32);
}

int64_t ia(const h5::Group& g, const char* k) {
  return g.attr<int64_t>(k);
}

}  // namespace

TEST(TorchFixtures, Linear) {
  for (const char* c : {"linear", "linear_nobias"})
    check_both(c, [](const h5::Group& g, DType t) {
      return std::make_unique<Linear>(ia(g, "in"), ia(g, "out"), ia(g, "bias") != 0, t);
    });
}

TEST(TorchFixtures, Conv2d) {
  for (const char* c :
       {"conv3x3_s1_p1", "conv3x3_s2_p1_nobias", "conv1x1_s2_nobias", "conv7x7_s2_p3"})
    check_both(c, [](const h5::Group& g, DType t) {
      return std::make_unique<Conv2d>(ia(g, "in"), ia(g, "out"), ia(g, "kernel"), ia(g, "stride"),
                                      ia(g, "padding"), ia(g, "bias") != 0, t);
    });
}

TEST(TorchFixtures, BatchNorm2dTrainAndEval) {
  for (const char* c : {"batchnorm_train", "batchnorm_eval"})
    check_both(c, [](const h5::Group& g, DType t) {
      return std::make_unique<BatchNorm2d>(ia(g, "channels"), g.attr<double>("eps"),
                                           g.attr<double>("momentum"), t);
    });
}

TEST(TorchFixtures, Activations) {
  const std::map<std::string, backend::Eltwise> kinds = {{"relu", backend::Eltwise::Relu},
                                                         {"gelu", backend::Eltwise::Gelu},
                                                         {"tanh", backend::Eltwise::Tanh}};
  for (const auto& [c, k] : kinds)
    check_both(c,
               [k = k](const h5::Group&, DType t) { return std::make_unique<Activation>(k, t); });
}

TEST(TorchFixtures, Pooling) {
  check_both("maxpool_k3_s2_p1", [](const h5::Group& g, DType t) {
    return std::make_unique<MaxPool2d>(ia(g, "kernel"), ia(g, "stride"), ia(g, "padding"), t);
  });
  for (const char* c : {"avgpool_k2_s2", "avgpool_k3_s2_p1"})
    check_both(c, [](const h5::Group& g, DType t) {
      return std::make_unique<AvgPool2d>(ia(g, "kernel"), ia(g, "stride"), ia(g, "padding"), t);
    });
  check_both("global_avg_pool",
             [](const h5::Group&, DType t) { return std::make_unique<GlobalAvgPool>(t); });
}

TEST(TorchFixtures, LayerNormEmbeddingAttention) {
  check_both("layernorm", [](const h5::Group& g, DType t) {
    return std::make_unique<LayerNorm>(ia(g, "dim"), g.attr<double>("eps"), t);
  });
  check_both("embedding", [](const h5::Group& g, DType t) {
    return std::make_unique<Embedding>(ia(g, "vocab"), ia(g, "dim"), 1.0, t);
  });
  check_both("attention", [](const h5::Group& g, DType t) {
    return std::make_unique<SelfAttention>(ia(g, "hidden"), ia(g, "heads"), 0.0, 1, t);
  });
}

TEST(TorchFixtures, Losses) {
  for (DType dt : {DType::F64, DType::F32}) {
    SCOPED_TRACE(dt == DType::F64 ? "f64" : "f32");
    const double tol = dt == DType::F64 ? kF64Tol : kF32Tol;
    auto& ops = backend::ops_for(Device::CPU, dt);
    {
      const h5::Group g = fixture("cross_entropy");
      const Tensor x = g.read("input").to(dt);
      Tensor dx = Tensor::empty(x.shape(), dt);
      const auto r =
          ops.cross_entropy(x, g.read("labels"), g.attr<int64_t>("ignore_index"), 1.0, dx);
      EXPECT_NEAR(r.loss, g.read("loss").to_vector()[0], tol * 10);
      EXPECT_LT(normalized_error(dx, g.read("grad_input")), tol);
    }
    {
      const h5::Group g = fixture("mse");
      const Tensor x = g.read("input").to(dt);
      Tensor dx = Tensor::empty(x.shape(), dt);
      EXPECT_NEAR(ops.mse(x, g.read("target").to(dt), 1.0, dx), g.read("loss").to_vector()[0],
                  tol * 10);
      EXPECT_LT(normalized_error(dx, g.read("grad_input")), tol);
    }
    {
      const h5::Group g = fixture("kl_div");
      const Tensor x = g.read("input").to(dt);
      Tensor dx = Tensor::empty(x.shape(), dt);
      const double l =
          ops.kl_div(x, g.read("target").to(dt), g.attr<double>("temperature"), 1.0, dx);
      EXPECT_NEAR(l, g.read("loss").to_vector()[0], tol * 10);
      EXPECT_LT(normalized_error(dx, g.read("grad_input")), tol);
    }
  }
}

TEST(TorchFixtures, OptimizerSteps) {
  for (DType dt : {DType::F64, DType::F32}) {
    auto& ops = backend::ops_for(Device::CPU, dt);
    for (const char* c : {"sgd_momentum", "sgd_nesterov", "adamw"}) {
      SCOPED_TRACE(std::string(c) + (dt == DType::F64 ? " f64" : " f32"));
      const double tol = dt == DType::F64 ? kF64Tol : kF32Tol;
      const h5::Group g = fixture(c);
      Tensor p = g.read("param0").to(dt);
      const Tensor grads = g.read("grads"), params = g.read("params");
      Tensor s1 = Tensor::zeros(p.shape(), dt), s2 = Tensor::zeros(p.shape(), dt);
      for (int64_t step = 0; step < grads.size(0); ++step) {
        const Tensor grad = grads.select(0, step).to(dt);
        if (std::string(c) == "adamw") {
          ops.adamw_update(p, grad, s1, s2, g.attr<double>("lr"), g.attr<double>("beta1"),
                           g.attr<double>("beta2"), g.attr<double>("eps"),
                           g.attr<double>("weight_decay"), step + 1);
          EXPECT_LT(normalized_error(s1, g.read("exp_avg").select(0, step)), tol);
          EXPECT_LT(normalized_error(s2, g.read("exp_avg_sq").select(0, step)), tol);
        } else {
          ops.sgd_update(p, grad, s1, g.attr<double>("lr"), g.attr<double>("momentum"),
                         g.attr<int64_t>("nesterov") != 0, g.attr<double>("weight_decay"),
                         step == 0);
          EXPECT_LT(normalized_error(s1, g.read("momentum_buffer").select(0, step)), tol);
        }
        EXPECT_LT(normalized_error(p, params.select(0, step)), tol) << "step " << step;
      }
    }
  }
}
