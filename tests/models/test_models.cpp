// Model builders: parameter names follow torchvision / HuggingFace, parameter counts match the
// reference architectures, and whole tiny models pass finite-difference gradient checks in double
// (so blocks, residuals, heads and tied weights are wired correctly end to end).
#include <gtest/gtest.h>

#include <map>

#include "models/bert.hpp"
#include "models/mlp.hpp"
#include "models/resnet.hpp"
#include "nn/param_store.hpp"
#include "nn_testing.hpp"

using namespace win;
using namespace win::models;
using namespace win::testing_nn;

namespace {
std::map<std::string, Dims> param_shapes(nn::Module& m) {
  std::map<std::string, Dims> out;
  m.for_each_param([&](const std::string& n, nn::Param& p) { out[n] = p.value.shape(); });
  return out;
}

config::ResNetConfig tiny_resnet_config() {
  config::ResNetConfig c;
  c.block = "bottleneck";
  c.layers = {1, 1, 1, 1};
  c.base_width = 2;
  c.stem_width = 4;
  c.stem = "small";
  c.in_channels = 1;
  c.image_size = 8;
  return c;
}

config::BertConfig tiny_bert_config() {
  config::BertConfig c;
  c.vocab_size = 30;
  c.layers = 2;
  c.hidden = 8;
  c.heads = 2;
  c.ffn = 16;
  c.max_positions = 16;
  c.type_vocab = 2;
  c.dropout = 0;
  c.attention_dropout = 0;
  c.seq_length = 6;
  return c;
}
}  // namespace

TEST(ResNet, TorchvisionNamesAndResNet50ParameterCount) {
  config::ResNetConfig c;  // defaults: ResNet-50 on ImageNet
  auto m = build_resnet(c, 1000, DType::F32);
  auto shapes = param_shapes(*m);
  EXPECT_EQ(shapes.at("conv1.weight"), (Dims{64, 3, 7, 7}));
  EXPECT_EQ(shapes.at("bn1.weight"), (Dims{64}));
  EXPECT_EQ(shapes.at("layer1.0.conv2.weight"), (Dims{64, 64, 3, 3}));
  EXPECT_EQ(shapes.at("layer2.0.downsample.0.weight"), (Dims{512, 256, 1, 1}));
  EXPECT_EQ(shapes.at("layer4.2.bn3.bias"), (Dims{2048}));
  EXPECT_EQ(shapes.at("fc.weight"), (Dims{1000, 2048}));
  EXPECT_EQ(shapes.count("layer1.1.downsample.0.weight"), 0u);
  // torchvision.models.resnet50().parameters(): 25,557,032.
  EXPECT_EQ(m->num_params(), 25557032);
  EXPECT_EQ(m->num_blocks(), 4);
  EXPECT_EQ(m->boundary_width(0), 256);
  EXPECT_EQ(m->boundary_width(3), 2048);
}

TEST(ResNet, BasicBlockResNet18ParameterCount) {
  config::ResNetConfig c;
  c.block = "basic";
  c.layers = {2, 2, 2, 2};
  auto m = build_resnet(c, 1000, DType::F32);
  EXPECT_EQ(m->num_params(), 11689512);  // torchvision.models.resnet18()
}

TEST(Bert, HuggingFaceNamesAndBertBaseParameterCount) {
  config::BertConfig c;  // defaults: BERT-base
  auto m = build_bert(c, 2, DType::F32);
  auto shapes = param_shapes(*m);
  EXPECT_EQ(shapes.at("embeddings.word_embeddings.weight"), (Dims{30522, 768}));
  EXPECT_EQ(shapes.at("embeddings.LayerNorm.weight"), (Dims{768}));
  EXPECT_EQ(shapes.at("encoder.layer.11.attention.self.query.weight"), (Dims{768, 768}));
  EXPECT_EQ(shapes.at("encoder.layer.0.attention.output.dense.bias"), (Dims{768}));
  EXPECT_EQ(shapes.at("encoder.layer.0.intermediate.dense.weight"), (Dims{3072, 768}));
  EXPECT_EQ(shapes.at("encoder.layer.0.output.LayerNorm.bias"), (Dims{768}));
  EXPECT_EQ(shapes.at("pooler.dense.weight"), (Dims{768, 768}));
  EXPECT_EQ(shapes.at("cls.predictions.bias"), (Dims{30522}));
  EXPECT_EQ(shapes.at("cls.seq_relationship.weight"), (Dims{2, 768}));
  // HuggingFace BertForPreTraining (tied decoder counted once): 110,106,428.
  EXPECT_EQ(m->num_params(), 110106428);
}

TEST(Mlp, NamesAndShapes) {
  config::MlpConfig c;
  c.input_size = 12;
  c.width = 8;
  c.inner = 6;
  c.depth = 3;
  auto m = build_mlp(c, 4, DType::F32);
  auto shapes = param_shapes(*m);
  EXPECT_EQ(shapes.at("stem.weight"), (Dims{8, 12}));
  EXPECT_EQ(shapes.at("blocks.2.fc1.weight"), (Dims{6, 8}));
  EXPECT_EQ(shapes.at("blocks.2.fc2.bias"), (Dims{8}));
  EXPECT_EQ(shapes.at("head.weight"), (Dims{4, 8}));
  c.block = "plain";
  auto p = build_mlp(c, 4, DType::F32);
  auto ps = param_shapes(*p);
  EXPECT_EQ(ps.at("blocks.0.fc.weight"), (Dims{8, 12}));
  EXPECT_EQ(ps.at("blocks.1.fc.weight"), (Dims{8, 8}));
  EXPECT_EQ(ps.count("stem.weight"), 0u);
}

// Whole-model finite differences in double (step 1e-6, rtol 1e-5: deeper compositions lose a
// little more to cancellation than single layers).
TEST(ModelGrad, MlpInnerFiniteDifferences) {
  config::MlpConfig c;
  c.input_size = 10;
  c.width = 6;
  c.inner = 5;
  c.depth = 3;
  c.activation = "gelu";
  auto m = build_mlp(c, 3, DType::F64);
  nn::init_params(*m, 1);
  nn::Context ctx;
  EXPECT_EQ(
      check_gradients(*m, randn({4, 10}, DType::F64, 2), ctx, {.rtol = 1e-5, .max_per_tensor = 12}),
      0);
}

TEST(ModelGrad, TinyResNetTrainingModeFiniteDifferences) {
  auto m = build_resnet(tiny_resnet_config(), 3, DType::F64);
  nn::init_params(*m, 3);
  nn::Context ctx;  // training: batch statistics
  // The stem convolution computes no input gradient (its input is the data).
  EXPECT_EQ(
      check_gradients(*m, randn({3, 1, 8, 8}, DType::F64, 4), ctx,
                      {.rtol = 1e-5, .atol = 1e-8, .max_per_tensor = 6, .check_input = false}),
      0);
  EXPECT_FALSE(
      m->backward(randn(m->forward(randn({3, 1, 8, 8}, DType::F64, 4), ctx).shape(), DType::F64, 5),
                  ctx)
          .defined());
}

TEST(ModelGrad, TinyBertPretrainingLossFiniteDifferences) {
  const auto c = tiny_bert_config();
  auto m = build_bert(c, 2, DType::F64);
  nn::init_params(*m, 5);
  nn::ParamStore store(*m);
  const int64_t b = 3, t = 6, p = 2;
  Tensor ids = Tensor::empty({b, t}, DType::I32), seg = Tensor::zeros({b, t}, DType::I32);
  Tensor mask = Tensor::empty({b, t}, DType::I32), pos = Tensor::empty({b, p}, DType::I32);
  Tensor mlm_labels = Tensor::empty({b * p}, DType::I32),
         nsp_labels = Tensor::empty({b}, DType::I32);
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t j = 0; j < t; ++j) {
      ids.at<int32_t>({i, j}) = static_cast<int32_t>((i * 7 + j * 3) % c.vocab_size);
      seg.at<int32_t>({i, j}) = j >= t / 2;
      mask.at<int32_t>({i, j}) = !(i == 2 && j >= 4);  // one padded sequence
    }
    pos.at<int32_t>({i, 0}) = 1;
    pos.at<int32_t>({i, 1}) = 3;
    mlm_labels.at<int32_t>({i * p}) = static_cast<int32_t>(i + 2);
    mlm_labels.at<int32_t>({i * p + 1}) = i == 1 ? -100 : static_cast<int32_t>(i + 9);
    nsp_labels.at<int32_t>({i}) = static_cast<int32_t>(i % 2);
  }
  nn::Context ctx;
  auto& ops = backend::ops_for(Device::CPU, DType::F64);
  Tensor dmlm = Tensor::empty({b * p, c.vocab_size}, DType::F64),
         dnsp = Tensor::empty({b, 2}, DType::F64);
  auto loss = [&]() {
    m->set_inputs(seg, mask, pos);
    const Tensor mlm = m->forward(ids, ctx);
    const double l1 = ops.cross_entropy(mlm, mlm_labels, -100, 1.0, dmlm).loss;
    const double l2 = ops.cross_entropy(m->nsp_logits(), nsp_labels, -100, 1.0, dnsp).loss;
    return l1 + l2;
  };
  store.zero_grad();
  loss();
  m->set_nsp_grad(dnsp);
  m->backward(dmlm, ctx);
  int bad = 0;
  for (const auto& e : store.entries()) {
    const Tensor analytic = e.param->grad.clone();
    const Tensor original = e.param->value.clone();
    bad += check_function_gradient(
        [&](const Tensor& v) {
          e.param->value.copy_from(v);
          const double l = loss();
          e.param->value.copy_from(original);
          return l;
        },
        original, analytic, {.rtol = 1e-5, .atol = 1e-9, .max_per_tensor = 6}, e.name);
  }
  EXPECT_EQ(bad, 0);
}
