// The PyTorch model fixtures on the GPU: three training steps of the tiny MLP, ResNet and BERT,
// built on the CUDA device, against PyTorch's (fixture_training.hpp), with the CPU's f32
// tolerances. Together with the per-op parity tests this checks the whole fp32 training step
// (forward, backward, optimizer, BatchNorm statistics) of every model family on the device.
// Skipped, with CUDA's reason, where no GPU is usable.
#include <gtest/gtest.h>

#include "backend/transfer.hpp"
#include "fixture_training.hpp"
#include "nn/module.hpp"
#include "skip_without_gpu.hpp"

using namespace win;
using namespace win::testing_nn;

TEST(TorchModelFixturesCuda, MlpThreeSgdSteps) {
  SKIP_WITHOUT_GPU();
  const nn::DeviceScope on_gpu(Device::CUDA);
  run_fixture_case("mlp", fixture_mlp(DType::F32), DType::F32, fixture_image_step);
}

TEST(TorchModelFixturesCuda, ResNetThreeNesterovSteps) {
  SKIP_WITHOUT_GPU();
  const nn::DeviceScope on_gpu(Device::CUDA);
  run_fixture_case("resnet", fixture_resnet(DType::F32), DType::F32, fixture_image_step,
                   kF32TolResNet);
}

TEST(TorchModelFixturesCuda, BertThreeAdamWSteps) {
  SKIP_WITHOUT_GPU();
  const nn::DeviceScope on_gpu(Device::CUDA);
  run_fixture_case("bert", fixture_bert(DType::F32), DType::F32, fixture_bert_step, kF32Tol,
                   "attention.self.key.bias");
}

TEST(CudaPlacement, ModelsBuiltInADeviceScopeLiveOnTheDevice) {
  SKIP_WITHOUT_GPU();
  std::unique_ptr<models::Model> m;
  {
    const nn::DeviceScope on_gpu(Device::CUDA);
    m = fixture_resnet(DType::F32);
  }
  EXPECT_EQ(nn::default_device(), Device::CPU);  // the scope ended
  int params = 0;
  m->for_each_param([&](const std::string& name, nn::Param& p) {
    EXPECT_EQ(p.value.device(), Device::CUDA) << name;
    EXPECT_EQ(p.grad.device(), Device::CUDA) << name;
    ++params;
  });
  m->for_each_buffer(
      [&](const std::string& name, Tensor& t) { EXPECT_EQ(t.device(), Device::CUDA) << name; });
  EXPECT_GT(params, 10);
}
