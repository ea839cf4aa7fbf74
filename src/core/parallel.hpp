// Thread-level parallelism for CPU loops. win uses OpenMP rather than its own pool because Debian's
// oneDNN is built with the OpenMP runtime: sharing that one pool means win's loops and oneDNN's
// primitives never oversubscribe the cores, and one thread count (set_num_threads) governs both.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace win {

// Threads that the next parallel region will use.
inline int num_threads() {
  return omp_get_max_threads();
}

// n <= 0 means every core the process may run on (the default of DESIGN §10: all cores used).
// oneDNN follows automatically because it runs on the same OpenMP runtime.
inline void set_num_threads(int n) {
  omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
}

// Calls f(begin, end) over [0, n) in chunks of `grain` indices (the last may be shorter), in
// parallel when there is more than one chunk. Chunk boundaries depend only on n and grain, never
// on the thread count, so code that is a pure function of the index stays bit-reproducible.
// f must not throw: an exception cannot leave an OpenMP region (it would call std::terminate).
template <class F>
void parallel_for(int64_t n, int64_t grain, F f) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  // One chunk, one thread, or already inside a parallel region: run the same chunks serially.
  if (chunks == 1 || omp_get_max_threads() == 1 || omp_in_parallel()) {
    for (int64_t begin = 0; begin < n; begin += grain) f(begin, std::min(n, begin + grain));
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * grain;
    f(begin, std::min(n, begin + grain));
  }
}

}  // namespace win
