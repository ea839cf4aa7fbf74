// ParamStore: every parameter of a model in one flat value buffer and one flat gradient buffer
// (DESIGN §4), so that zeroing gradients is one memset, the data-parallel allreduce is one call
// over one buffer, and an optimizer walks contiguous memory. Each Param's tensors become views of
// the flat buffers; segments start on 64-byte boundaries so vector loops stay aligned.
#pragma once

#include <string>
#include <vector>

#include "nn/module.hpp"

namespace win::nn {

struct ParamEntry {
  std::string name;  // dotted, PyTorch-style: "layer1.0.conv1.weight"
  Param* param = nullptr;
  int64_t offset = 0;  // element offset in the flat buffers
  int64_t numel = 0;
};

class ParamStore {
 public:
  ParamStore() = default;
  // Moves every parameter of root (current values kept) into flat buffers.
  explicit ParamStore(Module& root);

  const std::vector<ParamEntry>& entries() const { return entries_; }
  const ParamEntry* find(const std::string& name) const;
  Tensor& values() { return values_; }
  Tensor& grads() { return grads_; }
  int64_t num_params() const { return count_; }  // without alignment padding
  void zero_grad();

 private:
  std::vector<ParamEntry> entries_;
  Tensor values_, grads_;
  int64_t count_ = 0;
};

}  // namespace win::nn
