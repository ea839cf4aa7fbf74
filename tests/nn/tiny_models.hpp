// Small model configs and randomisation shared by the model, WIN-algebra and export tests: each
// family in a size that builds and runs in milliseconds, and BatchNorm statistics moved away from
// their (0, 1) defaults so that eval-mode paths are really exercised.
#pragma once

#include <string>

#include "config/deck.hpp"
#include "nn/batchnorm.hpp"
#include "nn_testing.hpp"

namespace win::testing_nn {

inline config::ModelConfig tiny_mlp(const std::string& block = "inner",
                                    const std::string& act = "gelu", int64_t input = 20,
                                    int64_t width = 7, int64_t inner = 4, int64_t depth = 4,
                                    int64_t classes = 5) {
  config::ModelConfig c;
  c.family = "mlp";
  c.classes = classes;
  c.mlp.input_size = input;
  c.mlp.width = width;
  c.mlp.inner = inner;
  c.mlp.depth = depth;
  c.mlp.block = block;
  c.mlp.activation = act;
  return c;
}

inline config::ModelConfig tiny_resnet(const std::string& block = "bottleneck",
                                       const std::string& stem = "small", int64_t in_channels = 3,
                                       int64_t base_width = 2) {
  config::ModelConfig c;
  c.family = "resnet";
  c.classes = 4;
  c.resnet.block = block;
  c.resnet.layers.assign({1, 2, 1, 1});
  c.resnet.base_width = base_width;
  c.resnet.stem = stem;
  c.resnet.in_channels = in_channels;
  c.resnet.image_size = stem == "imagenet" ? 32 : 16;
  return c;
}

inline config::ModelConfig tiny_bert() {
  config::ModelConfig c;
  c.family = "bert";
  c.classes = 3;
  c.bert.vocab_size = 40;
  c.bert.layers = 3;
  c.bert.hidden = 8;
  c.bert.heads = 2;
  c.bert.ffn = 12;
  c.bert.max_positions = 16;
  c.bert.seq_length = 7;
  c.bert.dropout = 0;
  c.bert.attention_dropout = 0;
  return c;
}

// Random weights everywhere (keyed by seed), and every BatchNorm's running mean in about
// [-0.3, 0.3], running variance in [0.5, ...), scale and shift random.
inline void randomise_model(nn::Module& m, uint64_t seed) {
  nn::init_params(m, seed);
  m.for_each_module([&](const std::string&, nn::Module& mod) {
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&mod)) {
      bn->running_mean().copy_from(randn(bn->running_mean().shape(), DType::F64, seed + 1, 0.3));
      Tensor v = randn(bn->running_var().shape(), DType::F64, seed + 2);
      for (int64_t i = 0; i < v.numel(); ++i) set_flat(v, i, 0.5 + std::abs(get_flat(v, i)));
      bn->running_var().copy_from(v);
      bn->weight().value.copy_from(randn(bn->weight().value.shape(), DType::F64, seed + 3, 0.5));
      bn->bias().value.copy_from(randn(bn->bias().value.shape(), DType::F64, seed + 4, 0.5));
    }
  });
}

}  // namespace win::testing_nn
