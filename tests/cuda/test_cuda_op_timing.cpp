// backend/op_timing.hpp on the GPU: timed ops are recorded once each under their own name, an op
// that calls another counts once (gemm goes through CudaOps::gemm into cuda_gemm), nothing is
// recorded while timing is off, and taking the timings clears them. Skipped without a GPU.
#include <gtest/gtest.h>

#include "backend/op_timing.hpp"
#include "backend/ops.hpp"
#include "backend/transfer.hpp"
#include "skip_without_gpu.hpp"

using namespace win;

TEST(CudaOpTiming, RecordsOutermostOpsOnlyWhileOn) {
  SKIP_WITHOUT_GPU();
  Allocator& gpu = backend::device_allocator(Device::CUDA);
  auto& ops = backend::ops_for(Device::CUDA, DType::F32);
  Tensor a = Tensor::zeros({256, 256}, DType::F32, gpu),
         b = Tensor::zeros({256, 256}, DType::F32, gpu);
  Tensor c = Tensor::zeros({256, 256}, DType::F32, gpu);
  (void)backend::take_op_timings();
  ops.add(a, b, c);  // off: not recorded
  backend::set_op_timing(true);
  ops.add(a, b, c);
  ops.gemm(false, false, 1.0, a, b, 0.0, c);
  ops.gemm(false, false, 1.0, a, b, 0.0, c);
  backend::set_op_timing(false);
  const auto rows = backend::take_op_timings();
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& r : rows) {
    EXPECT_TRUE(r.name == "add" || r.name == "gemm") << r.name;
    EXPECT_EQ(r.calls, r.name == "add" ? 1 : 2) << r.name;
    EXPECT_GT(r.ms, 0.0) << r.name;
  }
  EXPECT_TRUE(backend::take_op_timings().empty());  // taken: cleared
}
