// The recording side of backend/op_timing.hpp: WIN_CUDA_TIMED("name") at the top of an op entry
// point times the work that op queues on the context's stream (events from a reused pool; nothing
// is recorded while timing is off, or inside another timed op).
#pragma once

#include <cuda_runtime.h>

namespace win::backend {

class ScopedOpTimer {
 public:
  explicit ScopedOpTimer(const char* name);
  ~ScopedOpTimer();
  ScopedOpTimer(const ScopedOpTimer&) = delete;
  ScopedOpTimer& operator=(const ScopedOpTimer&) = delete;

 private:
  const char* name_ = nullptr;  // null: not recording
  cudaEvent_t start_ = nullptr;
};

}  // namespace win::backend

#define WIN_CUDA_TIMED(name) const ::win::backend::ScopedOpTimer win_cuda_timed_op_(name)
