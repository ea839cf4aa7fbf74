// The pieces both narrow schedules share (see narrow_common.hpp).
#include "win/narrow_common.hpp"

#include <algorithm>
#include <map>

#include "backend/ops.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "models/widen.hpp"
#include "win/subsample.hpp"

namespace win::method {

namespace {

// BERT's teacher keeps the student's embedding size (DESIGN §2, widening rules), so the student
// starts from the teacher's trained token, position and segment embeddings and their LayerNorm:
// every embeddings.* tensor of the same name and shape (the teacher's projection has none).
void copy_shared_embeddings(BridgedModel& sbar, models::Model& teacher) {
  std::map<std::string, nn::Param*> theirs;
  teacher.for_each_param([&](const std::string& n, nn::Param& p) {
    if (n.rfind("embeddings.", 0) == 0) theirs[n] = &p;
  });
  int copied = 0;
  sbar.for_each_param([&](const std::string& n, nn::Param& p) {
    auto it = theirs.find(n);
    if (it == theirs.end() || it->second->value.shape() != p.value.shape()) return;
    p.value.copy_from(it->second->value);
    ++copied;
  });
  WIN_CHECK(copied > 0, ErrorKind::Internal,
            "narrow: no embedding of the teacher fits the student");
  log_info("narrow: ", copied, " embedding tensors copied from the teacher");
}

}  // namespace

// The teacher's activation after its block `last` (eval mode: frozen).
Tensor teacher_prefix(Task& task, models::Model& t, const data::Batch& b, int last,
                      nn::Context& ctx) {
  Tensor h = t.stem().forward(task.prepare(t, b), ctx);
  for (int i = 0; i <= last; ++i) h = t.block(i).forward(h, ctx);
  return h;
}

// The imitation loss and its gradient w.r.t. the student's wide activation z.
double imitation_loss(const std::string& kind, const Tensor& z, const Tensor& target, Tensor& dz,
                      double grad_scale) {
  auto& ops = backend::ops_for(z);
  nn::ensure(dz, z.shape(), z.dtype(), &z);
  if (dz.strides() != z.strides()) dz = empty_like(z);
  if (kind == "kl") {  // each position's channels as logits
    Tensor dzr = channel_rows(dz);
    return ops.kl_div(channel_rows(z), channel_rows(target), 1.0, grad_scale, dzr);
  }
  return ops.mse(z, target, grad_scale, dz);
}

// Validation imitation error of block i (eval mode, over up to 1024 samples).
double validation_error(const RunContext& rc, Task& task, BridgedModel& sbar,
                        models::Model& teacher, int i, const std::string& kind) {
  auto src = rc.val_source();
  if (!src) src = rc.train_source(false);
  const int64_t n = std::min<int64_t>(src->size(), 1024), batch = 256;
  nn::Context ctx;
  ctx.training = false;
  data::Batch b;
  double total = 0;
  int64_t seen = 0;
  Tensor dz;
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t count = std::min(batch, n - start);
    src->allocate(b, count);
    for (int64_t k = 0; k < count; ++k) src->fill(b, k, start + k, 0);
    const Tensor target = teacher_prefix(task, teacher, b, i, ctx).clone();
    const Tensor& z = sbar.forward_prefix(task.prepare(sbar, b), i, ctx);
    total += imitation_loss(kind, z, target, dz) * static_cast<double>(count);
    seen += count;
  }
  return total / static_cast<double>(seen);
}

std::unique_ptr<BridgedModel> initial_student(const RunContext& rc, models::Model& teacher) {
  const auto& d = rc.deck();
  const auto& nc = d.narrow;
  const auto tc = models::teacher_config(d.model, d.teacher);
  auto sbar = build_bridged(d.model, tc, bridge_mode_of(nc.bridge_mode), DType::F32);
  const uint64_t seed = static_cast<uint64_t>(d.run.seed);
  nn::init_params(*sbar, seed + 2);
  const BridgeInit init = bridge_init_of(nc.bridge_init);
  if (init == BridgeInit::TeacherSubsample)
    subsample_from_teacher(*sbar, teacher, d.model, seed);
  else
    init_bridges(*sbar, init, seed);
  if (d.model.family == "bert") copy_shared_embeddings(*sbar, teacher);
  return sbar;
}

}  // namespace win::method
