// The win executable as users meet it: --help on every command, `win version`, usage errors,
// and a table of error kinds -> exit codes (DESIGN §8), raised
// both by real bad input and by the `win debug raise` hook.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "backend/transfer.hpp"
#include "config/load.hpp"
#include "run_command.hpp"

namespace {
const std::string kSrc = WIN_SOURCE_DIR;
bool contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}
}  // namespace

TEST(Cli, TopLevelHelpListsCommands) {
  const auto r = run_command(win_cmd("--help"));
  EXPECT_EQ(r.code, 0) << r.err;
  for (const char* c : {"run", "eval", "merge", "data", "inspect", "bench", "version"})
    EXPECT_TRUE(contains(r.out, std::string("\n  ") + c + " ")) << c << "\n" << r.out;
  EXPECT_FALSE(contains(r.out, "debug"));  // test hook stays hidden
  EXPECT_TRUE(contains(r.out, "75 checkpointed and stopped"));
}

TEST(Cli, NoCommandIsUsageError) {
  const auto r = run_command(win_cmd(""));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "usage: win COMMAND"));
}

TEST(Cli, EveryCommandHasHelp) {
  for (const char* c : {"run", "eval", "merge", "data", "inspect", "bench", "version"}) {
    const auto r = run_command(win_cmd(std::string(c) + " --help"));
    EXPECT_EQ(r.code, 0) << c << ": " << r.err;
    EXPECT_TRUE(contains(r.out, std::string("usage: win ") + c)) << r.out;
    EXPECT_TRUE(contains(r.out, "--help")) << r.out;
  }
}

TEST(Cli, VersionReportsBuildAndLibraries) {
  const auto r = run_command(win_cmd("version"));
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* k : {"win 0.", "git revision", "build type", "backends       cpu", "MPI",
                        "HDF5           1.", "oneDNN         ", "cuDNN", "NCCL", "toml++"})
    EXPECT_TRUE(contains(r.out, k)) << k << "\n" << r.out;
  EXPECT_FALSE(contains(r.out, "git revision   unknown")) << r.out;
}

TEST(Cli, EvalAndMergeNeedADeckAndItsTrainedModels) {
  auto r = run_command(win_cmd("eval"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "usage: win eval DECK.toml")) << r.err;
  r = run_command(win_cmd("merge a.toml b.toml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "unexpected argument 'b.toml'")) << r.err;
  // A deck whose run directory holds no trained model: a checkpoint error naming what is missing.
  const std::string deck = std::string(WIN_SOURCE_DIR) + "/inputs/fashion_mnist_mlp_small.toml";
  const std::string dir = testing::TempDir() + "win_cli_empty_run";
  r = run_command(win_cmd("merge " + deck + " --set run.dir=" + dir));
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(contains(r.err, "finetune/final.h5")) << r.err;
  EXPECT_TRUE(contains(r.err, "run that stage first")) << r.err;
  r = run_command(win_cmd("eval " + deck + " --set run.dir=" + dir));
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_TRUE(contains(r.err, "no trained model")) << r.err;
}

TEST(Cli, UsageErrors) {
  auto r = run_command(win_cmd("run --bogus"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "win: error: win run: unknown option '--bogus'")) << r.err;
  r = run_command(win_cmd("frobnicate"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "unknown command 'frobnicate'")) << r.err;
  r = run_command(win_cmd("run a.toml b.toml"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "unexpected argument 'b.toml'")) << r.err;
}

TEST(Cli, ConfigErrorFromADeckFile) {
  const std::string deck = testing::TempDir() + "bad_deck.toml";
  std::ofstream(deck) << "[model]\nfamily = \"mlp\"\n\n[narrow]\nrestarts = 0\n\n[data]\ntrain = \""
                      << kSrc << "/data/fashion_mnist_small/train\"\ntest = \"" << kSrc
                      << "/data/fashion_mnist_small/test\"\n";
  const auto r = run_command(win_cmd("run " + deck + " --dry-run"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(
      contains(r.err, "win: error: " + deck + ":5:1: narrow.restarts: value 0 out of range"))
      << r.err;
  const auto r2 = run_command(win_cmd("run " + deck + " --dry-run --set narrow.restarts=2"));
  EXPECT_EQ(r2.code, 0) << r2.err;
}

// run.device / run.precision: the combinations that cannot run are config errors naming the key,
// before any work; a GPU run where this process has no usable GPU is refused the same way.
TEST(Cli, DeviceAndPrecisionErrors) {
  const std::string deck = std::string(WIN_SOURCE_DIR) + "/inputs/fashion_mnist_mlp_small.toml";
  auto r = run_command(win_cmd("run " + deck + " --dry-run --set run.precision=bf16"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "run.precision: \"bf16\" applies to GPU products")) << r.err;
  r = run_command(win_cmd("run " + deck + " --dry-run --set run.device=tpu"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "run.device")) << r.err;
  // The pipelined narrow schedule runs on GPUs (NCCL or host-staged MPI between stages).
  r = run_command(
      "cd " + kSrc + " && " +
      win_cmd("run " + deck + " --dry-run --set run.device=cuda --set narrow.schedule=pipelined"));
  EXPECT_EQ(r.code, 0) << r.err;
  r = run_command(
      win_cmd("run " + deck + " --dry-run --set run.device=cuda --set dist.sync_bn=true"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "dist.sync_bn: synchronised BatchNorm runs on the CPU only"))
      << r.err;
  if (!win::backend::device_unavailable(win::Device::CUDA).empty()) {
    r = run_command(win_cmd("run " + deck + " --set run.device=cuda --set run.dir=" +
                            testing::TempDir() + "win_nogpu"));
    EXPECT_EQ(r.code, 2);
    EXPECT_TRUE(contains(r.err, "run.device = \"cuda\": 1 of 1 rank(s) have no usable CUDA device"))
        << r.err;
  }
  r = run_command(win_cmd("bench --workload resnet50"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "resnet50 is a GPU workload: add --device cuda")) << r.err;
  r = run_command(win_cmd("run " + deck + " --dry-run --set run.deterministic=false"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "run.deterministic: false applies to GPU algorithms")) << r.err;
  for (const char* flag : {"--nondeterministic", "--composed-attention"}) {
    r = run_command(win_cmd(std::string("bench --workload mlp ") + flag));
    EXPECT_EQ(r.code, 2) << flag;
    EXPECT_TRUE(contains(r.err, "--composed-attention apply to --device cuda")) << r.err;
  }
  r = run_command(win_cmd("bench --workload mlp --bf16-activations"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "--bf16-activations needs --device cuda --precision bf16")) << r.err;
  r = run_command(win_cmd("bench --workload mlp --precision bf16"));
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "--precision applies to --device cuda")) << r.err;
}

TEST(Cli, DryRunPrintsResolvedDeckThatReparses) {
  const std::string deck = kSrc + "/tests/config/decks/valid.toml";
  // (its data paths name files that do not exist; the pre-flight check of --dry-run opens them)
  const std::string data = " --set data.train=" + kSrc + "/data/fashion_mnist_small/train" +
                           " --set data.test=" + kSrc + "/data/fashion_mnist_small/test";
  const auto r = run_command(win_cmd("run " + deck + " --dry-run --set teacher.widen=3" + data));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "widen = 3")) << r.out;
  const std::string resolved = testing::TempDir() + "resolved.toml";
  std::ofstream(resolved) << r.out;
  const auto r2 = run_command(win_cmd("run " + resolved + " --dry-run"));
  ASSERT_EQ(r2.code, 0) << r2.err;
  EXPECT_EQ(r2.out, r.out);  // the resolved deck is a fixed point
}

TEST(Cli, RunPrintsTheResolvedDeckAndNamesMissingData) {
  const std::string dir = testing::TempDir() + "missing_data_run";
  const auto r =
      run_command(win_cmd("run " + kSrc + "/tests/config/decks/valid.toml --set run.dir=" + dir +
                          " --set data.train=/nonexistent/shards"));
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_TRUE(contains(r.out, "[model.resnet]")) << r.out;  // resolved config printed first
  EXPECT_TRUE(contains(r.err, "/nonexistent/shards")) << r.err;
  std::filesystem::remove_all(dir);
}

// An output that cannot be written (here run.dir below a regular file) is the user's setting or
// file system, not a bug in win: exit 7, naming the path, the reason and run.dir.
TEST(Cli, AnUnwritableRunDirectoryIsAnOutputError) {
  const std::string file = testing::TempDir() + "win_not_a_directory";
  std::ofstream(file) << "a file\n";
  const auto r = run_command(
      "cd " + kSrc + " && " +
      win_cmd("run inputs/fashion_mnist_mlp_small.toml --set run.dir=" + file + "/runs"));
  EXPECT_EQ(r.code, 7) << r.err;
  EXPECT_TRUE(contains(r.err, "cannot write " + file + "/runs")) << r.err;
  EXPECT_TRUE(contains(r.err, "Not a directory")) << r.err;
  EXPECT_TRUE(contains(r.err, "run.dir")) << r.err;
  EXPECT_FALSE(contains(r.err, "internal error")) << r.err;
  // The converters' outputs likewise.
  const std::string raw = "/usr/share/datasets/fashion-mnist/t10k-";
  const auto d = run_command(win_cmd("data idx " + raw + "images-idx3-ubyte.gz " + raw +
                                     "labels-idx1-ubyte.gz --out " + file + "/shards"));
  EXPECT_EQ(d.code, 7) << d.err;
  EXPECT_TRUE(contains(d.err, file + "/shards")) << d.err;
  std::filesystem::remove(file);
}

// A file system that fills up (here a file-size limit: the writes fail with EFBIG as they would
// with ENOSPC on a full disk or an exhausted quota) while a checkpoint is written: exit 7 naming
// the file, no half-written file left. HDF5 keeps such a file open inside the library, and its
// teardown at exit used to crash on it (SIGSEGV, exit 139) after the error had been printed.
TEST(Cli, AFullDiskWhileCheckpointingIsAnOutputErrorAndLeavesNothingBehind) {
  const std::string dir = testing::TempDir() + "win_full_disk_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  // SIGXFSZ ignored (inherited through exec), so the write fails instead of killing the process.
  const auto r = run_command("cd " + kSrc + " && trap '' XFSZ && ulimit -f 64 && " +
                             win_cmd("run inputs/fashion_mnist_mlp_small.toml --stages wide "
                                     "--set checkpoint.every_steps=5 --set run.dir=" +
                                     dir));
  EXPECT_EQ(r.code, 7) << r.err;
  EXPECT_TRUE(contains(r.err, "ckpt-000000005.h5")) << r.err;
  EXPECT_TRUE(contains(r.err, "File too large")) << r.err;
  int left = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    left += e.path().extension() == ".tmp" || e.path().extension() == ".h5";
  EXPECT_EQ(left, 0) << "a checkpoint or its .tmp was left in " << dir;
  std::filesystem::remove_all(dir);
}

// Options line up in one column, -h included, and `win bench` refuses an unknown workload before
// it prints a table header (which would read as the start of a result).
TEST(Cli, HelpColumnsAlignAndBenchRefusesUnknownWorkloadsFirst) {
  const auto help = run_command(win_cmd("run --help"));
  EXPECT_EQ(help.code, 0);
  const auto column = [&](const std::string& option) {
    const size_t at = help.out.find("  " + option);
    if (at == std::string::npos) return std::string::npos;
    const size_t line = help.out.rfind('\n', at) + 1,
                 text = help.out.find_first_not_of(' ', help.out.find(' ', at + 2 + option.size()));
    return text - line;
  };
  EXPECT_EQ(column("-h, --help"), column("--dry-run")) << help.out;
  EXPECT_TRUE(contains(help.out, "| --help-config")) << help.out;
  const auto bench = run_command(win_cmd("bench --workload nope --steps 1"));
  EXPECT_EQ(bench.code, 2) << bench.err;
  EXPECT_TRUE(bench.out.empty()) << bench.out;
  EXPECT_TRUE(contains(bench.err, "unknown workload 'nope'")) << bench.err;
}

TEST(Cli, DataErrorsNameTheFile) {
  auto r = run_command(win_cmd("inspect /nonexistent/shard.h5"));
  EXPECT_EQ(r.code, 3);
  EXPECT_TRUE(contains(r.err, "/nonexistent/shard.h5")) << r.err;
  const std::string junk = testing::TempDir() + "junk.h5";
  std::ofstream(junk) << "this is not an HDF5 file\n";
  r = run_command(win_cmd("inspect " + junk));
  EXPECT_EQ(r.code, 3);
  EXPECT_TRUE(contains(r.err, "win: error: ")) << r.err;
  EXPECT_TRUE(contains(r.err, junk)) << r.err;
}

struct KindCase {
  const char* kind;
  int code;
  friend void PrintTo(const KindCase& c, std::ostream* os) { *os << c.kind << " -> " << c.code; }
};

class ExitCodes : public testing::TestWithParam<KindCase> {};

TEST_P(ExitCodes, EachErrorKindMapsToItsCode) {
  const KindCase c = GetParam();
  const auto r =
      run_command(win_cmd(std::string("debug raise ") + c.kind + " --message boom-" + c.kind));
  EXPECT_EQ(r.code, c.code) << c.kind << "\n" << r.err;
  if (std::string(c.kind) == "stopped") {
    EXPECT_TRUE(contains(r.out, "boom-stopped")) << r.out;  // an orderly stop, not an error
  } else {
    EXPECT_TRUE(contains(r.err, "win: error: ")) << r.err;
    EXPECT_TRUE(contains(r.err, std::string("boom-") + c.kind)) << r.err;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ExitCodes,
    testing::Values(KindCase{"internal", 1}, KindCase{"usage", 2}, KindCase{"config", 2},
                    KindCase{"data", 3}, KindCase{"checkpoint", 4}, KindCase{"numerics", 5},
                    KindCase{"comm", 6}, KindCase{"output", 7}, KindCase{"stopped", 75},
                    KindCase{"std", 1}, KindCase{"thread", 3}),
    [](const testing::TestParamInfo<KindCase>& i) { return std::string(i.param.kind); });

#ifdef WIN_MPIEXEC
// A conversion is one process's work: under mpiexec every rank would write the same shards (HDF5
// refused the second writer and a truncated shard was left), so win data refuses before writing.
TEST(Cli, DataConversionRefusesSeveralRanks) {
  const std::string out = testing::TempDir() + "win_data_two_ranks";
  const std::string raw = "/usr/share/datasets/fashion-mnist/t10k-";
  const auto r =
      run_command(std::string(WIN_MPIEXEC) + " -n 2 --oversubscribe --allow-run-as-root " +
                      win_cmd("data idx " + raw + "images-idx3-ubyte.gz " + raw +
                              "labels-idx1-ubyte.gz --out " + out),
                  60);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "runs on one rank")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

// An error on one rank while the others wait in a collective must end the whole job, with that
// error's exit code, within seconds.
class OneRankFails : public testing::TestWithParam<std::tuple<int, int, const char*, int>> {};

TEST_P(OneRankFails, JobEndsWithItsCode) {
  const auto [ranks, failing, kind, code] = GetParam();
  const std::string cmd =
      std::string(WIN_MPIEXEC) + " -n " + std::to_string(ranks) +
      " --oversubscribe --allow-run-as-root " +
      win_cmd(std::string("debug raise ") + kind + " --rank " + std::to_string(failing));
  const auto r = run_command(cmd, 60);
  EXPECT_EQ(r.code, code) << r.err;
  EXPECT_LT(r.seconds, 20.0);
  EXPECT_TRUE(contains(r.err, "[rank " + std::to_string(failing) + "] win: error: ")) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Mpi, OneRankFails,
                         testing::Values(std::make_tuple(2, 1, "data", 3),
                                         std::make_tuple(4, 2, "checkpoint", 4),
                                         std::make_tuple(4, 0, "numerics", 5),
                                         std::make_tuple(2, 1, "thread", 3)),
                         [](const auto& i) {
                           std::ostringstream os;  // (operator+ here trips a GCC 12 -Wrestrict bug)
                           os << "n" << std::get<0>(i.param) << "_rank" << std::get<1>(i.param)
                              << "_" << std::get<2>(i.param);
                           return os.str();
                         });
#endif

TEST(Cli, InspectModelPrintsTheBlockTable) {
  const auto r =
      run_command(win_cmd("inspect --model " + kSrc + "/inputs/fashion_mnist_resnet_small.toml"));
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* k :
       {"d_i", "D_i", "S params", "B MACs", "stem", "layer1", "layer4", "head", "total"})
    EXPECT_TRUE(contains(r.out, k)) << k << "\n" << r.out;
  const auto bad = run_command(win_cmd("inspect --model /nonexistent.toml"));
  EXPECT_EQ(bad.code, 2);
  // The two forms pointed to when mixed up, and --set without --model refused, not ignored.
  const std::string deck = kSrc + "/inputs/fashion_mnist_resnet_small.toml";
  const auto h5 = run_command(win_cmd("inspect --model weights.h5"));
  EXPECT_EQ(h5.code, 2);
  EXPECT_TRUE(contains(h5.err, "for an HDF5 file, win inspect weights.h5")) << h5.err;
  const auto toml = run_command(win_cmd("inspect " + deck));
  EXPECT_EQ(toml.code, 2);
  EXPECT_TRUE(contains(toml.err, "win inspect --model " + deck)) << toml.err;
  const auto set = run_command(win_cmd("inspect x.h5 --set model.classes=3"));
  EXPECT_EQ(set.code, 2);
  EXPECT_TRUE(contains(set.err, "--set applies to --model")) << set.err;
}

TEST(Cli, EveryDeckInInputsIsValidAndHasASmallTwin) {
  namespace fs = std::filesystem;
  int decks = 0;
  for (const auto& e : fs::directory_iterator(kSrc + "/inputs")) {
    if (e.path().extension() != ".toml") continue;
    ++decks;
    const std::string stem = e.path().stem().string();
    const auto r =
        run_command("cd " + kSrc + " && " + win_cmd("run " + e.path().string() + " --dry-run"));
    // A deck whose data is here (the small twins; the full sets once tools/fetch_data.sh has
    // fetched them) passes the pre-flight check too; the others pass the deck checks and stop at
    // their missing training data (exit 3, naming data.train).
    const std::string train = win::config::load_deck(e.path().string()).data.train;
    if (fs::exists(fs::path(kSrc) / train)) {
      EXPECT_EQ(r.code, 0) << e.path() << ": " << r.err;
    } else {
      EXPECT_EQ(r.code, 3) << e.path() << ": " << r.err;
      EXPECT_TRUE(contains(r.err, ": data.train = \"" + train + "\"")) << e.path() << ": " << r.err;
    }
    const auto m = run_command(win_cmd("inspect --model " + e.path().string()), 300);
    EXPECT_EQ(m.code, 0) << e.path() << ": " << m.err;
    EXPECT_TRUE(contains(m.out, "total")) << m.out;
    if (stem.size() < 6 || stem.substr(stem.size() - 6) != "_small") {
      EXPECT_TRUE(fs::exists(e.path().parent_path() / (stem + "_small.toml")))
          << e.path() << " has no _small twin for tests";
    }
  }
  EXPECT_GT(decks, 0);
}
