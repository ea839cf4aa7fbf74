// PipelinePlan: the split of blocks over pipeline stages. Balanced splits minimise the costliest
// stage (checked against every contiguous split by brute force), hand-set ones are taken as
// given, and impossible ones are config errors that say why.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "core/error.hpp"
#include "win/pipeline_plan.hpp"

using win::method::PipelinePlan;

namespace {

double max_stage_cost(const PipelinePlan& p, const std::vector<double>& cost) {
  double worst = 0;
  for (int s = 0; s < p.stages(); ++s) {
    double c = 0;
    for (int b = p.first(s); b < p.end(s); ++b) c += cost[static_cast<size_t>(b)];
    worst = std::max(worst, c);
  }
  return worst;
}

// The best largest-stage cost over all contiguous splits into k non-empty stages.
double brute_force(const std::vector<double>& cost, size_t begin, int k) {
  const size_t n = cost.size();
  if (k == 1) {
    double c = 0;
    for (size_t i = begin; i < n; ++i) c += cost[i];
    return c;
  }
  double best = std::numeric_limits<double>::infinity(), head = 0;
  for (size_t end = begin + 1; end + static_cast<size_t>(k) - 1 <= n; ++end) {
    head += cost[end - 1];
    best = std::min(best, std::max(head, brute_force(cost, end, k - 1)));
  }
  return best;
}

}  // namespace

TEST(PipelinePlan, BalancedSplitIsOptimalAndContiguous) {
  const std::vector<std::vector<double>> cases = {{1, 1, 1, 1},
                                                  {5, 1, 1, 1, 1, 5},
                                                  {1, 2, 3, 4, 5, 6, 7, 8},
                                                  {9, 1, 1, 1, 1, 1, 1, 1, 1, 9},
                                                  {3, 3, 3, 10, 1, 1}};
  for (const auto& cost : cases)
    for (int k = 1; k <= static_cast<int>(cost.size()); ++k) {
      const auto p = PipelinePlan::balanced(cost, k);
      ASSERT_EQ(p.stages(), k);
      ASSERT_EQ(p.blocks(), static_cast<int>(cost.size()));
      for (int s = 0; s < k; ++s) {
        EXPECT_LT(p.first(s), p.end(s)) << "stage " << s << " is empty";
        for (int b = p.first(s); b < p.end(s); ++b) EXPECT_EQ(p.stage_of(b), s);
      }
      EXPECT_DOUBLE_EQ(max_stage_cost(p, cost), brute_force(cost, 0, k)) << k << " stages";
    }
}

TEST(PipelinePlan, HandSetCountsAreTakenAsGiven) {
  const PipelinePlan p({3, 1, 2});
  EXPECT_EQ(p.stages(), 3);
  EXPECT_EQ(p.blocks(), 6);
  EXPECT_EQ(p.first(1), 3);
  EXPECT_EQ(p.end(1), 4);
  EXPECT_EQ(p.stage_of(5), 2);
  EXPECT_EQ(p.describe(), "1-3 | 4 | 5-6");
}

TEST(PipelinePlan, ImpossibleSplitsAreConfigErrors) {
  try {
    PipelinePlan::balanced({1, 1}, 3);
    FAIL() << "3 stages for 2 blocks were accepted";
  } catch (const win::Error& e) {
    EXPECT_EQ(e.kind(), win::ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("every stage needs at least one block"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(PipelinePlan({2, 0, 1}), win::Error);
  EXPECT_THROW(PipelinePlan(std::vector<int64_t>{}), win::Error);
}
