// kernels/eltwise.cu on the CUDA stand-in, against the CPU backend's ops on the same inputs: the
// element-wise ops (add, add_relu, relu_backward, axpy, scale) and the activations (ReLU, erf
// GELU, tanh; forward and backward from x) in fp32 and bf16 storage, and the fp32 bias ops
// (add_bias, the deterministic column sums of bias_grad and relu_bias_backward). The map kernel
// moves 16-byte packs only when every operand is 16-byte aligned, so lengths around the pack
// width (4 floats, 8 bf16) and buffers shifted one by one off alignment take both paths and the
// tails; the column sums are checked over one chunk (written straight into db), several, and the
// 128-chunk cap where chunks grow past 256 rows. Where the kernel's arithmetic is one IEEE
// operation (add, max, select, a product) it must equal the CPU's bit for bit (bf16: the CPU's
// fp32 result rounded once); transcendental activations by normalised error. Also: outputs may
// alias inputs, the column sums repeat bit for bit, zero lengths launch nothing, and the refusals
// (unknown activation, missing scratch, too many columns) write nothing. Every output keeps its
// guards.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backend/ops.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;
using k::Activation;

namespace {

// GELU and tanh: the kernel calls libm's erff / tanhf / expf, oneDNN its own vectorised
// approximations, each within a few fp32 ulps; 1e-6 of normalised error is ~10 ulps (measured at
// most 1e-7), while a wrong constant or derivative term is off by 1e-2 or more.
constexpr double kTranscendentalTol = 1e-6;
// bf16 storage rounds each result once (relative error <= 2^-9, ~1.1e-3 RMS; measured at most
// 1.8e-3 for GELU and tanh).
constexpr double kBf16Tol = 4e-3;

// The CPU's result of op on host tensors made from the inputs (y starts as y0).
template <class Op>
std::vector<float> on_cpu(const std::vector<float>& a, const std::vector<float>& b,
                          const std::vector<float>& y0, Op&& op) {
  const int64_t n = static_cast<int64_t>(a.size());
  Tensor ta = host(a, {n}), tb = host(b, {n}), ty = host(y0, {n});
  op(ta, tb, ty);
  return std::vector<float>(ty.data<float>(), ty.data<float>() + n);
}

// Equal values (so +0 == -0: oneDNN's ReLU gives 0 * x, the kernel +0), with the first
// difference named.
::testing::AssertionResult same_values(const std::vector<float>& got,
                                       const std::vector<float>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < want.size(); ++i)
    if (!(got[i] == want[i]))
      return ::testing::AssertionFailure()
             << "element " << i << ": " << got[i] << " for " << want[i];
  return ::testing::AssertionSuccess();
}

// Every element within one bf16 step (2^-8 relative) of the fp32 value, or 1e-6 absolute.
::testing::AssertionResult within_bf16_step(const std::vector<float>& got,
                                            const std::vector<float>& want) {
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got[i], w = want[i];
    if (!(std::abs(g - w) <= std::ldexp(std::abs(w), -8) + 1e-6))
      return ::testing::AssertionFailure() << "element " << i << ": " << g << " for " << w;
  }
  return ::testing::AssertionSuccess();
}

// Inputs: normals with exact zeros and exact cancellations mixed in, where ReLU's comparisons
// (> 0, not >= 0) decide.
struct Inputs {
  std::vector<float> a, b, y0;
};
Inputs inputs_for(int64_t n, uint64_t seed) {
  Inputs in{randn(n, seed, 2.0), randn(n, seed + 1, 2.0), randn(n, seed + 2, 1.0)};
  for (int64_t i = 0; i < n; i += 7) in.a[size_t(i)] = 0.0f;
  for (int64_t i = 3; i < n; i += 11) in.b[size_t(i)] = -in.a[size_t(i)];
  return in;
}

// (n, the shift in elements of a, b and y off 16-byte alignment).
struct Layout {
  int64_t n, shift_a, shift_b, shift_y;
};
void PrintTo(const Layout& l, std::ostream* os) {
  *os << "n=" << l.n << " shifts " << l.shift_a << "," << l.shift_b << "," << l.shift_y;
}

// Launches one op on Guarded copies of the inputs in the layout; returns y's values.
template <class T, class Launch>
std::vector<float> run(const Layout& l, const std::vector<T>& a, const std::vector<T>& b,
                       const std::vector<T>& y0, Launch&& launch, const char* what) {
  Guarded<T> ga(l.n, a, l.shift_a), gb(l.n, b, l.shift_b), gy(l.n, y0, l.shift_y);
  EXPECT_EQ(launch(ga.ptr(), gb.ptr(), gy.ptr(), l.n), cudaSuccess) << what;
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << what;
  EXPECT_TRUE(gy.guards_intact(what));
  if constexpr (std::is_same_v<T, float>)
    return gy.values();
  else
    return widen(gy.values());
}

const Activation kActivations[] = {Activation::Relu, Activation::Gelu, Activation::Tanh};
const char* name_of(Activation act) {
  return act == Activation::Relu ? "relu" : act == Activation::Gelu ? "gelu" : "tanh";
}

}  // namespace

class EmuEltwise : public ::testing::TestWithParam<Layout> {};

TEST_P(EmuEltwise, Fp32MatchesTheCpu) {
  const Layout l = GetParam();
  const Inputs in = inputs_for(l.n, 1 + uint64_t(l.n));
  // relu_backward reads y as a ReLU's output: zeros where the mask cuts.
  std::vector<float> relu_out = in.a;
  for (float& v : relu_out) v = v > 0 ? v : 0.0f;

  auto add = [](auto a, auto b, auto y, int64_t n) {
    return k::launch_add_f32(a, b, y, n, nullptr);
  };
  auto add_relu = [](auto a, auto b, auto y, int64_t n) {
    return k::launch_add_relu_f32(a, b, y, n, nullptr);
  };
  auto relu_bwd = [](auto a, auto b, auto y, int64_t n) {
    return k::launch_relu_backward_f32(a, b, y, n, nullptr);
  };
  auto axpy = [](auto a, auto, auto y, int64_t n) {
    return k::launch_axpy_f32(0.3f, a, y, n, nullptr);
  };
  auto scale = [](auto, auto, auto y, int64_t n) {
    return k::launch_scale_f32(0.3f, y, n, nullptr);
  };
  const std::vector<float> got_add = run(l, in.a, in.b, in.y0, add, "add");
  const std::vector<float> got_add_relu = run(l, in.a, in.b, in.y0, add_relu, "add_relu");
  const std::vector<float> got_relu_bwd = run(l, relu_out, in.b, in.y0, relu_bwd, "relu_bwd");
  const std::vector<float> got_axpy = run(l, in.a, in.b, in.y0, axpy, "axpy");
  const std::vector<float> got_scale = run(l, in.a, in.b, in.y0, scale, "scale");
  if (l.n == 0) return;  // launched nothing, wrote nothing (the guards above)

  EXPECT_TRUE(same_values(got_add, on_cpu(in.a, in.b, in.y0, [](auto& a, auto& b, auto& y) {
                            cpu_ops().add(a, b, y);
                          })));
  EXPECT_TRUE(same_values(got_add_relu, on_cpu(in.a, in.b, in.y0, [](auto& a, auto& b, auto& y) {
                            cpu_ops().add_relu(a, b, y);
                          })));
  EXPECT_TRUE(same_values(
      got_relu_bwd, on_cpu(relu_out, in.b, in.y0,
                           [](auto& a, auto& b, auto& y) { cpu_ops().relu_backward(a, b, y); })));
  // The CPU loop may fuse old + alpha x into one fma (-march=native), the stand-in does not:
  // one rounding of the product apart, <= 2^-24 |alpha x| per element, so 2e-7 of the norm
  // (measured 0: this build did not fuse it).
  EXPECT_LE(normalised_error(got_axpy,
                             on_cpu(in.a, in.b, in.y0,
                                    [](auto& a, auto&, auto& y) { cpu_ops().axpy(0.3, a, y); })),
            2e-7);
  // scale works in place on y: its input is y0.
  EXPECT_TRUE(same_values(got_scale, on_cpu(in.y0, in.b, in.y0, [](auto&, auto&, auto& y) {
                            cpu_ops().scale(0.3, y);
                          })));
}

TEST_P(EmuEltwise, Bf16RoundsTheCpuResultOnce) {
  const Layout l = GetParam();
  const Inputs in = inputs_for(l.n, 2 + uint64_t(l.n));
  const std::vector<float> a = bf16_rounded(in.a), b = bf16_rounded(in.b), y0 = bf16_rounded(in.y0);
  std::vector<float> relu_out = a;
  for (float& v : relu_out) v = v > 0 ? v : 0.0f;
  const auto ha = to_bf16(a), hb = to_bf16(b), hy0 = to_bf16(y0), hrelu = to_bf16(relu_out);

  auto add = [](auto x, auto z, auto y, int64_t n) {
    return k::launch_add_bf16(x, z, y, n, nullptr);
  };
  auto add_relu = [](auto x, auto z, auto y, int64_t n) {
    return k::launch_add_relu_bf16(x, z, y, n, nullptr);
  };
  auto relu_bwd = [](auto x, auto z, auto y, int64_t n) {
    return k::launch_relu_backward_bf16(x, z, y, n, nullptr);
  };
  // alpha = -0.75: its product with a bf16 value is exact in fp32, so the CPU's possible fma and
  // the kernel's separate multiply round the same sum once: bit for bit after the bf16 rounding.
  auto axpy = [](auto x, auto, auto y, int64_t n) {
    return k::launch_axpy_bf16(-0.75f, x, y, n, nullptr);
  };
  auto scale = [](auto, auto, auto y, int64_t n) {
    return k::launch_scale_bf16(0.3f, y, n, nullptr);
  };
  const std::vector<float> got_add = run(l, ha, hb, hy0, add, "add");
  const std::vector<float> got_add_relu = run(l, ha, hb, hy0, add_relu, "add_relu");
  const std::vector<float> got_relu_bwd = run(l, hrelu, hb, hy0, relu_bwd, "relu_bwd");
  const std::vector<float> got_axpy = run(l, ha, hb, hy0, axpy, "axpy");
  const std::vector<float> got_scale = run(l, ha, hb, hy0, scale, "scale");
  if (l.n == 0) return;

  // The kernel computes in fp32 and rounds once: exactly the CPU's fp32 result, rounded.
  EXPECT_TRUE(same_values(got_add, bf16_rounded(on_cpu(a, b, y0, [](auto& x, auto& z, auto& y) {
                            cpu_ops().add(x, z, y);
                          }))));
  EXPECT_TRUE(
      same_values(got_add_relu, bf16_rounded(on_cpu(a, b, y0, [](auto& x, auto& z, auto& y) {
                    cpu_ops().add_relu(x, z, y);
                  }))));
  EXPECT_TRUE(
      same_values(got_relu_bwd, bf16_rounded(on_cpu(relu_out, b, y0, [](auto& x, auto& z, auto& y) {
                    cpu_ops().relu_backward(x, z, y);
                  }))));
  EXPECT_TRUE(same_values(got_axpy, bf16_rounded(on_cpu(a, b, y0, [](auto& x, auto&, auto& y) {
                            cpu_ops().axpy(-0.75, x, y);
                          }))));
  EXPECT_TRUE(same_values(got_scale, bf16_rounded(on_cpu(y0, b, y0, [](auto&, auto&, auto& y) {
                            cpu_ops().scale(0.3, y);
                          }))));
}

class EmuActivation : public ::testing::TestWithParam<Layout> {};

TEST_P(EmuActivation, Fp32MatchesTheCpu) {
  const Layout l = GetParam();
  const Inputs in = inputs_for(l.n, 3 + uint64_t(l.n));
  for (Activation act : kActivations) {
    auto forward = [act](auto x, auto, auto y, int64_t n) {
      return k::launch_activation_forward_f32(act, x, y, n, nullptr);
    };
    auto backward = [act](auto x, auto dy, auto dx, int64_t n) {
      return k::launch_activation_backward_f32(act, x, dy, dx, n, nullptr);
    };
    const std::vector<float> got_y = run(l, in.a, in.b, in.y0, forward, name_of(act));
    const std::vector<float> got_dx = run(l, in.a, in.b, in.y0, backward, name_of(act));
    if (l.n == 0) continue;
    auto op = cpu_ops().eltwise(static_cast<backend::Eltwise>(act));
    const std::vector<float> want_y =
        on_cpu(in.a, in.b, in.y0, [&](auto& x, auto&, auto& y) { op->forward(x, y); });
    const std::vector<float> want_dx =
        on_cpu(in.a, in.b, in.y0, [&](auto& x, auto& dy, auto& dx) { op->backward(x, dy, dx); });
    if (act == Activation::Relu) {  // a comparison and a select: exact
      EXPECT_TRUE(same_values(got_y, want_y)) << name_of(act);
      EXPECT_TRUE(same_values(got_dx, want_dx)) << name_of(act);
    } else {
      EXPECT_LE(normalised_error(got_y, want_y), kTranscendentalTol) << name_of(act);
      EXPECT_LE(normalised_error(got_dx, want_dx), kTranscendentalTol) << name_of(act);
    }
  }
}

TEST_P(EmuActivation, Bf16MatchesTheCpu) {
  const Layout l = GetParam();
  const Inputs in = inputs_for(l.n, 4 + uint64_t(l.n));
  const std::vector<float> x = bf16_rounded(in.a), dy = bf16_rounded(in.b);
  const auto hx = to_bf16(x), hdy = to_bf16(dy), hy0 = to_bf16(in.y0);
  for (Activation act : kActivations) {
    auto forward = [act](auto xp, auto, auto y, int64_t n) {
      return k::launch_activation_forward_bf16(act, xp, y, n, nullptr);
    };
    auto backward = [act](auto xp, auto dyp, auto dx, int64_t n) {
      return k::launch_activation_backward_bf16(act, xp, dyp, dx, n, nullptr);
    };
    const std::vector<float> got_y = run(l, hx, hdy, hy0, forward, name_of(act));
    const std::vector<float> got_dx = run(l, hx, hdy, hy0, backward, name_of(act));
    if (l.n == 0) continue;
    auto op = cpu_ops().eltwise(static_cast<backend::Eltwise>(act));
    const std::vector<float> want_y =
        on_cpu(x, dy, in.y0, [&](auto& xt, auto&, auto& y) { op->forward(xt, y); });
    const std::vector<float> want_dx =
        on_cpu(x, dy, in.y0, [&](auto& xt, auto& dyt, auto& dx) { op->backward(xt, dyt, dx); });
    if (act == Activation::Relu) {
      EXPECT_TRUE(same_values(got_y, bf16_rounded(want_y))) << name_of(act);
      EXPECT_TRUE(same_values(got_dx, bf16_rounded(want_dx))) << name_of(act);
    } else {
      EXPECT_LE(normalised_error(got_y, want_y), kBf16Tol) << name_of(act);
      EXPECT_LE(normalised_error(got_dx, want_dx), kBf16Tol) << name_of(act);
      EXPECT_TRUE(within_bf16_step(got_y, want_y)) << name_of(act);
      EXPECT_TRUE(within_bf16_step(got_dx, want_dx)) << name_of(act);
    }
  }
}

// Lengths: empty; 21 (5 fp32 packs and a tail of 1, 2 bf16 packs and a tail of 5); 2053 (several
// 256-thread blocks of packs in both widths, and tails). Shifts: aligned (the pack path), and each
// operand alone off alignment, each of which must send the launch down the element path (b is
// read by the binary ops only).
INSTANTIATE_TEST_SUITE_P(Layouts, EmuEltwise,
                         ::testing::Values(Layout{0, 0, 0, 0}, Layout{21, 0, 0, 0},
                                           Layout{2053, 0, 0, 0}, Layout{45, 1, 0, 0},
                                           Layout{45, 0, 1, 0}, Layout{45, 0, 0, 1}));
// The activations go through the same map kernel and path choice: the same lengths, and one
// misaligned layout (each launch spawns 256 threads on the stand-in, so fewer layouts here).
INSTANTIATE_TEST_SUITE_P(Layouts, EmuActivation,
                         ::testing::Values(Layout{0, 0, 0, 0}, Layout{21, 0, 0, 0},
                                           Layout{2053, 0, 0, 0}, Layout{45, 1, 1, 1}));

// Outputs may alias inputs: in place, each op gives what it gives out of place.
TEST(EmuEltwise, InPlaceMatchesOutOfPlace) {
  const int64_t n = 45;
  const Inputs in = inputs_for(n, 5);
  // launch_in writes into its first operand (into_a) or its second.
  auto check = [&](const char* what, bool into_a, auto&& launch_out, auto&& launch_in) {
    Guarded<float> a(n, in.a), b(n, in.b), y(n);
    ASSERT_EQ(launch_out(a.ptr(), b.ptr(), y.ptr()), cudaSuccess) << what;
    Guarded<float> a2(n, in.a), b2(n, in.b);
    ASSERT_EQ(launch_in(a2.ptr(), b2.ptr()), cudaSuccess) << what;
    EXPECT_TRUE(a2.guards_intact(what));
    EXPECT_TRUE(b2.guards_intact(what));
    const Guarded<float>& result = into_a ? a2 : b2;
    EXPECT_EQ(0, std::memcmp(result.ptr(), y.ptr(), size_t(n) * sizeof(float))) << what;
    EXPECT_EQ((into_a ? b2 : a2).values(), into_a ? in.b : in.a) << what << ": the other operand";
  };
  check(
      "add into a", true,
      [](auto a, auto b, auto y) { return k::launch_add_f32(a, b, y, n, nullptr); },
      [](auto a, auto b) { return k::launch_add_f32(a, b, a, n, nullptr); });
  check(
      "add into b", false,
      [](auto a, auto b, auto y) { return k::launch_add_f32(a, b, y, n, nullptr); },
      [](auto a, auto b) { return k::launch_add_f32(a, b, b, n, nullptr); });
  check(
      "gelu forward in place", true,
      [](auto a, auto, auto y) {
        return k::launch_activation_forward_f32(Activation::Gelu, a, y, n, nullptr);
      },
      [](auto a, auto) {
        return k::launch_activation_forward_f32(Activation::Gelu, a, a, n, nullptr);
      });
  check(
      "tanh backward into dy", false,
      [](auto a, auto b, auto y) {
        return k::launch_activation_backward_f32(Activation::Tanh, a, b, y, n, nullptr);
      },
      [](auto a, auto b) {
        return k::launch_activation_backward_f32(Activation::Tanh, a, b, b, n, nullptr);
      });
}

// Zero lengths launch nothing (null pointers are fine); an activation the enum does not name is
// refused without writing.
TEST(EmuEltwise, RefusesAnUnknownActivationAndSkipsEmptyInputs) {
  EXPECT_EQ(k::launch_add_f32(nullptr, nullptr, nullptr, 0, nullptr), cudaSuccess);
  EXPECT_EQ(k::launch_scale_bf16(2.0f, nullptr, 0, nullptr), cudaSuccess);
  EXPECT_EQ(
      k::launch_activation_backward_bf16(Activation::Gelu, nullptr, nullptr, nullptr, 0, nullptr),
      cudaSuccess);
  EXPECT_EQ(k::launch_add_bias_f32(nullptr, nullptr, 0, 8, nullptr), cudaSuccess);
  EXPECT_EQ(k::launch_bias_grad_f32(nullptr, nullptr, 0, 8, nullptr, nullptr), cudaSuccess);
  EXPECT_EQ(k::bias_grad_scratch_doubles(0, 8), 0);

  const int64_t n = 10;
  const auto unknown = static_cast<Activation>(7);
  Guarded<float> x(n, randn(n, 6)), y(n);
  Guarded<__nv_bfloat16> hx(n, to_bf16(randn(n, 6))), hy(n);
  EXPECT_EQ(k::launch_activation_forward_f32(unknown, x.ptr(), y.ptr(), n, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_activation_backward_f32(unknown, x.ptr(), x.ptr(), y.ptr(), n, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_activation_forward_bf16(unknown, hx.ptr(), hy.ptr(), n, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_activation_backward_bf16(unknown, hx.ptr(), hx.ptr(), hy.ptr(), n, nullptr),
            cudaErrorInvalidValue);
  const std::vector<unsigned char> fill(size_t(n) * sizeof(float), 0xFF);
  EXPECT_EQ(0, std::memcmp(y.ptr(), fill.data(), fill.size()));
  EXPECT_EQ(0, std::memcmp(hy.ptr(), fill.data(), fill.size() / 2));
  EXPECT_TRUE(y.guards_intact("y"));
  EXPECT_TRUE(hy.guards_intact("bf16 y"));
}

// ---- bias ops ----

namespace {

struct Matrix {
  int64_t rows, cols, shift;
};
void PrintTo(const Matrix& m, std::ostream* os) {
  *os << m.rows << "x" << m.cols << (m.shift ? " shifted" : "");
}

// db += column sums of dy, as CudaOps calls it (scratch of bias_grad_scratch_doubles, or none
// when that is 0); returns db.
std::vector<float> bias_grad_on_device(const Matrix& m, const std::vector<float>& dy,
                                       const std::vector<float>& db0) {
  Guarded<float> gdy(m.rows * m.cols, dy, m.shift), gdb(m.cols, db0, m.shift);
  const int64_t doubles = k::bias_grad_scratch_doubles(m.rows, m.cols);
  Guarded<double> scratch(doubles);
  EXPECT_EQ(k::launch_bias_grad_f32(gdy.ptr(), gdb.ptr(), m.rows, m.cols,
                                    doubles ? scratch.ptr() : nullptr, nullptr),
            cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_TRUE(gdb.guards_intact("db"));
  EXPECT_TRUE(scratch.guards_intact("scratch"));
  return gdb.values();
}

}  // namespace

// y += bias over rows: one add per element, so the CPU's bits. (rows, cols): the float4 path
// (cols % 4 == 0, aligned; 33 x 64 is over one block of packs), the element path (cols % 4 != 0,
// or a shifted y and bias), and no rows.
TEST(EmuBias, AddBiasMatchesTheCpu) {
  for (const Matrix m :
       {Matrix{5, 8, 0}, Matrix{33, 64, 0}, Matrix{7, 3, 0}, Matrix{5, 8, 1}, Matrix{0, 8, 0}}) {
    const std::vector<float> y0 = randn(m.rows * m.cols, 7), bias = randn(m.cols, 8);
    Guarded<float> gy(m.rows * m.cols, y0, m.shift), gbias(m.cols, bias, m.shift);
    ASSERT_EQ(k::launch_add_bias_f32(gbias.ptr(), gy.ptr(), m.rows, m.cols, nullptr), cudaSuccess);
    EXPECT_TRUE(gy.guards_intact("y"));
    Tensor want = host(y0, {m.rows, m.cols});
    if (m.rows > 0) cpu_ops().add_bias(host(bias, {m.cols}), want);
    EXPECT_TRUE(same_values(gy.values(), to_vector(want))) << ::testing::PrintToString(m);
  }
}

// db += column sums: both sides sum in double (in different orders) and round once, so they agree
// to one fp32 rounding of db (normalised 1e-7; measured 0). Row counts: one chunk (db written
// directly, no scratch), two and three 256-row chunks (the last partial), and 32769 rows, which 128
// chunks cannot cover in 256 rows: chunks of 257 rows. Columns: a partial 32-column tile and two
// tiles.
TEST(EmuBias, BiasGradMatchesTheCpuOverChunkCounts) {
  EXPECT_EQ(k::bias_grad_scratch_doubles(256, 40), 0);
  EXPECT_EQ(k::bias_grad_scratch_doubles(257, 40), 2 * 40);
  EXPECT_EQ(k::bias_grad_scratch_doubles(600, 3), 3 * 3);
  EXPECT_EQ(k::bias_grad_scratch_doubles(256 * 128, 2), 128 * 2);
  EXPECT_EQ(k::bias_grad_scratch_doubles(256 * 128 + 1, 2), 128 * 2);  // 257-row chunks
  for (const Matrix m : {Matrix{1, 5, 0}, Matrix{256, 40, 0}, Matrix{300, 3, 1}, Matrix{600, 40, 0},
                         Matrix{256 * 128 + 1, 2, 0}}) {
    const std::vector<float> dy = randn(m.rows * m.cols, 9), db0 = randn(m.cols, 10);
    const std::vector<float> got = bias_grad_on_device(m, dy, db0);
    Tensor want = host(db0, {m.cols});
    cpu_ops().bias_grad(host(dy, {m.rows, m.cols}), want);
    EXPECT_LE(normalised_error(got, to_vector(want)), 1e-7) << ::testing::PrintToString(m);
  }
}

// The chunking depends on the shape only and the chunks are added in order: the same sums twice
// give the same bits.
TEST(EmuBias, BiasGradRepeatsBitForBit) {
  const Matrix m{600, 40, 0};
  const std::vector<float> dy = randn(m.rows * m.cols, 11), db0 = randn(m.cols, 12);
  const std::vector<float> first = bias_grad_on_device(m, dy, db0);
  const std::vector<float> second = bias_grad_on_device(m, dy, db0);
  EXPECT_EQ(0, std::memcmp(first.data(), second.data(), first.size() * sizeof(float)));
}

// dz = dy where y > 0 (exactly the CPU's, zeros of y included), db += its column sums (as
// bias_grad); without db it is relu_backward over all elements; dz may be dy itself.
TEST(EmuBias, ReluBiasBackwardMatchesTheCpu) {
  struct Case {
    Matrix m;
    bool with_db, in_place;
  };
  for (const Case& c : {Case{{9, 5, 0}, true, false}, Case{{300, 40, 0}, true, false},
                        Case{{300, 40, 0}, true, true}, Case{{9, 5, 1}, false, false},
                        Case{{600, 3, 0}, false, true}}) {
    const Matrix m = c.m;
    const int64_t n = m.rows * m.cols;
    std::vector<float> y = randn(n, 13);
    for (float& v : y) v = v > 0 ? v : 0.0f;  // a ReLU's output
    const std::vector<float> dy = randn(n, 14), db0 = randn(m.cols, 15);
    Guarded<float> gy(n, y, m.shift), gdy(n, dy, m.shift), gdz(n, m.shift),
        gdb(m.cols, db0, m.shift);
    const int64_t doubles = k::bias_grad_scratch_doubles(m.rows, m.cols);
    Guarded<double> scratch(doubles);
    float* dz = c.in_place ? gdy.ptr() : gdz.ptr();
    ASSERT_EQ(k::launch_relu_bias_backward_f32(gy.ptr(), gdy.ptr(), dz,
                                               c.with_db ? gdb.ptr() : nullptr, m.rows, m.cols,
                                               doubles ? scratch.ptr() : nullptr, nullptr),
              cudaSuccess);
    ASSERT_EQ(cudaGetLastError(), cudaSuccess);
    for (auto* g : {&gdy, &gdz, &gdb}) EXPECT_TRUE(g->guards_intact("output"));
    EXPECT_TRUE(scratch.guards_intact("scratch"));

    Tensor want_dz = Tensor::zeros({m.rows, m.cols}, DType::F32);
    Tensor want_db = c.with_db ? host(db0, {m.cols}) : Tensor();
    cpu_ops().relu_bias_backward(host(y, {m.rows, m.cols}), host(dy, {m.rows, m.cols}), want_dz,
                                 want_db);
    const std::string what = ::testing::PrintToString(m) + (c.with_db ? " with db" : "") +
                             (c.in_place ? " in place" : "");
    const Guarded<float>& got_dz = c.in_place ? gdy : gdz;
    EXPECT_TRUE(same_values(got_dz.values(), to_vector(want_dz))) << what;
    if (c.with_db)
      EXPECT_LE(normalised_error(gdb.values(), to_vector(want_db)), 1e-7) << what;
    else
      EXPECT_EQ(gdb.values(), db0) << what;  // not touched
  }
}

// Over one chunk without scratch, and more than 65535 column tiles, come back as
// cudaErrorInvalidValue with nothing written.
TEST(EmuBias, RefusesMissingScratchAndTooManyColumns) {
  const Matrix m{300, 4, 0};
  const int64_t n = m.rows * m.cols;
  const std::vector<float> y = randn(n, 16);
  const std::vector<float> dy = randn(n, 17), db0 = randn(m.cols, 18);
  Guarded<float> gy(n, y), gdy(n, dy), gdz(n), gdb(m.cols, db0);
  EXPECT_EQ(k::launch_bias_grad_f32(gdy.ptr(), gdb.ptr(), m.rows, m.cols, nullptr, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_relu_bias_backward_f32(gy.ptr(), gdy.ptr(), gdz.ptr(), gdb.ptr(), m.rows,
                                             m.cols, nullptr, nullptr),
            cudaErrorInvalidValue);
  // cols = 65535 * 32 + 1 needs 65536 tiles; refused before any memory is touched.
  EXPECT_EQ(k::launch_bias_grad_f32(nullptr, nullptr, 1, 65535LL * 32 + 1, nullptr, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_relu_bias_backward_f32(nullptr, nullptr, nullptr, gdb.ptr(), 1,
                                             65535LL * 32 + 1, nullptr, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(gdb.values(), db0);
  const std::vector<unsigned char> fill(size_t(n) * sizeof(float), 0xFF);
  EXPECT_EQ(0, std::memcmp(gdz.ptr(), fill.data(), fill.size()));
  EXPECT_TRUE(gdb.guards_intact("db"));
  EXPECT_TRUE(gdz.guards_intact("dz"));
}
