// Three full training steps of tiny MLP, ResNet and BERT models against PyTorch, on the CPU
// backends (fixture_training.hpp): the f64 reference path and the f32 oneDNN backend, whose
// round-off compounds over three forward/backward/update steps.
// BERT's attention key biases are skipped in f32: their gradient is zero in exact arithmetic
// (softmax ignores a per-row constant), so it is pure round-off, which AdamW's m / sqrt(v) turns
// into a full-size step of arbitrary sign. In f64 they are compared like the rest.
#include <gtest/gtest.h>

#include "fixture_training.hpp"

using namespace win;
using namespace win::testing_nn;

TEST(TorchModelFixtures, MlpThreeSgdSteps) {
  for (DType dt : {DType::F64, DType::F32})
    run_fixture_case("mlp", fixture_mlp(dt), dt, fixture_image_step);
}

TEST(TorchModelFixtures, ResNetThreeNesterovSteps) {
  for (DType dt : {DType::F64, DType::F32})
    run_fixture_case("resnet", fixture_resnet(dt), dt, fixture_image_step, kF32TolResNet);
}

TEST(TorchModelFixtures, BertThreeAdamWSteps) {
  for (DType dt : {DType::F64, DType::F32})
    run_fixture_case("bert", fixture_bert(dt), dt, fixture_bert_step, kF32Tol,
                     "attention.self.key.bias");
}
