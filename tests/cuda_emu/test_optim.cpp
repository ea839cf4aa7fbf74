// kernels/optim.cu on the CUDA stand-in. optim.cuh promises PyTorch's single-tensor SGD and AdamW
// computed operation by operation in fp32, each product, quotient and sum rounded on its own, so
// the updates are held bit for bit to a replica of those operations written here (with every
// rounding forced), and to the CPU op by normalised error (the CPU build may contract into FMA).
// The multi-tensor launch over a segment table must equal one single-segment launch per segment
// bit for bit, update every element of every segment exactly once (odd lengths, segments of one,
// two and more chunks, empty segments first, in the middle and last, gaps between segments) and
// leave the gaps, the gradient and the table alone. Also: the empty launches, AdamW's refusal of
// step < 1, and the chunk numbering of optim_assign_chunks.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/ops.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;

namespace {

// v rounded to float on its own: the volatile store keeps the compiler (this file is built with
// -march=native) from fusing a product into the following sum, as the kernel's _rn intrinsics
// keep nvcc from it.
float rn(float v) {
  volatile float r = v;
  return r;
}

// First index where a and b differ in bits, or -1.
int64_t first_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (float_bits(a[i]) != float_bits(b[i])) return static_cast<int64_t>(i);
  return -1;
}

struct SgdConfig {
  const char* name;
  double lr, momentum;
  bool nesterov;
  double weight_decay;
};

std::ostream& operator<<(std::ostream& os, const SgdConfig& c) {
  return os << c.name;
}

// PyTorch's SGD step on elements [begin, begin + n), written as backend/ref/optim.cpp does.
void sgd_replica(std::vector<float>& p, const std::vector<float>& g, std::vector<float>& buf,
                 int64_t begin, int64_t n, const SgdConfig& c, double weight_decay,
                 bool first_step) {
  const float lr = static_cast<float>(c.lr), mom = static_cast<float>(c.momentum);
  const float wd = static_cast<float>(weight_decay);
  for (int64_t j = begin; j < begin + n; ++j) {
    const size_t i = static_cast<size_t>(j);
    const float pi = p[i];
    float d = weight_decay != 0 ? rn(g[i] + rn(wd * pi)) : g[i];
    if (c.momentum != 0) {
      const float b = first_step ? d : rn(rn(mom * buf[i]) + d);
      buf[i] = b;
      d = c.nesterov ? rn(d + rn(mom * b)) : b;
    }
    p[i] = rn(pi - rn(lr * d));
  }
}

struct AdamConfig {
  const char* name;
  double lr, beta1, beta2, eps;
};

std::ostream& operator<<(std::ostream& os, const AdamConfig& c) {
  return os << c.name;
}

// PyTorch's AdamW step (m.lerp_ in the form exact at its nearer end) on [begin, begin + n).
void adamw_replica(std::vector<float>& p, const std::vector<float>& g, std::vector<float>& m,
                   std::vector<float>& v, int64_t begin, int64_t n, const AdamConfig& c,
                   double weight_decay, int64_t step) {
  const double t = static_cast<double>(step), w = 1.0 - c.beta1;
  volatile double lr_wd = c.lr * weight_decay;  // not fused into 1 - lr wd
  const float decay = static_cast<float>(1.0 - lr_wd);
  const float wt = static_cast<float>(w), w1 = static_cast<float>(1.0 - w);
  const float b2 = static_cast<float>(c.beta2), one_b2 = static_cast<float>(1.0 - c.beta2);
  const float step_size = static_cast<float>(c.lr / (1.0 - std::pow(c.beta1, t)));
  const float bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(c.beta2, t)));
  const float eps = static_cast<float>(c.eps);
  for (int64_t j = begin; j < begin + n; ++j) {
    const size_t i = static_cast<size_t>(j);
    const float gi = g[i], m0 = m[i], v0 = v[i];
    const float pi = weight_decay != 0 ? rn(p[i] * decay) : p[i];
    const float mi = w < 0.5 ? rn(m0 + rn(wt * rn(gi - m0))) : rn(gi - rn(rn(gi - m0) * w1));
    const float vi = rn(rn(v0 * b2) + rn(rn(one_b2 * gi) * gi));
    const float denom = rn(rn(std::sqrt(vi) / bc2_sqrt) + eps);
    m[i] = mi;
    v[i] = vi;
    p[i] = rn(pi - rn(step_size * rn(mi / denom)));
  }
}

// The CPU op and the kernel round the same operations, but the CPU build may fuse a product and a
// sum (one rounding instead of two): an ulp or so per operation, a handful of operations a step,
// three steps, on values of order one: far under 1e-6 of the norm.
constexpr double kCpuTolerance = 1e-6;

}  // namespace

// ---- single segment ---------------------------------------------------------------------------

const SgdConfig kSgdConfigs[] = {
    {"plain", 0.1, 0.0, false, 0.0},
    {"decay_no_momentum", 0.1, 0.0, false, 1e-2},
    {"momentum", 0.05, 0.9, false, 5e-4},
    {"nesterov", 0.05, 0.9, true, 5e-4},
    {"nesterov_no_decay", 0.2, 0.5, true, 0.0},
};
const AdamConfig kAdamConfigs[] = {
    {"beta1_0_9", 1e-2, 0.9, 0.999, 1e-8},  // lerp weight 0.1: m + w (g - m)
    {"beta1_0_3", 3e-2, 0.3, 0.99, 1e-3},   // lerp weight 0.7: g - (g - m)(1 - w); eps that shows
};

class EmuSgd : public ::testing::TestWithParam<std::tuple<SgdConfig, int64_t>> {};

TEST_P(EmuSgd, ThreeStepsMatchTheReplicaBitForBitAndTheCpu) {
  const auto [c, n] = GetParam();
  const bool use_buf = c.momentum != 0;
  std::vector<float> p0 = randn(n, 1 + static_cast<uint64_t>(n));
  Guarded<float> p(n, p0), buf(use_buf ? n : 0);
  std::vector<float> want_p = p0, want_buf(static_cast<size_t>(n), NAN);
  Tensor cpu_p = host(p0, {n}), cpu_buf = use_buf ? Tensor::zeros({n}, DType::F32) : Tensor();
  for (int step = 1; step <= 3; ++step) {
    const std::vector<float> g = randn(n, 10 * static_cast<uint64_t>(n) + step);
    Guarded<float> grad(n, g);
    ASSERT_EQ(k::launch_sgd_update_f32(p.ptr(), grad.ptr(), use_buf ? buf.ptr() : nullptr, n, c.lr,
                                       c.momentum, c.nesterov, c.weight_decay, step == 1, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    EXPECT_TRUE(p.guards_intact("p"));
    EXPECT_TRUE(buf.guards_intact("momentum buffer"));
    EXPECT_TRUE(grad.guards_intact("g"));
    ASSERT_EQ(first_difference(grad.values(), g), -1) << "the gradient was written";
    sgd_replica(want_p, g, want_buf, 0, n, c, c.weight_decay, step == 1);
    cpu_ops().sgd_update(cpu_p, host(g, {n}), cpu_buf, c.lr, c.momentum, c.nesterov, c.weight_decay,
                         step == 1);
    ASSERT_EQ(first_difference(p.values(), want_p), -1) << c.name << ", step " << step;
    if (use_buf) {
      ASSERT_EQ(first_difference(buf.values(), want_buf), -1) << c.name << ", step " << step;
    }
  }
  EXPECT_LE(normalised_error(p.values(), to_vector(cpu_p)), kCpuTolerance) << c.name;
  if (use_buf) {
    EXPECT_LE(normalised_error(buf.values(), to_vector(cpu_buf)), kCpuTolerance) << c.name;
  }
}

// Lengths: empty, one element, one block and a thread more, four blocks with a tail.
INSTANTIATE_TEST_SUITE_P(ConfigsAndLengths, EmuSgd,
                         ::testing::Combine(::testing::ValuesIn(kSgdConfigs),
                                            ::testing::Values<int64_t>(0, 1, 257, 1000)),
                         [](const ::testing::TestParamInfo<EmuSgd::ParamType>& param) {
                           return std::string(std::get<0>(param.param).name) + "_n" +
                                  std::to_string(std::get<1>(param.param));
                         });

class EmuAdamW : public ::testing::TestWithParam<std::tuple<AdamConfig, double, int64_t>> {};

TEST_P(EmuAdamW, ThreeStepsMatchTheReplicaBitForBitAndTheCpu) {
  const auto [c, wd, n] = GetParam();
  const std::vector<float> p0 = randn(n, 2 + static_cast<uint64_t>(n));
  const std::vector<float> zeros(static_cast<size_t>(n), 0.0f);
  Guarded<float> p(n, p0), m(n, zeros), v(n, zeros);
  std::vector<float> want_p = p0, want_m = zeros, want_v = zeros;
  Tensor cpu_p = host(p0, {n}), cpu_m = host(zeros, {n}), cpu_v = host(zeros, {n});
  for (int64_t step = 1; step <= 3; ++step) {
    const std::vector<float> g = randn(n, 20 * static_cast<uint64_t>(n) + step, 0.5);
    Guarded<float> grad(n, g);
    ASSERT_EQ(k::launch_adamw_update_f32(p.ptr(), grad.ptr(), m.ptr(), v.ptr(), n, c.lr, c.beta1,
                                         c.beta2, c.eps, wd, step, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    EXPECT_TRUE(p.guards_intact("p"));
    EXPECT_TRUE(m.guards_intact("m"));
    EXPECT_TRUE(v.guards_intact("v"));
    ASSERT_EQ(first_difference(grad.values(), g), -1) << "the gradient was written";
    adamw_replica(want_p, g, want_m, want_v, 0, n, c, wd, step);
    cpu_ops().adamw_update(cpu_p, host(g, {n}), cpu_m, cpu_v, c.lr, c.beta1, c.beta2, c.eps, wd,
                           step);
    ASSERT_EQ(first_difference(p.values(), want_p), -1) << c.name << ", step " << step;
    ASSERT_EQ(first_difference(m.values(), want_m), -1) << c.name << ", step " << step;
    ASSERT_EQ(first_difference(v.values(), want_v), -1) << c.name << ", step " << step;
  }
  EXPECT_LE(normalised_error(p.values(), to_vector(cpu_p)), kCpuTolerance) << c.name;
  EXPECT_LE(normalised_error(m.values(), to_vector(cpu_m)), kCpuTolerance) << c.name;
  EXPECT_LE(normalised_error(v.values(), to_vector(cpu_v)), kCpuTolerance) << c.name;
}

INSTANTIATE_TEST_SUITE_P(ConfigsAndLengths, EmuAdamW,
                         ::testing::Combine(::testing::ValuesIn(kAdamConfigs),
                                            ::testing::Values(0.0, 0.1),
                                            ::testing::Values<int64_t>(0, 1, 257, 1000)),
                         [](const ::testing::TestParamInfo<EmuAdamW::ParamType>& param) {
                           return std::string(std::get<0>(param.param).name) +
                                  (std::get<1>(param.param) != 0 ? "_decay" : "_no_decay") + "_n" +
                                  std::to_string(std::get<2>(param.param));
                         });

// ---- multi-tensor -----------------------------------------------------------------------------

namespace {

// Flat buffers of kFlat elements and a table over them: an empty segment first, one of one
// element after a gap, one of two chunks with one element in the second, an empty one in the
// middle, one of exactly a chunk right after it (no gap), an odd one after a gap, one of three
// chunks, an empty one at the very end, and a gap after the last element. Gaps hold values no
// update may touch.
constexpr int64_t kFlat = 8535 + 2 * 4096 + 17 + 5;  // the last segment's end, and a gap of 5
std::vector<k::OptimSegment> segment_table() {
  return {{0, 0, 0.1, 0},
          {2, 1, 0.01, 0},
          {5, k::kOptimChunk + 1, 0.0, 0},
          {4102, 0, 0.5, 0},
          {4102, k::kOptimChunk, 5e-4, 0},
          {8200, 333, 0.02, 0},
          {8535, 2 * k::kOptimChunk + 17, 0.0, 0},
          {kFlat, 0, 0.0, 0}};
}

std::vector<backend::Ops::UpdateSegment> update_segments(const std::vector<k::OptimSegment>& t) {
  std::vector<backend::Ops::UpdateSegment> out;
  for (const auto& s : t) out.push_back({s.offset, s.numel, s.weight_decay});
  return out;
}

// The table in "device" memory, with guards, as CudaOps uploads it.
struct DeviceTable {
  std::vector<k::OptimSegment> host = segment_table();
  int64_t total_chunks = k::optim_assign_chunks(host.data(), static_cast<int64_t>(host.size()));
  Guarded<k::OptimSegment> device{static_cast<int64_t>(host.size()), host};
  int64_t count() const { return static_cast<int64_t>(host.size()); }

  ::testing::AssertionResult unchanged() const {
    if (std::memcmp(device.ptr(), host.data(), host.size() * sizeof(k::OptimSegment)) != 0)
      return ::testing::AssertionFailure() << "the segment table was written";
    return device.guards_intact("segment table");
  }
};

}  // namespace

TEST(EmuOptimMulti, AssignChunksNumbersTheChunksOfEachSegmentInOrder) {
  std::vector<k::OptimSegment> t = segment_table();
  EXPECT_EQ(k::optim_assign_chunks(t.data(), static_cast<int64_t>(t.size())), 8);
  const int64_t want[] = {0, 0, 1, 3, 3, 4, 5, 8};
  for (size_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i].chunk_begin, want[i]) << "segment " << i;
}

class EmuSgdMulti : public ::testing::TestWithParam<SgdConfig> {};

TEST_P(EmuSgdMulti, EqualsPerSegmentLaunchesAndTheReplicaBitForBitAndTheCpu) {
  const SgdConfig& c = GetParam();
  const bool use_buf = c.momentum != 0;
  DeviceTable table;
  const std::vector<float> p0 = randn(kFlat, 31, 1.0);
  const std::vector<float> buf0 = randn(kFlat, 32, 0.5);
  Guarded<float> p(kFlat, p0), buf(kFlat, buf0);    // one launch over the table
  Guarded<float> p1(kFlat, p0), buf1(kFlat, buf0);  // one launch per segment
  std::vector<float> want_p = p0, want_buf = buf0;  // the replica, per segment
  Tensor cpu_p = host(p0, {kFlat}), cpu_buf = host(buf0, {kFlat});
  for (int step = 1; step <= 2; ++step) {
    const std::vector<float> g = randn(kFlat, 40 + static_cast<uint64_t>(step), 1.0);
    Guarded<float> grad(kFlat, g);
    // The Nesterov configurations start with first_step (buf = d), the others from a non-zero
    // buffer: both forms of the momentum update go through the table.
    const bool first = step == 1 && c.nesterov;
    ASSERT_EQ(k::launch_sgd_update_multi_f32(p.ptr(), grad.ptr(), use_buf ? buf.ptr() : nullptr,
                                             table.device.ptr(), table.count(), table.total_chunks,
                                             c.lr, c.momentum, c.nesterov, first, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    EXPECT_TRUE(p.guards_intact("p"));
    EXPECT_TRUE(buf.guards_intact("momentum buffer"));
    EXPECT_TRUE(grad.guards_intact("g"));
    EXPECT_TRUE(table.unchanged());
    ASSERT_EQ(first_difference(grad.values(), g), -1) << "the gradient was written";
    for (const auto& s : table.host) {
      ASSERT_EQ(k::launch_sgd_update_f32(p1.ptr() + s.offset, grad.ptr() + s.offset,
                                         use_buf ? buf1.ptr() + s.offset : nullptr, s.numel, c.lr,
                                         c.momentum, c.nesterov, s.weight_decay, first, nullptr),
                cudaSuccess);
      sgd_replica(want_p, g, want_buf, s.offset, s.numel, c, s.weight_decay, first);
    }
    cpu_ops().sgd_update_segments(cpu_p, host(g, {kFlat}), cpu_buf, update_segments(table.host),
                                  c.lr, c.momentum, c.nesterov, first);
    // Whole buffers, gaps included: an element updated twice or never differs from both.
    ASSERT_EQ(first_difference(p.values(), p1.values()), -1) << c.name << ", step " << step;
    ASSERT_EQ(first_difference(buf.values(), buf1.values()), -1) << c.name << ", step " << step;
    ASSERT_EQ(first_difference(p.values(), want_p), -1) << c.name << ", step " << step;
    ASSERT_EQ(first_difference(buf.values(), want_buf), -1) << c.name << ", step " << step;
  }
  EXPECT_LE(normalised_error(p.values(), to_vector(cpu_p)), kCpuTolerance) << c.name;
  EXPECT_LE(normalised_error(buf.values(), to_vector(cpu_buf)), kCpuTolerance) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Configs, EmuSgdMulti, ::testing::ValuesIn(kSgdConfigs),
                         [](const ::testing::TestParamInfo<SgdConfig>& param) {
                           return std::string(param.param.name);
                         });

class EmuAdamWMulti : public ::testing::TestWithParam<AdamConfig> {};

TEST_P(EmuAdamWMulti, EqualsPerSegmentLaunchesAndTheReplicaBitForBitAndTheCpu) {
  const AdamConfig& c = GetParam();
  DeviceTable table;
  const std::vector<float> p0 = randn(kFlat, 51, 1.0), m0 = randn(kFlat, 52, 0.1);
  std::vector<float> v0 = randn(kFlat, 53, 0.1);
  for (float& x : v0) x = x * x;  // a second moment is not negative
  Guarded<float> p(kFlat, p0), m(kFlat, m0), v(kFlat, v0);
  Guarded<float> p1(kFlat, p0), m1(kFlat, m0), v1(kFlat, v0);
  std::vector<float> want_p = p0, want_m = m0, want_v = v0;
  Tensor cpu_p = host(p0, {kFlat}), cpu_m = host(m0, {kFlat}), cpu_v = host(v0, {kFlat});
  for (int64_t step = 4; step <= 5; ++step) {  // as if resumed: step > 1 on non-zero moments
    const std::vector<float> g = randn(kFlat, 60 + static_cast<uint64_t>(step), 0.5);
    Guarded<float> grad(kFlat, g);
    ASSERT_EQ(k::launch_adamw_update_multi_f32(
                  p.ptr(), grad.ptr(), m.ptr(), v.ptr(), table.device.ptr(), table.count(),
                  table.total_chunks, c.lr, c.beta1, c.beta2, c.eps, step, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    EXPECT_TRUE(p.guards_intact("p"));
    EXPECT_TRUE(m.guards_intact("m"));
    EXPECT_TRUE(v.guards_intact("v"));
    EXPECT_TRUE(grad.guards_intact("g"));
    EXPECT_TRUE(table.unchanged());
    ASSERT_EQ(first_difference(grad.values(), g), -1) << "the gradient was written";
    for (const auto& s : table.host) {
      ASSERT_EQ(k::launch_adamw_update_f32(p1.ptr() + s.offset, grad.ptr() + s.offset,
                                           m1.ptr() + s.offset, v1.ptr() + s.offset, s.numel, c.lr,
                                           c.beta1, c.beta2, c.eps, s.weight_decay, step, nullptr),
                cudaSuccess);
      adamw_replica(want_p, g, want_m, want_v, s.offset, s.numel, c, s.weight_decay, step);
    }
    cpu_ops().adamw_update_segments(cpu_p, host(g, {kFlat}), cpu_m, cpu_v,
                                    update_segments(table.host), c.lr, c.beta1, c.beta2, c.eps,
                                    step);
    for (auto [got, per_segment, want, what] :
         {std::tuple{&p, &p1, &want_p, "p"}, std::tuple{&m, &m1, &want_m, "m"},
          std::tuple{&v, &v1, &want_v, "v"}}) {
      ASSERT_EQ(first_difference(got->values(), per_segment->values()), -1)
          << c.name << ", step " << step << ": " << what << ", multi vs per segment";
      ASSERT_EQ(first_difference(got->values(), *want), -1)
          << c.name << ", step " << step << ": " << what << ", multi vs replica";
    }
  }
  EXPECT_LE(normalised_error(p.values(), to_vector(cpu_p)), kCpuTolerance) << c.name;
  EXPECT_LE(normalised_error(m.values(), to_vector(cpu_m)), kCpuTolerance) << c.name;
  EXPECT_LE(normalised_error(v.values(), to_vector(cpu_v)), kCpuTolerance) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Configs, EmuAdamWMulti, ::testing::ValuesIn(kAdamConfigs),
                         [](const ::testing::TestParamInfo<AdamConfig>& param) {
                           return std::string(param.param.name);
                         });

// ---- empty launches and refusals --------------------------------------------------------------

TEST(EmuOptimMulti, EmptyTablesAndAllEmptySegmentsWriteNothing) {
  const std::vector<float> p0 = randn(64, 70);
  Guarded<float> p(64, p0), g(64, p0), s1(64, p0), s2(64, p0);
  std::vector<k::OptimSegment> host = {{0, 0, 0.1, 0}, {10, 0, 0.0, 0}, {64, 0, 0.0, 0}};
  const int64_t chunks = k::optim_assign_chunks(host.data(), 3);
  ASSERT_EQ(chunks, 0);
  Guarded<k::OptimSegment> table(3, host);
  for (int64_t count : {int64_t{0}, int64_t{3}}) {
    EXPECT_EQ(k::launch_sgd_update_multi_f32(p.ptr(), g.ptr(), s1.ptr(), table.ptr(), count, chunks,
                                             0.1, 0.9, true, false, nullptr),
              cudaSuccess);
    EXPECT_EQ(k::launch_adamw_update_multi_f32(p.ptr(), g.ptr(), s1.ptr(), s2.ptr(), table.ptr(),
                                               count, chunks, 0.1, 0.9, 0.999, 1e-8, 1, nullptr),
              cudaSuccess);
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  for (const Guarded<float>* b : {&p, &s1, &s2}) {
    EXPECT_TRUE(b->guards_intact("buffer"));
    EXPECT_EQ(first_difference(b->values(), p0), -1);
  }
}

TEST(EmuAdamW, RefusesStepsBelowOneAndWritesNothing) {
  const std::vector<float> p0 = randn(300, 80);
  Guarded<float> p(300, p0), g(300, p0), m(300, p0), v(300, p0);
  std::vector<k::OptimSegment> small = {{0, 100, 0.1, 0}, {120, 180, 0.0, 0}};
  const int64_t chunks = k::optim_assign_chunks(small.data(), 2);
  Guarded<k::OptimSegment> small_table(2, small);
  for (int64_t step : {int64_t{0}, int64_t{-1}}) {
    EXPECT_EQ(k::launch_adamw_update_f32(p.ptr(), g.ptr(), m.ptr(), v.ptr(), 300, 1e-3, 0.9, 0.999,
                                         1e-8, 0.01, step, nullptr),
              cudaErrorInvalidValue)
        << "step " << step;
    EXPECT_EQ(
        k::launch_adamw_update_multi_f32(p.ptr(), g.ptr(), m.ptr(), v.ptr(), small_table.ptr(), 2,
                                         chunks, 1e-3, 0.9, 0.999, 1e-8, step, nullptr),
        cudaErrorInvalidValue)
        << "step " << step;
    // Refused even with nothing to update.
    EXPECT_EQ(k::launch_adamw_update_f32(p.ptr(), g.ptr(), m.ptr(), v.ptr(), 0, 1e-3, 0.9, 0.999,
                                         1e-8, 0.01, step, nullptr),
              cudaErrorInvalidValue)
        << "step " << step;
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  for (const Guarded<float>* b : {&p, &m, &v}) {
    EXPECT_TRUE(b->guards_intact("buffer"));
    EXPECT_EQ(first_difference(b->values(), p0), -1);
  }
}
