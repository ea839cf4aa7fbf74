// run.precision on the GPU: the same product in fp32, tf32 and bf16 against the CPU's fp32.
// fp32 must agree to rounding; tf32 and bf16 must differ by about their operand rounding (10 and 7
// mantissa bits) and no more, which shows both that the mode reaches cuBLASLt and that it is used
// safely (fp32 accumulation). (A first version asked cuBLASLt for 32F_FAST_16BF; on an H200 that
// gave exactly the TF32 result, which this test caught: bf16 now rounds the operands itself.)
// Skipped, with CUDA's reason, where no GPU is usable.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "backend/ops.hpp"
#include "backend/precision.hpp"
#include "backend/transfer.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"
#include "parity_testing.hpp"
#include "skip_without_gpu.hpp"

using namespace win;

namespace {

struct RestorePrecision {
  ~RestorePrecision() { backend::set_precision(backend::Precision::Fp32); }
};

Tensor on_gpu(const Tensor& h) {
  return backend::to_device(h, Device::CUDA);
}

}  // namespace

TEST(CudaPrecision, ProductsFollowTheRunPrecision) {
  SKIP_WITHOUT_GPU();
  const RestorePrecision restore;
  const Tensor a = parity::host_randn({192, 320}, 1);
  const Tensor b = parity::host_randn({320, 256}, 2);
  Tensor want = Tensor::empty({192, 256}, DType::F32);
  backend::ops_for(Device::CPU, DType::F32).gemm(false, false, 1.0, a, b, 0.0, want);
  auto error_in = [&](backend::Precision p) {
    backend::set_precision(p);
    Tensor y = Tensor::empty({192, 256}, DType::F32, backend::device_allocator(Device::CUDA));
    backend::ops_for(Device::CUDA, DType::F32)
        .gemm(false, false, 1.0, on_gpu(a), on_gpu(b), 0.0, y);
    return parity::normalised_error(backend::to_device(y, Device::CPU), want);
  };
  const double fp32 = error_in(backend::Precision::Fp32);
  const double tf32 = error_in(backend::Precision::Tf32);
  const double bf16 = error_in(backend::Precision::Bf16);
  EXPECT_LT(fp32, 1e-6);
  EXPECT_GT(tf32, 1e-5);  // operands rounded to 10 bits: 2^-11 relative, averaged down
  EXPECT_LT(tf32, 3e-3);
  EXPECT_GT(bf16, 1e-4);  // 7 bits: 2^-8
  EXPECT_LT(bf16, 2e-2);
  EXPECT_GT(bf16, tf32);
  std::printf("normalised error against the CPU: fp32 %.2e, tf32 %.2e, bf16 %.2e\n", fp32, tf32,
              bf16);
}

// Convolutions may take TF32 tensor cores outside fp32 (cuDNN's heuristics decide whether a TF32
// algorithm is the fastest for a shape, so whether one is used is not asserted): either way the
// result stays within TF32's operand rounding.
TEST(CudaPrecision, ConvolutionsStayWithinTf32RoundingInEveryPrecision) {
  SKIP_WITHOUT_GPU();
  const RestorePrecision restore;
  const Tensor x = parity::host_randn({4, 32, 14, 14}, 3, 1.0, true);
  const Tensor w = parity::host_randn({48, 32, 3, 3}, 4, 0.1);
  backend::Conv2dDesc d;
  d.kernel_h = d.kernel_w = 3;
  d.padding = 1;
  Tensor want = empty_channels_last({4, 48, 14, 14}, DType::F32);
  backend::ops_for(Device::CPU, DType::F32).conv2d(d)->forward(x, w, Tensor(), want);
  auto error_in = [&](backend::Precision p) {
    backend::set_precision(p);
    auto op = backend::ops_for(Device::CUDA, DType::F32).conv2d(d);
    Tensor y =
        empty_channels_last({4, 48, 14, 14}, DType::F32, backend::device_allocator(Device::CUDA));
    op->forward(on_gpu(x), on_gpu(w), Tensor(), y);
    return parity::normalised_error(backend::to_device(y, Device::CPU).contiguous(),
                                    want.contiguous());
  };
  const double fp32 = error_in(backend::Precision::Fp32);
  const double bf16 = error_in(backend::Precision::Bf16);
  EXPECT_LT(fp32, 1e-5);
  EXPECT_LT(bf16, 3e-3);
  std::printf("convolution, normalised error against the CPU: fp32 %.2e, bf16 run %.2e\n", fp32,
              bf16);
}

// Attention's per-head products: (B, H, T, dh) views of (B, T, H, dh) tensors, whose batch dims do
// not collapse to one stride, so the product runs as one call per head (B > H) or per sequence
// (B < H); under bf16 the factors are rounded once, whole, and each call reads its matrices from
// the copies. Every precision must match the CPU within its operand rounding, in both product
// orientations and with a column-major C (the transposed entry).
namespace {
void check_per_head_products(int64_t b, int64_t h) {
  const int64_t t = 17, dh = 8;
  const Tensor q = parity::host_randn({b, t, h, dh}, 21), k = parity::host_randn({b, t, h, dh}, 22);
  const Tensor qh = q.permute({0, 2, 1, 3}), kh = k.permute({0, 2, 1, 3});  // (B, H, T, dh)
  Tensor scores = Tensor::empty({b, h, t, t}, DType::F32);                  // Q K^T
  Tensor back = Tensor::empty({b, h, dh, dh}, DType::F32);                  // Q^T K
  backend::Ops& cpu = backend::ops_for(Device::CPU, DType::F32);
  cpu.gemm(false, true, 1.0, qh, kh, 0.0, scores);
  cpu.gemm(true, false, 1.0, qh, kh, 0.0, back);
  const Tensor gq = on_gpu(q), gk = on_gpu(k);
  const Tensor gqh = gq.permute({0, 2, 1, 3}), gkh = gk.permute({0, 2, 1, 3});
  auto errors_in = [&](backend::Precision p) {
    backend::set_precision(p);
    Allocator& a = backend::device_allocator(Device::CUDA);
    Tensor s = Tensor::empty({b, h, t, t}, DType::F32, a),
           r = Tensor::empty({b, h, dh, dh}, DType::F32, a);
    backend::Ops& gpu = backend::ops_for(Device::CUDA, DType::F32);
    gpu.gemm(false, true, 1.0, gqh, gkh, 0.0, s);
    Tensor rt = r.transpose(2, 3);  // a column-major C: r = Q^T K computed as rt = K^T Q
    gpu.gemm(true, false, 1.0, gkh, gqh, 0.0, rt);
    return std::pair{parity::normalised_error(backend::to_device(s, Device::CPU), scores),
                     parity::normalised_error(backend::to_device(r, Device::CPU), back)};
  };
  const auto [fp32_s, fp32_r] = errors_in(backend::Precision::Fp32);
  const auto [bf16_s, bf16_r] = errors_in(backend::Precision::Bf16);
  EXPECT_LT(fp32_s, 1e-6);
  EXPECT_LT(fp32_r, 1e-6);
  for (double e : {bf16_s, bf16_r}) {
    EXPECT_GT(e, 1e-4);  // rounded to bf16: not the fp32 result
    EXPECT_LT(e, 2e-2);  // and only that (a head read from the wrong place would be ~1)
  }
  std::printf(
      "per-head products (B %lld, H %lld), normalised error: fp32 %.2e %.2e, bf16 %.2e "
      "%.2e\n",
      static_cast<long long>(b), static_cast<long long>(h), fp32_s, fp32_r, bf16_s, bf16_r);
}
}  // namespace

TEST(CudaPrecision, PerHeadProductsOnStridedViews) {
  SKIP_WITHOUT_GPU();
  const RestorePrecision restore;
  check_per_head_products(5, 4);  // a call per head
  check_per_head_products(3, 4);  // a call per sequence
}

// nn::Linear under bf16 precision on the GPU rounds x and W once per forward and dy once per
// backward and gives the products those copies: its output and gradients are then the CPU's
// fp32 layer on the same rounded values (to fp32 summation order), and clearly not the
// unrounded layer's.
TEST(CudaPrecision, LinearRoundsItsOperandsOnceUnderBf16) {
  SKIP_WITHOUT_GPU();
  const RestorePrecision restore;
  auto rounded = [](const Tensor& t) {
    Tensor h = Tensor::empty(t.shape(), DType::BF16), r = Tensor::empty(t.shape(), DType::F32);
    backend::ops_for(Device::CPU, DType::F32).convert(t, h);
    backend::ops_for(Device::CPU, DType::F32).convert(h, r);
    return r;
  };
  const Tensor x = parity::host_randn({64, 96}, 3), dy = parity::host_randn({64, 80}, 4);
  nn::Context ctx;
  // The CPU layer on rounded x, W and dy (the bias stays fp32; its gradient sums the fp32 dy).
  nn::Linear ref(96, 80, true, DType::F32), plain(96, 80, true, DType::F32);
  nn::init_params(ref, 5);
  nn::init_params(plain, 5);
  ref.weight().value.copy_from(rounded(ref.weight().value));
  const std::vector<double> y_ref = ref.forward(rounded(x), ctx).to_vector();
  const std::vector<double> dx_ref = ref.backward(rounded(dy), ctx).to_vector();
  const std::vector<double> y_plain = plain.forward(x, ctx).to_vector();

  backend::set_precision(backend::Precision::Bf16);
  std::unique_ptr<nn::Linear> gpu;
  {
    const nn::DeviceScope on(Device::CUDA);
    gpu = std::make_unique<nn::Linear>(96, 80, true, DType::F32);
  }
  nn::init_params(*gpu, 5);
  const Tensor y = gpu->forward(on_gpu(x), ctx);
  const Tensor dx = gpu->backward(on_gpu(dy), ctx);
  auto err = [](const Tensor& got, const std::vector<double>& want) {
    return parity::normalised_error(
        backend::to_device(got, Device::CPU),
        Tensor::from(want, {static_cast<int64_t>(want.size())}).reshape(got.shape()));
  };
  EXPECT_LT(err(y, y_ref), 1e-5) << "y";
  EXPECT_LT(err(dx, dx_ref), 1e-5) << "dx";
  EXPECT_LT(err(gpu->weight().grad, ref.weight().grad.to_vector()), 1e-5) << "dW";
  EXPECT_GT(err(y, y_plain), 1e-4) << "the operands were not rounded";
}
