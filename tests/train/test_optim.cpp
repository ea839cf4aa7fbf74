// Optimizers, learning-rate schedules and gradient clipping: a few steps on a tiny parameter
// store against PyTorch's documented update equations written out here in double, weight-decay
// exemptions by parameter kind, checkpoint state, the paper's ResNet schedule, and clip_grad_norm.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "nn/param_store.hpp"
#include "nn_testing.hpp"
#include "train/clip.hpp"
#include "train/optimizer.hpp"
#include "train/schedule.hpp"

using namespace win;
using namespace win::train;
using namespace win::testing_nn;
using nn::ParamKind;

namespace {

// One parameter of every kind, odd sizes so that the store has alignment padding between them.
class Tiny final : public nn::Module {
 public:
  explicit Tiny(DType dt) : Module("tiny", dt) {
    add_param("weight", {3, 5}, ParamKind::Weight, nn::Init::normal(1.0));
    add_param("bias", {3}, ParamKind::Bias, nn::Init::normal(1.0));
    add_param("bn", {7}, ParamKind::BatchNorm, nn::Init::normal(1.0));
    add_param("ln", {2}, ParamKind::LayerNorm, nn::Init::normal(1.0));
    add_param("embedding", {4, 3}, ParamKind::Embedding, nn::Init::normal(1.0));
    add_param("bridge", {2, 9}, ParamKind::Bridge, nn::Init::normal(1.0));
  }
  Tensor forward(const Tensor& x, nn::Context&) override { return x; }
  Tensor backward(const Tensor& dy, nn::Context&) override { return dy; }
};

// Sets the store's gradients to fixed random values (padding stays zero).
void set_grads(nn::ParamStore& store, uint64_t seed) {
  for (const auto& e : store.entries())
    e.param->grad.copy_from(randn(e.param->grad.shape(), DType::F64, seed + e.offset));
}

std::vector<double> values_of(const nn::ParamEntry& e) {
  return e.param->value.to_vector();
}

config::OptimConfig optim_cfg(const std::string& opt, double wd,
                              std::vector<std::string> no_decay) {
  config::OptimConfig c;
  c.optimizer = opt;
  c.weight_decay = wd;
  c.no_decay = std::move(no_decay);
  return c;
}

bool exempt(ParamKind k, const std::vector<std::string>& no_decay) {
  const char* name = k == ParamKind::BatchNorm   ? "bn"
                     : k == ParamKind::LayerNorm ? "ln"
                     : k == ParamKind::Bias      ? "bias"
                     : k == ParamKind::Embedding ? "embedding"
                     : k == ParamKind::Bridge    ? "bridge"
                                                 : "";
  for (const auto& n : no_decay)
    if (n == name) return true;
  return false;
}

}  // namespace

// ---- SGD and AdamW against the documented equations (torch.optim docs), in double ------------

TEST(Optimizer, SgdMatchesTorchEquations) {
  const std::vector<double> lrs = {0.1, 0.05, 0.2, 0.1};
  for (bool nesterov : {false, true}) {
    Tiny m(DType::F64);
    nn::init_params(m, 1);
    nn::ParamStore store(m);
    auto cfg = optim_cfg("sgd", 0.01, {"bn", "bias"});
    cfg.momentum = 0.9;
    cfg.nesterov = nesterov;
    auto opt = make_optimizer(cfg, store);
    EXPECT_STREQ(opt->name(), "sgd");
    // Independent state per entry: theta, b.
    std::vector<std::vector<double>> theta, buf;
    for (const auto& e : store.entries()) {
      theta.push_back(values_of(e));
      buf.emplace_back(static_cast<size_t>(e.numel), 0.0);
    }
    for (size_t t = 0; t < lrs.size(); ++t) {
      set_grads(store, 100 * (t + 1));
      for (size_t k = 0; k < store.entries().size(); ++k) {
        const auto& e = store.entries()[k];
        const double wd = exempt(e.param->kind, cfg.no_decay) ? 0.0 : cfg.weight_decay;
        const auto g = e.param->grad.to_vector();
        for (size_t i = 0; i < g.size(); ++i) {
          double gt = g[i] + wd * theta[k][i];                        // g_t = g + lambda theta
          buf[k][i] = t == 0 ? gt : cfg.momentum * buf[k][i] + gt;    // b_t (dampening 0)
          gt = nesterov ? gt + cfg.momentum * buf[k][i] : buf[k][i];  // Nesterov or b_t
          theta[k][i] -= lrs[t] * gt;
        }
      }
      opt->step(lrs[t]);
      EXPECT_EQ(opt->step_count(), static_cast<int64_t>(t + 1));
      for (size_t k = 0; k < store.entries().size(); ++k) {
        const auto got = values_of(store.entries()[k]);
        for (size_t i = 0; i < got.size(); ++i)
          EXPECT_NEAR(got[i], theta[k][i], 1e-14)
              << store.entries()[k].name << "[" << i << "] step " << t << " nesterov " << nesterov;
      }
    }
  }
}

TEST(Optimizer, AdamWMatchesTorchEquations) {
  const std::vector<double> lrs = {1e-3, 2e-3, 5e-4};
  Tiny m(DType::F64);
  nn::init_params(m, 2);
  nn::ParamStore store(m);
  auto cfg = optim_cfg("adamw", 0.05, {"ln", "embedding"});
  cfg.beta1 = 0.9;
  cfg.beta2 = 0.98;
  cfg.eps = 1e-6;
  auto opt = make_optimizer(cfg, store);
  EXPECT_STREQ(opt->name(), "adamw");
  std::vector<std::vector<double>> theta, mm, vv;
  for (const auto& e : store.entries()) {
    theta.push_back(values_of(e));
    mm.emplace_back(static_cast<size_t>(e.numel), 0.0);
    vv.emplace_back(static_cast<size_t>(e.numel), 0.0);
  }
  for (size_t t = 0; t < lrs.size(); ++t) {
    set_grads(store, 200 * (t + 1));
    const double step = static_cast<double>(t + 1), lr = lrs[t];
    for (size_t k = 0; k < store.entries().size(); ++k) {
      const auto& e = store.entries()[k];
      const double wd = exempt(e.param->kind, cfg.no_decay) ? 0.0 : cfg.weight_decay;
      const auto g = e.param->grad.to_vector();
      for (size_t i = 0; i < g.size(); ++i) {
        theta[k][i] -= lr * wd * theta[k][i];  // theta_t = theta - gamma lambda theta
        mm[k][i] = cfg.beta1 * mm[k][i] + (1 - cfg.beta1) * g[i];
        vv[k][i] = cfg.beta2 * vv[k][i] + (1 - cfg.beta2) * g[i] * g[i];
        const double mhat = mm[k][i] / (1 - std::pow(cfg.beta1, step));
        const double vhat = vv[k][i] / (1 - std::pow(cfg.beta2, step));
        theta[k][i] -= lr * mhat / (std::sqrt(vhat) + cfg.eps);
      }
    }
    opt->step(lr);
    for (size_t k = 0; k < store.entries().size(); ++k) {
      const auto got = values_of(store.entries()[k]);
      for (size_t i = 0; i < got.size(); ++i)
        EXPECT_NEAR(got[i], theta[k][i], 1e-13)
            << store.entries()[k].name << "[" << i << "] step " << t;
    }
  }
  // The state tensors hold the moments, laid out like the store's values.
  const auto st = opt->state();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].name, "exp_avg");
  EXPECT_EQ(st[1].name, "exp_avg_sq");
  EXPECT_EQ(st[0].tensor.shape(), store.values().shape());
  for (size_t k = 0; k < store.entries().size(); ++k) {
    const auto& e = store.entries()[k];
    for (int64_t i = 0; i < e.numel; ++i) {
      EXPECT_NEAR(get_flat(st[0].tensor, e.offset + i), mm[k][static_cast<size_t>(i)], 1e-15);
      EXPECT_NEAR(get_flat(st[1].tensor, e.offset + i), vv[k][static_cast<size_t>(i)], 1e-15);
    }
  }
}

TEST(Optimizer, F32UpdatesMatchF64) {
  // The f32 CPU loops against the f64 reference after three steps of each optimizer.
  for (const char* name : {"sgd", "adamw"}) {
    Tiny a(DType::F64), b(DType::F32);
    nn::init_params(a, 3);
    copy_params(a, b);
    nn::ParamStore sa(a), sb(b);
    auto cfg = optim_cfg(name, 0.01, {"bn"});
    cfg.nesterov = true;
    auto oa = make_optimizer(cfg, sa), ob = make_optimizer(cfg, sb);
    for (int t = 0; t < 3; ++t) {
      set_grads(sa, 10 + t);
      set_grads(sb, 10 + t);
      oa->step(0.01);
      ob->step(0.01);
    }
    EXPECT_LT(normalized_error(sb.values(), sa.values()), 1e-6) << name;
  }
}

TEST(Optimizer, WeightDecaySkippedExactlyForNoDecayKinds) {
  // Zero gradients: a decayed parameter shrinks by exactly (1 - lr wd) (SGD without momentum and
  // AdamW alike); an exempt one stays bit-identical. Padding between parameters stays zero.
  const std::vector<std::vector<std::string>> lists = {{},
                                                       {"bn"},
                                                       {"ln"},
                                                       {"bias"},
                                                       {"embedding"},
                                                       {"bridge"},
                                                       {"bn", "ln", "bias", "embedding", "bridge"}};
  for (const char* name : {"sgd", "adamw"})
    for (const auto& no_decay : lists) {
      Tiny m(DType::F64);
      nn::init_params(m, 4);
      nn::ParamStore store(m);
      auto cfg = optim_cfg(name, 0.1, no_decay);
      cfg.momentum = 0.0;
      auto opt = make_optimizer(cfg, store);
      std::vector<std::vector<double>> before;
      for (const auto& e : store.entries()) before.push_back(values_of(e));
      store.zero_grad();
      opt->step(0.5);
      for (size_t k = 0; k < store.entries().size(); ++k) {
        const auto& e = store.entries()[k];
        const auto got = values_of(e);
        const bool ex = exempt(e.param->kind, no_decay);
        for (size_t i = 0; i < got.size(); ++i) {
          if (ex)
            EXPECT_EQ(got[i], before[k][i]) << name << " " << e.name;
          else
            EXPECT_NEAR(got[i], before[k][i] * (1 - 0.5 * 0.1), 1e-15) << name << " " << e.name;
        }
      }
      const auto all = store.values().to_vector();
      int64_t next = 0;
      for (const auto& e : store.entries()) {
        for (int64_t i = next; i < e.offset; ++i) EXPECT_EQ(all[static_cast<size_t>(i)], 0.0);
        next = e.offset + e.numel;
      }
    }
}

TEST(Optimizer, StateRestoresAndResets) {
  // A fresh optimizer given another's state and step count continues bit-identically;
  // reset_state makes it a fresh optimizer again.
  for (const char* name : {"sgd", "adamw"}) {
    Tiny a(DType::F32), b(DType::F32);
    nn::init_params(a, 5);
    nn::init_params(b, 5);
    nn::ParamStore sa(a), sb(b);
    const auto cfg = optim_cfg(name, 0.01, {"bias"});
    auto oa = make_optimizer(cfg, sa);
    for (int t = 0; t < 2; ++t) {
      set_grads(sa, 30 + t);
      oa->step(0.1);
    }
    sb.values().copy_from(sa.values());
    auto ob = make_optimizer(cfg, sb);
    const auto src = oa->state();
    auto dst = ob->state();
    ASSERT_EQ(src.size(), dst.size());
    for (size_t i = 0; i < src.size(); ++i) dst[i].tensor.copy_from(src[i].tensor);
    ob->set_step_count(oa->step_count());
    set_grads(sa, 40);
    set_grads(sb, 40);
    oa->step(0.1);
    ob->step(0.1);
    EXPECT_EQ(std::memcmp(sa.values().raw(), sb.values().raw(), sa.values().nbytes()), 0) << name;

    oa->reset_state();
    EXPECT_EQ(oa->step_count(), 0);
    for (const auto& s : oa->state())
      for (double v : s.tensor.to_vector()) ASSERT_EQ(v, 0.0) << name << " " << s.name;
  }
}

TEST(Optimizer, BadSettingsAreConfigErrors) {
  Tiny m(DType::F32);
  nn::ParamStore store(m);
  auto expect_config = [&](const config::OptimConfig& c, const char* what) {
    try {
      make_optimizer(c, store);
      ADD_FAILURE() << what << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config) << what;
    }
  };
  expect_config(optim_cfg("lamb", 0, {}), "unknown optimizer");
  expect_config(optim_cfg("sgd", 0, {"norm"}), "unknown no_decay kind");
  auto c = optim_cfg("sgd", 0, {});
  c.momentum = 0;
  c.nesterov = true;
  expect_config(c, "nesterov without momentum");
}

// ---- learning-rate schedules ----------------------------------------------------------------

TEST(Schedule, PaperResNetSchedule) {
  // "linearly increased from 0 to 0.1 in the first 5 epochs, then reduced by 10x at epoch 30, 60
  // and 80"; 100 steps per epoch, 90 epochs.
  config::OptimConfig c;
  c.lr = 0.1;
  c.lr_schedule = "step";
  c.warmup_epochs = 5;
  c.milestones = {30, 60, 80};
  c.gamma = 0.1;
  const LrSchedule s(c, 100, 9000);
  EXPECT_EQ(s.warmup_steps(), 500);
  auto near = [](double got, double want) { EXPECT_NEAR(got, want, 1e-15 * want); };
  near(s.lr_at(0), 0.1 / 500);  // the first step already moves
  near(s.lr_at(249), 0.05);     // warm-up midpoint: (249 + 1) / 500
  near(s.lr_at(499), 0.1);      // the last warm-up step reaches lr
  near(s.lr_at(500), 0.1);
  near(s.lr_at(2999), 0.1);
  near(s.lr_at(3000), 0.01);  // epoch 30
  near(s.lr_at(5999), 0.01);
  near(s.lr_at(6000), 0.001);  // epoch 60
  near(s.lr_at(7999), 0.001);
  near(s.lr_at(8000), 1e-4);  // epoch 80
  near(s.lr_at(8999), 1e-4);
}

TEST(Schedule, CosineAndLinearEndpoints) {
  config::OptimConfig c;
  c.lr = 2.0;
  c.lr_schedule = "cosine";
  const LrSchedule cos0(c, 10, 100);
  EXPECT_DOUBLE_EQ(cos0.lr_at(0), 2.0);
  EXPECT_NEAR(cos0.lr_at(50), 1.0, 1e-15);
  EXPECT_NEAR(cos0.lr_at(100), 0.0, 1e-15);
  EXPECT_NEAR(cos0.lr_at(150), 0.0, 1e-15);  // past the end: stays 0
  c.warmup_epochs = 1;                       // 10 steps
  const LrSchedule cos1(c, 10, 110);
  EXPECT_NEAR(cos1.lr_at(4), 1.0, 1e-15);  // warm-up: 2 * 5 / 10
  EXPECT_DOUBLE_EQ(cos1.lr_at(10), 2.0);   // decay starts after warm-up
  EXPECT_NEAR(cos1.lr_at(60), 1.0, 1e-15);
  EXPECT_NEAR(cos1.lr_at(110), 0.0, 1e-15);

  c.lr_schedule = "linear";
  c.warmup_epochs = 0;
  const LrSchedule lin(c, 10, 100);
  EXPECT_DOUBLE_EQ(lin.lr_at(0), 2.0);
  EXPECT_DOUBLE_EQ(lin.lr_at(25), 1.5);
  EXPECT_NEAR(lin.lr_at(99), 0.02, 1e-15);
  EXPECT_EQ(lin.lr_at(100), 0.0);

  c.lr_schedule = "constant";
  c.warmup_epochs = 0.5;  // 5 steps
  const LrSchedule con(c, 10, 100);
  EXPECT_EQ(con.warmup_steps(), 5);
  EXPECT_DOUBLE_EQ(con.lr_at(1), 0.8);
  EXPECT_DOUBLE_EQ(con.lr_at(4), 2.0);
  EXPECT_DOUBLE_EQ(con.lr_at(99), 2.0);

  c.lr_schedule = "exponential";
  try {
    LrSchedule bad(c, 10, 100);
    ADD_FAILURE() << "unknown schedule accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
  }
}

// ---- gradient clipping ----------------------------------------------------------------------

TEST(Clip, ReturnsTheNormAndClipsToMaxNorm) {
  Tiny m(DType::F32);
  nn::ParamStore store(m);
  set_grads(store, 50);
  double ss = 0;
  for (double g : store.grads().to_vector()) ss += g * g;
  const double norm = std::sqrt(ss);
  const auto before = store.grads().to_vector();

  // Above the norm: measured, gradients untouched.
  EXPECT_NEAR(clip_grad_norm(store, 2 * norm), norm, 1e-12 * norm);
  EXPECT_EQ(store.grads().to_vector(), before);

  // Below: every gradient scaled by max_norm / (norm + 1e-6), so the new norm is max_norm.
  const double max_norm = norm / 3;
  EXPECT_NEAR(clip_grad_norm(store, max_norm), norm, 1e-12 * norm);
  EXPECT_NEAR(grad_norm(store), max_norm, 1e-6 * max_norm);
  const auto after = store.grads().to_vector();
  const double coef = max_norm / (norm + 1e-6);
  for (size_t i = 0; i < after.size(); ++i) EXPECT_NEAR(after[i], before[i] * coef, 1e-6);
}

TEST(Clip, GradsFiniteDetectsNanAndInf) {
  Tiny m(DType::F64);
  nn::ParamStore store(m);
  set_grads(store, 60);
  EXPECT_TRUE(grads_finite(store));
  const auto& e = store.entries()[2];
  set_flat(e.param->grad, 3, std::numeric_limits<double>::quiet_NaN());
  EXPECT_FALSE(grads_finite(store));
  EXPECT_FALSE(std::isfinite(clip_grad_norm(store, 1.0)));
  set_flat(e.param->grad, 3, std::numeric_limits<double>::infinity());
  EXPECT_FALSE(grads_finite(store));
  set_flat(e.param->grad, 3, 1e300);  // finite, though its square overflows
  EXPECT_TRUE(grads_finite(store));
}

TEST(Optimizer, FilterLeavesOtherParametersAlone) {
  // Only "weight" and "bn" are trained: every other entry keeps its values bit for bit despite
  // non-zero gradients and weight decay, and its slice of the state stays zero.
  for (const char* name : {"sgd", "adamw"}) {
    Tiny m(DType::F32);
    nn::init_params(m, 6);
    nn::ParamStore store(m);
    const auto before = store.values().to_vector();
    auto opt = make_optimizer(optim_cfg(name, 0.1, {}), store, [](const nn::ParamEntry& e) {
      return e.name == "weight" || e.name == "bn";
    });
    for (int t = 0; t < 2; ++t) {
      set_grads(store, 70 + t);
      opt->step(0.1);
    }
    const auto after = store.values().to_vector();
    for (const auto& e : store.entries()) {
      const bool trained = e.name == "weight" || e.name == "bn";
      int changed = 0;
      for (int64_t i = e.offset; i < e.offset + e.numel; ++i) {
        changed += after[static_cast<size_t>(i)] != before[static_cast<size_t>(i)];
        if (!trained) {
          for (const auto& s : opt->state())
            EXPECT_EQ(get_flat(s.tensor, i), 0.0) << name << " " << e.name;
        }
      }
      if (trained)
        EXPECT_EQ(changed, e.numel) << name << " " << e.name;
      else
        EXPECT_EQ(changed, 0) << name << " " << e.name;
    }
  }
}

TEST(Schedule, PaperBertScheduleWarmsUpInStepsThenDecaysLinearly) {
  // "linearly warmed up in the first 10,000 steps, and then linearly decayed" over 1M steps; the
  // warm-up is given in steps, so it does not depend on the corpus size (steps per epoch).
  config::OptimConfig c;
  c.lr = 1e-4;
  c.lr_schedule = "linear";
  c.warmup_epochs = 3;  // overridden
  c.warmup_steps = 10000;
  const LrSchedule s(c, 123457, 1000000);
  EXPECT_EQ(s.warmup_steps(), 10000);
  EXPECT_NEAR(s.lr_at(4999), 0.5e-4, 1e-18);
  EXPECT_NEAR(s.lr_at(9999), 1e-4, 1e-18);
  EXPECT_NEAR(s.lr_at(505000), 0.5e-4, 1e-10);  // halfway through the decay
  EXPECT_LT(s.lr_at(999999), 1e-9);
}
