// CudaOps' losses and optimizer updates, on kernels/loss.cu and kernels/optim.cu. A loss returns
// its mean to the host, so it waits for its own result (one small copy); the updates do not wait.
#include <algorithm>
#include <climits>
#include <vector>

#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/cuda_ops.hpp"
#include "backend/cuda/op_timer.hpp"
#include "backend/transfer.hpp"
#include "core/error.hpp"
#include "loss.cuh"
#include "optim.cuh"

namespace win::backend {

using cuda_detail::dense_ptr;

namespace {

cudaStream_t stream() {
  return cuda_context().stream();
}

template <class T>
T read_back(const T* device) {
  T v{};
  WIN_CUDA_CHECK(cudaMemcpyAsync(&v, device, sizeof v, cudaMemcpyDeviceToHost, stream()));
  WIN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return v;
}

void matching(const Tensor& a, const Tensor& b, const char* what) {
  WIN_CHECK(a.shape() == b.shape(), ErrorKind::Internal, "cuda ", what, ": ", a.shape(), " vs ",
            b.shape());
}

}  // namespace

Ops::CeResult CudaOps::cross_entropy(const Tensor& logits, const Tensor& labels,
                                     int64_t ignore_index, double grad_scale, Tensor& dlogits) {
  WIN_CUDA_TIMED("cross_entropy");
  WIN_CHECK(logits.dim() == 2 && labels.numel() == logits.size(0), ErrorKind::Internal,
            "cuda cross_entropy: logits ", logits.shape(), ", labels ", labels.shape());
  matching(logits, dlogits, "cross_entropy");
  const int64_t n = logits.size(0), c = logits.size(1);
  // Scratch: per-row statistics (n, 2) floats, the partials and the result.
  const size_t stats = (static_cast<size_t>(2 * n) * sizeof(float) + 255) / 256 * 256;
  const size_t partials = kernels::kLossMaxPartials * sizeof(kernels::CeDeviceResult);
  auto* base = static_cast<char*>(cuda_detail::scratch(stats + partials + 256));
  auto* row_stats = reinterpret_cast<float*>(base);
  auto* part = reinterpret_cast<kernels::CeDeviceResult*>(base + stats);
  auto* result = reinterpret_cast<kernels::CeDeviceResult*>(base + stats + partials);
  int32_t* bad = cuda_detail::flag_buffer();
  WIN_CUDA_CHECK(kernels::launch_cross_entropy_f32(
      dense_ptr<float>(logits, "cross_entropy"), dense_ptr<int32_t>(labels, "cross_entropy"), n, c,
      ignore_index, grad_scale, dense_ptr<float>(dlogits, "cross_entropy"), nullptr, row_stats,
      part, result, bad, stream()));
  const auto r = read_back(result);
  const int32_t at = read_back(bad);
  WIN_CHECK(at == INT32_MAX, ErrorKind::Data, "cross-entropy: label at row ", at,
            " is outside [0, ", c, ")");
  CeResult out;
  out.counted = r.counted;
  out.correct = r.correct;
  out.loss = r.counted > 0 ? r.loss_sum / static_cast<double>(r.counted) : 0.0;
  return out;
}

double CudaOps::mse(const Tensor& x, const Tensor& target, double grad_scale, Tensor& dx) {
  WIN_CUDA_TIMED("mse");
  matching(x, target, "mse");
  matching(x, dx, "mse");
  auto* partials = static_cast<double*>(
      cuda_detail::scratch(static_cast<size_t>(kernels::kLossMaxPartials) * sizeof(double)));
  double* loss = cuda_detail::result_buffer();
  WIN_CUDA_CHECK(kernels::launch_mse_f32(dense_ptr<float>(x, "mse"),
                                         dense_ptr<float>(target, "mse"), x.numel(), grad_scale,
                                         dense_ptr<float>(dx, "mse"), partials, loss, stream()));
  return read_back(loss);
}

double CudaOps::kl_div(const Tensor& student, const Tensor& teacher, double temperature,
                       double grad_scale, Tensor& dstudent) {
  WIN_CUDA_TIMED("kl_div");
  matching(student, teacher, "kl_div");
  matching(student, dstudent, "kl_div");
  WIN_CHECK(student.dim() == 2, ErrorKind::Internal, "cuda kl_div: ", student.shape());
  auto* partials = static_cast<double*>(
      cuda_detail::scratch(static_cast<size_t>(kernels::kLossMaxPartials) * sizeof(double)));
  double* loss = cuda_detail::result_buffer();
  WIN_CUDA_CHECK(kernels::launch_kl_div_f32(
      dense_ptr<float>(student, "kl_div"), dense_ptr<float>(teacher, "kl_div"), student.size(0),
      student.size(1), temperature, grad_scale, dense_ptr<float>(dstudent, "kl_div"), partials,
      loss, stream()));
  return read_back(loss);
}

void CudaOps::sgd_update(Tensor& p, const Tensor& g, Tensor& buf, double lr, double momentum,
                         bool nesterov, double weight_decay, bool first_step) {
  WIN_CUDA_TIMED("sgd_update");
  matching(p, g, "sgd_update");
  WIN_CHECK(buf.defined() || momentum == 0, ErrorKind::Internal, "cuda sgd_update: momentum ",
            momentum, " without a momentum buffer");
  WIN_CUDA_CHECK(kernels::launch_sgd_update_f32(
      dense_ptr<float>(p, "sgd_update"), dense_ptr<float>(g, "sgd_update"),
      buf.defined() && momentum != 0 ? dense_ptr<float>(buf, "sgd_update") : nullptr, p.numel(), lr,
      momentum, nesterov, weight_decay, first_step, stream()));
}

void CudaOps::adamw_update(Tensor& p, const Tensor& g, Tensor& m, Tensor& v, double lr,
                           double beta1, double beta2, double eps, double weight_decay,
                           int64_t step) {
  WIN_CUDA_TIMED("adamw_update");
  matching(p, g, "adamw_update");
  matching(p, m, "adamw_update");
  matching(p, v, "adamw_update");
  WIN_CUDA_CHECK(kernels::launch_adamw_update_f32(
      dense_ptr<float>(p, "adamw_update"), dense_ptr<float>(g, "adamw_update"),
      dense_ptr<float>(m, "adamw_update"), dense_ptr<float>(v, "adamw_update"), p.numel(), lr,
      beta1, beta2, eps, weight_decay, step, stream()));
}

namespace {

// The multi-tensor launchers' segment table for these segments, on the device, after checking
// every segment lies inside the flat buffers. *total_chunks: the launchers' total_chunks.
// An optimizer passes the same segments every step, so each list's table is uploaded once and
// kept (a few per thread, one per optimizer at work, the least recently used replaced): a copy
// from pageable memory may make the host wait for the stream, which would stall it at the end of
// every step. The table holds offsets and sizes only, never pointers, so it stays valid when
// the flat buffers move.
const kernels::OptimSegment* segment_table(const std::vector<Ops::UpdateSegment>& segments,
                                           int64_t numel, int64_t* total_chunks, const char* what) {
  for (size_t i = 0; i < segments.size(); ++i) {
    const Ops::UpdateSegment& s = segments[i];
    WIN_CHECK(s.offset >= 0 && s.numel >= 0 && s.offset + s.numel <= numel, ErrorKind::Internal,
              "cuda ", what, ": segment ", i, " [", s.offset, ", ", s.offset + s.numel,
              ") outside the flat buffers of ", numel);
    WIN_CHECK(i == 0 || s.offset >= segments[i - 1].offset + segments[i - 1].numel,
              ErrorKind::Internal, "cuda ", what, ": segment ", i,
              " overlaps or precedes the one before (the one launch would race on it)");
  }
  struct Table {
    std::vector<Ops::UpdateSegment> segments;
    int64_t chunks = 0;
    Tensor device;
    uint64_t last_use = 0;
  };
  constexpr size_t kTables = 8;
  // Leaked, as the transient pools are: device memory freed after the CUDA runtime has shut down
  // at exit would only give errors.
  thread_local auto& tables = *new std::vector<Table>();
  thread_local uint64_t clock = 0;
  auto same = [&](const Table& t) {
    if (t.segments.size() != segments.size()) return false;
    for (size_t i = 0; i < segments.size(); ++i) {
      const Ops::UpdateSegment &a = t.segments[i], &b = segments[i];
      if (a.offset != b.offset || a.numel != b.numel || a.weight_decay != b.weight_decay)
        return false;
    }
    return true;
  };
  ++clock;
  for (Table& t : tables)
    if (same(t)) {
      t.last_use = clock;
      *total_chunks = t.chunks;
      return static_cast<const kernels::OptimSegment*>(t.device.raw());
    }

  std::vector<kernels::OptimSegment> host(segments.size());
  for (size_t i = 0; i < segments.size(); ++i)
    host[i] = {segments[i].offset, segments[i].numel, segments[i].weight_decay, 0};
  Table fresh;
  fresh.segments = segments;
  fresh.chunks = kernels::optim_assign_chunks(host.data(), static_cast<int64_t>(host.size()));
  const auto bytes = static_cast<int64_t>(host.size() * sizeof(kernels::OptimSegment));
  fresh.device = Tensor::empty({bytes}, DType::U8, device_allocator(Device::CUDA));
  fresh.last_use = clock;
  WIN_CUDA_CHECK(cudaMemcpyAsync(fresh.device.raw(), host.data(), static_cast<size_t>(bytes),
                                 cudaMemcpyHostToDevice, stream()));
  // host is freed on return: the copy must have left it (pageable copies are staged, but that is
  // not promised for every size).
  WIN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  if (tables.size() < kTables) {
    tables.push_back(std::move(fresh));
    *total_chunks = tables.back().chunks;
    return static_cast<const kernels::OptimSegment*>(tables.back().device.raw());
  }
  // Replacing a table frees its device memory by cudaFree, which waits for the device: the
  // launches that read it have finished.
  Table& oldest =
      *std::min_element(tables.begin(), tables.end(),
                        [](const Table& a, const Table& b) { return a.last_use < b.last_use; });
  oldest = std::move(fresh);
  *total_chunks = oldest.chunks;
  return static_cast<const kernels::OptimSegment*>(oldest.device.raw());
}

}  // namespace

void CudaOps::sgd_update_segments(Tensor& p, const Tensor& g, Tensor& buf,
                                  const std::vector<UpdateSegment>& segments, double lr,
                                  double momentum, bool nesterov, bool first_step) {
  WIN_CUDA_TIMED("sgd_update");
  if (segments.empty()) return;
  matching(p, g, "sgd_update");
  WIN_CHECK(buf.defined() || momentum == 0, ErrorKind::Internal, "cuda sgd_update: momentum ",
            momentum, " without a momentum buffer");
  const bool use_buf = momentum != 0;
  if (use_buf) matching(p, buf, "sgd_update");
  int64_t chunks = 0;
  const kernels::OptimSegment* table = segment_table(segments, p.numel(), &chunks, "sgd_update");
  WIN_CUDA_CHECK(kernels::launch_sgd_update_multi_f32(
      dense_ptr<float>(p, "sgd_update"), dense_ptr<float>(g, "sgd_update"),
      use_buf ? dense_ptr<float>(buf, "sgd_update") : nullptr, table,
      static_cast<int64_t>(segments.size()), chunks, lr, momentum, nesterov, first_step, stream()));
}

void CudaOps::adamw_update_segments(Tensor& p, const Tensor& g, Tensor& m, Tensor& v,
                                    const std::vector<UpdateSegment>& segments, double lr,
                                    double beta1, double beta2, double eps, int64_t step) {
  WIN_CUDA_TIMED("adamw_update");
  if (segments.empty()) return;
  matching(p, g, "adamw_update");
  matching(p, m, "adamw_update");
  matching(p, v, "adamw_update");
  int64_t chunks = 0;
  const kernels::OptimSegment* table = segment_table(segments, p.numel(), &chunks, "adamw_update");
  WIN_CUDA_CHECK(kernels::launch_adamw_update_multi_f32(
      dense_ptr<float>(p, "adamw_update"), dense_ptr<float>(g, "adamw_update"),
      dense_ptr<float>(m, "adamw_update"), dense_ptr<float>(v, "adamw_update"), table,
      static_cast<int64_t>(segments.size()), chunks, lr, beta1, beta2, eps, step, stream()));
}

}  // namespace win::backend
