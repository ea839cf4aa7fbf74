// Model forward/backward: stem, blocks, head in order (see model.hpp).
#include "models/model.hpp"

#include "core/error.hpp"

namespace win::models {

Tensor Model::forward(const Tensor& x, nn::Context& ctx) {
  WIN_ASSERT(stem_ && head_, "model ", type(), " has no stem or head");
  Tensor h = stem_->forward(x, ctx);
  for (nn::Module* b : blocks_) h = b->forward(h, ctx);
  return head_->forward(h, ctx);
}

Tensor Model::backward(const Tensor& dy, nn::Context& ctx) {
  auto done = [&](nn::Module& m) {
    if (ctx.grads_ready) ctx.grads_ready->ready(m);
  };
  Tensor g = head_->backward(dy, ctx);
  done(*head_);
  for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) {
    g = (*it)->backward(g, ctx);
    done(**it);
  }
  g = stem_->backward(g, ctx);
  done(*stem_);
  return g;
}

}  // namespace win::models
