// S̄ forward/backward and bridge initialisation (see bridged_model.hpp).
#include "win/bridged_model.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "models/build.hpp"

namespace win::method {

BridgeInit bridge_init_of(const std::string& name) {
  if (name == "orthogonal") return BridgeInit::Orthogonal;
  if (name == "random") return BridgeInit::Random;
  if (name == "teacher_subsample") return BridgeInit::TeacherSubsample;
  WIN_FAIL(ErrorKind::Config, "narrow.bridge_init: unknown initialisation '", name, "'");
}

BridgeMode bridge_mode_of(const std::string& name) {
  if (name == "free") return BridgeMode::Free;
  if (name == "tied") return BridgeMode::Tied;
  WIN_FAIL(ErrorKind::Config, "narrow.bridge_mode: unknown mode '", name, "'");
}

BridgedModel::BridgedModel(std::unique_ptr<models::Model> student,
                           const std::vector<int64_t>& wide_widths, BridgeMode mode)
    : nn::Module("BridgedModel", student->dtype()) {
  const int n = student->num_blocks();
  WIN_CHECK(static_cast<int>(wide_widths.size()) == n, ErrorKind::Internal,
            "S-bar: ", wide_widths.size(), " wide widths for ", n, " blocks");
  student_ = &add_child("", std::move(student));
  for (int i = 0; i < n; ++i)
    bridges_.push_back(
        &add_child(cat("bridges.", i),
                   std::make_unique<Bridge>(student_->boundary_width(i),
                                            wide_widths[static_cast<size_t>(i)], mode, dtype())));
}

Tensor BridgedModel::forward(const Tensor& x, nn::Context& ctx) {
  Tensor h = student_->stem().forward(x, ctx);
  for (int i = 0; i < num_blocks(); ++i)
    h = bridges_[static_cast<size_t>(i)]->forward(student_->block(i).forward(h, ctx), ctx);
  return student_->head().forward(h, ctx);
}

Tensor BridgedModel::backward(const Tensor& dy, nn::Context& ctx) {
  auto done = [&](nn::Module& m) {
    if (ctx.grads_ready) ctx.grads_ready->ready(m);
  };
  Tensor g = student_->head().backward(dy, ctx);
  done(student_->head());
  for (int i = num_blocks() - 1; i >= 0; --i) {
    Bridge& b = *bridges_[static_cast<size_t>(i)];
    g = b.backward(g, ctx);
    done(b);
    g = student_->block(i).backward(g, ctx);
    done(student_->block(i));
  }
  g = student_->stem().backward(g, ctx);
  done(student_->stem());
  return g;
}

const Tensor& BridgedModel::forward_prefix(const Tensor& x, int last, nn::Context& ctx) {
  WIN_CHECK(last >= 0 && last < num_blocks(), ErrorKind::Internal, "prefix up to block ", last,
            " of ", num_blocks());
  Tensor h = student_->stem().forward(x, ctx);
  for (int i = 0; i <= last; ++i)
    h = bridges_[static_cast<size_t>(i)]->forward(student_->block(i).forward(h, ctx), ctx);
  return bridges_[static_cast<size_t>(last)]->wide();
}

Tensor BridgedModel::backward_prefix(const Tensor& dz, int last, nn::Context& ctx) {
  bridges_[static_cast<size_t>(last)]->set_wide_grad(dz);
  Tensor g = student_->block(last).backward(
      bridges_[static_cast<size_t>(last)]->backward(Tensor(), ctx), ctx);
  for (int i = last - 1; i >= 0; --i)
    g = student_->block(i).backward(bridges_[static_cast<size_t>(i)]->backward(g, ctx), ctx);
  return student_->stem().backward(g, ctx);
}

std::unique_ptr<BridgedModel> build_bridged(const config::ModelConfig& student,
                                            const config::ModelConfig& teacher, BridgeMode mode,
                                            DType dtype) {
  return std::make_unique<BridgedModel>(models::build_model(student, dtype),
                                        models::boundary_widths(teacher), mode);
}

namespace {

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// A (rows, cols) matrix with orthonormal columns (rows >= cols): modified Gram-Schmidt on
// Gaussian columns, in double.
std::vector<double> orthonormal_columns(int64_t rows, int64_t cols, const Philox& rng,
                                        uint64_t key) {
  std::vector<double> q(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows * cols; ++i)
    q[static_cast<size_t>(i)] = rng.normal_double(key, static_cast<uint64_t>(i));
  auto at = [&](int64_t r, int64_t c) -> double& { return q[static_cast<size_t>(r * cols + c)]; };
  for (int64_t c = 0; c < cols; ++c) {
    for (int pass = 0; pass < 2; ++pass)  // twice is enough for full orthogonality in double
      for (int64_t p = 0; p < c; ++p) {
        double dot = 0;
        for (int64_t r = 0; r < rows; ++r) dot += at(r, p) * at(r, c);
        for (int64_t r = 0; r < rows; ++r) at(r, c) -= dot * at(r, p);
      }
    double norm = 0;
    for (int64_t r = 0; r < rows; ++r) norm += at(r, c) * at(r, c);
    norm = std::sqrt(norm);
    WIN_CHECK(norm > 1e-8, ErrorKind::Numerics, "orthogonal bridge init: degenerate draw");
    for (int64_t r = 0; r < rows; ++r) at(r, c) /= norm;
  }
  return q;
}

constexpr uint64_t kBridgeStream = 0xB41D;

}  // namespace

void init_bridges(BridgedModel& m, BridgeInit init, uint64_t seed) {
  WIN_CHECK(init != BridgeInit::TeacherSubsample, ErrorKind::Internal,
            "teacher_subsample bridges are set by subsample_from_teacher");
  const Philox rng(seed, kBridgeStream);
  for (int i = 0; i < m.num_blocks(); ++i) {
    Bridge& b = m.bridge(i);
    const std::string name = cat("bridges.", i);
    const int64_t d = b.thin(), big = b.wide_width();
    if (init == BridgeInit::Orthogonal) {
      const auto q = orthonormal_columns(big, d, rng, fnv1a64(name));  // M1 (D, d)
      Tensor m1 = Tensor::from(q, {big, d});
      b.m1().value.copy_from(m1);
      if (b.m2()) b.m2()->value.copy_from(m1.transpose(0, 1));
    } else {  // drawn on the host (the same values on every device), then copied
      auto draw = [&](Tensor& value, double std, const std::string& key) {
        Tensor h = Tensor::empty(value.shape(), value.dtype());
        fill_normal(h, rng, 0.0, std, fnv1a64(key));
        value.copy_from(h);
      };
      draw(b.m1().value, 1.0 / std::sqrt(static_cast<double>(d)), name + ".m1");
      if (b.m2()) draw(b.m2()->value, 1.0 / std::sqrt(static_cast<double>(big)), name + ".m2");
    }
  }
}

}  // namespace win::method
