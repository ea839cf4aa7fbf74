// The ResNet family (DESIGN §2, paper §5.1.1): torchvision's ResNet v1.5 with bottleneck or basic
// blocks, a width multiplier that scales every channel (ResNet50-1/2, -1/4), and two stems:
// `imagenet` (7x7/2 conv + 3x3/2 max pool) and `small` (3x3/1 conv, for 28x28 and 32x32 inputs).
// WIN's blocks are the stages layer1..layer4. Parameter names are torchvision's (conv1.weight,
// layer2.0.downsample.0.weight, fc.bias, ...).
#pragma once

#include "config/deck.hpp"
#include "models/model.hpp"

namespace win::models {

// Channels of stage i's 3x3 convolutions (the bottleneck's inner width) and of its output.
int64_t resnet_inner_width(const config::ResNetConfig& c, int stage);
int64_t resnet_out_width(const config::ResNetConfig& c, int stage);
int64_t resnet_stem_width(const config::ResNetConfig& c);

std::unique_ptr<Model> build_resnet(const config::ResNetConfig& c, int64_t classes, DType dtype);

}  // namespace win::models
