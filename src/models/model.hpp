// Model: the shape WIN needs (DESIGN §4) — a stem, an ordered list of blocks and a head, so the
// method can address block i, run a prefix of the network, and know the width at every block
// boundary. Builders for each family (mlp, resnet, bert) assemble one from the deck's structs.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.hpp"

namespace win::models {

// The weights that read the activation at a block boundary linearly, through their input
// dimension (dim 1): where a bridge's map P = M2 M1 folds when merging (DESIGN §2). exact is
// false when something else reads the activation too (BERT's residual stream).
struct BoundaryReaders {
  std::vector<std::string> params;
  bool exact = true;
  std::string why_inexact;
};

class Model : public nn::Module {
 public:
  Model(std::string type, DType dtype) : nn::Module(std::move(type), dtype) {}

  Tensor forward(const Tensor& x, nn::Context& ctx) override;
  Tensor backward(const Tensor& dy, nn::Context& ctx) override;

  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  nn::Module& stem() const { return *stem_; }
  nn::Module& block(int i) const { return *blocks_.at(static_cast<size_t>(i)); }
  nn::Module& head() const { return *head_; }
  // Width (features or channels) of the activation leaving block i.
  int64_t boundary_width(int i) const { return widths_.at(static_cast<size_t>(i)); }
  const std::string& block_name(int i) const { return names_.at(static_cast<size_t>(i)); }
  // Readers of the activation leaving block i (the next block, or the head after the last).
  virtual BoundaryReaders boundary_readers(int i) = 0;

 protected:
  // Registration, in order: the stem, then each block with its output width, then the head.
  // Names follow the family's PyTorch convention ("" = transparent, see Module::add_child).
  template <class M>
  M& set_stem(std::string name, std::unique_ptr<M> m) {
    M& r = add_child(std::move(name), std::move(m));
    stem_ = &r;
    return r;
  }
  template <class M>
  M& add_block(std::string name, std::unique_ptr<M> m, int64_t out_width) {
    names_.push_back(name);
    M& r = add_child(std::move(name), std::move(m));
    blocks_.push_back(&r);
    widths_.push_back(out_width);
    return r;
  }
  template <class M>
  M& set_head(std::string name, std::unique_ptr<M> m) {
    M& r = add_child(std::move(name), std::move(m));
    head_ = &r;
    return r;
  }

 private:
  nn::Module* stem_ = nullptr;
  std::vector<nn::Module*> blocks_;
  std::vector<int64_t> widths_;
  std::vector<std::string> names_;
  nn::Module* head_ = nullptr;
};

}  // namespace win::models
