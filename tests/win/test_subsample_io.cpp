// teacher_subsample (the thin block's weights are a sub-tensor of the wide block's, scaled where
// the paper's mean-field estimate says so), and model weights in HDF5: a merged model saved and
// loaded as a plain thin model gives the same outputs; mismatched files are refused by name.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "core/error.hpp"
#include "io/model_io.hpp"
#include "models/build.hpp"
#include "models/widen.hpp"
#include "nn_testing.hpp"
#include "tiny_models.hpp"
#include "win/merge.hpp"
#include "win/subsample.hpp"
#include "win/teacher.hpp"

using namespace win;
using namespace win::method;
using namespace win::testing_nn;

namespace {

std::map<std::string, Tensor> tensors(nn::Module& m) {
  std::map<std::string, Tensor> out;
  m.for_each_param([&](const std::string& n, nn::Param& p) { out[n] = p.value; });
  m.for_each_buffer([&](const std::string& n, Tensor& t) { out[n] = t; });
  return out;
}

config::ModelConfig inner_mlp() {
  return tiny_mlp("inner", "relu", 9, 5, 4, 3, 3);
}

config::ModelConfig small_resnet(const std::string& block) {
  config::ModelConfig c = tiny_resnet(block, "small", 1);
  c.resnet.layers.assign({1, 1, 1, 1});
  c.resnet.image_size = 8;
  return c;
}

struct Setup {
  std::unique_ptr<models::Model> teacher;
  std::unique_ptr<BridgedModel> sbar;
  Samples samples;
};

Setup subsample(const config::ModelConfig& student, int64_t widen) {
  config::TeacherConfig t;
  t.widen = widen;
  const auto tc = models::teacher_config(student, t);
  Setup s;
  s.teacher = models::build_model(tc, DType::F64);
  nn::init_params(*s.teacher, 5);
  s.sbar = build_bridged(student, tc, BridgeMode::Free, DType::F64);
  s.samples = subsample_from_teacher(*s.sbar, *s.teacher, student, 7);
  return s;
}

}  // namespace

TEST(TeacherSubsample, InnerMlpRowsAndScaledColumnsOfTheWideBlock) {
  auto s = subsample(inner_mlp(), 3);
  auto st = tensors(s.sbar->student()), tt = tensors(*s.teacher);
  ASSERT_EQ(s.samples.size(), 3u);
  for (int b = 0; b < 3; ++b) {
    const std::string p = "blocks." + std::to_string(b);
    const auto& idx = s.samples.at(p);
    ASSERT_EQ(idx.size(), 4u);
    for (size_t r = 0; r < idx.size(); ++r) {
      EXPECT_EQ(st[p + ".fc1.weight"].select(0, static_cast<int64_t>(r)).to_vector(),
                tt[p + ".fc1.weight"].select(0, idx[r]).to_vector());
      EXPECT_EQ(st[p + ".fc1.bias"].at<double>({static_cast<int64_t>(r)}),
                tt[p + ".fc1.bias"].at<double>({idx[r]}));
      for (int64_t o = 0; o < 5; ++o)  // fc2 reads the sampled units, scaled by M / m = 12 / 4
        EXPECT_DOUBLE_EQ(st[p + ".fc2.weight"].at<double>({o, static_cast<int64_t>(r)}),
                         3.0 * tt[p + ".fc2.weight"].at<double>({o, idx[r]}));
    }
    EXPECT_EQ(st[p + ".fc2.bias"].to_vector(), tt[p + ".fc2.bias"].to_vector());
  }
  EXPECT_EQ(st["stem.weight"].to_vector(), tt["stem.weight"].to_vector());
  EXPECT_EQ(st["head.weight"].to_vector(), tt["head.weight"].to_vector());
}

TEST(TeacherSubsample, WidenOneReproducesTheTeacherExactly) {
  // m = M: every unit sampled, scale 1: the student is the teacher.
  for (const auto& cfg : {inner_mlp(), small_resnet("bottleneck"), small_resnet("basic")}) {
    auto s = subsample(cfg, 1);
    const Tensor x = models::example_input(cfg, 2, DType::F64, 3);
    nn::Context ctx;
    ctx.training = false;
    const auto a = s.sbar->forward(x, ctx).to_vector();
    const auto b = s.teacher->forward(x, ctx).to_vector();
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12) << cfg.family;
  }
}

TEST(TeacherSubsample, ResNetSamplesInnerChannelsAndBatchNormStatistics) {
  auto s = subsample(small_resnet("bottleneck"), 2);
  auto st = tensors(s.sbar->student()), tt = tensors(*s.teacher);
  const std::string b = "layer3.0";
  const auto& idx = s.samples.at(b);
  ASSERT_EQ(static_cast<int64_t>(idx.size()), st[b + ".conv2.weight"].size(0));
  for (size_t r = 0; r < idx.size(); ++r) {
    EXPECT_EQ(st[b + ".bn1.running_var"].at<double>({static_cast<int64_t>(r)}),
              tt[b + ".bn1.running_var"].at<double>({idx[r]}));
    for (size_t c = 0; c < idx.size(); ++c)
      EXPECT_DOUBLE_EQ(
          st[b + ".conv2.weight"]
              .select(0, static_cast<int64_t>(r))
              .select(0, static_cast<int64_t>(c))
              .to_vector()[4],
          2.0 * tt[b + ".conv2.weight"].select(0, idx[r]).select(0, idx[c]).to_vector()[4]);
  }
  EXPECT_EQ(st[b + ".bn3.weight"].to_vector(), tt[b + ".bn3.weight"].to_vector());
  EXPECT_EQ(st["fc.weight"].to_vector(), tt["fc.weight"].to_vector());
}

TEST(TeacherSubsample, PlainMlpBridgesSelectTheSampledUnits) {
  auto c = inner_mlp();
  c.mlp.block = "plain";
  auto s = subsample(c, 2);
  for (int i = 0; i < 3; ++i) {
    const Tensor p = s.sbar->bridge(i).product();
    for (int64_t r = 0; r < p.size(0); ++r)
      for (int64_t k = 0; k < p.size(1); ++k) EXPECT_EQ(p.at<double>({r, k}), r == k ? 1.0 : 0.0);
    const auto& idx = s.samples.at("blocks." + std::to_string(i));
    const Tensor& m1 = s.sbar->bridge(i).m1().value;
    for (size_t r = 0; r < idx.size(); ++r)
      EXPECT_EQ(m1.at<double>({idx[r], static_cast<int64_t>(r)}), 1.0);
  }
}

TEST(TeacherSubsample, BertIsAClearConfigError) {
  config::ModelConfig c;
  c.family = "bert";
  c.bert.vocab_size = 20;
  c.bert.layers = 1;
  c.bert.hidden = 4;
  c.bert.heads = 1;
  c.bert.ffn = 8;
  c.bert.max_positions = 8;
  c.bert.seq_length = 4;
  try {
    subsample(c, 2);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("not available for BERT"), std::string::npos);
  }
}

TEST(ModelIo, MergedModelSavedAndLoadedAsPlainThinModelGivesTheSameOutputs) {
  const auto student = small_resnet("bottleneck");
  config::TeacherConfig t;
  auto sbar =
      build_bridged(student, models::teacher_config(student, t), BridgeMode::Free, DType::F32);
  nn::init_params(*sbar, 3);
  init_bridges(*sbar, BridgeInit::Random, 4);
  auto merged = merge_bridges(*sbar, student);
  const std::string path = testing::TempDir() + "merged_weights.h5";
  io::save_weights(path, *merged, "merged", {{"config", "family = \"resnet\""}});
  auto fresh = models::build_model(student, DType::F32);
  io::load_weights(path, *fresh);
  const Tensor x = models::example_input(student, 3, DType::F32, 8);
  nn::Context ctx;
  ctx.training = false;
  EXPECT_EQ(fresh->forward(x, ctx).to_vector(), merged->forward(x, ctx).to_vector());
  std::filesystem::remove(path);
}

TEST(ModelIo, MismatchedOrDamagedFilesAreCheckpointErrorsNamingTheTensor) {
  auto a = models::build_model(inner_mlp(), DType::F32);
  const std::string path = testing::TempDir() + "mlp_weights.h5";
  io::save_weights(path, *a, "test");
  auto other = inner_mlp();
  other.mlp.inner = 6;
  auto b = models::build_model(other, DType::F32);
  try {
    io::load_weights(path, *b);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 4);
    EXPECT_NE(std::string(e.what()).find("blocks.0.fc1.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  try {
    io::load_weights(path + ".missing", *a);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 4);
    EXPECT_NE(std::string(e.what()).find("weights file " + path + ".missing: no such file"),
              std::string::npos)
        << e.what();
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  try {
    io::load_weights(path, *a);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 4);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

// S-bar's weights (narrow or finetune output, bridges included) loaded as the plain student: the
// error says what the file holds and where the plain student is, not "a different model".
TEST(ModelIo, SbarWeightsLoadedAsThePlainStudentSayWhatTheyAre) {
  const auto student = inner_mlp();
  config::TeacherConfig t;
  auto sbar =
      build_bridged(student, models::teacher_config(student, t), BridgeMode::Free, DType::F32);
  const std::string path = testing::TempDir() + "sbar_weights.h5";
  io::save_weights(path, *sbar, "finetune");
  auto plain = models::build_model(student, DType::F32);
  try {
    io::load_weights(path, *plain);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 4);
    EXPECT_NE(std::string(e.what()).find("S-bar with its bridges"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("merge/final.h5"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(Teacher, FromACheckpointOrByTheWideningRules) {
  config::Deck deck;
  deck.model = small_resnet("bottleneck");
  deck.teacher.widen = 2;
  auto built = build_teacher(deck, DType::F32);  // fresh, by the rules
  EXPECT_EQ(built->num_params(),
            models::build_model(models::teacher_config(deck.model, deck.teacher), DType::F32)
                ->num_params());
  nn::init_params(*built, 99);
  const std::string path = testing::TempDir() + "teacher.h5";
  io::save_weights(path, *built, "teacher");
  deck.teacher.checkpoint = path;
  auto loaded = build_teacher(deck, DType::F32);
  auto a = tensors(*built), b = tensors(*loaded);
  for (auto& [name, t] : a) EXPECT_EQ(t.to_vector(), b[name].to_vector()) << name;
  deck.teacher.checkpoint = testing::TempDir() + "missing_teacher.h5";
  try {
    build_teacher(deck, DType::F32);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 4);
    EXPECT_NE(std::string(e.what()).find("missing_teacher.h5"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}
