// kernels/attention.cu and attention_tc.cu on the CUDA stand-in: the fused attention forward (O
// and the row logsumexp) and backward (dQ, dK, dV), on CUDA cores and on tensor cores (wmma, whose
// stand-in is shim/mma.h), against a double-precision reference of what attention.cuh promises,
// S = scale Q K^T + mask_bias[b, key], P = softmax(S), O = (P * keep / (1 - p)) V.
// The CPU backend has no fused attention (Ops::fuses_attention is false there), so the reference
// is the double loops of tests/cuda/test_cuda_attention.cpp written again here; the keep masks are
// the CPU's Ops::dropout masks, as CudaOps draws them. The shapes cover each head-dim tile
// (dh <= 32, <= 64, <= 128, with dh padded inside the tile and dh = 1), T = 1, below, at and past
// the 64-row tile (17, 64, 65, 130), B and H above 1 (the mask is per batch, the keep mask per
// head), and the three layouts the strides allow: dense (B, H, T, dh), the heads of a
// (B, T, H * dh) projection, and rows with gaps between them (the gaps must be neither read nor
// written). Inputs sit between NaN fences a tile of rows wide, so a read past a view (not only
// past the buffer's guards) spoils the results. Also: the -inf mask contract (O = 0,
// lse = -inf, no gradient), determinism, the p-without-mask rule, empty sizes and the refusals
// (dh outside [1, 128], p outside [0, 1); the launchers have none for T > 512, which attention.cuh
// allows, and T > 130 is not run here: each 64 x 64 tile pair costs the stand-in ~20 ms).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "backend/ops.hpp"
#include "core/rng.hpp"
#include "core/strcat.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;

namespace {

enum class Layout { kDense, kHeadsOfProjection, kGappedRows };

struct Shape {
  int64_t b, h, t, dh;
  int64_t dense() const { return b * h * t * dh; }
  int64_t rows() const { return b * h * t; }
};

k::AttentionStrides strides_for(const Shape& s, Layout layout) {
  switch (layout) {
    case Layout::kDense:
      return k::attention_strides_bhtd(s.h, s.t, s.dh);
    case Layout::kHeadsOfProjection:
      return k::attention_strides_bthd(s.h, s.t, s.dh);
    case Layout::kGappedRows: {
      // Odd gaps after each row, head and batch, so that no stride is a multiple of another.
      const int64_t row = s.dh + 3, head = s.t * row + 5, batch = s.h * head + 7;
      return {batch, head, row};
    }
  }
  return {};
}

// Elements of the underlying buffer a view spans (its last element + 1).
int64_t span_of(const Shape& s, const k::AttentionStrides& st) {
  if (s.dense() == 0) return 0;
  return (s.b - 1) * st.batch + (s.h - 1) * st.head + (s.t - 1) * st.row + s.dh;
}

template <class T>
float to_float(T v) {
  if constexpr (std::is_same_v<T, float>)
    return v;
  else
    return bf16_to_float(v);
}
template <class T>
T from_float(float v) {
  if constexpr (std::is_same_v<T, float>)
    return v;
  else
    return float_to_bf16(v);
}

// A (B, H, T, dh) view of a buffer with `strides`, between fences of NaN a whole tile of rows
// wide on both sides (Guarded's body starts as 0xFF bytes, NaN in fp32 and bf16), so that an
// input read outside the view, in its gaps or past its ends, turns the results into NaN, and an
// output written there is seen by untouched_outside_view().
template <class T>
class View {
 public:
  View(const Shape& s, k::AttentionStrides st)
      : shape_(s), st_(st), fence_(64 * st.row + 128), buf_(span_of(s, st) + 2 * fence_) {}
  View(const Shape& s, k::AttentionStrides st, const std::vector<float>& dense) : View(s, st) {
    for (int64_t i = 0; i < s.dense(); ++i) ptr()[offset(i)] = from_float<T>(dense[size_t(i)]);
  }
  T* ptr() { return buf_.ptr() + fence_; }
  // Element i of the dense (B, H, T, dh) order, as a float.
  std::vector<float> gather() {
    std::vector<float> out(size_t(shape_.dense()));
    for (int64_t i = 0; i < shape_.dense(); ++i) out[size_t(i)] = to_float(ptr()[offset(i)]);
    return out;
  }
  ::testing::AssertionResult guards_intact(const std::string& name) const {
    return buf_.guards_intact(name);
  }
  // Success when every element outside the view still holds its initial 0xFF bytes.
  ::testing::AssertionResult untouched_outside_view(const std::string& name) {
    std::vector<bool> in(size_t(buf_.size()), false);
    for (int64_t i = 0; i < shape_.dense(); ++i) in[size_t(fence_ + offset(i))] = true;
    const auto* bytes = reinterpret_cast<const unsigned char*>(buf_.ptr());
    for (int64_t e = 0; e < buf_.size(); ++e) {
      if (in[size_t(e)]) continue;
      for (size_t byte = 0; byte < sizeof(T); ++byte)
        if (bytes[size_t(e) * sizeof(T) + byte] != 0xFF)
          return ::testing::AssertionFailure()
                 << name << ": element " << e - fence_ << " of the buffer, outside the view, "
                 << "was written";
    }
    return ::testing::AssertionSuccess();
  }

 private:
  int64_t offset(int64_t dense_index) const {
    const int64_t d = dense_index % shape_.dh, r = dense_index / shape_.dh;
    const int64_t i = r % shape_.t, bh = r / shape_.t;
    return (bh / shape_.h) * st_.batch + (bh % shape_.h) * st_.head + i * st_.row + d;
  }
  Shape shape_;
  k::AttentionStrides st_;
  int64_t fence_;
  Guarded<T> buf_;
};

// A dense (B, H, T) or (B, T) fp32 vector (lse, delta, the mask bias) as a View, for its fences.
Shape vector_shape(int64_t b, int64_t h, int64_t t) {
  return {b, h, t, 1};
}
View<float> fenced_vector(int64_t b, int64_t h, int64_t t) {
  return View<float>(vector_shape(b, h, t), k::attention_strides_bhtd(h, t, 1));
}
View<float> fenced_vector(int64_t b, int64_t h, int64_t t, const std::vector<float>& values) {
  return View<float>(vector_shape(b, h, t), k::attention_strides_bhtd(h, t, 1), values);
}

struct Reference {
  std::vector<double> o, lse, dq, dk, dv;
};

// The double reference over dense (B, H, T, dh) inputs; mask (B, T) (may hold -inf: a row with
// every key at -inf has O = 0, lse = -inf and no gradient, as attention.cuh says); keep
// (B, H, T, T) or empty.
Reference reference(const Shape& s, const std::vector<float>& q, const std::vector<float>& k,
                    const std::vector<float>& v, const std::vector<float>& mask,
                    const std::vector<float>& dout, double scale, const std::vector<uint8_t>& keep,
                    double drop_p) {
  Reference r;
  r.o.assign(size_t(s.dense()), 0.0);
  r.dq = r.dk = r.dv = r.o;
  r.lse.assign(size_t(s.rows()), 0.0);
  const auto T = size_t(s.t), D = size_t(s.dh);
  std::vector<double> sc(T * T), pr(T * T), f(T * T, 1.0);
  for (int64_t b = 0; b < s.b; ++b)
    for (int64_t h = 0; h < s.h; ++h) {
      const size_t bh = size_t(b * s.h + h), base = bh * T * D;
      auto at = [&](size_t row, size_t d) { return base + row * D + d; };
      if (!keep.empty())
        for (size_t ij = 0; ij < T * T; ++ij)
          f[ij] = keep[bh * T * T + ij] ? 1.0 / (1.0 - drop_p) : 0.0;
      for (size_t i = 0; i < T; ++i) {
        double mx = -INFINITY;
        for (size_t j = 0; j < T; ++j) {
          double dot = 0;
          for (size_t d = 0; d < D; ++d) dot += double(q[at(i, d)]) * k[at(j, d)];
          sc[i * T + j] = scale * dot + (mask.empty() ? 0.0 : mask[size_t(b) * T + j]);
          mx = std::max(mx, sc[i * T + j]);
        }
        if (mx == -INFINITY) {  // every key masked out
          r.lse[bh * T + i] = -INFINITY;
          for (size_t j = 0; j < T; ++j) pr[i * T + j] = 0.0;
          continue;
        }
        double z = 0;
        for (size_t j = 0; j < T; ++j) z += std::exp(sc[i * T + j] - mx);
        r.lse[bh * T + i] = mx + std::log(z);
        for (size_t j = 0; j < T; ++j) pr[i * T + j] = std::exp(sc[i * T + j] - mx) / z;
        for (size_t d = 0; d < D; ++d) {
          double acc = 0;
          for (size_t j = 0; j < T; ++j) acc += pr[i * T + j] * f[i * T + j] * v[at(j, d)];
          r.o[at(i, d)] = acc;
        }
      }
      // dP = (dO V^T) f; dS = P (dP - rowsum(dP P)); dQ = scale dS K; dK = scale dS^T Q;
      // dV = (P f)^T dO.
      std::vector<double> dp(T);
      for (size_t i = 0; i < T; ++i) {
        double row = 0;
        for (size_t j = 0; j < T; ++j) {
          double acc = 0;
          for (size_t d = 0; d < D; ++d) acc += double(dout[at(i, d)]) * v[at(j, d)];
          dp[j] = acc * f[i * T + j];
          row += dp[j] * pr[i * T + j];
        }
        for (size_t j = 0; j < T; ++j) {
          const double ds = pr[i * T + j] * (dp[j] - row);
          for (size_t d = 0; d < D; ++d) {
            r.dq[at(i, d)] += scale * ds * k[at(j, d)];
            r.dk[at(j, d)] += scale * ds * q[at(i, d)];
            r.dv[at(j, d)] += pr[i * T + j] * f[i * T + j] * dout[at(i, d)];
          }
        }
      }
    }
  return r;
}

// The keep mask CudaOps uses: the CPU's Ops::dropout mask over the (B, H, T, T) probabilities.
std::vector<uint8_t> cpu_keep_mask(const Shape& s, double p, uint64_t seed) {
  const int64_t n = s.rows() * s.t;
  const Tensor ones = host(std::vector<float>(size_t(n), 1.0f), {n});
  Tensor mask = Tensor::empty({n}, DType::U8), y = Tensor::empty({n}, DType::F32);
  cpu_ops().dropout(ones, p, Philox(seed, 3), 5, 77, mask, y);
  const auto* m = mask.data<uint8_t>();
  return std::vector<uint8_t>(m, m + n);
}

// A padding mask of small random biases per (batch, key), with -10000 (BERT's) on the last few
// keys of the last batch, leaving at least one key of every row unmasked.
std::vector<float> padding_mask(const Shape& s, uint64_t seed) {
  std::vector<float> m = randn(s.b * s.t, seed, 0.5);
  const int64_t masked = std::min<int64_t>(5, s.t - 1);
  for (int64_t j = s.t - masked; j < s.t; ++j) m[size_t((s.b - 1) * s.t + j)] = -10000.0f;
  return m;
}

struct Inputs {
  std::vector<float> q, k, v, dout, mask;  // mask empty: no mask bias
  std::vector<uint8_t> keep;               // empty: no dropout
  double p = 0.0;
  float scale = 1.0f;
};

Inputs make_inputs(const Shape& s, bool with_mask, double drop_p, bool bf16, uint64_t seed) {
  Inputs in;
  in.q = randn(s.dense(), seed + 1);
  in.k = randn(s.dense(), seed + 2);
  in.v = randn(s.dense(), seed + 3);
  in.dout = randn(s.dense(), seed + 4);
  if (bf16) {
    in.q = bf16_rounded(in.q), in.k = bf16_rounded(in.k);
    in.v = bf16_rounded(in.v), in.dout = bf16_rounded(in.dout);
  }
  if (with_mask) in.mask = padding_mask(s, seed + 5);
  if (drop_p > 0.0) in.keep = cpu_keep_mask(s, drop_p, seed + 6);
  in.p = drop_p;
  in.scale = static_cast<float>(1.0 / std::sqrt(double(s.dh)));
  return in;
}

// The two sets of kernels: attention.cuh's on CUDA cores, attention_tc.cuh's on tensor cores
// (the same contract, with the products' operands rounded to bf16).
enum class Cores { kCuda, kTensor };

template <class T>
struct Launchers;
template <>
struct Launchers<float> {
  decltype(&k::launch_attention_forward_f32) forward;
  decltype(&k::launch_attention_backward_f32) backward;
};
template <>
struct Launchers<__nv_bfloat16> {
  decltype(&k::launch_attention_forward_bf16) forward;
  decltype(&k::launch_attention_backward_bf16) backward;
};

template <class T>
Launchers<T> launchers(Cores cores) {
  const bool tc = cores == Cores::kTensor;
  if constexpr (std::is_same_v<T, float>)
    return tc ? Launchers<T>{k::launch_attention_tc_forward_f32,
                             k::launch_attention_tc_backward_f32}
              : Launchers<T>{k::launch_attention_forward_f32, k::launch_attention_backward_f32};
  else
    return tc ? Launchers<T>{k::launch_attention_tc_forward_bf16,
                             k::launch_attention_tc_backward_bf16}
              : Launchers<T>{k::launch_attention_forward_bf16, k::launch_attention_backward_bf16};
}

// What one forward + backward through the launchers gives, gathered in dense (B, H, T, dh) order.
struct Outputs {
  std::vector<float> o, lse, dq, dk, dv;
};

// Runs forward then backward as CudaOps does (lse from the forward into the backward, a (B, H, T)
// delta scratch, the same keep and p), checking every output buffer's guards and that nothing
// outside the views was written.
template <class T>
Outputs run_attention(const Shape& s, Layout layout, const Inputs& in, Cores cores = Cores::kCuda) {
  const Launchers<T> launch = launchers<T>(cores);
  const k::AttentionStrides st = strides_for(s, layout);
  View<T> q(s, st, in.q), kk(s, st, in.k), v(s, st, in.v), dout(s, st, in.dout);
  View<T> o(s, st), dq(s, st), dk(s, st), dv(s, st);
  View<float> lse = fenced_vector(s.b, s.h, s.t), delta = fenced_vector(s.b, s.h, s.t);
  View<float> mask = in.mask.empty() ? fenced_vector(0, 1, 0) : fenced_vector(s.b, 1, s.t, in.mask);
  Guarded<uint8_t> keep(int64_t(in.keep.size()), in.keep);
  const float* mask_ptr = in.mask.empty() ? nullptr : mask.ptr();
  const uint8_t* keep_ptr = in.keep.empty() ? nullptr : keep.ptr();

  Outputs out;
  EXPECT_EQ(launch.forward(q.ptr(), kk.ptr(), v.ptr(), mask_ptr, keep_ptr, in.p, s.b, s.h, s.t,
                           s.dh, in.scale, st, o.ptr(), lse.ptr(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(o.guards_intact("o"));
  EXPECT_TRUE(o.untouched_outside_view("o"));
  EXPECT_TRUE(lse.guards_intact("lse"));
  EXPECT_TRUE(lse.untouched_outside_view("lse"));
  out.o = o.gather();
  out.lse = lse.gather();
  EXPECT_EQ(launch.backward(q.ptr(), kk.ptr(), v.ptr(), mask_ptr, keep_ptr, in.p, o.ptr(),
                            dout.ptr(), lse.ptr(), s.b, s.h, s.t, s.dh, in.scale, st, delta.ptr(),
                            dq.ptr(), dk.ptr(), dv.ptr(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(delta.guards_intact("delta"));
  EXPECT_TRUE(delta.untouched_outside_view("delta"));
  using Named = std::pair<View<T>*, const char*>;
  for (auto [view, name] : {Named{&dq, "dq"}, Named{&dk, "dk"}, Named{&dv, "dv"}}) {
    EXPECT_TRUE(view->guards_intact(name));
    EXPECT_TRUE(view->untouched_outside_view(name));
  }
  out.dq = dq.gather();
  out.dk = dk.gather();
  out.dv = dv.gather();
  return out;
}

struct Case {
  Shape shape;
  bool mask;
  double drop_p;
  Layout layout;
};

std::string describe(const Case& c) {
  const char* layouts[] = {"dense", "heads_of_projection", "gapped_rows"};
  return cat("B", c.shape.b, "_H", c.shape.h, "_T", c.shape.t, "_dh", c.shape.dh,
             c.mask ? "_mask" : "_nomask", c.drop_p > 0 ? "_dropout" : "_nodropout", "_",
             layouts[int(c.layout)]);
}

// gtest prints a failing case's parameter with this, instead of its bytes.
void PrintTo(const Case& c, std::ostream* os) {
  *os << describe(c);
}

std::string case_name(const ::testing::TestParamInfo<Case>& param_info) {
  return describe(param_info.param);
}

// ‖got − want‖ / ‖want‖, or the RMS of got − want where the reference is zero (with T = 1, dS =
// P (dP − delta) vanishes, and dQ, dK are zero but for the kernel's rounding).
double error_of(const std::vector<float>& got, const std::vector<double>& want) {
  double want_sq = 0;
  for (double w : want) want_sq += w * w;
  if (want_sq > 1e-24 || want.empty()) return normalised_error(got, want);
  double sq = 0;
  for (size_t i = 0; i < got.size(); ++i) sq += (got[i] - want[i]) * (got[i] - want[i]);
  return std::sqrt(sq / double(got.size()));
}

// round_inputs: the inputs are bf16 values (always so for bf16 storage).
template <class T>
void check_against_reference(const Case& c, double tol, double lse_tol, Cores cores = Cores::kCuda,
                             bool round_inputs = false) {
  const bool bf16 = round_inputs || !std::is_same_v<T, float>;
  const Inputs in = make_inputs(c.shape, c.mask, c.drop_p, bf16, 100 + uint64_t(c.shape.t));
  if (c.drop_p > 0.0) {  // the mask must matter: some probabilities dropped, some kept
    ASSERT_NE(std::count(in.keep.begin(), in.keep.end(), uint8_t{0}), 0);
    ASSERT_NE(std::count(in.keep.begin(), in.keep.end(), uint8_t{1}), 0);
  }
  const Reference want =
      reference(c.shape, in.q, in.k, in.v, in.mask, in.dout, in.scale, in.keep, in.p);
  const Outputs got = run_attention<T>(c.shape, c.layout, in, cores);
  EXPECT_LT(error_of(got.o, want.o), tol) << "O";
  EXPECT_LT(error_of(got.lse, want.lse), lse_tol) << "lse";
  EXPECT_LT(error_of(got.dq, want.dq), tol) << "dQ";
  EXPECT_LT(error_of(got.dk, want.dk), tol) << "dK";
  EXPECT_LT(error_of(got.dv, want.dv), tol) << "dV";
}

}  // namespace

namespace {

// The shapes both kernel sets are held to: every head-dim tile, T across the 64-row tile edges,
// masks, dropout and the three layouts.
const Case kTileCases[] = {
    // T = 1: one query, one key, a tile of 63 padded rows and columns
    Case{{1, 1, 1, 32}, true, 0.0, Layout::kDense},
    // dh = 8 padded to the 32-wide tile; the mask per batch and the keep mask per head
    Case{{2, 2, 17, 8}, true, 0.2, Layout::kHeadsOfProjection},
    // one full 64-row tile, dh exactly the 64-wide tile
    Case{{1, 1, 64, 64}, false, 0.1, Layout::kDense},
    // one past the tile: a second tile with one row; dh = 1
    Case{{1, 1, 65, 1}, true, 0.3, Layout::kGappedRows},
    // three tiles (the last with 2 rows, and the keep mask read in every tile pair), dh = 40
    // padded to 64
    Case{{1, 1, 130, 40}, true, 0.1, Layout::kDense},
    // dh = 128, the widest tile, two tiles, rows with gaps
    Case{{1, 1, 70, 128}, true, 0.1, Layout::kGappedRows},
    // dh = 72 padded to 128, two batches without mask or dropout
    Case{{2, 1, 33, 72}, false, 0.0, Layout::kDense}};

}  // namespace

class EmuAttentionF32 : public ::testing::TestWithParam<Case> {};

// fp32 storage and fp32 math: products of up to 128 terms and sums over up to 130 keys in fp32
// keep ~1e-6 relative (a few ulps times sqrt(length); measured here: at most 4.7e-7, lse 9e-8);
// dS = P (dP - delta) subtracts nearly equal numbers, and the GPU contracts into fma where the
// stand-in does not, so allow a decade more. An indexing, masking or tiling mistake gives errors of
// order 1.
TEST_P(EmuAttentionF32, ForwardAndBackwardMatchADoubleReference) {
  check_against_reference<float>(GetParam(), 1e-5, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Shapes, EmuAttentionF32, ::testing::ValuesIn(kTileCases), case_name);

class EmuAttentionBf16 : public ::testing::TestWithParam<Case> {};

// bf16 storage: the inputs are bf16 values (the reference sees the same), the math is fp32, and
// O, dQ, dK, dV are rounded to bf16 on the way out: half an ulp is up to 2^-8 relative, ~1.6e-3
// RMS over random mantissas (measured here: 1.6e-3 to 1.8e-3 for O and dV). The backward also
// reads the rounded O (delta = dO . O), which adds about as much again to dS, hence dQ and dK
// (measured up to 2.4e-3). 5e-3 leaves a factor of 2; lse stays fp32 and within fp32 rounding.
TEST_P(EmuAttentionBf16, ForwardAndBackwardStayWithinBf16Rounding) {
  check_against_reference<__nv_bfloat16>(GetParam(), 5e-3, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, EmuAttentionBf16,
    ::testing::Values(Case{{1, 1, 1, 16}, false, 0.0, Layout::kDense},
                      Case{{2, 2, 17, 8}, true, 0.2, Layout::kHeadsOfProjection},
                      Case{{1, 1, 130, 64}, true, 0.0, Layout::kDense},
                      Case{{1, 1, 70, 96}, false, 0.1, Layout::kGappedRows}),
    case_name);

namespace {

bool same_bits(const Outputs& a, const Outputs& b) {
  return emu_testing::same_bits(a.o, b.o) && emu_testing::same_bits(a.lse, b.lse) &&
         emu_testing::same_bits(a.dq, b.dq) && emu_testing::same_bits(a.dk, b.dk) &&
         emu_testing::same_bits(a.dv, b.dv);
}

// Elements [begin, end) of a result.
template <class V>
V part(const V& x, int64_t begin, int64_t end) {
  return V(x.begin() + begin, x.begin() + end);
}

// A -inf mask: in batch 1 every key is -inf, so each row there must give O = 0, lse = -inf and no
// gradient (attention.cuh); in batch 0 the whole first 64-key tile is -inf and only the second
// tile's keys count, so the online softmax starts from a row maximum of -inf and must not turn
// that into a NaN.
template <class T>
void check_minus_infinity_mask(double tol, Cores cores = Cores::kCuda) {
  const Shape s{2, 1, 70, 8};
  // bf16 values for the tensor cores, whose lse is then within fp32 rounding too.
  Inputs in = make_inputs(s, true, 0.1, !std::is_same_v<T, float> || cores == Cores::kTensor, 41);
  for (int64_t j = 0; j < 64; ++j) in.mask[size_t(j)] = -INFINITY;
  for (int64_t j = 0; j < s.t; ++j) in.mask[size_t(s.t + j)] = -INFINITY;
  const Reference want = reference(s, in.q, in.k, in.v, in.mask, in.dout, in.scale, in.keep, in.p);
  const Outputs got = run_attention<T>(s, Layout::kHeadsOfProjection, in, cores);
  const int64_t n0 = s.t * s.dh, n = s.dense();
  for (auto [out, ref, name] :
       {std::tuple{&got.o, &want.o, "O"}, std::tuple{&got.dq, &want.dq, "dQ"},
        std::tuple{&got.dk, &want.dk, "dK"}, std::tuple{&got.dv, &want.dv, "dV"}}) {
    EXPECT_LT(error_of(part(*out, 0, n0), part(*ref, 0, n0)), tol) << name << " of batch 0";
    const std::vector<float> masked = part(*out, n0, n);
    EXPECT_TRUE(std::all_of(masked.begin(), masked.end(), [](float x) { return x == 0.0f; }))
        << name << " of the all -inf batch is not all zero";
  }
  EXPECT_LT(error_of(part(got.lse, 0, s.t), part(want.lse, 0, s.t)), 1e-6) << "lse of batch 0";
  for (int64_t i = s.t; i < 2 * s.t; ++i)
    EXPECT_EQ(got.lse[size_t(i)], -INFINITY) << "lse of row " << i - s.t << " of batch 1";
}

}  // namespace

TEST(EmuAttention, MinusInfinityMaskGivesZerosAndNoNaN) {
  // fp32 only: the -inf handling is in the fp32 math, shared by both storage types.
  check_minus_infinity_mask<float>(1e-5);  // fp32 tolerance as in EmuAttentionF32
}

// A batch whose keys are all at BERT's -10000 (what a fully padded sequence gets). Adding a
// constant to every score leaves the softmax as it was, so the double reference is the unmasked
// attention; the kernel's fp32 scores near -1e4 carry only ~2^-11 (4.9e-4) absolute of the score,
// and the backward's P = exp(S - lse) sees the same rounding in lse, which attention.cuh puts at
// ~3e-4 relative. 2e-3 holds that with margin and still fails for any real masking mistake, which
// moves the results by order 1; the other batch keeps the fp32 tolerance.
TEST(EmuAttention, FullyPaddedRowsFollowTheReferenceToTheMasksRounding) {
  const Shape s{2, 1, 17, 16};
  Inputs in = make_inputs(s, true, 0.0, false, 51);
  for (int64_t j = 0; j < s.t; ++j) in.mask[size_t(s.t + j)] = -10000.0f;
  const Reference want = reference(s, in.q, in.k, in.v, in.mask, in.dout, in.scale, in.keep, in.p);
  const Outputs got = run_attention<float>(s, Layout::kDense, in);
  const int64_t n0 = s.t * s.dh, n = s.dense();
  for (auto [out, ref, name] :
       {std::tuple{&got.o, &want.o, "O"}, std::tuple{&got.dq, &want.dq, "dQ"},
        std::tuple{&got.dk, &want.dk, "dK"}, std::tuple{&got.dv, &want.dv, "dV"}}) {
    EXPECT_LT(error_of(part(*out, 0, n0), part(*ref, 0, n0)), 1e-5) << name << " of batch 0";
    EXPECT_LT(error_of(part(*out, n0, n), part(*ref, n0, n)), 2e-3) << name << " of batch 1";
  }
  EXPECT_LT(error_of(got.lse, want.lse), 1e-6) << "lse";
}

// The backward has no atomics and fixed summation orders (attention.cuh), so the same launches
// give the same bits; a race on shared memory (a missing barrier) would show as a difference
// between runs here, since the stand-in's threads are scheduled differently each time.
TEST(EmuAttention, SameLaunchesGiveTheSameBits) {
  const Shape s{1, 1, 70, 16};
  const Inputs in = make_inputs(s, true, 0.2, false, 61);
  EXPECT_TRUE(same_bits(run_attention<float>(s, Layout::kHeadsOfProjection, in),
                        run_attention<float>(s, Layout::kHeadsOfProjection, in)));
  const Shape s16{1, 2, 17, 16};
  const Inputs in16 = make_inputs(s16, true, 0.2, true, 62);
  EXPECT_TRUE(same_bits(run_attention<__nv_bfloat16>(s16, Layout::kDense, in16),
                        run_attention<__nv_bfloat16>(s16, Layout::kDense, in16)));
}

// Without a keep mask there is no dropout and p is ignored (attention.cuh): the results are those
// of p = 0, bit for bit, and not scaled by 1 / (1 - p).
TEST(EmuAttention, PIsIgnoredWithoutAKeepMask) {
  const Shape s{1, 2, 17, 24};
  Inputs in = make_inputs(s, true, 0.0, false, 71);
  const Outputs plain = run_attention<float>(s, Layout::kDense, in);
  in.p = 0.5;
  EXPECT_TRUE(same_bits(plain, run_attention<float>(s, Layout::kDense, in)));
}

namespace {

// Calls both launchers of one precision with these sizes and p on small buffers, returning the
// two results; `untouched` says whether every output byte is still 0xFF (nothing written).
struct LaunchResult {
  cudaError_t forward, backward;
  bool untouched;
};

template <class T>
LaunchResult launch_with(int64_t b, int64_t h, int64_t t, int64_t dh, double p, Cores cores) {
  const int64_t n = 4 * 130, rows = 4;  // enough for every size asked of it below
  Guarded<T> q(n), kk(n), v(n), o(n), dout(n), dq(n), dk(n), dv(n);
  for (Guarded<T>* in : {&q, &kk, &v, &dout})
    for (int64_t i = 0; i < n; ++i) (*in)[i] = from_float<T>(1.0f);
  Guarded<float> lse(rows), delta(rows), mask(rows, std::vector<float>(size_t(rows), 0.0f));
  Guarded<uint8_t> keep(rows * rows, std::vector<uint8_t>(size_t(rows * rows), 1));
  const k::AttentionStrides st =
      k::attention_strides_bhtd(std::max<int64_t>(h, 1), std::max<int64_t>(t, 1), dh);
  const Launchers<T> launch = launchers<T>(cores);
  LaunchResult r{};
  r.forward = launch.forward(q.ptr(), kk.ptr(), v.ptr(), mask.ptr(), keep.ptr(), p, b, h, t, dh,
                             0.5f, st, o.ptr(), lse.ptr(), nullptr);
  r.backward = launch.backward(q.ptr(), kk.ptr(), v.ptr(), mask.ptr(), keep.ptr(), p, q.ptr(),
                               dout.ptr(), mask.ptr(), b, h, t, dh, 0.5f, st, delta.ptr(), dq.ptr(),
                               dk.ptr(), dv.ptr(), nullptr);
  auto all_ff = [](const auto& buf) {
    const auto values = buf.values();
    const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
    return std::all_of(bytes, bytes + values.size() * sizeof(values[0]),
                       [](unsigned char c) { return c == 0xFF; }) &&
           buf.guards_intact("output");
  };
  r.untouched = all_ff(o) && all_ff(dq) && all_ff(dk) && all_ff(dv) && all_ff(lse) && all_ff(delta);
  return r;
}

template <class T>
void check_refusals_and_empty_sizes(Cores cores) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Bad {
    int64_t dh;
    double p;
    const char* why;
  };
  for (const Bad& bad : {Bad{0, 0.0, "dh = 0"}, Bad{129, 0.0, "dh = 129"}, Bad{-1, 0.0, "dh = -1"},
                         Bad{16, -0.1, "p < 0"}, Bad{16, 1.0, "p = 1"}, Bad{16, nan, "p = NaN"}}) {
    const LaunchResult r = launch_with<T>(1, 1, 4, bad.dh, bad.p, cores);
    EXPECT_EQ(r.forward, cudaErrorInvalidValue) << "forward, " << bad.why;
    EXPECT_EQ(r.backward, cudaErrorInvalidValue) << "backward, " << bad.why;
    EXPECT_TRUE(r.untouched) << "something was written for " << bad.why;
    EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "an error left pending for " << bad.why;
  }
  // Nothing to do is not an error, and launches nothing (a zero-sized grid would be one).
  for (const Shape& empty : {Shape{0, 1, 4, 16}, Shape{1, 0, 4, 16}, Shape{1, 1, 0, 16}}) {
    const LaunchResult r = launch_with<T>(empty.b, empty.h, empty.t, empty.dh, 0.1, cores);
    EXPECT_EQ(r.forward, cudaSuccess) << empty.b << " x " << empty.h << " x " << empty.t;
    EXPECT_EQ(r.backward, cudaSuccess) << empty.b << " x " << empty.h << " x " << empty.t;
    EXPECT_TRUE(r.untouched) << empty.b << " x " << empty.h << " x " << empty.t;
  }
  // And a valid call on the same buffers does write: the checks above can tell.
  const LaunchResult ok = launch_with<T>(1, 1, 4, 16, 0.1, cores);
  EXPECT_EQ(ok.forward, cudaSuccess);
  EXPECT_EQ(ok.backward, cudaSuccess);
  EXPECT_FALSE(ok.untouched);
}

}  // namespace

TEST(EmuAttention, RefusesBadHeadDimsAndProbabilitiesAndAcceptsEmptySizes) {
  check_refusals_and_empty_sizes<float>(Cores::kCuda);
  check_refusals_and_empty_sizes<float>(Cores::kTensor);
}

TEST(EmuAttention, RefusesBadHeadDimsAndProbabilitiesAndAcceptsEmptySizesInBf16) {
  check_refusals_and_empty_sizes<__nv_bfloat16>(Cores::kCuda);
  check_refusals_and_empty_sizes<__nv_bfloat16>(Cores::kTensor);
}

// ---- the tensor-core kernels (attention_tc.cuh) ----------------------------------------------

class EmuAttentionTensorCores : public ::testing::TestWithParam<Case> {};

// Inputs that are bf16 values, so that rounding Q, K, V and dO changes nothing and what is left
// is what the tensor-core kernels add: P and dS rounded to bf16 (2^-9 relative at most) before
// their products. Measured here: 1.1e-3 to 1.9e-3 for every output, but 6.0e-3 for dQ and dK at
// dh = 1, where dS = P (dP - delta) cancels most (a one-term dP against a one-term delta); lse
// stays fp32 (4e-8). 1.2e-2 leaves a factor of 2 over the worst; the fp32 kernels on the same
// inputs are at 5e-7, and an indexing, fragment-layout, masking or tiling mistake moves results
// by order 1.
TEST_P(EmuAttentionTensorCores, Fp32StorageStaysWithinBf16RoundingOfTheProbabilities) {
  check_against_reference<float>(GetParam(), 1.2e-2, 1e-6, Cores::kTensor, true);
}

// bf16 storage adds the rounding of O, dQ, dK and dV on the way out, as EmuAttentionBf16 has it
// (measured: 2.1e-3 to 2.7e-3, and 6.5e-3 for dQ at dh = 1).
TEST_P(EmuAttentionTensorCores, Bf16StorageStaysWithinBf16Rounding) {
  check_against_reference<__nv_bfloat16>(GetParam(), 1.2e-2, 1e-6, Cores::kTensor);
}

INSTANTIATE_TEST_SUITE_P(Shapes, EmuAttentionTensorCores, ::testing::ValuesIn(kTileCases),
                         case_name);

// fp32 inputs: the kernels round Q, K, V and dO as every bf16 product does, so the scores carry
// bf16 rounding too (measured: 3.3e-3 to 4.1e-3, lse 1.4e-4).
TEST(EmuAttentionTensorCoresRounding, Fp32InputsAreRoundedAsEveryBf16Product) {
  check_against_reference<float>(Case{{1, 2, 70, 64}, true, 0.1, Layout::kHeadsOfProjection}, 1e-2,
                                 5e-4, Cores::kTensor, false);
}

TEST(EmuAttentionTensorCoresRounding, MinusInfinityMaskGivesZerosAndNoNaN) {
  check_minus_infinity_mask<float>(1.2e-2, Cores::kTensor);  // as EmuAttentionTensorCores
}

TEST(EmuAttentionTensorCoresRounding, SameLaunchesGiveTheSameBitsAndPIsIgnoredWithoutAMask) {
  const Shape s{1, 2, 70, 16};
  Inputs in = make_inputs(s, true, 0.2, true, 63);
  EXPECT_TRUE(same_bits(run_attention<float>(s, Layout::kHeadsOfProjection, in, Cores::kTensor),
                        run_attention<float>(s, Layout::kHeadsOfProjection, in, Cores::kTensor)));
  in.keep.clear();
  in.p = 0.0;
  const Outputs plain = run_attention<float>(s, Layout::kDense, in, Cores::kTensor);
  in.p = 0.5;
  EXPECT_TRUE(same_bits(plain, run_attention<float>(s, Layout::kDense, in, Cores::kTensor)));
}

// A GPU without bf16 tensor cores (before sm_80): the tensor-core launchers refuse it, naming no
// kernel image for the device, and write nothing (CudaOps keeps the fp32 kernels there).
TEST(EmuAttentionTensorCoresRounding, RefuseAGpuWithoutBf16TensorCores) {
  emu::compute_capability_major = 7;
  const LaunchResult r = launch_with<float>(1, 1, 4, 16, 0.1, Cores::kTensor);
  emu::compute_capability_major = 9;
  EXPECT_EQ(r.forward, cudaErrorNoKernelImageForDevice);
  EXPECT_EQ(r.backward, cudaErrorNoKernelImageForDevice);
  EXPECT_TRUE(r.untouched);
  EXPECT_EQ(launch_with<float>(1, 1, 4, 16, 0.1, Cores::kTensor).forward, cudaSuccess);
}
