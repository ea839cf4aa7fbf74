// What both narrow schedules share (DESIGN §2): the frozen teacher's activation at a block
// boundary, the imitation loss, the validation imitation error by which blocks and restarts are
// judged, and the bridged student S̄ as the narrow stage starts it (bridge initialisation, and
// BERT's embeddings taken over from the teacher).
#pragma once

#include <memory>
#include <string>

#include "data/loader.hpp"
#include "models/model.hpp"
#include "win/bridged_model.hpp"
#include "win/run_context.hpp"
#include "win/task.hpp"

namespace win::method {

// The teacher's activation after its block `last` (eval mode: frozen).
Tensor teacher_prefix(Task& task, models::Model& t, const data::Batch& b, int last,
                      nn::Context& ctx);

// The imitation loss (mse, or kl over each position's channels) of the student's wide activation
// z against the teacher's; dz receives its gradient times grad_scale.
double imitation_loss(const std::string& kind, const Tensor& z, const Tensor& target, Tensor& dz,
                      double grad_scale = 1.0);

// Validation imitation error of block i: the student's prefix 0..i against the teacher, in eval
// mode, over up to 1024 held-out samples (training samples when the deck has none).
double validation_error(const RunContext& rc, Task& task, BridgedModel& sbar,
                        models::Model& teacher, int i, const std::string& kind);

// S̄ at the start of the narrow stage: built from the deck, initialised with run.seed, bridges by
// narrow.bridge_init (teacher_subsample also sets the thin blocks from the teacher), BERT's
// shared embeddings copied from the teacher.
std::unique_ptr<BridgedModel> initial_student(const RunContext& rc, models::Model& teacher);

}  // namespace win::method
