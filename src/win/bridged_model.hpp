// S̄ (paper §2): the thin student with a bridge after every block, B_i's boundary width on the
// wide side. The student keeps its parameter names (it is a transparent child); the bridges are
// bridges.<i>.m1 / .m2. forward runs stem, block_i + bridge_i for every i, head; the wide
// activations z_i = M1 h_i are what the narrow stage compares with the teacher's.
#pragma once

#include <memory>
#include <vector>

#include "config/deck.hpp"
#include "models/model.hpp"
#include "win/bridge.hpp"

namespace win::method {

enum class BridgeInit { Orthogonal, Random, TeacherSubsample };
BridgeInit bridge_init_of(const std::string& name);  // the deck's narrow.bridge_init
BridgeMode bridge_mode_of(const std::string& name);  // the deck's narrow.bridge_mode

class BridgedModel final : public nn::Module {
 public:
  // wide_widths[i] = the teacher's boundary width after block i.
  BridgedModel(std::unique_ptr<models::Model> student, const std::vector<int64_t>& wide_widths,
               BridgeMode mode);

  Tensor forward(const Tensor& x, nn::Context& ctx) override;
  Tensor backward(const Tensor& dy, nn::Context& ctx) override;
  // Runs the stem and blocks 0..i (each with its bridge) and returns z_i = M1 h_i.
  const Tensor& forward_prefix(const Tensor& x, int i, nn::Context& ctx);
  // Backward of forward_prefix from the imitation gradient dz_i; returns dL/dx (undefined for
  // token ids).
  Tensor backward_prefix(const Tensor& dz, int i, nn::Context& ctx);

  models::Model& student() { return *student_; }
  int num_blocks() const { return student_->num_blocks(); }
  Bridge& bridge(int i) { return *bridges_.at(static_cast<size_t>(i)); }

 private:
  models::Model* student_;
  std::vector<Bridge*> bridges_;
};

// S̄ for a student and its teacher, both given by their configs.
std::unique_ptr<BridgedModel> build_bridged(const config::ModelConfig& student,
                                            const config::ModelConfig& teacher, BridgeMode mode,
                                            DType dtype);

// Initialises every bridge: orthogonal (M1 has orthonormal columns, M2 = M1^T, so P = I and S̄
// starts as S) or random (Gaussian, 1/fan-in variance). Draws are keyed by (seed, name).
void init_bridges(BridgedModel& m, BridgeInit init, uint64_t seed);

}  // namespace win::method
