// `win run` end to end on the small deck, and its resume guarantee: a run interrupted in the
// middle of every training stage — SIGKILL (no warning) or SIGUSR1 (checkpoint, exit 75) — and
// resumed each time gives bitwise identical weights, metrics (all but the wall-clock
// samples_per_s column) and results to an uninterrupted run. A second `win run` of a finished
// deck skips every stage.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/hdf5.hpp"
#include "run_command.hpp"

namespace fs = std::filesystem;

namespace {

const std::string kDeck = std::string(WIN_SOURCE_DIR) + "/inputs/fashion_mnist_resnet_small.toml";

std::string run_dir(const std::string& tag) {
  return testing::TempDir() + "win_run_" + tag + "_" + std::to_string(::getpid());
}

CommandResult win_run(const std::string& dir, const std::string& env = "") {
  return run_command("cd " + std::string(WIN_SOURCE_DIR) + " && " + env + " " +
                         win_cmd("run " + kDeck + " --set run.dir=" + dir),
                     600);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A CSV without its samples_per_s column (wall-clock time differs between runs).
std::string without_timing(const fs::path& p) {
  std::stringstream in(slurp(p)), out;
  std::string line;
  int skip = -1;
  while (std::getline(in, line)) {
    std::stringstream cells(line);
    std::string cell;
    int col = 0;
    while (std::getline(cells, cell, ',')) {
      if (cell == "samples_per_s") skip = col;
      if (col != skip) out << cell << ',';
      ++col;
    }
    out << '\n';
  }
  return out.str();
}

// Every dataset of two weights files, byte for byte.
void expect_same_weights(const fs::path& a, const fs::path& b) {
  ASSERT_TRUE(fs::exists(a)) << a;
  ASSERT_TRUE(fs::exists(b)) << b;
  const auto fa = win::h5::File::open(a.string()), fb = win::h5::File::open(b.string());
  const auto ga = fa.root().group("model"), gb = fb.root().group("model");
  const auto names = ga.list();
  EXPECT_EQ(names, gb.list());
  int compared = 0;
  for (const auto& n : names) {
    const auto ta = ga.dataset(n).read(), tb = gb.dataset(n).read();
    ASSERT_EQ(ta.nbytes(), tb.nbytes()) << n;
    EXPECT_EQ(std::memcmp(ta.raw(), tb.raw(), ta.nbytes()), 0) << a << ": " << n << " differs";
    ++compared;
  }
  EXPECT_GT(compared, 10);
}

// The small deck in run directory d, killed (SIGKILL) at wide step 12, after its checkpoints at
// steps 5 and 10: the newest checkpoint's path (empty, with a test failure, if it went otherwise).
fs::path killed_after_two_checkpoints(const std::string& d) {
  const fs::path newest = fs::path(d) / "fashion_mnist_resnet_small" / "wide" / "ckpt-000000010.h5";
  const int code = win_run(d, "WIN_TEST_KILL_AT='wide@12'").code;
  EXPECT_EQ(code, 137);
  EXPECT_TRUE(fs::exists(newest)) << newest;
  return code == 137 && fs::exists(newest) ? newest : fs::path();
}

}  // namespace

TEST(RunResume, InterruptedInEveryStageEqualsUninterrupted) {
  const std::string a = run_dir("a"), b = run_dir("b");
  const auto ra = win_run(a);
  ASSERT_EQ(ra.code, 0) << ra.err;
  EXPECT_NE(ra.out.find("| WIN |"), std::string::npos) << "the report table is printed";

  // Stop it in the middle of each stage in turn; each rerun resumes from the checkpoints.
  const std::pair<std::string, int> interruptions[] = {
      {"WIN_TEST_KILL_AT='wide@7'", 137},      {"WIN_TEST_KILL_AT='narrow block 2@3'", 137},
      {"WIN_TEST_SIGNAL_AT='finetune@6'", 75}, {"WIN_TEST_KILL_AT='vanilla@12'", 137},
      {"WIN_TEST_SIGNAL_AT='kd@3'", 75},
  };
  for (const auto& [env, code] : interruptions) {
    const auto r = win_run(b, env);
    EXPECT_EQ(r.code, code) << env << "\n" << r.err;
  }
  const auto rb = win_run(b);
  ASSERT_EQ(rb.code, 0) << rb.err;

  const fs::path pa = fs::path(a) / "fashion_mnist_resnet_small",
                 pb = fs::path(b) / "fashion_mnist_resnet_small";
  for (const char* stage : {"wide", "vanilla", "kd", "finetune", "merge"})
    expect_same_weights(pa / stage / "final.h5", pb / stage / "final.h5");
  for (const char* m : {"wide/metrics.csv", "vanilla/metrics.csv", "kd/metrics.csv",
                        "finetune/metrics.csv", "narrow/block1/restart0/metrics.csv"})
    EXPECT_EQ(without_timing(pa / m), without_timing(pb / m)) << m;
  EXPECT_EQ(slurp(pa / "narrow/blocks.csv"), slurp(pb / "narrow/blocks.csv"));
  EXPECT_EQ(slurp(pa / "eval/results.csv"), slurp(pb / "eval/results.csv"));

  // The merge check of the run: merged and unmerged outputs agree on held-out data.
  const std::string check = slurp(pa / "merge/check.txt");
  EXPECT_NE(check.find("exact yes"), std::string::npos) << check;
  const auto pos = check.find("max_relative_difference ");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_LT(std::stod(check.substr(pos + 24)), 1e-4) << check;

  // A finished deck: every stage is skipped.
  const auto again = win_run(a);
  EXPECT_EQ(again.code, 0) << again.err;
  for (const char* s : {"wide", "narrow", "finetune", "merge", "vanilla", "kd", "eval"})
    EXPECT_NE(again.out.find(std::string(s) + ": skipped"), std::string::npos) << s << "\n"
                                                                               << again.out;
  EXPECT_LT(again.seconds, 20.0);
  fs::remove_all(a);
  fs::remove_all(b);
}

// A merge beyond merge.tolerance is a numerics error; when `win merge` reruns a merged run with a
// tighter tolerance and fails, check.txt describes the failed merge and the earlier final.h5 is
// removed, so the stage is no longer marked done with weights check.txt does not describe.
TEST(RunResume, AMergeBeyondToleranceFailsWithANumericsError) {
  const std::string d = run_dir("tol");
  const auto in_src = [&](const std::string& cmd) {
    return run_command("cd " + std::string(WIN_SOURCE_DIR) + " && " + win_cmd(cmd), 600);
  };
  const auto first =
      in_src("run " + kDeck + " --set run.dir=" + d + " --stages wide,narrow,finetune,merge");
  ASSERT_EQ(first.code, 0) << first.err;
  const fs::path merge = fs::path(d) / "fashion_mnist_resnet_small" / "merge";
  ASSERT_TRUE(fs::exists(merge / "final.h5"));
  const auto r = in_src("merge " + kDeck + " --set run.dir=" + d + " --set merge.tolerance=1e-300");
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_NE(r.err.find("merge check failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("final.h5 was removed"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(merge / "final.h5"));
  EXPECT_NE(slurp(merge / "check.txt").find("tolerance 1e-300"), std::string::npos);
  fs::remove_all(d);
}

TEST(RunResume, ADamagedNewestCheckpointIsSkippedByNameAndNoneLeftIsExit4) {
  const std::string d = run_dir("damaged");
  const fs::path newest = killed_after_two_checkpoints(d);
  ASSERT_FALSE(newest.empty());
  fs::resize_file(newest, fs::file_size(newest) / 3);
  const auto r = run_command("cd " + std::string(WIN_SOURCE_DIR) + " && " +
                             win_cmd("run " + kDeck + " --set run.dir=" + d + " --stages wide"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("skipping damaged checkpoint"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(newest.string()), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("resumed at step 5"), std::string::npos) << r.out;

  const std::string e = run_dir("none_left");
  const fs::path wide2 = fs::path(e) / "fashion_mnist_resnet_small" / "wide";
  ASSERT_EQ(win_run(e, "WIN_TEST_KILL_AT='wide@7'").code, 137);
  for (const auto& f : fs::directory_iterator(wide2))
    if (f.path().extension() == ".h5") std::ofstream(f.path()) << "not a checkpoint";
  const auto r2 = run_command("cd " + std::string(WIN_SOURCE_DIR) + " && " +
                              win_cmd("run " + kDeck + " --set run.dir=" + e + " --stages wide"));
  EXPECT_EQ(r2.code, 4) << r2.err;
  EXPECT_NE(r2.err.find("no usable checkpoint in " + wide2.string()), std::string::npos) << r2.err;
  fs::remove_all(d);
  fs::remove_all(e);
}

// Checkpoints that read well but must not be resumed from are skipped like truncated ones, by
// name, for the one before: a few flipped bits in a weight (every tensor carries a Fletcher-32
// checksum, so the read fails instead of training on other numbers), and a complete file whose
// tensor has another shape than the model's (refused before anything is restored).
TEST(RunResume, ACheckpointWithFlippedBitsOrAnotherShapeIsSkipped) {
  const std::string d = run_dir("flipped");
  const fs::path newest = killed_after_two_checkpoints(d);
  ASSERT_FALSE(newest.empty());
  const fs::path wide = newest.parent_path();
  std::string victim;  // a weight of the model, and its first 64 bytes as stored
  std::string pattern;
  {
    const auto f = win::h5::File::open(newest.string());
    const auto g = f.root().group("model");
    for (const auto& n : g.list()) {
      const auto t = g.dataset(n).read();
      if (t.nbytes() < 256) continue;
      victim = n;
      pattern.assign(static_cast<const char*>(t.raw()), 64);
      break;
    }
  }
  ASSERT_FALSE(victim.empty());
  std::string bytes = slurp(newest);
  const size_t at = bytes.find(pattern);
  ASSERT_NE(at, std::string::npos) << victim << "'s bytes are not stored verbatim";
  bytes[at + 10] ^= 0x10;  // one bit of one float
  std::ofstream(newest, std::ios::binary | std::ios::trunc) << bytes;
  const std::string resume = "cd " + std::string(WIN_SOURCE_DIR) +
                             " && WIN_TEST_KILL_AT='wide@7' " +
                             win_cmd("run " + kDeck + " --set run.dir=" + d + " --stages wide");
  const auto r = run_command(resume, 600);
  EXPECT_EQ(r.code, 137) << r.err;  // killed after resuming, on purpose
  EXPECT_NE(r.err.find("skipping damaged checkpoint"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(newest.string()), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("resumed at step 5"), std::string::npos) << r.out;

  // The step-5 file as step 10, with one weight of another shape.
  fs::copy_file(wide / "ckpt-000000005.h5", newest, fs::copy_options::overwrite_existing);
  {
    auto f = win::h5::File::open(newest.string(), win::h5::Mode::ReadWrite);
    auto g = f.root().group("model");
    g.remove(victim);
    g.write(victim, win::Tensor::from(std::vector<float>(7, 1.0f), {7}));
    f.close();
  }
  const auto r2 = run_command(resume, 600);
  EXPECT_EQ(r2.code, 137) << r2.err;
  EXPECT_NE(r2.err.find("skipping damaged checkpoint"), std::string::npos) << r2.err;
  EXPECT_NE(r2.err.find(victim + " has shape [7]"), std::string::npos) << r2.err;
  EXPECT_NE(r2.out.find("resumed at step 5"), std::string::npos) << r2.out;
  fs::remove_all(d);
}

// A run directory holds one experiment: rerunning it with a deck that changes a key shaping the
// results (here wide.steps) is refused before anything is written — its finished stage would
// otherwise be skipped and reported under the new deck — naming the key with both values, while
// a key that may change between invocations (run.threads) reruns as before.
TEST(RunResume, ARunDirectoryRefusesADeckThatChangesItsResults) {
  const std::string dir = run_dir("changed");
  const std::string deck = std::string(WIN_SOURCE_DIR) + "/inputs/fashion_mnist_mlp_small.toml";
  auto run = [&](const std::string& extra) {
    return run_command("cd " + std::string(WIN_SOURCE_DIR) + " && " +
                           win_cmd("run " + deck + " --stages wide --set run.dir=" + dir +
                                   " --set run.threads=1 --set wide.steps=4 " + extra),
                       120);
  };
  const CommandResult first = run("");
  ASSERT_EQ(first.code, 0) << first.err;
  const fs::path config = fs::path(dir) / "fashion_mnist_mlp_small" / "config.toml";
  const std::string written = slurp(config);

  const CommandResult changed = run("--set wide.steps=6 --set model.mlp.width=8");
  EXPECT_EQ(changed.code, 2) << changed.err;
  EXPECT_NE(changed.err.find("wide.steps = 4 there, 6 here"), std::string::npos) << changed.err;
  EXPECT_NE(changed.err.find("model.mlp.width = 16 there, 8 here"), std::string::npos)
      << changed.err;
  EXPECT_NE(changed.err.find("another run.name"), std::string::npos) << changed.err;
  EXPECT_EQ(slurp(config), written) << "config.toml was rewritten for a refused deck";

  const CommandResult same = run("--set run.threads=2 --set run.log_level=debug");
  EXPECT_EQ(same.code, 0) << same.err;
  EXPECT_NE((same.out + same.err).find("wide: skipped"), std::string::npos) << same.out;

  // What only eval reads may change while eval is still to run (tools/experiments.py scores a
  // validation run's models on the test set so), not once its results exist.
  EXPECT_EQ(run("--set data.test=").code, 0);
  const fs::path eval = fs::path(dir) / "fashion_mnist_mlp_small" / "eval";
  fs::create_directories(eval);
  std::ofstream(eval / "results.csv") << "model\n";
  const CommandResult scored = run("");  // config.toml now has data.test = "" from the run above
  EXPECT_EQ(scored.code, 2) << scored.err;
  EXPECT_NE(scored.err.find("data.test = "), std::string::npos) << scored.err;

  // win eval and win merge check the directory too.
  for (const char* cmd : {"eval", "merge"}) {
    const CommandResult other =
        run_command("cd " + std::string(WIN_SOURCE_DIR) + " && " +
                        win_cmd(std::string(cmd) + " " + deck + " --set run.dir=" + dir +
                                " --set wide.steps=4 --set kd.steps=7"),
                    60);
    EXPECT_EQ(other.code, 2) << cmd << ": " << other.err;
    EXPECT_NE(other.err.find("kd.steps = 20 there, 7 here"), std::string::npos) << other.err;
  }
  fs::remove_all(dir);
}
