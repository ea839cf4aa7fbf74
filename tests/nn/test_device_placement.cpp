// Device placement on a machine of any kind (see nn/module.hpp DeviceScope, backend/transfer.hpp):
// modules land on the device of the innermost scope and the scope restores the previous one; a
// GPU scope where none is usable is a usage error naming the device; and the device-agnostic
// copies keep the CPU semantics (dtype conversion, layouts, views) that the GPU paths build on.
#include <gtest/gtest.h>

#include "backend/transfer.hpp"
#include "core/error.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"
#include "nn/param_store.hpp"

using namespace win;

TEST(DevicePlacement, ScopesNestAndRestore) {
  EXPECT_EQ(nn::default_device(), Device::CPU);
  {
    const nn::DeviceScope outer(Device::CPU);
    EXPECT_EQ(nn::default_device(), Device::CPU);
    nn::Linear l(3, 2, true, DType::F32);
    EXPECT_EQ(l.device(), Device::CPU);
    nn::ParamStore store(l);
    EXPECT_EQ(store.values().device(), Device::CPU);
    EXPECT_EQ(&l.alloc(), static_cast<Allocator*>(&cpu_allocator()));
  }
  EXPECT_EQ(nn::default_device(), Device::CPU);
}

TEST(DevicePlacement, AGpuScopeWithoutAGpuIsAUsageErrorNamingIt) {
  const std::string why = backend::device_unavailable(Device::CUDA);
  if (why.empty()) GTEST_SKIP() << "a GPU is usable here: the refusal cannot be shown";
  try {
    const nn::DeviceScope gpu(Device::CUDA);
    FAIL() << "a CUDA scope was opened without a usable GPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
  }
  EXPECT_EQ(nn::default_device(), Device::CPU);  // a failed scope changes nothing
  EXPECT_THROW(backend::device_allocator(Device::CUDA), Error);
}

TEST(DevicePlacement, CopiesAcrossConvertAndKeepLayouts) {
  // f64 into f32 (the fixtures' path), a transposed view into a contiguous tensor, and into a
  // strided view of a larger one.
  const Tensor d = Tensor::from<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor f = Tensor::empty({2, 3}, DType::F32);
  backend::copy_across(d, f);
  EXPECT_EQ(f.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  Tensor t = Tensor::empty({3, 2}, DType::F32);
  backend::copy_across(f.transpose(0, 1), t);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
  Tensor big = Tensor::zeros({2, 2, 3}, DType::F32);
  Tensor view = big.select(1, 1);
  backend::copy_across(f, view);
  EXPECT_EQ(big.to_vector(), (std::vector<double>{0, 0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 6}));
  EXPECT_THROW(backend::copy_across(f, big), Error);  // shapes differ
}

TEST(DevicePlacement, HostOpsKeepTheirPlainMeaning) {
  const Tensor x = Tensor::from<float>({1, 2, 3, 4}, {2, 2});
  Tensor staging;
  // Already where it must be: the tensor itself, nothing staged.
  EXPECT_EQ(&backend::on_device(x, Device::CPU, staging), &x);
  EXPECT_FALSE(staging.defined());
  // clone and fill/zero on the host are the plain ones.
  Tensor c = backend::clone(x);
  EXPECT_NE(c.raw(), x.raw());
  EXPECT_EQ(c.to_vector(), x.to_vector());
  backend::fill(c, 2.5);
  EXPECT_EQ(c.to_vector(), (std::vector<double>{2.5, 2.5, 2.5, 2.5}));
  backend::zero(c);
  EXPECT_EQ(c.to_vector(), (std::vector<double>{0, 0, 0, 0}));
  // contiguous() stays on the tensor's device, and is the tensor itself when already contiguous.
  EXPECT_EQ(x.contiguous().raw(), x.raw());
  const Tensor tt = x.transpose(0, 1).contiguous();
  EXPECT_TRUE(tt.is_contiguous());
  EXPECT_EQ(tt.to_vector(), (std::vector<double>{1, 3, 2, 4}));
}
