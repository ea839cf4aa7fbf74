// Monotonic wall-clock seconds, for step timings and throughput reports (never for results).
#pragma once

#include <chrono>

namespace win {

inline double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace win
