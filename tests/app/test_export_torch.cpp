// Cross-check with an independent implementation: merged models written by win load into their
// PyTorch twins (tools/export_torch.py with tools/win_torch.py, Debian's python3-torch) and give
// the same logits on the same input within 1e-4 relative. Skipped, saying why, where
// python3-torch or python3-h5py is not installed.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "config/load.hpp"
#include "data/hdf5.hpp"
#include "io/model_io.hpp"
#include "models/build.hpp"
#include "models/widen.hpp"
#include "nn/batchnorm.hpp"
#include "run_command.hpp"
#include "tiny_models.hpp"
#include "win/merge.hpp"

using namespace win;

namespace {

bool torch_available() {
  return run_command("/usr/bin/python3 -c \"import torch, h5py\"").code == 0;
}

config::ModelConfig mlp(const std::string& block, const std::string& act) {
  return testing_nn::tiny_mlp(block, act, 30, 12, 7, 4, 6);
}

config::ModelConfig resnet(const std::string& block, const std::string& stem) {
  config::ModelConfig c = testing_nn::tiny_resnet(block, stem, 2, 4);
  c.resnet.layers.assign({2, 1, 1, 1});
  c.resnet.image_size = stem == "imagenet" ? 40 : 16;
  return c;
}

// S-bar with random weights, bridges and BN statistics, merged and exported; PyTorch must agree.
void export_and_compare(const config::ModelConfig& student) {
  SCOPED_TRACE(student.family + " " +
               (student.family == "mlp" ? student.mlp.block : student.resnet.block));
  config::TeacherConfig t;
  auto sbar = method::build_bridged(student, models::teacher_config(student, t),
                                    method::BridgeMode::Free, DType::F32);
  testing_nn::randomise_model(*sbar, 1);
  method::init_bridges(*sbar, method::BridgeInit::Random, 3);
  auto merged = method::merge_bridges(*sbar, student);
  config::Deck deck;
  deck.model = student;
  // Per-process names: CTest runs these tests in parallel processes.
  const std::string dir = testing::TempDir() + "export_" + std::to_string(::getpid()) + "_";
  const std::string weights = dir + "weights.h5", check = dir + "check.h5";
  io::save_weights(weights, *merged, "merged", {{"config", config::deck_to_toml(deck)}});
  const Tensor x = models::example_input(student, 3, DType::F32, 4);
  nn::Context ctx;
  ctx.training = false;
  const Tensor logits = merged->forward(x, ctx);
  {
    h5::File f = h5::File::create(check);
    f.root().write("input", x);
    f.root().write("logits", logits);
  }
  const auto r = run_command("/usr/bin/python3 " + std::string(WIN_SOURCE_DIR) +
                             "/tools/export_torch.py " + weights + " --check " + check);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("max |torch - win|"), std::string::npos) << r.out;
  std::filesystem::remove(weights);
  std::filesystem::remove(check);
}

}  // namespace

TEST(ExportTorch, MergedMlpsMatchPyTorch) {
  if (!torch_available()) GTEST_SKIP() << "python3-torch / python3-h5py not installed";
  export_and_compare(mlp("inner", "gelu"));
  export_and_compare(mlp("plain", "relu"));
}

TEST(ExportTorch, MergedResNetsMatchPyTorch) {
  if (!torch_available()) GTEST_SKIP() << "python3-torch / python3-h5py not installed";
  export_and_compare(resnet("bottleneck", "small"));
  export_and_compare(resnet("basic", "imagenet"));
}

TEST(ExportTorch, AFileWithoutConfigIsRefused) {
  if (!torch_available()) GTEST_SKIP() << "python3-torch / python3-h5py not installed";
  const std::string path = testing::TempDir() + "no_config_" + std::to_string(::getpid()) + ".h5";
  { h5::File f = h5::File::create(path); }
  const auto r = run_command("/usr/bin/python3 " + std::string(WIN_SOURCE_DIR) +
                             "/tools/export_torch.py " + path);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("no /meta config"), std::string::npos) << r.err;
  std::filesystem::remove(path);
  // A missing file and an unreadable --check file: one line naming the file, no traceback.
  const std::string tool =
      "/usr/bin/python3 " + std::string(WIN_SOURCE_DIR) + "/tools/export_torch.py ";
  const auto missing = run_command(tool + path);
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find(path + ": cannot read"), std::string::npos) << missing.err;
  EXPECT_EQ(missing.err.find("Traceback"), std::string::npos) << missing.err;
}
