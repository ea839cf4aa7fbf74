// Building any family's model from the deck, and measuring it: parameters and multiply-
// accumulates per sample for the stem, every block and the head (DESIGN §2, paper Table 1).
// MACs are counted by running one sample through the model in eval mode (convolutions, matrix
// products and attention products: what the paper's FLOP counts cover).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/deck.hpp"
#include "models/model.hpp"

namespace win::models {

std::unique_ptr<Model> build_model(const config::ModelConfig& c, DType dtype);

// The width at every block boundary of the model c describes (without building it).
std::vector<int64_t> boundary_widths(const config::ModelConfig& c);

struct PartProfile {
  std::string name;  // "stem", "layer1", ..., "head"
  int64_t params = 0;
  int64_t macs = 0;       // per sample
  int64_t out_width = 0;  // blocks: the boundary width d_i
  int64_t out_elems = 0;  // elements of the part's output per sample
};

struct ModelProfile {
  std::vector<PartProfile> parts;  // stem, blocks in order, head
  int64_t params = 0;
  int64_t macs = 0;
};

// One sample of the model's input: images (1, C, S, S) at image_size, MLP (1, input_size), BERT
// token ids (1, seq_length) with 15% of the positions predicted (pretraining heads).
ModelProfile profile_model(Model& m, const config::ModelConfig& c);

// Runs x through the model one part at a time, calling after(part index, output) after the stem
// (index 0), each block (1..n) and the head (n + 1). BERT inputs must be set beforehand.
void forward_by_parts(Model& m, const Tensor& x, nn::Context& ctx,
                      const std::function<void(int, const Tensor&)>& after);

// A deterministic example batch for the model (the shapes profile_model uses, batch n).
Tensor example_input(const config::ModelConfig& c, int64_t n, DType dtype, uint64_t seed);
// For BERT: sets segment ids, an all-ones mask and masked positions for a batch of n.
void set_example_bert_inputs(Model& m, const config::ModelConfig& c, int64_t n);

}  // namespace win::models
