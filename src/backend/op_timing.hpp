// Where GPU time goes: per-op timings of the CUDA backend, for `win bench --device cuda
// --profile`. When on, each op entry point of CudaOps (and of its convolution, batch-norm,
// pooling, linear, softmax and layer-norm objects) records a pair of CUDA events around the work
// it queues; take_op_timings() waits for the device and sums the elapsed times per op name.
// Outermost ops only (an op that calls another counts once), so the rows add up to the GPU time
// the ops account for; the rest of a step is host time, synchronisations and idle GPU. Off by
// default, and then an entry point costs one branch. On builds without CUDA it is always empty.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace win::backend {

struct OpTiming {
  std::string name;  // "conv2d.backward_filter", "gemm", ...
  int64_t calls = 0;
  double ms = 0;  // summed GPU time
};

void set_op_timing(bool on);
bool op_timing_on();
// Waits for the queued work, returns the sums since the last call (largest first) and clears.
// `detailed` (when given) gets the same per op and detail, for the ops that name one (a
// convolution's shape and algorithm): "conv2d.backward_data 3x3/1 64->64 56x56 ...".
std::vector<OpTiming> take_op_timings(std::vector<OpTiming>* detailed = nullptr);

// A copy of s that lives as long as the process (timer labels must outlive the records).
const char* op_label(const std::string& s);

}  // namespace win::backend
