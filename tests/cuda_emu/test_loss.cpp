// kernels/loss.cu on the CUDA stand-in, held to the CPU backend's losses (backend/ref/loss.cpp):
// cross-entropy (fp32 and bf16 logits) over both row paths (a warp per row up to 1024 classes, a
// block per row above), with ignored rows (ignore_index outside and inside [0, C)), argmax ties
// (the first maximum counts as correct, as torch.argmax), grad_scale, per-row losses, labels out
// of range (reported by their first row through *bad and left out, as loss.cuh says), no counted
// row and no row at all; MSE over one and several blocks, in place and not; Hinton KL at several
// temperatures over both row paths, exactly zero for equal distributions, and its refusal of a
// temperature <= 0. Every loss must repeat bit for bit (its sums have a fixed order) and write
// nothing outside its outputs and scratch.
#include <gtest/gtest.h>

#include <climits>
#include <random>
#include <sstream>

#include "backend/ops.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;

namespace {

uint64_t dbits(double v) {
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

// The CPU's exp is a polynomial within 2 ulp and the kernel's is libm's (the GPU's, within 2 ulp
// too); everything else is fp32 per element and double per sum on both sides, so losses and
// fp32 gradients agree to a few float roundings: 1e-6 of the loss (at least 1) or of the norm.
constexpr double kFp32Tolerance = 1e-6;
// bf16 gradients: the fp32 gradient rounded to 8 significant bits, a relative error of at most
// 2^-8 = 3.9e-3 per element.
constexpr double kBf16Tolerance = 4e-3;

void expect_loss_near(double got, double want, const std::string& what) {
  EXPECT_NEAR(got, want, kFp32Tolerance * std::max(1.0, std::abs(want))) << what;
}

// ---- cross-entropy ----------------------------------------------------------------------------

struct CeCase {
  int64_t n, c, ignore_index;
  bool ties;  // integer logits: maxima shared by several classes
};

std::ostream& operator<<(std::ostream& os, const CeCase& p) {
  return os << "n=" << p.n << " c=" << p.c << " ignore=" << p.ignore_index
            << (p.ties ? " ties" : "");
}

std::vector<float> ce_logits(const CeCase& p) {
  std::vector<float> x = randn(p.n * p.c, 1000 + static_cast<uint64_t>(p.n * p.c), 3.0);
  if (p.ties)
    for (float& v : x) v = std::round(v / 2);
  return x;
}

// Every 4th row ignored; of the others, a third labelled at the row's first maximum (correct), a
// third at its last maximum (correct only when the maximum is unique), a third at random.
std::vector<int32_t> ce_labels(const CeCase& p, const std::vector<float>& x) {
  std::mt19937_64 rng(77 + static_cast<uint64_t>(p.n));
  std::vector<int32_t> l(static_cast<size_t>(p.n));
  for (int64_t i = 0; i < p.n; ++i) {
    const float* row = x.data() + i * p.c;
    int64_t first = 0, last = 0;
    for (int64_t j = 1; j < p.c; ++j) {
      if (row[j] > row[first]) first = j;
      if (row[j] >= row[last]) last = j;
    }
    int64_t label = static_cast<int64_t>(rng() % static_cast<uint64_t>(p.c));
    if (i % 3 == 0) label = last;
    if (i % 3 == 1) label = first;
    if (i % 4 == 3) label = p.ignore_index;
    l[size_t(i)] = static_cast<int32_t>(label);
  }
  return l;
}

// What a cross-entropy launch leaves: the result, *bad, dlogits widened to float, row_loss.
struct CeOut {
  k::CeDeviceResult result{};
  int32_t bad = 0;
  std::vector<float> dlogits, row_loss;
  std::vector<uint16_t> dlogits_bits;  // bf16 only
};

// One launch of T's launcher as CudaOps makes it (*bad = INT32_MAX first), on scratch that holds
// stale bytes; row_loss when asked for, nullptr otherwise.
template <class T>
CeOut run_ce(const std::vector<T>& logits, const std::vector<int32_t>& labels, int64_t n, int64_t c,
             int64_t ignore, double grad_scale, bool with_row_loss) {
  Guarded<T> x(n * c, logits);
  Guarded<int32_t> lab(n, labels);
  Guarded<T> d(n * c);
  Guarded<float> row_loss(with_row_loss ? n : 0), stats(2 * n);
  Guarded<k::CeDeviceResult> partials(k::kLossMaxPartials), result(1);
  Guarded<int32_t> bad(1, std::vector<int32_t>{INT32_MAX});
  cudaError_t e;
  if constexpr (std::is_same_v<T, float>)
    e = k::launch_cross_entropy_f32(x.ptr(), lab.ptr(), n, c, ignore, grad_scale, d.ptr(),
                                    with_row_loss ? row_loss.ptr() : nullptr, stats.ptr(),
                                    partials.ptr(), result.ptr(), bad.ptr(), nullptr);
  else
    e = k::launch_cross_entropy_bf16(x.ptr(), lab.ptr(), n, c, ignore, grad_scale, d.ptr(),
                                     with_row_loss ? row_loss.ptr() : nullptr, stats.ptr(),
                                     partials.ptr(), result.ptr(), bad.ptr(), nullptr);
  EXPECT_EQ(e, cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_TRUE(d.guards_intact("dlogits"));
  EXPECT_TRUE(row_loss.guards_intact("row_loss"));
  EXPECT_TRUE(stats.guards_intact("row_stats"));
  EXPECT_TRUE(partials.guards_intact("partials"));
  EXPECT_TRUE(result.guards_intact("result"));
  EXPECT_TRUE(bad.guards_intact("bad"));
  CeOut out;
  out.result = result[0];
  out.bad = bad[0];
  for (int64_t i = 0; i < n * c; ++i) {
    if constexpr (std::is_same_v<T, float>) {
      out.dlogits.push_back(d[i]);
    } else {
      out.dlogits.push_back(bf16_to_float(d[i]));
      out.dlogits_bits.push_back(bits(d[i]));
    }
  }
  out.row_loss = row_loss.values();
  return out;
}

bool ce_counted(int32_t label, int64_t c, int64_t ignore) {
  return label != ignore && label >= 0 && label < c;
}

// The CPU op on the same logits, with labels out of range turned into ignore_index (the CPU
// refuses them; the kernel leaves their rows out).
struct CeWant {
  backend::Ops::CeResult result;
  std::vector<float> dlogits;
  std::vector<double> row_loss;  // in double, from the logits
};

CeWant ce_reference(const std::vector<float>& x, std::vector<int32_t> labels, int64_t n, int64_t c,
                    int64_t ignore, double grad_scale) {
  CeWant w;
  w.row_loss.assign(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    int32_t& l = labels[size_t(i)];
    if (!ce_counted(l, c, ignore)) {
      l = static_cast<int32_t>(ignore);
      continue;
    }
    const float* row = x.data() + i * c;
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < c; ++j) m = std::max(m, static_cast<double>(row[j]));
    for (int64_t j = 0; j < c; ++j) s += std::exp(static_cast<double>(row[j]) - m);
    w.row_loss[size_t(i)] = std::log(s) + m - static_cast<double>(row[l]);
  }
  Tensor d = Tensor::empty({n, c}, DType::F32);
  w.result =
      cpu_ops().cross_entropy(host(x, {n, c}), Tensor::from(labels, {n}), ignore, grad_scale, d);
  w.dlogits.assign(d.data<float>(), d.data<float>() + n * c);
  return w;
}

// The checks every cross-entropy launch must pass against the reference. tolerance: of dlogits.
void check_ce(const CeOut& got, const CeWant& want, const std::vector<int32_t>& labels, int64_t n,
              int64_t c, int64_t ignore, double tolerance, const std::string& what) {
  EXPECT_EQ(got.result.counted, want.result.counted) << what;
  EXPECT_EQ(got.result.correct, want.result.correct) << what;
  const double mean =
      got.result.counted > 0 ? got.result.loss_sum / static_cast<double>(got.result.counted) : 0.0;
  expect_loss_near(mean, want.result.loss, what + ": mean loss");
  EXPECT_LE(normalised_error(got.dlogits, want.dlogits), tolerance) << what << ": dlogits";
  for (int64_t i = 0; i < n; ++i) {
    if (ce_counted(labels[size_t(i)], c, ignore)) continue;
    for (int64_t j = 0; j < c; ++j)
      ASSERT_EQ(float_bits(got.dlogits[size_t(i * c + j)]), 0u)
          << what << ": row " << i << " (label " << labels[size_t(i)] << ") is not zero at " << j;
  }
  if (!got.row_loss.empty()) {
    EXPECT_LE(normalised_error(got.row_loss, want.row_loss), kFp32Tolerance) << what;
    for (int64_t i = 0; i < n; ++i)
      if (!ce_counted(labels[size_t(i)], c, ignore)) {
        ASSERT_EQ(float_bits(got.row_loss[size_t(i)]), 0u) << what << ": row_loss of row " << i;
      }
  }
}

}  // namespace

class EmuCrossEntropy : public ::testing::TestWithParam<CeCase> {};

TEST_P(EmuCrossEntropy, F32MatchesTheCpuAndRepeatsBitForBitWithoutRowLoss) {
  const CeCase& p = GetParam();
  const std::vector<float> x = ce_logits(p);
  const std::vector<int32_t> labels = ce_labels(p, x);
  const double grad_scale = 0.75;
  const CeOut got = run_ce(x, labels, p.n, p.c, p.ignore_index, grad_scale, true);
  EXPECT_EQ(got.bad, INT32_MAX) << "no label is out of range";
  const CeWant want = ce_reference(x, labels, p.n, p.c, p.ignore_index, grad_scale);
  ASSERT_GT(want.result.counted, 0);
  check_ce(got, want, labels, p.n, p.c, p.ignore_index, kFp32Tolerance, "f32");

  // Without row_loss (CudaOps' call), on other stale scratch and another thread schedule.
  const CeOut again = run_ce(x, labels, p.n, p.c, p.ignore_index, grad_scale, false);
  EXPECT_EQ(dbits(again.result.loss_sum), dbits(got.result.loss_sum));
  EXPECT_EQ(again.result.counted, got.result.counted);
  EXPECT_EQ(again.result.correct, got.result.correct);
  for (size_t i = 0; i < got.dlogits.size(); ++i)
    ASSERT_EQ(float_bits(again.dlogits[i]), float_bits(got.dlogits[i])) << "element " << i;
}

TEST_P(EmuCrossEntropy, Bf16MatchesTheCpuOnTheWidenedLogits) {
  const CeCase& p = GetParam();
  std::vector<float> x = ce_logits(p);
  std::vector<__nv_bfloat16> half(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    half[i] = float_to_bf16(x[i]);
    x[i] = bf16_to_float(half[i]);  // the CPU gets exactly the values the kernel reads
  }
  const std::vector<int32_t> labels = ce_labels(p, x);
  const double grad_scale = 2.0;
  const CeOut got = run_ce(half, labels, p.n, p.c, p.ignore_index, grad_scale, true);
  EXPECT_EQ(got.bad, INT32_MAX);
  const CeWant want = ce_reference(x, labels, p.n, p.c, p.ignore_index, grad_scale);
  check_ce(got, want, labels, p.n, p.c, p.ignore_index, kBf16Tolerance, "bf16");
}

// Warp per row: rows in 3 blocks with idle warps in the last, a row narrower than a warp, one
// just over a warp with ties, the widest warp row with an ignore_index inside [0, C), one class,
// 8 blocks of short rows full of ties. Block per row: just over 1024 classes with ties, and a wide
// row with ignore_index 0.
INSTANTIATE_TEST_SUITE_P(Shapes, EmuCrossEntropy,
                         ::testing::Values(CeCase{19, 10, -100, false}, CeCase{20, 33, -100, true},
                                           CeCase{9, 1024, 3, false}, CeCase{5, 1, -100, false},
                                           CeCase{64, 4, -1, true}, CeCase{3, 1025, -100, true},
                                           CeCase{3, 3000, 0, false}));

TEST(EmuCrossEntropy, LabelsOutOfRangeAreReportedByTheirFirstRowAndLeftOut) {
  // Warp per row, then block per row.
  for (const CeCase p : {CeCase{20, 7, -100, false}, CeCase{3, 1100, -100, false}}) {
    const std::vector<float> x = ce_logits(p);
    std::vector<int32_t> labels = ce_labels(p, x);
    int64_t first_bad = 0;
    if (p.n == 20) {
      labels[11] = -1;    // negative, and not ignore_index
      labels[5] = 7;      // == C
      labels[17] = 1000;  // far out
      first_bad = 5;
    } else {
      labels[2] = -2;
      labels[1] = 1100;
      first_bad = 1;
    }
    const CeOut got = run_ce(x, labels, p.n, p.c, p.ignore_index, 1.0, true);
    std::ostringstream what;
    what << p;
    EXPECT_EQ(got.bad, first_bad) << what.str();
    const CeWant want = ce_reference(x, labels, p.n, p.c, p.ignore_index, 1.0);
    ASSERT_GT(want.result.counted, 0);
    check_ce(got, want, labels, p.n, p.c, p.ignore_index, kFp32Tolerance, what.str());
  }
}

TEST(EmuCrossEntropy, NoCountedRowGivesZerosEverywhere) {
  // Every row ignored, or out of range: counted 0, loss 0, dlogits all zero (as the CPU op).
  for (const CeCase p : {CeCase{12, 9, -100, false}, CeCase{2, 1030, -100, false}}) {
    const std::vector<float> x = ce_logits(p);
    std::vector<int32_t> labels(static_cast<size_t>(p.n), -100);
    labels[1] = static_cast<int32_t>(p.c);
    const CeOut got = run_ce(x, labels, p.n, p.c, p.ignore_index, 1.0, true);
    EXPECT_EQ(got.bad, 1);
    EXPECT_EQ(dbits(got.result.loss_sum), dbits(0.0));
    EXPECT_EQ(got.result.counted, 0);
    EXPECT_EQ(got.result.correct, 0);
    for (size_t i = 0; i < got.dlogits.size(); ++i)
      ASSERT_EQ(float_bits(got.dlogits[i]), 0u) << "element " << i;
    for (size_t i = 0; i < got.row_loss.size(); ++i)
      ASSERT_EQ(float_bits(got.row_loss[i]), 0u) << "row " << i;
  }
}

TEST(EmuCrossEntropy, NoRowsZeroesTheResult) {
  // The result starts as 0xFF bytes: the launcher must write {0, 0, 0}, and nothing else.
  for (int64_t c : {int64_t{10}, int64_t{2000}}) {
    const CeOut got = run_ce(std::vector<float>{}, std::vector<int32_t>{}, 0, c, -100, 1.0, true);
    EXPECT_EQ(dbits(got.result.loss_sum), dbits(0.0));
    EXPECT_EQ(got.result.counted, 0);
    EXPECT_EQ(got.result.correct, 0);
    EXPECT_EQ(got.bad, INT32_MAX);
  }
}

// ---- MSE --------------------------------------------------------------------------------------

class EmuMse : public ::testing::TestWithParam<int64_t> {};

TEST_P(EmuMse, MatchesTheCpuInPlaceOrNotAndRepeatsBitForBit) {
  const int64_t n = GetParam();
  const std::vector<float> x = randn(n, 500 + static_cast<uint64_t>(n), 2.0);
  const std::vector<float> target = randn(n, 600 + static_cast<uint64_t>(n), 1.0);
  const double grad_scale = 0.5;
  Guarded<float> xs(n, x), ts(n, target), dx(n);
  Guarded<double> partials(k::kLossMaxPartials), loss(1);
  ASSERT_EQ(k::launch_mse_f32(xs.ptr(), ts.ptr(), n, grad_scale, dx.ptr(), partials.ptr(),
                              loss.ptr(), nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_TRUE(dx.guards_intact("dx"));
  EXPECT_TRUE(partials.guards_intact("partials"));
  EXPECT_TRUE(loss.guards_intact("loss"));
  const double got = loss[0];

  // Each (x - t)^2 is exact in double; the sums differ in order only: n roundings of 2^-53.
  double want = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double diff = static_cast<double>(x[size_t(i)] - target[size_t(i)]);
    want += diff * diff;
  }
  want /= static_cast<double>(n);
  EXPECT_NEAR(got, want, 1e-15 * static_cast<double>(n) * want);
  Tensor cpu_dx = Tensor::empty({n}, DType::F32);
  EXPECT_NEAR(cpu_ops().mse(host(x, {n}), host(target, {n}), grad_scale, cpu_dx), got,
              1e-15 * static_cast<double>(n) * want);
  // dx = float(2 gs / n) * (x - t): the same two roundings as the CPU's, so the same bits.
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(float_bits(dx[i]), float_bits(cpu_dx.data<float>()[i])) << i;

  // In place (dx aliasing x), on stale scratch: the same gradient and loss, bit for bit.
  std::memset(partials.ptr(), 0x5A, k::kLossMaxPartials * sizeof(double));
  ASSERT_EQ(k::launch_mse_f32(xs.ptr(), ts.ptr(), n, grad_scale, xs.ptr(), partials.ptr(),
                              loss.ptr(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(xs.guards_intact("x as dx"));
  EXPECT_EQ(dbits(loss[0]), dbits(got));
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(float_bits(xs[i]), float_bits(dx[i])) << i;
}

// One element, under and at one block's 1024 elements (4 per thread), one more, five blocks.
INSTANTIATE_TEST_SUITE_P(Lengths, EmuMse, ::testing::Values<int64_t>(1, 7, 1024, 1025, 4099));

TEST(EmuMse, NoElementsGiveZeroLoss) {
  Guarded<float> x(0), dx(0);
  Guarded<double> partials(k::kLossMaxPartials), loss(1);
  ASSERT_EQ(
      k::launch_mse_f32(x.ptr(), x.ptr(), 0, 1.0, dx.ptr(), partials.ptr(), loss.ptr(), nullptr),
      cudaSuccess);
  EXPECT_EQ(dbits(loss[0]), dbits(0.0));  // written over the 0xFF fill
  EXPECT_TRUE(dx.guards_intact("dx"));
  EXPECT_TRUE(loss.guards_intact("loss"));
}

// ---- KL divergence ----------------------------------------------------------------------------

namespace {

struct KlCase {
  int64_t n, c;
  double temperature;
};

std::ostream& operator<<(std::ostream& os, const KlCase& p) {
  return os << "n=" << p.n << " c=" << p.c << " T=" << p.temperature;
}

struct KlOut {
  double loss;
  std::vector<float> d;
};

KlOut run_kl(const std::vector<float>& s, const std::vector<float>& t, const KlCase& p,
             double grad_scale) {
  Guarded<float> ss(p.n * p.c, s), ts(p.n * p.c, t), d(p.n * p.c);
  Guarded<double> partials(k::kLossMaxPartials), loss(1);
  EXPECT_EQ(k::launch_kl_div_f32(ss.ptr(), ts.ptr(), p.n, p.c, p.temperature, grad_scale, d.ptr(),
                                 partials.ptr(), loss.ptr(), nullptr),
            cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_TRUE(d.guards_intact("dstudent"));
  EXPECT_TRUE(partials.guards_intact("partials"));
  EXPECT_TRUE(loss.guards_intact("loss"));
  return {loss[0], d.values()};
}

}  // namespace

class EmuKlDiv : public ::testing::TestWithParam<KlCase> {};

TEST_P(EmuKlDiv, MatchesTheCpuAndRepeatsBitForBit) {
  const KlCase& p = GetParam();
  const std::vector<float> s = randn(p.n * p.c, 700 + static_cast<uint64_t>(p.c), 2.0);
  const std::vector<float> t = randn(p.n * p.c, 800 + static_cast<uint64_t>(p.c), 2.0);
  const double grad_scale = 0.5;
  const KlOut got = run_kl(s, t, p, grad_scale);
  Tensor d = Tensor::empty({p.n, p.c}, DType::F32);
  const double want =
      cpu_ops().kl_div(host(s, {p.n, p.c}), host(t, {p.n, p.c}), p.temperature, grad_scale, d);
  std::ostringstream what;
  what << p;
  expect_loss_near(got.loss, want, what.str());
  EXPECT_LE(
      normalised_error(got.d, std::vector<float>(d.data<float>(), d.data<float>() + d.numel())),
      kFp32Tolerance)
      << what.str();

  const KlOut again = run_kl(s, t, p, grad_scale);
  EXPECT_EQ(dbits(again.loss), dbits(got.loss)) << what.str();
  for (size_t i = 0; i < got.d.size(); ++i)
    ASSERT_EQ(float_bits(again.d[i]), float_bits(got.d[i])) << what.str() << ": element " << i;
}

TEST_P(EmuKlDiv, EqualDistributionsGiveExactlyZero) {
  // loss.cu writes the gradient as (es - et ss/st) coef/ss and the loss from the same sums, so
  // equal inputs give zeros, not rounding noise.
  const KlCase& p = GetParam();
  const std::vector<float> s = randn(p.n * p.c, 900 + static_cast<uint64_t>(p.c), 2.0);
  const KlOut got = run_kl(s, s, p, 1.0);
  EXPECT_EQ(dbits(got.loss), dbits(0.0)) << got.loss;
  for (size_t i = 0; i < got.d.size(); ++i) ASSERT_EQ(float_bits(got.d[i]), 0u) << "element " << i;
}

// Warp per row: 3 blocks, 100 classes, the widest warp row, one class; block per row: 1500
// classes. Temperatures 1, 2.5, 4 and 2.
INSTANTIATE_TEST_SUITE_P(Shapes, EmuKlDiv,
                         ::testing::Values(KlCase{19, 10, 1.0}, KlCase{13, 100, 2.5},
                                           KlCase{9, 1024, 4.0}, KlCase{3, 1, 2.0},
                                           KlCase{3, 1500, 2.0}));

TEST(EmuKlDiv, RefusesATemperatureNotAboveZeroAndWritesNothing) {
  Guarded<float> s(20, randn(20, 1)), d(20);
  Guarded<double> partials(k::kLossMaxPartials), loss(1);
  for (double temperature : {0.0, -1.0, double(NAN)})
    for (int64_t n : {int64_t{4}, int64_t{0}}) {
      EXPECT_EQ(k::launch_kl_div_f32(s.ptr(), s.ptr(), n, 5, temperature, 1.0, d.ptr(),
                                     partials.ptr(), loss.ptr(), nullptr),
                cudaErrorInvalidValue)
          << "T = " << temperature << ", n = " << n;
    }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  uint64_t loss_bytes = 0;
  std::memcpy(&loss_bytes, loss.ptr(), sizeof loss_bytes);
  EXPECT_EQ(loss_bytes, ~uint64_t{0}) << "the loss was written";
  for (int64_t i = 0; i < 20; ++i) ASSERT_EQ(float_bits(d[i]), 0xFFFFFFFFu) << "dstudent " << i;
}

TEST(EmuKlDiv, NoRowsOrNoClassesGiveZeroLoss) {
  for (const KlCase p : {KlCase{0, 5, 1.0}, KlCase{3, 0, 1.0}}) {
    const KlOut got = run_kl({}, {}, p, 1.0);
    EXPECT_EQ(dbits(got.loss), dbits(0.0)) << p;
  }
}
