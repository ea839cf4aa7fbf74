// `teacher_subsample` initialisation (paper Assumption 3.4, DESIGN §2): each thin block starts as
// m of the trained wide block's M hidden units, sampled without replacement. For `inner` MLPs and
// ResNets (whose teachers widen only the inner width), the sampled rows of the block's first
// layer and the matching inputs of the next layer, the latter scaled by M / m so the block's
// output stays an unbiased estimate of the wide block's; everything else (stem, head, layers of
// unchanged width) is copied, and the bridges start as identities. For `plain` MLPs, whose block
// outputs widen too, each block samples its outputs, the next block reads the sampled inputs
// (scaled by D / d), and each bridge M1 places the sampled units at their wide positions
// (M2 = M1^T, so M2 M1 = I). BERT is not supported: its teacher changes the hidden size.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/deck.hpp"
#include "models/model.hpp"
#include "win/bridged_model.hpp"

namespace win::method {

// The sampled wide-unit indices (ascending) by block name ("blocks.3", "layer2.1"), for tests and
// reports.
using Samples = std::map<std::string, std::vector<int64_t>>;

Samples subsample_from_teacher(BridgedModel& sbar, models::Model& teacher,
                               const config::ModelConfig& student_cfg, uint64_t seed);

// m distinct indices of [0, big), ascending, keyed by (seed, key).
std::vector<int64_t> sample_indices(int64_t big, int64_t m, uint64_t seed, uint64_t key);

}  // namespace win::method
