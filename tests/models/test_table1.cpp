// The paper's Table 1 (and DESIGN §2's widening rules): parameters and multiply-accumulates of
// the ResNet students and their widened teachers, within 1% of the published numbers, and
// BERT-base's 110M parameters. MACs per sample at 224x224, counted by running one sample.
#include <gtest/gtest.h>

#include <cmath>

#include "models/build.hpp"
#include "models/widen.hpp"

using namespace win;

namespace {

config::ModelConfig resnet(int depth, double multiplier) {
  config::ModelConfig c;
  c.family = "resnet";
  c.classes = 1000;
  c.resnet.layers =
      depth == 50 ? std::vector<int64_t>{3, 4, 6, 3} : std::vector<int64_t>{3, 4, 23, 3};
  c.resnet.width_multiplier = multiplier;
  return c;
}

config::ModelConfig widened(const config::ModelConfig& s) {
  config::TeacherConfig t;
  t.widen = 2;  // the inner (3x3) width doubled: 4x the 3x3 conv's parameters
  return models::teacher_config(s, t);
}

void expect_within_1pct(double ours, double paper, const std::string& what) {
  EXPECT_LE(std::abs(ours - paper) / paper, 0.01)
      << what << ": " << ours << " vs the paper's " << paper;
}

int64_t params(const config::ModelConfig& c) {
  return models::build_model(c, DType::F32)->num_params();
}

}  // namespace

TEST(Table1, ResNet50ParamsAndMacsStudentAndTeacher) {
  const auto s = resnet(50, 1.0);
  auto sm = models::build_model(s, DType::F32);
  const auto sp = models::profile_model(*sm, s);
  expect_within_1pct(static_cast<double>(sp.params), 25.6e6, "ResNet50 params");
  expect_within_1pct(static_cast<double>(sp.macs), 4.1e9, "ResNet50 MACs");
  sm.reset();
  const auto t = widened(s);
  auto tm = models::build_model(t, DType::F32);
  const auto tp = models::profile_model(*tm, t);
  expect_within_1pct(static_cast<double>(tp.params), 68.9e6, "ResNet50 teacher params");
  expect_within_1pct(static_cast<double>(tp.macs), 11.4e9, "ResNet50 teacher MACs");
  // Per-stage profile: boundary widths unchanged by the default widening rule.
  ASSERT_EQ(tp.parts.size(), 6u);
  for (int i = 1; i <= 4; ++i)
    EXPECT_EQ(tp.parts[static_cast<size_t>(i)].out_width,
              sp.parts[static_cast<size_t>(i)].out_width);
}

TEST(Table1, ReducedAndDeeperResNetParameterCounts) {
  struct Row {
    int depth;
    double mult, student, teacher;
  };
  for (const Row& r :
       {Row{50, 0.5, 6.9e6, 17.8e6}, Row{50, 0.25, 2.0e6, 4.7e6}, Row{101, 1.0, 44.5e6, 126.9e6},
        Row{101, 0.5, 11.7e6, 32.3e6}, Row{101, 0.25, 3.2e6, 8.3e6}}) {
    const std::string name = "ResNet" + std::to_string(r.depth) + " x" + std::to_string(r.mult);
    const auto s = resnet(r.depth, r.mult);
    expect_within_1pct(static_cast<double>(params(s)), r.student, name + " params");
    expect_within_1pct(static_cast<double>(params(widened(s))), r.teacher,
                       name + " teacher params");
  }
}

TEST(Table1, BertBaseParameters) {
  config::ModelConfig c;
  c.family = "bert";
  expect_within_1pct(static_cast<double>(params(c)), 110e6, "BERT-base params");
}
