// Which pipeline stage trains which blocks in the pipelined narrow schedule (DESIGN §2): a
// contiguous split of the n blocks over P stages, set by hand (dist.partition: blocks per stage)
// or balanced so that the costliest stage (teacher block + student block MACs) is as cheap as
// possible, which is what bounds the pipeline's step time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace win::method {

class PipelinePlan {
 public:
  // counts[p] blocks go to stage p, in order; every count >= 1, their sum the number of blocks.
  explicit PipelinePlan(const std::vector<int64_t>& counts);
  // The contiguous split of blocks with these costs over `stages` stages whose largest stage
  // cost is smallest (ties: the earliest split). stages <= cost.size().
  static PipelinePlan balanced(const std::vector<double>& cost, int stages);

  int stages() const { return static_cast<int>(first_.size()) - 1; }
  int blocks() const { return first_.back(); }
  int first(int stage) const { return first_.at(static_cast<size_t>(stage)); }
  int end(int stage) const { return first_.at(static_cast<size_t>(stage) + 1); }
  int stage_of(int block) const;
  // "1-3 | 4-6" (blocks numbered from 1, as in the logs).
  std::string describe() const;

 private:
  std::vector<int> first_;  // stage p owns blocks [first_[p], first_[p+1])
};

}  // namespace win::method
