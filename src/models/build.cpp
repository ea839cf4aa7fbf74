// Model construction by family and per-part profiles (see build.hpp).
#include "models/build.hpp"

#include <cmath>

#include "backend/transfer.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "models/bert.hpp"
#include "models/mlp.hpp"
#include "models/resnet.hpp"

namespace win::models {

std::unique_ptr<Model> build_model(const config::ModelConfig& c, DType dtype) {
  if (c.family == "mlp") return build_mlp(c.mlp, c.classes, dtype);
  if (c.family == "resnet") return build_resnet(c.resnet, c.classes, dtype);
  if (c.family == "bert") return build_bert(c.bert, c.classes, dtype);
  WIN_FAIL(ErrorKind::Config, "model.family: unknown family '", c.family, "'");
}

std::vector<int64_t> boundary_widths(const config::ModelConfig& c) {
  std::vector<int64_t> w;
  if (c.family == "mlp")
    w.assign(static_cast<size_t>(c.mlp.depth), c.mlp.width);
  else if (c.family == "resnet")
    for (int s = 0; s < static_cast<int>(c.resnet.layers.size()); ++s)
      w.push_back(resnet_out_width(c.resnet, s));
  else if (c.family == "bert")
    w.assign(static_cast<size_t>(c.bert.layers), c.bert.hidden);
  else
    WIN_FAIL(ErrorKind::Config, "model.family: unknown family '", c.family, "'");
  return w;
}

Tensor example_input(const config::ModelConfig& c, int64_t n, DType dtype, uint64_t seed) {
  if (c.family == "bert") {
    Tensor ids = Tensor::empty({n, c.bert.seq_length}, DType::I32);
    const Philox rng(seed, 3);
    int32_t* p = ids.data<int32_t>();
    for (int64_t i = 0; i < ids.numel(); ++i)
      p[i] = static_cast<int32_t>(
          rng.uniform_int(0, static_cast<uint64_t>(i), static_cast<uint64_t>(c.bert.vocab_size)));
    return ids;
  }
  const Dims shape = c.family == "mlp"
                         ? Dims{n, c.mlp.input_size}
                         : Dims{n, c.resnet.in_channels, c.resnet.image_size, c.resnet.image_size};
  Tensor x = Tensor::empty(shape, dtype);
  fill_normal(x, Philox(seed, 3), 0.0, 1.0, 0);
  return x;
}

void set_example_bert_inputs(Model& m, const config::ModelConfig& c, int64_t n) {
  auto& bert = dynamic_cast<BertModel&>(m);
  const int64_t t = c.bert.seq_length;
  Tensor seg = Tensor::zeros({n, t}, DType::I32), mask = Tensor::empty({n, t}, DType::I32);
  mask.fill(1.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = t / 2; j < t; ++j) seg.at<int32_t>({i, j}) = 1;
  const int64_t p = std::max<int64_t>(1, std::llround(0.15 * static_cast<double>(t)));
  Tensor pos = Tensor::empty({n, p}, DType::I32);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < p; ++j) pos.at<int32_t>({i, j}) = static_cast<int32_t>(j * t / p);
  bert.set_inputs(seg, mask, pos);
}

void forward_by_parts(Model& m, const Tensor& x, nn::Context& ctx,
                      const std::function<void(int, const Tensor&)>& after) {
  Tensor h = m.stem().forward(x, ctx);
  after(0, h);
  for (int i = 0; i < m.num_blocks(); ++i) {
    h = m.block(i).forward(h, ctx);
    after(i + 1, h);
  }
  after(m.num_blocks() + 1, m.head().forward(h, ctx));
}

ModelProfile profile_model(Model& m, const config::ModelConfig& c) {
  ModelProfile p;
  const int n = m.num_blocks();
  p.parts.resize(static_cast<size_t>(n + 2));
  p.parts[0] = {"stem", m.stem().num_params(), 0, 0};
  for (int i = 0; i < n; ++i)
    p.parts[static_cast<size_t>(i + 1)] = {m.block_name(i), m.block(i).num_params(), 0,
                                           m.boundary_width(i)};
  p.parts[static_cast<size_t>(n + 1)] = {"head", m.head().num_params(), 0, 0};
  if (c.family == "bert") set_example_bert_inputs(m, c, 1);
  nn::Context ctx;
  ctx.training = false;
  int64_t last = 0;
  // On the model's device (the example is made on the host).
  const Tensor x = backend::to_device(example_input(c, 1, m.dtype(), 0), m.device());
  forward_by_parts(m, x, ctx, [&](int part, const Tensor& out) {
    p.parts[static_cast<size_t>(part)].out_elems = out.numel();
    p.parts[static_cast<size_t>(part)].macs = ctx.macs - last;
    last = ctx.macs;
  });
  for (const auto& part : p.parts) p.macs += part.macs;
  p.params = m.num_params();  // tied weights once (BERT's decoder is its word embeddings)
  return p;
}

}  // namespace win::models
