// Folding bridges into the thin model (see merge.hpp).
#include "win/merge.hpp"

#include <cmath>
#include <map>

#include "backend/transfer.hpp"
#include "core/error.hpp"
#include "models/build.hpp"

namespace win::method {

void fold_input_map(Tensor& w, const Tensor& p) {
  WIN_CHECK((w.dim() == 2 || w.dim() == 4) && p.dim() == 2 && p.size(0) == w.size(1) &&
                p.size(1) == w.size(1),
            ErrorKind::Internal, "fold: weight ", w.shape(), ", map ", p.shape());
  auto& ops = backend::ops_for(w);
  if (w.dim() == 2) {
    Tensor out = Tensor::empty(w.shape(), w.dtype(), allocator_for(w.device()));
    ops.gemm(false, false, 1.0, w.contiguous(), p, 0.0, out);
    w.copy_from(out);
    return;
  }
  // (K, C, r, s) -> rows (K r s, C) so that the product contracts the input channels.
  const Tensor rows = w.permute({0, 2, 3, 1}).contiguous().reshape({-1, w.size(1)});
  Tensor out = Tensor::empty(rows.shape(), w.dtype(), allocator_for(w.device()));
  ops.gemm(false, false, 1.0, rows, p, 0.0, out);
  w.copy_from(out.reshape({w.size(0), w.size(2), w.size(3), w.size(1)}).permute({0, 3, 1, 2}));
}

std::unique_ptr<models::Model> merge_bridges(BridgedModel& sbar, const config::ModelConfig& c,
                                             MergeReport* report) {
  models::Model& student = sbar.student();
  auto merged = models::build_model(c, student.dtype());
  std::map<std::string, nn::Param*> params;
  merged->for_each_param([&](const std::string& n, nn::Param& p) { params[n] = &p; });
  std::map<std::string, Tensor*> buffers;
  merged->for_each_buffer([&](const std::string& n, Tensor& t) { buffers[n] = &t; });
  int64_t copied = 0;
  student.for_each_param([&](const std::string& n, nn::Param& p) {
    auto it = params.find(n);
    WIN_CHECK(it != params.end() && it->second->value.shape() == p.value.shape(),
              ErrorKind::Internal, "merge: the student's parameter ", n,
              " does not exist with this shape in a fresh model of the deck");
    it->second->value.copy_from(p.value);
    ++copied;
  });
  WIN_CHECK(copied == static_cast<int64_t>(params.size()), ErrorKind::Internal,
            "merge: ", params.size() - static_cast<size_t>(copied),
            " parameters of S were not in S-bar");
  student.for_each_buffer([&](const std::string& n, Tensor& t) { buffers.at(n)->copy_from(t); });

  MergeReport r;
  for (int i = 0; i < sbar.num_blocks(); ++i) {
    Bridge& b = sbar.bridge(i);
    if (b.mode() == BridgeMode::Tied) {  // M2 M1 = I: nothing to fold
      ++r.tied;
      continue;
    }
    const Tensor p = b.product();
    const models::BoundaryReaders readers = merged->boundary_readers(i);
    for (const auto& name : readers.params) {
      auto it = params.find(name);
      WIN_ASSERT(it != params.end(), "merge: reader ", name, " of boundary ", i, " not found");
      fold_input_map(it->second->value, p);
    }
    ++r.folded;
    if (!readers.exact) {
      r.exact = false;
      r.inexact.push_back(cat("boundary ", i, ": ", readers.why_inexact));
    }
  }
  if (report) *report = r;
  return merged;
}

double merge_discrepancy(BridgedModel& sbar, models::Model& merged, const Tensor& x,
                         nn::Context ctx) {
  Tensor staged;
  const Tensor& xd = backend::on_device(x, sbar.device(), staged);
  const Tensor a = sbar.forward(xd, ctx).clone();
  const Tensor b = merged.forward(xd, ctx);
  const auto av = a.to_vector(), bv = b.to_vector();
  double diff = 0, ref = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    diff = std::max(diff, std::abs(av[i] - bv[i]));
    ref = std::max(ref, std::abs(av[i]));
  }
  return ref > 0 ? diff / ref : diff;
}

}  // namespace win::method
