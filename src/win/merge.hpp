// Merging (paper §2 stage 3, DESIGN §2): every bridge's P = M2 M1 is folded into the weights that
// read its boundary, giving a plain thin model with exactly the architecture and parameter count
// of a freshly built S. Exact for MLPs, ResNets and tied bridges; for BERT with free bridges the
// residual stream cannot absorb P, so the merge is approximate and says so, and
// merge_discrepancy measures by how much.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/deck.hpp"
#include "models/model.hpp"
#include "win/bridged_model.hpp"

namespace win::method {

struct MergeReport {
  bool exact = true;
  std::vector<std::string> inexact;  // "boundary 3: <why>" for each approximate fold
  int folded = 0;                    // bridges folded
  int tied = 0;                      // tied bridges: M2 M1 = I, nothing to fold
};

// A fresh S built from c, holding S̄'s student weights with every free bridge folded.
std::unique_ptr<models::Model> merge_bridges(BridgedModel& sbar, const config::ModelConfig& c,
                                             MergeReport* report = nullptr);

// W <- W x_1 P: multiplies the input dimension (dim 1) of a Linear (out, in) or conv
// (out, in, kh, kw) weight by P (in, in).
void fold_input_map(Tensor& w, const Tensor& p);

// max |merged(x) - S̄(x)| / max |S̄(x)|, both run in ctx's mode (BERT inputs set beforehand).
double merge_discrepancy(BridgedModel& sbar, models::Model& merged, const Tensor& x,
                         nn::Context ctx);

}  // namespace win::method
