// The PyTorch model fixtures (tests/fixtures/models.h5, from tools/make_fixtures.py) as a test
// routine: three training steps of a tiny MLP, ResNet or BERT from the fixture's initial weights
// and batches; after every step the loss, every parameter, the optimizer state and BatchNorm's
// running statistics must agree with PyTorch's. Shared by the CPU tests (test_models) and the
// CUDA ones (test_cuda): the model's device is where the steps run, the comparison is on the host.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "data/hdf5.hpp"
#include "models/model.hpp"

namespace win::testing_nn {

// Normalised-error tolerances: the f64 path; f32 MLP and BERT; f32 ResNet, whose last stage
// normalises 4 x 2 x 2 = 16 values per channel, so batch norm divides the f32 round-off of
// x - mean by a small standard deviation.
constexpr double kF64Tol = 1e-10;
constexpr double kF32Tol = 2e-5;
constexpr double kF32TolResNet = 1e-4;

// step(model, batch group, dtype) -> loss, gradients zeroed before; backward done inside.
using StepFn = std::function<double(models::Model&, const h5::Group&, DType)>;

// The fixture group `name` ("mlp", "resnet", "bert") against `model` (built on its device).
// f32_skip: parameters whose name contains it are not compared in f32 (see the BERT test).
void run_fixture_case(const std::string& name, std::unique_ptr<models::Model> model, DType dt,
                      const StepFn& step, double f32_tol = kF32Tol,
                      const std::string& f32_skip = "");
double fixture_image_step(models::Model& m, const h5::Group& b, DType dt);
double fixture_bert_step(models::Model& m, const h5::Group& b, DType dt);

// The tiny models of the fixtures.
std::unique_ptr<models::Model> fixture_mlp(DType dt);
std::unique_ptr<models::Model> fixture_resnet(DType dt);
std::unique_ptr<models::Model> fixture_bert(DType dt);

}  // namespace win::testing_nn
