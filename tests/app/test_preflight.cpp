// `win run`'s pre-flight check (src/win/preflight.hpp): a model that does not match its shards, a
// data path that only a late stage opens, or a dist.partition that does not fit the model fails
// in seconds, before any stage has written anything, with the deck key, where it was set and the
// file in the message and the exit code of its kind (2 config, 3 data). `--dry-run` runs the same
// check, and the small decks pass it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "run_command.hpp"

namespace fs = std::filesystem;

namespace {

const std::string kSrc = WIN_SOURCE_DIR;

std::string deck(const std::string& name) {
  return kSrc + "/inputs/" + name + ".toml";
}

std::string run_dir(const std::string& tag) {
  return testing::TempDir() + "win_preflight_" + tag + "_" + std::to_string(::getpid());
}

bool contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

// `win run DECK --set run.dir=DIR EXTRA` from the source directory (the decks' data paths are
// relative to it), launched by `launcher` (empty: one process).
CommandResult win_run(const std::string& deck_name, const std::string& dir,
                      const std::string& extra, const std::string& launcher = "") {
  return run_command("cd " + kSrc + " && " + launcher +
                         win_cmd("run " + deck(deck_name) + " --set run.dir=" + dir + " " + extra),
                     60);
}

// The run failed with `code`, in seconds, and before any stage wrote its folder.
void expect_early_failure(const CommandResult& r, int code, const std::string& dir,
                          const std::string& deck_name) {
  EXPECT_EQ(r.code, code) << r.err;
  EXPECT_LT(r.seconds, 10.0) << r.err;
  for (const char* stage : {"wide", "narrow", "vanilla", "kd", "eval"})
    EXPECT_FALSE(fs::exists(fs::path(dir) / deck_name / stage)) << stage << ": " << r.err;
  EXPECT_FALSE(contains(r.out, "== stage")) << r.out;
}

}  // namespace

TEST(Preflight, SmallDecksPassTheDryRun) {
  for (const char* d :
       {"fashion_mnist_mlp_small", "fashion_mnist_resnet_small", "sotu_bert_small"}) {
    const auto r = run_command("cd " + kSrc + " && " + win_cmd("run " + deck(d) + " --dry-run"));
    EXPECT_EQ(r.code, 0) << d << ": " << r.err;
    EXPECT_LT(r.seconds, 10.0) << d;
  }
  // Stages that do not run need no data: eval alone reads only data.test.
  const auto r = run_command("cd " + kSrc + " && " +
                             win_cmd("run " + deck("fashion_mnist_mlp_small") +
                                     " --dry-run --stages eval --set data.train=nothere/train"));
  EXPECT_EQ(r.code, 0) << r.err;
}

// The four mismatches of the review: each a config error naming the key, where it was set, its
// value, the shard file and the shard's value.
TEST(Preflight, ImageModelAgainstItsShards) {
  struct Case {
    const char* deck;
    const char* set;
    const char* key;
    const char* shard_value;
  };
  const Case cases[] = {
      {"fashion_mnist_resnet_small", "model.resnet.in_channels=3", "model.resnet.in_channels",
       "28x28x1 images (1 channel)"},
      {"fashion_mnist_mlp_small", "model.mlp.input_size=700", "model.mlp.input_size",
       "28x28x1 images = 784 inputs"},
      {"fashion_mnist_mlp_small", "model.classes=5", "model.classes", "num_classes = 10"},
      {"fashion_mnist_resnet_small", "model.resnet.image_size=32", "model.resnet.image_size",
       "28x28x1 images"},
  };
  for (const auto& c : cases) {
    const std::string dir = run_dir("model");
    const auto r = win_run(c.deck, dir, std::string("--set ") + c.set);
    SCOPED_TRACE(c.set);
    expect_early_failure(r, 2, dir, c.deck);
    const std::string value = std::string(c.set).substr(std::string(c.set).find('=') + 1);
    EXPECT_TRUE(contains(r.err, std::string("--set ") + c.set + ": " + c.key + ": is " + value))
        << r.err;
    EXPECT_TRUE(contains(r.err, "data.train (data/fashion_mnist_small/train/")) << r.err;
    EXPECT_TRUE(contains(r.err, c.shard_value)) << r.err;
    // --dry-run says the same.
    const auto dry = win_run(c.deck, dir, std::string("--dry-run --set ") + c.set);
    EXPECT_EQ(dry.code, 2) << dry.err;
    EXPECT_TRUE(contains(dry.err, c.key)) << dry.err;
    fs::remove_all(dir);
  }
}

// Data that only eval (test) or narrow (val) would open is opened before wide trains.
TEST(Preflight, MissingDataFailsBeforeAnyStage) {
  for (const char* key : {"data.test", "data.val"}) {
    const std::string dir = run_dir("missing");
    const auto r =
        win_run("fashion_mnist_resnet_small", dir, std::string("--set ") + key + "=bd/nothere");
    SCOPED_TRACE(key);
    expect_early_failure(r, 3, dir, "fashion_mnist_resnet_small");
    EXPECT_TRUE(contains(
        r.err, std::string("--set ") + key + "=bd/nothere: " + key + " = \"bd/nothere\": "))
        << r.err;
    fs::remove_all(dir);
  }
}

// BERT: the downstream shards of eval (missing, or pretraining shards where sequence-
// classification shards belong) and the model's sequence length against the shards'.
TEST(Preflight, BertShardsAndDownstreamTask) {
  const std::string dir = run_dir("bert");
  auto r = win_run("sotu_bert_small", dir, "--set data.downstream_test=bd/nothere");
  expect_early_failure(r, 3, dir, "sotu_bert_small");
  EXPECT_TRUE(contains(r.err, "data.downstream_test = \"bd/nothere\"")) << r.err;

  r = win_run("sotu_bert_small", dir, "--set data.downstream_train=data/sotu_small/train");
  expect_early_failure(r, 3, dir, "sotu_bert_small");
  EXPECT_TRUE(contains(r.err, "data.downstream_train = \"data/sotu_small/train\"")) << r.err;
  EXPECT_TRUE(contains(r.err, "sequence-classification")) << r.err;

  r = win_run("sotu_bert_small", dir, "--set model.bert.seq_length=64");
  expect_early_failure(r, 2, dir, "sotu_bert_small");
  EXPECT_TRUE(contains(r.err, "model.bert.seq_length: is 64, but data.train (data/sotu_small/"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "max_seq_length = 128")) << r.err;
  fs::remove_all(dir);
}

// dist.partition against the model's blocks: refused up front (and by --dry-run), naming the key
// and where it was set; on one rank and on the review's two-rank pipelined job.
TEST(Preflight, PartitionAgainstTheModelsBlocks) {
  const std::string dir = run_dir("partition");
  const std::string pipelined = "--set narrow.schedule=pipelined --set run.threads=1 ";
  auto r = win_run("fashion_mnist_resnet_small", dir,
                   pipelined + "--set dist.pipeline=1 --set dist.partition=5");
  expect_early_failure(r, 2, dir, "fashion_mnist_resnet_small");
  EXPECT_TRUE(contains(r.err,
                       "--set dist.partition=5: dist.partition: [5] gives 5 blocks to 1 "
                       "pipeline stages, but the model has 4 blocks (model.resnet.layers"))
      << r.err;
#ifdef WIN_MPIEXEC
  const std::string mpi = std::string(WIN_MPIEXEC) + " --oversubscribe --allow-run-as-root -n 2 ";
  for (const char* dry : {"--dry-run ", ""}) {
    r = win_run("fashion_mnist_resnet_small", dir,
                dry + pipelined + "--set dist.pipeline=2 --set dist.partition=3,2", mpi);
    SCOPED_TRACE(dry);
    expect_early_failure(r, 2, dir, "fashion_mnist_resnet_small");
    EXPECT_TRUE(contains(r.err, "--set dist.partition=3,2: dist.partition: [3, 2] gives 5 blocks"))
        << r.err;
  }
  // dist.pipeline not dividing the ranks: --dry-run refuses it too.
  r = win_run("fashion_mnist_resnet_small", dir, "--dry-run " + pipelined + "--set dist.pipeline=3",
              mpi);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "dist.pipeline = 3 pipeline stages do not divide the 2 ranks"))
      << r.err;
#endif
  fs::remove_all(dir);
}
