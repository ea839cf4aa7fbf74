// Losses on the GPU: the CUDA backend's cross_entropy, mse and kl_div (backend/ops.hpp, with the
// semantics of backend/ref/loss.cpp). Each overwrites the gradient w.r.t. its first input, already
// divided by the count it averages over and multiplied by grad_scale, and leaves its loss in
// device memory, so a training step never waits for the host. Loss sums are deterministic: rows
// (or elements) are dealt to a number of blocks fixed by the problem size alone (at most
// kLossMaxPartials), each block adds its share in a fixed order into one partial, and a final
// single-block pass adds the partials in a fixed order: the same bits on any GPU and any run.
// Math is fp32 per element, sums of losses in double.
//
// Every launcher is asynchronous on `stream` and returns cudaGetLastError() after its launches.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace win::kernels {

// Partials scratch of every loss launcher holds this many entries (of the launcher's type).
inline constexpr int kLossMaxPartials = 1024;

// What cross_entropy leaves in device memory; the mean loss is loss_sum / counted (0 when
// counted == 0, as the CPU op returns).
struct CeDeviceResult {
  double loss_sum;  // sum over counted rows of logsumexp(row) - row[label]
  int64_t counted;  // rows whose label is not ignore_index (and is in range)
  int64_t correct;  // counted rows whose first maximum (torch.argmax) is at the label
};

// Softmax cross-entropy of logits against labels, in three launches on `stream`:
//   1. per row: max, first argmax, sum of exp(x - max); loss of counted rows; block partials;
//   2. one block adds the partials into *result;
//   3. dlogits = (softmax(x) - onehot(label)) * grad_scale / counted, reading counted from
//      *result on the device (no host sync); rows with label == ignore_index (or out of range)
//      get zeros, and all of dlogits is zero when counted == 0.
// A label outside [0, c) that is not ignore_index is a data error: the kernel atomicMin's its
// row into *bad (the caller sets *bad = INT32_MAX first and reports the row if it changed); the
// row is then left out of counted, the loss and the gradient.
// row_loss (n) receives each row's loss (0 for rows not counted); it may be nullptr.
// row_stats (n, 2) float scratch: per row max and sum of exp(x - max), from launch 1 to launch 3.
// partials: kLossMaxPartials entries of scratch.
// logits, dlogits (n, c) contiguous; labels (n) i32; dlogits may not alias logits.
[[nodiscard]] cudaError_t launch_cross_entropy_f32(const float* logits, const int32_t* labels,
                                                   int64_t n, int64_t c, int64_t ignore_index,
                                                   double grad_scale, float* dlogits,
                                                   float* row_loss, float* row_stats,
                                                   CeDeviceResult* partials, CeDeviceResult* result,
                                                   int32_t* bad, cudaStream_t stream);
// bf16 logits and dlogits, fp32 math.
[[nodiscard]] cudaError_t launch_cross_entropy_bf16(
    const __nv_bfloat16* logits, const int32_t* labels, int64_t n, int64_t c, int64_t ignore_index,
    double grad_scale, __nv_bfloat16* dlogits, float* row_loss, float* row_stats,
    CeDeviceResult* partials, CeDeviceResult* result, int32_t* bad, cudaStream_t stream);

// Mean squared error: *loss = mean((x - target)^2) (double; 0 when n == 0) and
// dx = 2 (x - target) / n * grad_scale (overwrites; may alias x or target).
// partials: kLossMaxPartials doubles of scratch.  // x, target, dx (n)
[[nodiscard]] cudaError_t launch_mse_f32(const float* x, const float* target, int64_t n,
                                         double grad_scale, float* dx, double* partials,
                                         double* loss, cudaStream_t stream);

// Hinton KD with temperature T: per row KL(p || q), p = softmax(teacher / T), q =
// softmax(student / T); *loss = T^2 * mean over rows (double; 0 when n == 0) and
// dstudent = grad_scale * T / n * (q - p) (overwrites; may not alias the inputs).
// partials: kLossMaxPartials doubles of scratch.  // student, teacher, dstudent (n, c)
[[nodiscard]] cudaError_t launch_kl_div_f32(const float* student, const float* teacher, int64_t n,
                                            int64_t c, double temperature, double grad_scale,
                                            float* dstudent, double* partials, double* loss,
                                            cudaStream_t stream);

}  // namespace win::kernels
