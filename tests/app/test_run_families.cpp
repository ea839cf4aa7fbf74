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

TEST(RunFamilies, DownstreamDataNeedsAPretrainingBert) {
  const std::string d = run_dir("baddown");
  const auto r = win_run("fashion_mnist_mlp_small", d,
                         "--set data.downstream_train=data/spamassassin_small/train "
                         "--set data.downstream_test=data/spamassassin_small/test");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("data.downstream_train"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(fs::path(d) / "fashion_mnist_mlp_small" / "wide"));
}
