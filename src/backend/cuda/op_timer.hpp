// The recording side of backend/op_timing.hpp: WIN_CUDA_TIMED("name") at the top of an op entry
// point times the work that op queues on the context's stream (events from a reused pool; nothing
// is recorded while timing is off, or inside another timed op).
#pragma once

#include <cuda_runtime.h>

namespace win::backend {

class ScopedOpTimer {
 public:
  // name and detail (may be null) must outlive the timing records: literals or op_label().
  explicit ScopedOpTimer(const char* name, const char* detail = nullptr);
  ~ScopedOpTimer();
  ScopedOpTimer(const ScopedOpTimer&) = delete;
  ScopedOpTimer& operator=(const ScopedOpTimer&) = delete;

 private:
  const char* name_ = nullptr;  // null: not recording
  const char* detail_ = nullptr;
  cudaEvent_t start_ = nullptr;
};

}  // namespace win::backend

#define WIN_CUDA_TIMED(name) const ::win::backend::ScopedOpTimer win_cuda_timed_op_(name)
#define WIN_CUDA_TIMED_DETAIL(name, detail) \
  const ::win::backend::ScopedOpTimer win_cuda_timed_op_(name, detail)
