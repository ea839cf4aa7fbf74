// Embedding lookup and its gradient scatter on the GPU (Ops::embedding / embedding_backward).
// Ids are i32; an id outside [0, vocab) is never read: the kernels record the smallest offending
// position in a device int32 *bad through atomicMin (the caller sets *bad = INT32_MAX before,
// checks it after synchronising, and raises the data error naming that position, as the CPU
// does). bad may be nullptr (invalid ids are then skipped silently).
//
// Two gradient scatters:
//   - launch_embedding_backward_atomic_f32: float atomicAdd per element. Fast, NOT reproducible
//     (the order in which rows of one id are added varies run to run).
//   - launch_embedding_sort_ids + launch_embedding_backward_sorted_f32: REPRODUCIBLE. Ids are
//     radix-sorted (stable, cub::DeviceRadixSort) with their positions, then each run of equal ids
//     is summed in double in a fixed order and added once to its row of dweight. Runs of up to 32
//     ids are summed in position order (as the CPU reference, bit-identical to it); longer runs
//     (a frequent token, a tiny vocabulary such as token types) are split over 8 interleaved row
//     groups whose sums are added in group order.
// Every launcher enqueues on `stream` and returns cudaGetLastError() (launch errors; execution
// errors surface at the next synchronisation). Limits: n <= INT32_MAX, vocab < INT32_MAX.
#pragma once

#include <cuda_runtime.h>
#include <cstddef>
#include <cstdint>

namespace win::kernels {

// y[i, :] = weight[ids[i], :]; rows of invalid ids are written as zeros. Overwrites y.
// weight (vocab, dim), ids (n), y (n, dim), bad (1) or nullptr
[[nodiscard]] cudaError_t launch_embedding_f32(const float* weight, int64_t vocab, int64_t dim,
                                               const int32_t* ids, int64_t n, float* y,
                                               int32_t* bad, cudaStream_t stream);

// dweight[ids[i], :] += dy[i, :] with float atomics (accumulates; NOT reproducible); invalid ids
// are skipped. dy (n, dim), ids (n), dweight (vocab, dim), bad (1) or nullptr
[[nodiscard]] cudaError_t launch_embedding_backward_atomic_f32(const float* dy, const int32_t* ids,
                                                               int64_t n, int64_t dim,
                                                               float* dweight, int64_t vocab,
                                                               int32_t* bad, cudaStream_t stream);

// Bytes of device scratch launch_embedding_sort_ids needs for n ids and this vocabulary (two
// arrays of n int32 plus CUB's temporary storage). Asks CUB, which queries the current device, so
// it needs a usable GPU; returns CUB's error otherwise.
[[nodiscard]] cudaError_t embedding_sort_scratch_bytes(int64_t n, int64_t vocab, size_t* bytes);

// Sorts ids ascending with their positions, stably (equal ids stay in position order): after it,
// sorted_ids[k] = ids[sorted_pos[k]]. Invalid ids become the sentinel vocab (sorted last, skipped
// by launch_embedding_backward_sorted_f32) and are reported through bad.
// ids (n), sorted_ids (n), sorted_pos (n), scratch (embedding_sort_scratch_bytes), bad (1) or null
[[nodiscard]] cudaError_t launch_embedding_sort_ids(const int32_t* ids, int64_t n, int64_t vocab,
                                                    int32_t* sorted_ids, int32_t* sorted_pos,
                                                    void* scratch, size_t scratch_bytes,
                                                    int32_t* bad, cudaStream_t stream);

// dweight[id, :] += sum of dy[p, :] over the positions p of id (accumulates; reproducible), from
// the output of launch_embedding_sort_ids on the same ids.
// dy (n, dim), sorted_ids (n), sorted_pos (n), dweight (vocab, dim)
[[nodiscard]] cudaError_t launch_embedding_backward_sorted_f32(const float* dy,
                                                               const int32_t* sorted_ids,
                                                               const int32_t* sorted_pos, int64_t n,
                                                               int64_t dim, float* dweight,
                                                               int64_t vocab, cudaStream_t stream);

}  // namespace win::kernels
