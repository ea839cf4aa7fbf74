// MLP builder (see mlp.hpp).
#include "models/mlp.hpp"

#include "core/error.hpp"
#include "nn/activation.hpp"
#include "nn/linear.hpp"
#include "nn/sequential.hpp"

namespace win::models {

namespace {

backend::Eltwise activation_of(const std::string& name) {
  if (name == "relu") return backend::Eltwise::Relu;
  if (name == "gelu") return backend::Eltwise::Gelu;
  WIN_FAIL(ErrorKind::Config, "model.mlp.activation: unknown activation '", name, "'");
}

class MlpModel final : public Model {
 public:
  MlpModel(const config::MlpConfig& c, int64_t classes, DType dtype) : Model("MLP", dtype) {
    const auto act = activation_of(c.activation);
    const bool inner = c.block == "inner";
    WIN_CHECK(inner || c.block == "plain", ErrorKind::Config, "model.mlp.block: unknown form '",
              c.block, "'");
    auto stem = std::make_unique<nn::Sequential>(dtype);
    stem->add(std::make_unique<nn::Flatten>(dtype), "flatten");
    if (inner) stem->add_unnamed(std::make_unique<nn::Linear>(c.input_size, c.width, true, dtype));
    set_stem("stem", std::move(stem));
    for (int64_t i = 0; i < c.depth; ++i) {
      // Linear + ReLU runs fused (one primitive, one backward pass); GELU stays a module.
      auto b = std::make_unique<nn::Sequential>(dtype);
      const bool fuse = act == backend::Eltwise::Relu;
      auto linear_act = [&](int64_t in, int64_t out, const char* name) {
        b->add(std::make_unique<nn::Linear>(in, out, true, dtype, fuse), name);
        if (!fuse) b->add(std::make_unique<nn::Activation>(act, dtype), "act");
      };
      if (inner) {
        linear_act(c.width, c.inner, "fc1");
        b->add(std::make_unique<nn::Linear>(c.inner, c.width, true, dtype), "fc2");
      } else {
        linear_act(i == 0 ? c.input_size : c.width, c.width, "fc");
      }
      add_block(cat("blocks.", i), std::move(b), c.width);
    }
    set_head("head", std::make_unique<nn::Linear>(c.width, classes, true, dtype));
    inner_ = inner;
  }

  // The next block's first Linear, or the head: nothing else reads a boundary. Exact.
  BoundaryReaders boundary_readers(int i) override {
    if (i + 1 >= num_blocks()) return {{"head.weight"}, true, ""};
    return {{cat("blocks.", i + 1, inner_ ? ".fc1.weight" : ".fc.weight")}, true, ""};
  }

 private:
  bool inner_ = true;
};

}  // namespace

std::unique_ptr<Model> build_mlp(const config::MlpConfig& c, int64_t classes, DType dtype) {
  return std::make_unique<MlpModel>(c, classes, dtype);
}

}  // namespace win::models
