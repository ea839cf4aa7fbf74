// `win run` end to end for the other families: BERT pretraining (MLM + NSP, KD on both heads,
// tied bridges with an exact merge, free bridges with an approximate merge and its post-merge
// fine-tune, the downstream SpamAssassin fine-tune of every pretrained model) and the `inner` MLP
// with teacher_subsample initialisation. Each on its small deck, in seconds.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "run_command.hpp"

namespace fs = std::filesystem;

namespace {

std::string deck(const std::string& name) {
  return std::string(WIN_SOURCE_DIR) + "/inputs/" + name + ".toml";
}

std::string run_dir(const std::string& tag) {
  return testing::TempDir() + "win_fam_" + tag + "_" + std::to_string(::getpid());
}

CommandResult win_run(const std::string& deck_name, const std::string& dir,
                      const std::string& extra = "") {
  return run_command("cd " + std::string(WIN_SOURCE_DIR) + " && " +
                         win_cmd("run " + deck(deck_name) + " --set run.dir=" + dir + " " + extra),
                     600);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Rows of a CSV (after its header) as numbers.
std::vector<std::vector<double>> csv_rows(const fs::path& p, std::vector<std::string>* header) {
  std::stringstream in(slurp(p));
  std::string line;
  std::vector<std::vector<double>> rows;
  bool first = true;
  while (std::getline(in, line)) {
    std::stringstream cells(line);
    std::string cell;
    std::vector<double> row;
    while (std::getline(cells, cell, ',')) {
      if (first && header) header->push_back(cell);
      if (!first) row.push_back(std::stod(cell));
    }
    if (!first) rows.push_back(row);
    first = false;
  }
  return rows;
}

double number_after(const std::string& text, const std::string& key) {
  const auto pos = text.find(key);
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + key.size()));
}

}  // namespace

TEST(RunFamilies, BertPretrainingWithTiedBridgesMergesExactlyAndScoresDownstream) {
  const std::string d = run_dir("bert");
  const auto r = win_run("sotu_bert_small", d);
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path p = fs::path(d) / "sotu_bert_small";
  const std::string report = slurp(p / "report.md");
  for (const char* col : {"MLM acc", "NSP acc", "downstream test acc"})
    EXPECT_NE(report.find(col), std::string::npos) << col << "\n" << report;
  EXPECT_NE(r.out.find("embedding tensors copied from the teacher"), std::string::npos) << r.out;

  std::vector<std::string> h;
  const auto rows = csv_rows(p / "eval/results.csv", &h);
  ASSERT_EQ(rows.size(), 4u) << "teacher, vanilla, KD and WIN";
  const auto col = [&](const std::string& name) {
    return static_cast<size_t>(std::find(h.begin(), h.end(), name) - h.begin());
  };
  ASSERT_LT(col("downstream"), h.size());
  for (const auto& row : rows) {
    EXPECT_GT(row[col("predictions")], row[col("samples")]) << "MLM scores every masked token";
    EXPECT_GE(row[col("nsp")], 0.0);
    EXPECT_LE(row[col("nsp")], 1.0);
    EXPECT_GE(row[col("downstream")], 0.0);
    EXPECT_LE(row[col("downstream")], 1.0);
    // Cross-entropy over a 2000-token vocabulary after a dozen steps: far from zero, finite.
    EXPECT_GT(row[col("loss")], 1.0);
    EXPECT_LT(row[col("loss")], 20.0);
  }
  // Each model's downstream fine-tune is a resumable run of its own.
  for (const char* m : {"teacher", "vanilla", "kd", "win"})
    EXPECT_TRUE(fs::exists(p / "eval/downstream" / m / "final.h5")) << m;

  const std::string check = slurp(p / "merge/check.txt");
  EXPECT_NE(check.find("exact yes"), std::string::npos) << check;
  const double rel = number_after(check, "max_relative_difference ");
  EXPECT_GE(rel, 0.0);
  EXPECT_LT(rel, 1e-4) << check;
  fs::remove_all(d);
}

TEST(RunFamilies, BertFreeBridgesMergeApproximatelyThenFineTuneTheMergedStudent) {
  const std::string d = run_dir("bertfree");
  const auto r = win_run("sotu_bert_small", d,
                         "--set narrow.bridge_mode=free --set merge.post_finetune_steps=3 "
                         "--stages wide,narrow,finetune,merge");
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path p = fs::path(d) / "sotu_bert_small";
  const std::string check = slurp(p / "merge/check.txt");
  EXPECT_NE(check.find("exact no"), std::string::npos) << check;
  EXPECT_NE(check.find("inexact boundary 0"), std::string::npos) << check;
  // The discrepancy is measured and reported, and is not round-off: free bridges do not fold
  // through the residual stream.
  EXPECT_GT(number_after(check, "max_relative_difference "), 1e-4) << check;
  std::vector<std::string> h;
  EXPECT_EQ(csv_rows(p / "merge/post_finetune/metrics.csv", &h).size(), 3u);
  EXPECT_TRUE(fs::exists(p / "merge/merged.h5"));
  EXPECT_TRUE(fs::exists(p / "merge/final.h5"));
  fs::remove_all(d);
}

TEST(RunFamilies, InnerMlpWithTeacherSubsampleRunsEveryStage) {
  const std::string d = run_dir("mlp");
  const auto r = win_run("fashion_mnist_mlp_small", d);
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path p = fs::path(d) / "fashion_mnist_mlp_small";
  std::vector<std::string> h;
  const auto rows = csv_rows(p / "eval/results.csv", &h);
  ASSERT_EQ(rows.size(), 4u);
  const std::string check = slurp(p / "merge/check.txt");
  EXPECT_NE(check.find("exact yes"), std::string::npos) << check;
  EXPECT_LT(number_after(check, "max_relative_difference "), 1e-4) << check;
  // Four blocks imitated, each with its validation error.
  EXPECT_EQ(csv_rows(p / "narrow/blocks.csv", &h).size(), 4u);
  fs::remove_all(d);
}

// Restarts keep the best: narrow keeps, per block, the restart with the lowest validation
// imitation error; finetune keeps the one with the lowest training loss. The linear budget gives
// block i (from 1) i x steps_per_block steps.
TEST(RunFamilies, RestartsKeepTheBestAndTheLinearBudgetGrowsWithTheBlock) {
  const std::string d = run_dir("restarts");
  const auto r = win_run("fashion_mnist_mlp_small", d,
                         "--stages wide,narrow,finetune,merge --set narrow.restarts=2 "
                         "--set finetune.restarts=2 --set narrow.budget=linear "
                         "--set narrow.train_prefix=false --set narrow.loss=kl");
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path p = fs::path(d) / "fashion_mnist_mlp_small";
  std::vector<std::string> h;
  const auto rows = csv_rows(p / "narrow/blocks.csv", &h);
  ASSERT_EQ(h, (std::vector<std::string>{"block", "restart", "steps", "train_loss", "val_error",
                                         "kept"}));
  ASSERT_EQ(rows.size(), 8u);  // 4 blocks x 2 restarts
  for (int b = 0; b < 4; ++b) {
    const auto& r0 = rows[static_cast<size_t>(2 * b)];
    const auto& r1 = rows[static_cast<size_t>(2 * b + 1)];
    EXPECT_EQ(r0[2], 10.0 * (b + 1)) << "block " << b;
    EXPECT_EQ(r1[2], 10.0 * (b + 1)) << "block " << b;
    EXPECT_EQ(r0[5] + r1[5], 1.0) << "exactly one restart of block " << b << " is kept";
    EXPECT_NE(r0[4], r1[4]) << "the two restarts of block " << b << " are different runs";
    const bool first_better = r0[4] < r1[4];
    EXPECT_EQ(r0[5], first_better ? 1.0 : 0.0) << "block " << b;
  }
  double loss[2];
  for (int i = 0; i < 2; ++i) {
    std::ifstream(p / "finetune" / ("restart" + std::to_string(i)) / "train_loss.txt") >> loss[i];
  }
  EXPECT_NE(loss[0], loss[1]);
  const std::string kept =
      "finetune: keeping restart " + std::to_string(loss[0] <= loss[1] ? 1 : 2);
  EXPECT_NE(r.out.find(kept), std::string::npos) << kept << "\n" << r.out;
  const std::string check = slurp(p / "merge/check.txt");
  EXPECT_LT(number_after(check, "max_relative_difference "), 1e-4) << check;
  fs::remove_all(d);
}

// MAP: merge right after narrow, then fine-tune the plain thin model.
TEST(RunFamilies, MergeBeforeFineTuningFineTunesThePlainStudent) {
  const std::string d = run_dir("map");
  const auto r = win_run("fashion_mnist_mlp_small", d,
                         "--stages wide,narrow,finetune,merge,eval --set merge.when=after_narrow");
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path p = fs::path(d) / "fashion_mnist_mlp_small";
  const std::string check = slurp(p / "merge/check.txt");
  EXPECT_NE(check.find("merged from narrow (MAP)"), std::string::npos) << check;
  // merge ran before finetune although the deck lists it after.
  EXPECT_LT(r.out.find("== stage merge =="), r.out.find("== stage finetune ==")) << r.out;
  std::vector<std::string> h;
  EXPECT_EQ(csv_rows(p / "eval/results.csv", &h).size(), 2u) << "teacher and WIN";
  fs::remove_all(d);
}

TEST(RunFamilies, DownstreamDataNeedsAPretrainingBert) {
  const std::string d = run_dir("baddown");
  const auto r = win_run("fashion_mnist_mlp_small", d,
                         "--set data.downstream_train=data/spamassassin_small/train "
                         "--set data.downstream_test=data/spamassassin_small/test");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("data.downstream_train"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(fs::path(d) / "fashion_mnist_mlp_small" / "wide"));
}
