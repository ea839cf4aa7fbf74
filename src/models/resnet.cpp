// ResNet builder (see resnet.hpp).
#include "models/resnet.hpp"

#include <cmath>

#include "core/error.hpp"
#include "models/resnet_blocks.hpp"
#include "nn/linear.hpp"
#include "nn/pool.hpp"

namespace win::models {

namespace {

int64_t scaled(int64_t w, double m) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::llround(static_cast<double>(w) * m)));
}

bool bottleneck(const config::ResNetConfig& c) {
  WIN_CHECK(c.block == "bottleneck" || c.block == "basic", ErrorKind::Config,
            "model.resnet.block: unknown block '", c.block, "'");
  return c.block == "bottleneck";
}

class ResNetModel final : public Model {
 public:
  ResNetModel(const config::ResNetConfig& c, int64_t classes, DType dtype)
      : Model("ResNet", dtype) {
    const bool bneck = bottleneck(c);
    const int64_t stem_w = resnet_stem_width(c);
    auto stem = std::make_unique<nn::Sequential>(dtype);
    WIN_CHECK(c.stem == "imagenet" || c.stem == "small", ErrorKind::Config,
              "model.resnet.stem: unknown stem '", c.stem, "'");
    auto conv1 = c.stem == "imagenet"
                     ? std::make_unique<nn::Conv2d>(c.in_channels, stem_w, 7, 2, 3, false, dtype)
                     : std::make_unique<nn::Conv2d>(c.in_channels, stem_w, 3, 1, 1, false, dtype);
    conv1->set_input_grad(false);  // its input is the data
    stem->add(std::move(conv1), "conv1");
    stem->add(std::make_unique<nn::BatchNorm2d>(stem_w, 1e-5, 0.1, dtype, true), "bn1");  // + ReLU
    if (c.stem == "imagenet") stem->add(std::make_unique<nn::MaxPool2d>(3, 2, 1, dtype), "maxpool");
    set_stem("", std::move(stem));

    int64_t in = stem_w;
    for (int s = 0; s < static_cast<int>(c.layers.size()); ++s) {
      const int64_t width = resnet_inner_width(c, s), out = resnet_out_width(c, s);
      auto stage = std::make_unique<nn::Sequential>(dtype);
      for (int64_t b = 0; b < c.layers[static_cast<size_t>(s)]; ++b) {
        const int64_t stride = (b == 0 && s > 0) ? 2 : 1;
        if (bneck)
          stage->add(std::make_unique<Bottleneck>(in, width, out, stride, dtype));
        else
          stage->add(std::make_unique<BasicBlock>(in, width, out, stride, dtype));
        in = out;
      }
      add_block(cat("layer", s + 1), std::move(stage), out);
    }
    auto head = std::make_unique<nn::Sequential>(dtype);
    head->add(std::make_unique<nn::GlobalAvgPool>(dtype), "avgpool");
    head->add(std::make_unique<nn::Linear>(in, classes, true, dtype), "fc");
    set_head("", std::move(head));
  }

  // The next stage's first block reads its input through its first conv and its projection
  // shortcut (both before BatchNorm; a channel map commutes with stride and zero padding since
  // the bridge has no bias); after the last stage, global average pooling is linear, so the
  // classifier. Exact unless a stage starts without a projection (its identity shortcut would
  // read the activation too).
  BoundaryReaders boundary_readers(int i) override {
    if (i + 1 >= num_blocks()) return {{"fc.weight"}, true, ""};
    const std::string next = cat(block_name(i + 1), ".0");
    auto* first = dynamic_cast<ResidualBlock*>(&dynamic_cast<nn::Sequential&>(block(i + 1))[0]);
    WIN_ASSERT(first != nullptr, "ResNet stage without residual blocks");
    if (!first->has_projection())
      return {{next + ".conv1.weight"}, false, next + " has an identity shortcut"};
    return {{next + ".conv1.weight", next + ".downsample.0.weight"}, true, ""};
  }
};

}  // namespace

int64_t resnet_inner_width(const config::ResNetConfig& c, int stage) {
  return scaled(c.base_width << stage, c.width_multiplier) * c.inner_scale;
}

// Stage outputs do not follow inner_scale: a teacher widened by the default rule keeps them.
int64_t resnet_out_width(const config::ResNetConfig& c, int stage) {
  return scaled(c.base_width << stage, c.width_multiplier) *
         (bottleneck(c) ? Bottleneck::kExpansion : BasicBlock::kExpansion);
}

int64_t resnet_stem_width(const config::ResNetConfig& c) {
  return scaled(c.stem_width > 0 ? c.stem_width : c.base_width, c.width_multiplier);
}

std::unique_ptr<Model> build_resnet(const config::ResNetConfig& c, int64_t classes, DType dtype) {
  return std::make_unique<ResNetModel>(c, classes, dtype);
}

}  // namespace win::models
