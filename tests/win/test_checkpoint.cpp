// Checkpoint files: atomic and complete-or-refused, the newest K kept, and a damaged newest one
// skipped with a warning naming it in favour of the previous one; none usable is exit 4.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/log.hpp"
#include "io/checkpoint.hpp"
#include "io/metrics.hpp"

using namespace win;
namespace fs = std::filesystem;

namespace {

io::Checkpoint make(int64_t step) {
  io::Checkpoint c;
  c.ints["step"] = step;
  c.doubles["lr"] = 0.5;
  c.strings["stage"] = "wide";
  c.tensors["model/fc.weight"] = Tensor::from<float>({1, 2, 3, static_cast<float>(step)}, {2, 2});
  return c;
}

std::string tmpdir() {
  return testing::TempDir() + "ckpt_" + std::to_string(::getpid());
}

}  // namespace

TEST(Checkpoint, RoundTripAndKeepsTheNewestK) {
  const std::string dir = tmpdir();
  fs::remove_all(dir);
  io::CheckpointDir cd(dir, 2);
  for (int64_t s : {5, 10, 15}) cd.save(s, make(s));
  const auto files = cd.files();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_NE(files[0].find("ckpt-000000010.h5"), std::string::npos);
  std::string path;
  const auto c = cd.load_newest(&path);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->get_int("step", path), 15);
  EXPECT_EQ(c->get_string("stage", path), "wide");
  EXPECT_DOUBLE_EQ(c->get_double("lr", path), 0.5);
  EXPECT_EQ(c->get_tensor("model/fc.weight", path).to_vector(), (std::vector<double>{1, 2, 3, 15}));
  EXPECT_THROW(io::CheckpointDir(dir, 1), Error);  // keep >= 2
  fs::remove_all(dir);
}

TEST(Checkpoint, DamagedNewestFallsBackToThePreviousOneAndNamesIt) {
  const std::string dir = tmpdir() + "_damaged";
  fs::remove_all(dir);
  io::CheckpointDir cd(dir, 3);
  cd.save(5, make(5));
  const std::string newest = cd.save(10, make(10));
  fs::resize_file(newest, fs::file_size(newest) / 2);
  std::vector<std::string> warnings;
  set_log_sink([&](LogLevel, const std::string& line) { warnings.push_back(line); });
  std::string path;
  const auto c = cd.load_newest(&path);
  set_log_sink(nullptr);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->get_int("step", path), 5);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(newest), std::string::npos) << warnings[0];

  // A file that is not an HDF5 checkpoint at all is refused the same way; with nothing usable
  // left the error is a checkpoint error (exit 4) naming the directory.
  std::ofstream(cd.files().front()) << "garbage";
  set_log_sink([](LogLevel, const std::string&) {});
  try {
    cd.load_newest();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 4);
    EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << e.what();
  }
  set_log_sink(nullptr);
  fs::remove_all(dir);
}

TEST(Checkpoint, AnEmptyDirectoryMeansStartFromScratch) {
  io::CheckpointDir cd(tmpdir() + "_none", 2);
  EXPECT_FALSE(cd.load_newest().has_value());
}

TEST(Metrics, CsvAndHdf5AndCheckpointRoundTrip) {
  io::MetricsTable m({"step", "loss"});
  m.add({1, 0.5});
  m.add({2, 0.25});
  const std::string base = tmpdir() + "_metrics";
  m.write_csv(base + ".csv");
  m.write_h5(base + ".h5");
  std::ifstream in(base + ".csv");
  std::string header, row1;
  std::getline(in, header);
  std::getline(in, row1);
  EXPECT_EQ(header, "step,loss");
  EXPECT_EQ(row1, "1,0.5");
  io::MetricsTable back({"step", "loss"});
  back.from_tensor(m.to_tensor());
  EXPECT_EQ(back.rows(), 2u);
  EXPECT_EQ(back.last("loss"), 0.25);
  fs::remove(base + ".csv");
  fs::remove(base + ".h5");
}

TEST(Metrics, PerEpochSummaryAveragesEachEpochsSteps) {
  io::MetricsTable steps({"step", "epoch", "lr", "loss", "accuracy", "samples_per_s"});
  steps.add({1, 0, 0.1, 2.0, 0.25, 100});
  steps.add({2, 0, 0.1, 1.0, 0.75, 300});
  steps.add({3, 1, 0.05, 0.5, 1.0, 200});
  const io::MetricsTable e = io::per_epoch(steps);
  ASSERT_EQ(e.rows(), 2u);
  EXPECT_EQ(e.at(0, "steps"), 2);
  EXPECT_EQ(e.at(0, "last_step"), 2);
  EXPECT_DOUBLE_EQ(e.at(0, "loss"), 1.5);
  EXPECT_DOUBLE_EQ(e.at(0, "accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(e.at(0, "samples_per_s"), 200);
  EXPECT_EQ(e.at(1, "epoch"), 1);
  EXPECT_DOUBLE_EQ(e.at(1, "lr"), 0.05);
  EXPECT_EQ(
      io::per_epoch(io::MetricsTable({"step", "epoch", "lr", "loss", "accuracy", "samples_per_s"}))
          .rows(),
      0u);
}
