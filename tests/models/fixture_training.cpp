// Three training steps of a tiny model against the PyTorch fixtures (see fixture_training.hpp).
#include "fixture_training.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "backend/transfer.hpp"
#include "data/hdf5.hpp"
#include "models/bert.hpp"
#include "models/mlp.hpp"
#include "models/resnet.hpp"
#include "nn/loss.hpp"
#include "nn/param_store.hpp"
#include "nn_testing.hpp"
#include "train/optimizer.hpp"

namespace win::testing_nn {

namespace {

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

}  // namespace

void run_fixture_case(const std::string& name, std::unique_ptr<models::Model> model, DType dt,
                      const StepFn& step, double f32_tol, const std::string& f32_skip) {
  const Device dev = model->device();
  SCOPED_TRACE(name + (dt == DType::F64 ? " f64 " : " f32 ") + std::string(device_name(dev)));
  auto host = [](const Tensor& t) { return backend::to_device(t, Device::CPU); };
  const double tol = dt == DType::F64 ? kF64Tol : f32_tol;
  auto skipped = [&](const std::string& param) {
    return dt == DType::F32 && !f32_skip.empty() && param.find(f32_skip) != std::string::npos;
  };
  const h5::Group g = fixture(name);
  nn::ParamStore store(*model);
  for (const auto& e : store.entries())
    backend::copy_across(g.read("params0/" + e.name), e.param->value);
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
      EXPECT_LT(normalized_error(host(e.param->value), s.read("params/" + e.name)), tol) << e.name;
      for (const auto& st : opt->state()) {
        const Tensor mine =
            host(st.tensor.slice(0, e.offset, e.offset + e.numel).reshape(e.param->value.shape()));
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
        EXPECT_LT(normalized_error(host(t), s.read("buffers/" + n)), tol) << n;
      });
  }
}

double fixture_image_step(models::Model& m, const h5::Group& b, DType dt) {
  static nn::CrossEntropyLoss ce;
  nn::Context ctx;
  const Tensor logits = m.forward(backend::to_device(b.read("x").to(dt), m.device()), ctx);
  const nn::LossOutput l = ce(logits, b.read("labels"));
  m.backward(l.grad, ctx);
  return l.loss;
}

double fixture_bert_step(models::Model& model, const h5::Group& b, DType dt) {
  auto& m = dynamic_cast<models::BertModel&>(model);
  const Device dev = m.device();
  auto& ops = backend::ops_for(dev, dt);
  auto on = [&](const Tensor& t) { return backend::to_device(t, dev); };
  nn::Context ctx;
  m.set_inputs(on(b.read("segment_ids")), b.read("input_mask"), b.read("masked_lm_positions"));
  const Tensor mlm = m.forward(on(b.read("input_ids")), ctx);
  Allocator& a = backend::device_allocator(dev);
  Tensor dmlm = Tensor::empty(mlm.shape(), dt, a);
  Tensor dnsp = Tensor::empty({mlm.size(0) / 2, 2}, dt, a);
  const double l1 = ops.cross_entropy(mlm, on(b.read("masked_lm_labels")), -100, 1.0, dmlm).loss;
  const double l2 =
      ops.cross_entropy(m.nsp_logits(), on(b.read("next_sentence_labels")), -100, 1.0, dnsp).loss;
  m.set_nsp_grad(dnsp);
  m.backward(dmlm, ctx);
  return l1 + l2;
}

std::unique_ptr<models::Model> fixture_mlp(DType dt) {
  config::MlpConfig c;
  c.input_size = 12;
  c.width = 8;
  c.inner = 6;
  c.depth = 3;
  c.activation = "gelu";
  return models::build_mlp(c, 4, dt);
}

std::unique_ptr<models::Model> fixture_resnet(DType dt) {
  config::ResNetConfig c;
  c.layers = {1, 1, 1, 1};
  c.base_width = 2;
  c.stem_width = 4;
  c.stem = "small";
  c.in_channels = 1;
  return models::build_resnet(c, 3, dt);
}

std::unique_ptr<models::Model> fixture_bert(DType dt) {
  config::BertConfig c;
  c.vocab_size = 30;
  c.layers = 2;
  c.hidden = 8;
  c.heads = 2;
  c.ffn = 16;
  c.max_positions = 16;
  c.dropout = 0;
  c.attention_dropout = 0;
  return std::unique_ptr<models::Model>(models::build_bert(c, 2, dt));
}

}  // namespace win::testing_nn
