// Transformer layers (LayerNorm, Embedding, Dropout, SelfAttention): finite-difference gradients
// in double, the f32 backend (oneDNN layer norm, sgemm) against the f64 reference, known values
// that anchor the reference independently, and the properties each layer exists for (the padding
// mask hides padded keys; dropout masks are reproducible and thread-count independent).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/parallel.hpp"
#include "nn/attention.hpp"
#include "nn/dropout.hpp"
#include "nn/embedding.hpp"
#include "nn/layernorm.hpp"
#include "nn_testing.hpp"

using namespace win;
using namespace win::nn;
using namespace win::testing_nn;

namespace {

// Restores the OpenMP thread count when a test that changes it ends (even on failure).
struct ThreadCountGuard {
  int saved = num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

// Random values for every parameter (init_params would give LayerNorm ones/zeros, which would
// leave the affine part's gradient paths untested).
void randomize_params(Module& m, uint64_t seed) {
  m.for_each_param([&](const std::string&, Param& p) {
    p.value.copy_from(randn(p.value.shape(), p.value.dtype(), seed++, 0.5));
  });
}

double norm(const Tensor& t) {
  double s = 0;
  for (double v : t.to_vector()) s += v * v;
  return std::sqrt(s);
}

void zero_grads(Module& m) {
  m.for_each_param([](const std::string&, Param& p) { p.grad.zero(); });
}

// (B, T) i32 padding mask: sample b attends to its first lengths[b] positions.
Tensor padding_mask(const std::vector<int>& lengths, int64_t t) {
  std::vector<int32_t> v;
  for (int len : lengths)
    for (int64_t i = 0; i < t; ++i) v.push_back(i < len ? 1 : 0);
  return Tensor::from(v, {static_cast<int64_t>(lengths.size()), t});
}

// Embedding::backward returns an undefined tensor (ids have no gradient), which
// check_gradients cannot clone; this wrapper returns a dummy input gradient instead.
class EmbeddingProbe final : public Module {
 public:
  EmbeddingProbe(int64_t vocab, int64_t dim)
      : Module("EmbeddingProbe", DType::F64),
        emb_(add_child("emb", std::make_unique<Embedding>(vocab, dim, 1.0, DType::F64))) {}
  Tensor forward(const Tensor& ids, Context& ctx) override {
    shape_ = ids.shape();
    return emb_.forward(ids, ctx);
  }
  Tensor backward(const Tensor& dy, Context& ctx) override {
    EXPECT_FALSE(emb_.backward(dy, ctx).defined());
    return Tensor::zeros(shape_, DType::F64);
  }

 private:
  Embedding& emb_;
  Dims shape_;
};

}  // namespace

// ---- LayerNorm ---------------------------------------------------------------------------------

TEST(LayerNormGrad, FiniteDifferencesInDouble) {
  // step 1e-5, rtol 1e-6: layer norm is smooth (eps keeps 1/sqrt(var) away from its pole), so
  // central differences err by ~h^2 |f'''| + 1e-16 / h ~ 1e-10, well inside the tolerance.
  LayerNorm ln(6, 1e-5, DType::F64);
  randomize_params(ln, 30);
  Context ctx;
  GradCheckOptions opt;
  opt.step = 1e-5;
  EXPECT_EQ(check_gradients(ln, randn({2, 3, 6}, DType::F64, 31), ctx, opt), 0);
}

TEST(LayerNormReference, ZeroMeanUnitVarianceBeforeTheAffine) {
  LayerNorm ln(5, 1e-12, DType::F64);
  init_params(ln, 1);  // weight ones, bias zeros: the output is the normalised input
  Tensor x = randn({4, 5}, DType::F64, 40, 3.0);
  for (int64_t i = 0; i < x.numel(); ++i) set_flat(x, i, get_flat(x, i) + 100.0);  // big mean
  Context ctx;
  const Tensor y = ln.forward(x, ctx).clone();
  for (int64_t r = 0; r < 4; ++r) {
    double s = 0, ss = 0;
    for (int64_t j = 0; j < 5; ++j) s += y.at<double>({r, j});
    for (int64_t j = 0; j < 5; ++j) ss += std::pow(y.at<double>({r, j}) - s / 5, 2);
    EXPECT_NEAR(s / 5, 0.0, 1e-12) << "row " << r;
    EXPECT_NEAR(ss / 5, 1.0, 1e-10) << "row " << r;  // biased variance, as PyTorch
  }
  // Hand-computed: x = (1, 2, 3, 4, 5) has mean 3 and biased variance 2; then gamma 2, beta 0.5.
  ln.weight().value.fill(2.0);
  ln.bias().value.fill(0.5);
  const Tensor y2 = ln.forward(Tensor::from(std::vector<double>{1, 2, 3, 4, 5}, {1, 5}), ctx);
  for (int64_t j = 0; j < 5; ++j)
    EXPECT_NEAR(y2.at<double>({0, j}), 2.0 * (j - 2.0) / std::sqrt(2.0) + 0.5, 1e-12);
}

TEST(LayerNormBackend, F32MatchesF64Reference) {
  // 2e-6: every output and dx element is a few f32 roundings (~6e-8 each) of O(1) terms, with
  // sums over D = 96; dgamma/dbeta sum 28 rows. Measured: 5e-8 to 1.1e-7.
  LayerNorm ref(96, 1e-5, DType::F64), fast(96, 1e-5, DType::F32);
  randomize_params(ref, 50);
  copy_params(ref, fast);
  const Tensor x64 = randn({4, 7, 96}, DType::F64, 51, 2.0);
  Context ctx;
  const Tensor y64 = ref.forward(x64, ctx).clone();
  const Tensor y32 = fast.forward(x64.to(DType::F32), ctx).clone();
  EXPECT_LT(normalized_error(y32, y64), 2e-6);
  const Tensor g = randn(y64.shape(), DType::F64, 52);
  zero_grads(ref);
  zero_grads(fast);
  fast.weight().grad.fill(1.0);  // the op must add to, not overwrite, parameter gradients
  ref.weight().grad.fill(1.0);
  const Tensor dx64 = ref.backward(g, ctx).clone();
  const Tensor dx32 = fast.backward(g.to(DType::F32), ctx).clone();
  EXPECT_LT(normalized_error(dx32, dx64), 2e-6);
  EXPECT_LT(normalized_error(fast.weight().grad, ref.weight().grad), 2e-6);
  EXPECT_LT(normalized_error(fast.bias().grad, ref.bias().grad), 2e-6);
}

// ---- Embedding ---------------------------------------------------------------------------------

TEST(EmbeddingGrad, FiniteDifferencesWithRepeatedIds) {
  // The output is linear in the weight, so step 1e-6 / rtol 1e-6 is loose; ids 3 and 1 repeat,
  // so their rows' gradients are sums over several positions.
  EmbeddingProbe probe(10, 4);
  init_params(probe, 60);
  const Tensor ids = Tensor::from(std::vector<int32_t>{3, 1, 3, 0, 7, 1, 3, 3, 9, 0}, {2, 5});
  Context ctx;
  GradCheckOptions opt;
  opt.check_input = false;
  opt.max_per_tensor = 40;  // every element of the (10, 4) weight
  EXPECT_EQ(check_gradients(probe, ids, ctx, opt), 0);
}

TEST(Embedding, LooksUpRowsAndAccumulatesGradients) {
  Embedding emb(6, 3, 0.02, DType::F64);
  init_params(emb, 61);
  const Tensor ids = Tensor::from(std::vector<int32_t>{2, 5, 2}, {3});
  Context ctx;
  const Tensor y = emb.forward(ids, ctx);
  ASSERT_EQ(y.dim(), 2);
  ASSERT_EQ(y.size(0), 3);
  ASSERT_EQ(y.size(1), 3);
  for (int64_t j = 0; j < 3; ++j) {
    EXPECT_EQ(y.at<double>({0, j}), emb.weight().value.at<double>({2, j}));
    EXPECT_EQ(y.at<double>({1, j}), emb.weight().value.at<double>({5, j}));
  }
  const Tensor dy = Tensor::from(std::vector<double>{1, 2, 3, 10, 20, 30, 100, 200, 300}, {3, 3});
  emb.weight().grad.zero();
  EXPECT_FALSE(emb.backward(dy, ctx).defined());
  EXPECT_FALSE(emb.backward(dy, ctx).defined());  // twice: gradients accumulate
  for (int64_t j = 0; j < 3; ++j) {
    EXPECT_EQ(emb.weight().grad.at<double>({2, j}), 2.0 * 101.0 * (j + 1));
    EXPECT_EQ(emb.weight().grad.at<double>({5, j}), 2.0 * 10.0 * (j + 1));
    EXPECT_EQ(emb.weight().grad.at<double>({0, j}), 0.0);
  }
}

TEST(Embedding, BackwardIsIdenticalForAnyThreadCount) {
  ThreadCountGuard guard;
  std::vector<int32_t> v;
  for (int i = 0; i < 4096; ++i) v.push_back((i * 7919) % 97);  // each id about 42 times
  const Tensor ids = Tensor::from(v, {32, 128});
  const Tensor dy = randn({32, 128, 16}, DType::F32, 62);
  std::vector<std::vector<double>> grads;
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    Embedding emb(97, 16, 0.02, DType::F32);
    Context ctx;
    emb.forward(ids, ctx);
    emb.backward(dy, ctx);
    grads.push_back(emb.weight().grad.to_vector());
  }
  EXPECT_EQ(grads[0], grads[1]);
}

TEST(EmbeddingErrors, OutOfRangeIdIsADataErrorNamingItsPosition) {
  Embedding emb(10, 4, 1.0, DType::F32);
  Context ctx;
  for (int32_t bad : {10, -1}) {
    const Tensor ids = Tensor::from(std::vector<int32_t>{1, 2, 3, 4, bad, 5}, {2, 3});
    try {
      emb.forward(ids, ctx);
      ADD_FAILURE() << "id " << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Data);
      const std::string msg = e.what();
      EXPECT_NE(msg.find("position 4"), std::string::npos) << msg;
      EXPECT_NE(msg.find("id " + std::to_string(bad)), std::string::npos) << msg;
    }
  }
}

// ---- Dropout -----------------------------------------------------------------------------------

TEST(DropoutGrad, TrainingModeFiniteDifferences) {
  // One fixed mask (the same ctx.step for every evaluation); y is linear in x, so step 1e-6 /
  // rtol 1e-6 is loose.
  Dropout d(0.3, 4, DType::F64);
  Context ctx;
  ctx.training = true;
  ctx.step = 11;
  ctx.rng = Philox(5, 7);
  EXPECT_EQ(check_gradients(d, randn({6, 8}, DType::F64, 70), ctx), 0);
  const auto m = d.mask().to_vector();
  int kept = 0;
  for (double v : m) kept += v != 0;
  EXPECT_GT(kept, 0);  // the mask is neither all-keep nor all-drop, so the check saw both
  EXPECT_LT(kept, 48);
}

TEST(Dropout, SameMaskForAnyThreadCountAndSameSeedAndStep) {
  ThreadCountGuard guard;
  const Tensor x = randn({64, 1000}, DType::F32, 71);
  auto mask_of = [&](int threads, uint64_t stream, uint64_t step, uint64_t seed) {
    set_num_threads(threads);
    Dropout d(0.1, stream, DType::F32);
    Context ctx;
    ctx.step = step;
    ctx.rng = Philox(seed, 3);
    d.forward(x, ctx);
    return d.mask().to_vector();
  };
  const auto base = mask_of(1, 1, 5, 42);
  EXPECT_EQ(base, mask_of(2, 1, 5, 42));  // threads
  EXPECT_EQ(base, mask_of(1, 1, 5, 42));  // a fresh layer, same (seed, step)
  // Another layer, another step or another seed: independent masks agree on about
  // p^2 + (1-p)^2 = 82% of elements, never on all 64000.
  for (const auto& other : {mask_of(2, 2, 5, 42), mask_of(1, 1, 6, 42), mask_of(1, 1, 5, 43)}) {
    int64_t same = 0;
    for (size_t i = 0; i < base.size(); ++i) same += base[i] == other[i];
    EXPECT_NEAR(static_cast<double>(same) / base.size(), 0.82, 0.01);
  }
}

TEST(Dropout, KeepsOneMinusPAndScalesByItsInverse) {
  // 10^6 Bernoulli(0.9) draws: the kept fraction has std sqrt(0.09 / 1e6) = 3e-4; 1.5e-3 is five
  // standard deviations (a false failure has odds below 1e-6).
  const double p = 0.1;
  Tensor x = Tensor::empty({1000, 1000}, DType::F32);
  x.fill(3.0);
  Dropout d(p, 9, DType::F32);
  Context ctx;
  ctx.step = 1;
  const Tensor y = d.forward(x, ctx);
  const auto yv = y.to_vector(), mv = d.mask().to_vector();
  int64_t kept = 0;
  for (size_t i = 0; i < yv.size(); ++i) {
    kept += mv[i] != 0;
    ASSERT_EQ(yv[i], mv[i] != 0 ? static_cast<double>(static_cast<float>(3.0 / 0.9)) : 0.0) << i;
  }
  EXPECT_NEAR(static_cast<double>(kept) / 1e6, 1.0 - p, 1.5e-3);
  // Backward applies the same mask and scale.
  const auto dxv = d.backward(x, ctx).to_vector();
  EXPECT_EQ(dxv, yv);
}

TEST(Dropout, IdentityInEvalModeAndForPZero) {
  const Tensor x = randn({5, 7}, DType::F32, 72);
  Context eval;
  eval.training = false;
  Dropout d(0.5, 1, DType::F32);
  const Tensor y = d.forward(x, eval);
  EXPECT_TRUE(y.shares_storage(x));
  EXPECT_EQ(y.to_vector(), x.to_vector());
  EXPECT_EQ(d.backward(x, eval).to_vector(), x.to_vector());
  EXPECT_FALSE(d.mask().defined());
  Context train;
  Dropout none(0.0, 2, DType::F32);
  EXPECT_EQ(none.forward(x, train).to_vector(), x.to_vector());
}

// A fused kernel that applies dropout itself (the GPU's attention) draws with fused_draw's
// counters; they must give exactly the mask forward draws, for any step and sample offset.
TEST(Dropout, FusedDrawGivesTheMaskForwardDraws) {
  Dropout d(0.25, 7, DType::F32);
  const Tensor x = randn({3, 2, 5, 5}, DType::F32, 90);
  Context train;
  train.rng = Philox(5, 1);
  train.step = 11;
  train.sample_offset = 6;
  (void)d.forward(x, train);
  const backend::Ops::AttentionDropout draw = d.fused_draw(x.shape(), train);
  ASSERT_EQ(draw.p, 0.25);
  ASSERT_EQ(draw.rng, &train.rng);
  // The counters by their definition (forward itself draws through fused_draw, so comparing the
  // two alone would pass whatever the counters were): step in the high bits above the 16-bit
  // stream id, and the global position of the first element (sample 6 of 2 x 5 x 5 each).
  EXPECT_EQ(draw.hi_counter, (uint64_t{11} << 16) | 7);
  EXPECT_EQ(draw.lo_offset, uint64_t{6} * 2 * 5 * 5);
  Tensor mask = Tensor::empty(x.shape(), DType::U8), y = Tensor::empty(x.shape(), DType::F32);
  backend::ops_for(Device::CPU, DType::F32)
      .dropout(x, draw.p, *draw.rng, draw.hi_counter, draw.lo_offset, mask, y);
  EXPECT_EQ(mask.to_vector(), d.mask().to_vector());
  // Another sample offset is another mask (the offset is really used).
  train.sample_offset = 7;
  const backend::Ops::AttentionDropout other = d.fused_draw(x.shape(), train);
  EXPECT_EQ(other.lo_offset, draw.lo_offset + 2 * 5 * 5);
  // No dropout where forward is the identity.
  Context eval;
  eval.training = false;
  EXPECT_EQ(d.fused_draw(x.shape(), eval).p, 0.0);
  EXPECT_EQ(Dropout(0.0, 8, DType::F32).fused_draw(x.shape(), train).p, 0.0);
}

// ---- SelfAttention -----------------------------------------------------------------------------

// Inference mode (ctx.training = false) promises no backward, so that a backend may fuse the
// forward and keep nothing for it: a backward then is an internal error, not silent garbage.
TEST(AttentionInference, BackwardAfterAnInferenceForwardIsRefused) {
  SelfAttention att(8, 2, 0.1, 1, DType::F32);
  init_params(att, 82);
  const Tensor x = randn({2, 5, 8}, DType::F32, 83);
  Context eval;
  eval.training = false;
  const Tensor y = att.forward(x, eval);
  EXPECT_FALSE(att.fused());  // the CPU backends compose gemm and softmax
  EXPECT_THROW(att.backward(y, eval), Error);
  Context train;
  EXPECT_NO_THROW(att.backward(att.forward(x, train), train));
}

TEST(AttentionGrad, FiniteDifferencesInDouble) {
  // step 1e-6, rtol 1e-6, atol 1e-9: softmax of products is smooth; the truncation error
  // h^2 |f'''| ~ 1e-12 and the rounding error 1e-16 * |L| / h ~ 1e-10 are far below.
  SelfAttention att(8, 2, 0.0, 1, DType::F64);
  init_params(att, 80);
  Context ctx;
  const Tensor x = randn({2, 5, 8}, DType::F64, 81);
  EXPECT_EQ(check_gradients(att, x, ctx), 0);
  att.set_mask(padding_mask({5, 3}, 5));  // sample 1 pads its last two positions
  EXPECT_EQ(check_gradients(att, x, ctx), 0);
}

TEST(AttentionGrad, FiniteDifferencesWithAttentionDropout) {
  // The mask is fixed within one ctx.step, so the layer is a smooth function: as above.
  SelfAttention att(8, 2, 0.25, 3, DType::F64);
  init_params(att, 82);
  Context ctx;
  ctx.step = 4;
  att.set_mask(padding_mask({4, 5}, 5));
  EXPECT_EQ(check_gradients(att, randn({2, 5, 8}, DType::F64, 83), ctx), 0);
}

TEST(AttentionReference, MatchesNaivePerHeadLoops) {
  // An independent computation straight from the definition: head h uses columns h*dh..(h+1)*dh
  // of x W^T + b for Q, K and V; padded keys get -10000.
  const int64_t B = 2, T = 4, D = 6, H = 3, dh = 2;
  SelfAttention att(D, H, 0.0, 1, DType::F64);
  init_params(att, 84);
  const Tensor x = randn({B, T, D}, DType::F64, 85);
  const std::vector<int> lengths{4, 2};
  att.set_mask(padding_mask(lengths, T));
  Context ctx;
  const Tensor y = att.forward(x, ctx);
  auto proj = [&](Linear& l, int64_t b, int64_t t, int64_t c) {
    double s = l.bias()->value.at<double>({c});
    for (int64_t k = 0; k < D; ++k)
      s += x.at<double>({b, t, k}) * l.weight().value.at<double>({c, k});
    return s;
  };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> s(T);
        double mx = -1e300, z = 0;
        for (int64_t j = 0; j < T; ++j) {
          for (int64_t c = h * dh; c < (h + 1) * dh; ++c)
            s[j] += proj(att.query(), b, i, c) * proj(att.key(), b, j, c) / std::sqrt(2.0);
          if (j >= lengths[b]) s[j] += -10000.0;
          mx = std::max(mx, s[j]);
        }
        for (int64_t j = 0; j < T; ++j) z += std::exp(s[j] - mx);
        for (int64_t c = h * dh; c < (h + 1) * dh; ++c) {
          double o = 0;
          for (int64_t j = 0; j < T; ++j) o += std::exp(s[j] - mx) / z * proj(att.value(), b, j, c);
          EXPECT_NEAR(y.at<double>({b, i, c}), o, 1e-12) << b << "," << i << "," << c;
        }
      }
}

TEST(AttentionReference, AllEqualKeysAverageTheValues) {
  // Key weights and bias zero: every logit of a row is equal, so each output is the mean of the
  // value rows over the attended positions; with value = identity, the mean of x itself.
  const int64_t B = 2, T = 5, D = 4;
  SelfAttention att(D, 2, 0.0, 1, DType::F64);
  init_params(att, 86);
  att.key().weight().value.zero();
  att.key().bias()->value.zero();
  att.value().weight().value.zero();
  for (int64_t c = 0; c < D; ++c) att.value().weight().value.at<double>({c, c}) = 1.0;
  att.value().bias()->value.zero();
  const Tensor x = randn({B, T, D}, DType::F64, 87);
  Context ctx;
  const std::vector<int> lengths{5, 3};
  for (bool masked : {false, true}) {
    att.set_mask(masked ? padding_mask(lengths, T).to(DType::I8) : Tensor());  // i8 as in shards
    const Tensor y = att.forward(x, ctx);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = masked ? lengths[b] : T;
      for (int64_t c = 0; c < D; ++c) {
        double mean = 0;
        for (int64_t t = 0; t < n; ++t) mean += x.at<double>({b, t, c}) / n;
        for (int64_t i = 0; i < T; ++i)
          EXPECT_NEAR(y.at<double>({b, i, c}), mean, 1e-12) << masked << " " << b << " " << i;
      }
    }
  }
}

TEST(AttentionMask, PaddedInputsDoNotChangeUnmaskedOutputs) {
  const int64_t B = 2, T = 8, D = 16;
  SelfAttention att(D, 4, 0.0, 1, DType::F64);
  init_params(att, 88);
  const Tensor x = randn({B, T, D}, DType::F64, 89);
  Tensor x2 = x.clone();  // sample 0's padded positions 5..7 get other inputs
  const Tensor noise = randn({3, D}, DType::F64, 90, 5.0);
  x2.select(0, 0).slice(0, 5, 8).copy_from(noise);
  Context ctx;
  auto max_change = [&](bool masked) {
    att.set_mask(masked ? padding_mask({5, 8}, T) : Tensor());
    const Tensor y1 = att.forward(x, ctx).clone();
    const Tensor y2 = att.forward(x2, ctx).clone();
    double worst = 0;  // over the unpadded positions of sample 0 and all of sample 1
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < (b == 0 ? 5 : T); ++t)
        for (int64_t c = 0; c < D; ++c)
          worst = std::max(worst, std::abs(y1.at<double>({b, t, c}) - y2.at<double>({b, t, c})));
    return worst;
  };
  EXPECT_LT(max_change(true), 1e-12);  // exp(-10000) underflows: the padded keys weigh nothing
  EXPECT_GT(max_change(false), 1e-3);  // without the mask they do matter: the test can fail
  // A mask value other than 0/1 is bad data, named by sample and position.
  try {
    att.set_mask(Tensor::from(std::vector<int32_t>{1, 1, 2, 0}, {2, 2}));
    ADD_FAILURE() << "mask value 2 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("sample 1, position 0"), std::string::npos) << e.what();
  }
}

TEST(AttentionBackend, F32MatchesF64Reference) {
  // 1e-5: f32 sgemm sums of <= 64 terms and a softmax over 16 keys, each a handful of f32
  // roundings (6e-8) of O(1) values; parameter gradients sum over 2 * 16 rows. Measured: 7e-8 to
  // 3e-7.
  const int64_t B = 2, T = 16, D = 64;
  SelfAttention ref(D, 4, 0.0, 1, DType::F64), fast(D, 4, 0.0, 1, DType::F32);
  init_params(ref, 91);
  copy_params(ref, fast);
  const Tensor mask = padding_mask({16, 11}, T);
  ref.set_mask(mask);
  fast.set_mask(mask);
  const Tensor x64 = randn({B, T, D}, DType::F64, 92);
  Context ctx;
  const Tensor y64 = ref.forward(x64, ctx).clone();
  const Tensor y32 = fast.forward(x64.to(DType::F32), ctx).clone();
  EXPECT_LT(normalized_error(y32, y64), 1e-5);
  const Tensor g = randn(y64.shape(), DType::F64, 93);
  zero_grads(ref);
  zero_grads(fast);
  EXPECT_LT(normalized_error(fast.backward(g.to(DType::F32), ctx), ref.backward(g, ctx)), 1e-5);
  std::map<std::string, Tensor> ref_grads;
  ref.for_each_param([&](const std::string& n, Param& p) { ref_grads[n] = p.grad; });
  int checked = 0;
  fast.for_each_param([&](const std::string& n, Param& p) {
    ++checked;
    if (n == "key.bias") return;  // exactly zero: checked below
    EXPECT_LT(normalized_error(p.grad, ref_grads.at(n)), 1e-5) << n;
  });
  // The key bias adds q_i . b_k to every logit of row i, which softmax ignores: its gradient is
  // zero in exact arithmetic, so both backends must leave only round-off relative to the key
  // weight's gradient (whose scale is |x| times larger, O(1) here).
  EXPECT_LT(norm(ref_grads.at("key.bias")), 1e-12 * norm(ref_grads.at("key.weight")));
  EXPECT_LT(norm(fast.key().bias()->grad), 1e-5 * norm(fast.key().weight().grad));
  EXPECT_EQ(checked, 6);  // query, key, value: weight and bias each
}

TEST(Attention, ChildNamesFollowHuggingFace) {
  SelfAttention att(8, 2, 0.1, 1, DType::F32);
  std::vector<std::string> names;
  att.for_each_param([&](const std::string& n, Param&) { names.push_back(n); });
  EXPECT_EQ(names, (std::vector<std::string>{"query.weight", "query.bias", "key.weight", "key.bias",
                                             "value.weight", "value.bias"}));
}

// DESIGN §7: masks keyed by global sample, so splitting a batch over ranks (each with its
// sample_offset) draws exactly the masks of the whole batch.
TEST(Dropout, MaskDoesNotDependOnHowTheBatchIsSplit) {
  const Tensor x = randn({6, 5, 3}, DType::F32, 41);
  Dropout whole(0.3, 7, DType::F32), part(0.3, 7, DType::F32);
  Context ctx;
  ctx.rng = Philox(9, 1);
  ctx.step = 4;
  const Tensor all = whole.forward(x, ctx).clone();
  for (int64_t begin : {0, 2, 5}) {
    const int64_t end = begin == 0 ? 2 : begin == 2 ? 5 : 6;
    ctx.sample_offset = begin;
    const Tensor y = part.forward(x.slice(0, begin, end).contiguous(), ctx);
    EXPECT_EQ(y.to_vector(), all.slice(0, begin, end).to_vector()) << "samples " << begin;
  }
}
