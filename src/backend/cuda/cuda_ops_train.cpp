// CudaOps' losses and optimizer updates, on kernels/loss.cu and kernels/optim.cu. A loss returns
// its mean to the host, so it waits for its own result (one small copy); the updates do not wait.
#include <climits>
#include <vector>

#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/cuda_ops.hpp"
#include "backend/cuda/op_timer.hpp"
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

// The multi-tensor launchers' segment table for these segments, in device scratch (uploaded on
// the stream, so the launch that follows reads it in order), after checking every segment lies
// inside the flat buffers. *total_chunks: the launchers' total_chunks.
const kernels::OptimSegment* segment_table(const std::vector<Ops::UpdateSegment>& segments,
                                           int64_t numel, int64_t* total_chunks, const char* what) {
  thread_local std::vector<kernels::OptimSegment> host;
  host.resize(segments.size());
  for (size_t i = 0; i < segments.size(); ++i) {
    const Ops::UpdateSegment& s = segments[i];
    WIN_CHECK(s.offset >= 0 && s.numel >= 0 && s.offset + s.numel <= numel, ErrorKind::Internal,
              "cuda ", what, ": segment ", i, " [", s.offset, ", ", s.offset + s.numel,
              ") outside the flat buffers of ", numel);
    WIN_CHECK(i == 0 || s.offset >= segments[i - 1].offset + segments[i - 1].numel,
              ErrorKind::Internal, "cuda ", what, ": segment ", i,
              " overlaps or precedes the one before (the one launch would race on it)");
    host[i] = {s.offset, s.numel, s.weight_decay, 0};
  }
  *total_chunks = kernels::optim_assign_chunks(host.data(), static_cast<int64_t>(host.size()));
  const size_t bytes = host.size() * sizeof(kernels::OptimSegment);
  void* dev = cuda_detail::scratch(bytes);
  // From pageable memory: the call returns once the table is staged, so host may be reused.
  WIN_CUDA_CHECK(cudaMemcpyAsync(dev, host.data(), bytes, cudaMemcpyHostToDevice, stream()));
  return static_cast<const kernels::OptimSegment*>(dev);
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
