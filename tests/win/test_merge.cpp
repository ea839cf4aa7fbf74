// Merge exactness (DESIGN §2): S̄ with random weights, random non-identity bridges and random BN
// running statistics, merged into a plain thin model, gives the same outputs in training and
// evaluation mode: max|merged - S̄| / max|S̄| <= kTolF64 in double and kTolF32 in float (the
// folds reassociate sums, so f32 agrees to round-off). The merged model has exactly the
// parameters of a freshly built S. BERT: tied bridges merge exactly; free ones are reported as
// approximate, with their measured discrepancy.
#include <gtest/gtest.h>

#include "models/bert.hpp"
#include "models/build.hpp"
#include "models/widen.hpp"
#include "nn/batchnorm.hpp"
#include "nn_testing.hpp"
#include "tiny_models.hpp"
#include "win/merge.hpp"

using namespace win;
using namespace win::method;
using namespace win::testing_nn;

namespace {

constexpr double kTolF64 = 1e-12;
constexpr double kTolF32 = 1e-5;

// Builds S̄ (random bridges), merges, and checks outputs in both modes and the parameter count.
void check_merge(const config::ModelConfig& student, DType dt, BridgeMode mode, bool expect_exact,
                 int64_t batch = 3) {
  config::TeacherConfig t;
  t.widen = 2;
  const config::ModelConfig teacher = models::teacher_config(student, t);
  auto sbar = build_bridged(student, teacher, mode, dt);
  randomise_model(*sbar, 11);
  init_bridges(*sbar, BridgeInit::Random, 12);
  MergeReport report;
  auto merged = merge_bridges(*sbar, student, &report);
  EXPECT_EQ(report.exact, expect_exact);
  // Every boundary is accounted for: folded (free) or identity by construction (tied).
  EXPECT_EQ(report.folded, mode == BridgeMode::Free ? sbar->num_blocks() : 0);
  EXPECT_EQ(report.tied, mode == BridgeMode::Tied ? sbar->num_blocks() : 0);
  EXPECT_EQ(merged->num_params(), models::build_model(student, dt)->num_params());
  const Tensor x = models::example_input(student, batch, dt, 13);
  for (bool training : {false, true}) {
    SCOPED_TRACE(training ? "train mode" : "eval mode");
    nn::Context ctx;
    ctx.training = training;
    if (student.family == "bert") {
      models::set_example_bert_inputs(sbar->student(), student, batch);
      models::set_example_bert_inputs(*merged, student, batch);
    }
    const double rel = merge_discrepancy(*sbar, *merged, x, ctx);
    if (expect_exact) {
      EXPECT_LE(rel, dt == DType::F64 ? kTolF64 : kTolF32);
    } else {
      EXPECT_GT(rel, 1e-6) << "a free BERT merge is approximate: it cannot be exact by accident";
    }
  }
}

}  // namespace

TEST(Merge, MlpInnerAndPlainAreExact) {
  for (DType dt : {DType::F64, DType::F32})
    for (const char* block : {"inner", "plain"}) {
      SCOPED_TRACE(block);
      check_merge(tiny_mlp(block), dt, BridgeMode::Free, true);
    }
}

TEST(Merge, ResNetBottleneckAndBasicBothStemsAreExact) {
  for (DType dt : {DType::F64, DType::F32})
    for (const char* block : {"bottleneck", "basic"})
      for (const char* stem : {"small", "imagenet"}) {
        SCOPED_TRACE(std::string(block) + " " + stem);
        check_merge(tiny_resnet(block, stem), dt, BridgeMode::Free, true, 4);
      }
}

TEST(Merge, BertTiedBridgesAreExactFreeOnesAreReportedApproximate) {
  for (DType dt : {DType::F64, DType::F32}) check_merge(tiny_bert(), dt, BridgeMode::Tied, true);
  check_merge(tiny_bert(), DType::F64, BridgeMode::Free, false);
}

TEST(Merge, FoldMultipliesTheInputDimension) {
  // A 1x1 conv weight folded with P equals the matrix product on its (out, in) view.
  Tensor w = randn({3, 4, 1, 1}, DType::F64, 1), p = randn({4, 4}, DType::F64, 2);
  const Tensor w2 = w.reshape({3, 4}).clone();
  fold_input_map(w, p);
  for (int64_t o = 0; o < 3; ++o)
    for (int64_t j = 0; j < 4; ++j) {
      double s = 0;
      for (int64_t c = 0; c < 4; ++c) s += w2.at<double>({o, c}) * p.at<double>({c, j});
      EXPECT_NEAR(w.at<double>({o, j, 0, 0}), s, 1e-14);
    }
}

TEST(Bridges, OrthogonalInitMakesSBarEqualS) {
  const auto student = tiny_mlp("plain");
  config::TeacherConfig t;
  const auto teacher = models::teacher_config(student, t);
  auto sbar = build_bridged(student, teacher, BridgeMode::Free, DType::F64);
  randomise_model(*sbar, 21);
  init_bridges(*sbar, BridgeInit::Orthogonal, 22);
  for (int i = 0; i < sbar->num_blocks(); ++i) {
    const Tensor p = sbar->bridge(i).product();
    for (int64_t r = 0; r < p.size(0); ++r)
      for (int64_t c = 0; c < p.size(1); ++c)
        EXPECT_NEAR(p.at<double>({r, c}), r == c ? 1.0 : 0.0, 1e-12) << "bridge " << i;
  }
  // S̄'s output equals its student's (without bridges).
  const Tensor x = models::example_input(student, 2, DType::F64, 3);
  nn::Context ctx;
  const auto a = sbar->forward(x, ctx).to_vector();
  const auto b = sbar->student().forward(x, ctx).to_vector();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12);
}
