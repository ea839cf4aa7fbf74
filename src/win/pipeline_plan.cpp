// Partitions of blocks over pipeline stages (see pipeline_plan.hpp).
#include "win/pipeline_plan.hpp"

#include <algorithm>
#include <limits>

#include "core/error.hpp"

namespace win::method {

PipelinePlan::PipelinePlan(const std::vector<int64_t>& counts) {
  WIN_CHECK(!counts.empty(), ErrorKind::Config, "dist.partition: no pipeline stage");
  first_.push_back(0);
  for (size_t p = 0; p < counts.size(); ++p) {
    WIN_CHECK(counts[p] >= 1, ErrorKind::Config, "dist.partition: stage ", p, " gets ", counts[p],
              " blocks; every stage needs at least one");
    first_.push_back(first_.back() + static_cast<int>(counts[p]));
  }
}

PipelinePlan PipelinePlan::balanced(const std::vector<double>& cost, int stages) {
  const int n = static_cast<int>(cost.size());
  WIN_CHECK(stages >= 1 && stages <= n, ErrorKind::Config, "dist.pipeline = ", stages,
            " stages for a model of ", n, " blocks: every stage needs at least one block");
  std::vector<double> prefix(static_cast<size_t>(n) + 1, 0.0);
  for (int i = 0; i < n; ++i)
    prefix[static_cast<size_t>(i) + 1] =
        prefix[static_cast<size_t>(i)] + cost[static_cast<size_t>(i)];
  const double inf = std::numeric_limits<double>::infinity();
  // best[k][i]: the smallest largest-stage cost of blocks [0, i) over k stages; cut[k][i] where
  // the last of those stages begins.
  std::vector<std::vector<double>> best(static_cast<size_t>(stages) + 1,
                                        std::vector<double>(static_cast<size_t>(n) + 1, inf));
  std::vector<std::vector<int>> cut(best.size(), std::vector<int>(static_cast<size_t>(n) + 1, 0));
  best[0][0] = 0;
  for (int k = 1; k <= stages; ++k)
    for (int i = k; i <= n; ++i)
      for (int j = k - 1; j < i; ++j) {
        const double c = std::max(best[static_cast<size_t>(k) - 1][static_cast<size_t>(j)],
                                  prefix[static_cast<size_t>(i)] - prefix[static_cast<size_t>(j)]);
        if (c < best[static_cast<size_t>(k)][static_cast<size_t>(i)]) {
          best[static_cast<size_t>(k)][static_cast<size_t>(i)] = c;
          cut[static_cast<size_t>(k)][static_cast<size_t>(i)] = j;
        }
      }
  std::vector<int64_t> counts(static_cast<size_t>(stages));
  int i = n;
  for (int k = stages; k >= 1; --k) {
    const int j = cut[static_cast<size_t>(k)][static_cast<size_t>(i)];
    counts[static_cast<size_t>(k) - 1] = i - j;
    i = j;
  }
  return PipelinePlan(counts);
}

int PipelinePlan::stage_of(int block) const {
  WIN_CHECK(block >= 0 && block < blocks(), ErrorKind::Internal, "pipeline: block ", block, " of ",
            blocks());
  return static_cast<int>(std::upper_bound(first_.begin(), first_.end(), block) - first_.begin()) -
         1;
}

std::string PipelinePlan::describe() const {
  std::string s;
  for (int p = 0; p < stages(); ++p) {
    if (p) s += " | ";
    s += end(p) - first(p) == 1 ? cat(first(p) + 1) : cat(first(p) + 1, "-", end(p));
  }
  return s;
}

}  // namespace win::method
