// Three full training steps of tiny MLP, ResNet and BERT models against PyTorch
// (tests/fixtures/models.h5 from tools/make_fixtures.py): same initial weights and batches; after
// every step the loss, every parameter, the optimizer state and BatchNorm's running statistics
// must agree. Tolerances (normalised errors): kF64Tol for the f64 path; for the f32 oneDNN backend,
// whose round-off compounds over three forward/backward/update steps, a tolerance per model:
//  - MLP and BERT: kF32Tol.
//  - ResNet: kF32TolResNet. Its last stage normalises 4 x 2 x 2 = 16 values per channel, and
//    batch normalisation divides the f32 round-off of x - mean by a small standard deviation.
//  - BERT's attention key biases are skipped in f32: their gradient is zero in exact arithmetic
//    (softmax ignores a per-row constant), so it is pure round-off, which AdamW's m / sqrt(v)
//    turns into a full-size step of arbitrary sign. In f64 they are compared like the rest.
#include <gtest/gtest.h>

#include <cmath>

#include "data/hdf5.hpp"
#include "models/bert.hpp"
#include "models/mlp.hpp"
#include "models/resnet.hpp"
#include "nn/loss.hpp"
#include "nn/param_store.hpp"
#include "nn_testing.hpp"
#include "train/optimizer.hpp"

using namespace win;
using namespace win::testing_nn;

namespace {

constexpr double kF64Tol = 1e-10;
constexpr double kF32Tol = 2e-5;
constexpr double kF32TolResNet = 1e-4;

h5::Group fixture(const std::string& name) {
  static h5::File f = h5::File::open(std::string(WIN_SOURCE_DIR) + "/tests/fixtures/models.h5");
  return f.root().group(name);
}

config::OptimConfig optim_of(const h5::Group& g) {
  config::OptimConfig o;
  o.optimizer = g.attr<std::string>("optimizer");
  o.lr = g.attr<double>("lr");
  o.weight_decay = g.attr<double>("weight_decay");
  if (o.optimizer == "sgd") {
    o.momentum = g.attr<double>("momentum");
    o.nesterov = g.has_attr("nesterov") && g.attr<int64_t>("nesterov") != 0;
  }
  return o;  // no_decay keeps win's default: bn, ln, bias (the fixture's param groups)
}

// step(model, batch group) -> loss, after zeroed grads; backward done inside.
using StepFn = std::function<double(models::Model&, const h5::Group&, DType)>;

void run_case(const std::string& name, std::unique_ptr<models::Model> model, DType dt,
              const StepFn& step, double f32_tol = kF32Tol, const std::string& f32_skip = "") {
  SCOPED_TRACE(name + (dt == DType::F64 ? " f64" : " f32"));
  const double tol = dt == DType::F64 ? kF64Tol : f32_tol;
  auto skipped = [&](const std::string& param) {
    return dt == DType::F32 && !f32_skip.empty() && param.find(f32_skip) != std::string::npos;
  };
  const h5::Group g = fixture(name);
  nn::ParamStore store(*model);
  for (const auto& e : store.entries()) e.param->value.copy_from(g.read("params0/" + e.name));
  EXPECT_EQ(store.entries().size(), g.group("params0").list().size());
  auto opt = train::make_optimizer(optim_of(g), store);
  for (int k = 0; k < 3; ++k) {
    SCOPED_TRACE("step " + std::to_string(k));
    store.zero_grad();
    const double loss = step(*model, g.group("batch" + std::to_string(k)), dt);
    opt->step(optim_of(g).lr);
    const h5::Group s = g.group("step" + std::to_string(k));
    const double want = s.read("loss").to_vector()[0];
    EXPECT_NEAR(loss, want, tol * std::max(1.0, std::abs(want)));
    for (const auto& e : store.entries()) {
      if (skipped(e.name)) continue;
      EXPECT_LT(normalized_error(e.param->value, s.read("params/" + e.name)), tol) << e.name;
      for (const auto& st : opt->state()) {
        const Tensor mine =
            st.tensor.slice(0, e.offset, e.offset + e.numel).reshape(e.param->value.shape());
        const Tensor torch = s.read("state/" + st.name + "/" + e.name);
        // A zero reference (a gradient that is zero in exact arithmetic) needs an absolute check.
        double ref = 0;
        for (double v : torch.to_vector()) ref = std::max(ref, std::abs(v));
        if (ref < 1e-12) {
          for (double v : mine.to_vector())
            EXPECT_LT(std::abs(v), 1e-6) << st.name << " " << e.name;
        } else {
          EXPECT_LT(normalized_error(mine, torch), 10 * tol) << st.name << " " << e.name;
        }
      }
    }
    if (s.has("buffers"))
      model->for_each_buffer([&](const std::string& n, Tensor& t) {
        EXPECT_LT(normalized_error(t, s.read("buffers/" + n)), tol) << n;
      });
  }
}

double image_step(models::Model& m, const h5::Group& b, DType dt) {
  static nn::CrossEntropyLoss ce;
  nn::Context ctx;
  const Tensor logits = m.forward(b.read("x").to(dt), ctx);
  const nn::LossOutput l = ce(logits, b.read("labels"));
  m.backward(l.grad, ctx);
  return l.loss;
}

double bert_step(models::Model& model, const h5::Group& b, DType dt) {
  auto& m = dynamic_cast<models::BertModel&>(model);
  auto& ops = backend::ops_for(Device::CPU, dt);
  nn::Context ctx;
  m.set_inputs(b.read("segment_ids"), b.read("input_mask"), b.read("masked_lm_positions"));
  const Tensor mlm = m.forward(b.read("input_ids"), ctx);
  Tensor dmlm = Tensor::empty(mlm.shape(), dt), dnsp = Tensor::empty({mlm.size(0) / 2, 2}, dt);
  const double l1 = ops.cross_entropy(mlm, b.read("masked_lm_labels"), -100, 1.0, dmlm).loss;
  const double l2 =
      ops.cross_entropy(m.nsp_logits(), b.read("next_sentence_labels"), -100, 1.0, dnsp).loss;
  m.set_nsp_grad(dnsp);
  m.backward(dmlm, ctx);
  return l1 + l2;
}

}  // namespace

TEST(TorchModelFixtures, MlpThreeSgdSteps) {
  config::MlpConfig c;
  c.input_size = 12;
  c.width = 8;
  c.inner = 6;
  c.depth = 3;
  c.activation = "gelu";
  for (DType dt : {DType::F64, DType::F32})
    run_case("mlp", models::build_mlp(c, 4, dt), dt, image_step);
}

TEST(TorchModelFixtures, ResNetThreeNesterovSteps) {
  config::ResNetConfig c;
  c.layers = {1, 1, 1, 1};
  c.base_width = 2;
  c.stem_width = 4;
  c.stem = "small";
  c.in_channels = 1;
  for (DType dt : {DType::F64, DType::F32})
    run_case("resnet", models::build_resnet(c, 3, dt), dt, image_step, kF32TolResNet);
}

TEST(TorchModelFixtures, BertThreeAdamWSteps) {
  config::BertConfig c;
  c.vocab_size = 30;
  c.layers = 2;
  c.hidden = 8;
  c.heads = 2;
  c.ffn = 16;
  c.max_positions = 16;
  c.dropout = 0;
  c.attention_dropout = 0;
  for (DType dt : {DType::F64, DType::F32})
    run_case("bert", std::unique_ptr<models::Model>(models::build_bert(c, 2, dt)), dt, bert_step,
             kF32Tol, "attention.self.key.bias");
}
