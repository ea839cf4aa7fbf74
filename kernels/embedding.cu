// Embedding gather and gradient scatters (see embedding.cuh). The reproducible scatter works on
// ids sorted with their positions: a warp per run of at most 32 equal ids sums the run in position
// order (lanes over columns), and 32 x 8 blocks take the longer runs (lanes over a 32-column tile,
// 8 interleaved row groups added in group order). Each run writes only its own row of dweight, so
// nothing races and the result does not depend on scheduling.
#include "embedding.cuh"

#include <climits>

#include <cub/device/device_radix_sort.cuh>

namespace win::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;
constexpr int kShortRun = 32;   // runs up to this length: one warp, position order
constexpr int kColTile = 32;    // long runs: columns per block
constexpr int kRowGroups = 8;   // long runs: interleaved row groups per block
constexpr size_t kAlign = 256;  // scratch sub-buffer alignment

int blocks_for(int64_t work) {
  const int64_t want = (work + kThreads - 1) / kThreads;
  return static_cast<int>(want < 1 ? 1 : (want < kMaxBlocks ? want : kMaxBlocks));
}

size_t align_up(size_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

// Bits that hold every key in [0, vocab] (vocab itself is the invalid-id sentinel).
int key_bits(int64_t vocab) {
  int bits = 1;
  while (bits < 32 && (uint64_t{1} << bits) <= static_cast<uint64_t>(vocab)) ++bits;
  return bits;
}

template <int kVec>
struct alignas(sizeof(float) * kVec) Pack {
  float v[kVec];
};

template <int kVec>
__global__ void gather_kernel(const float* weight, int64_t vocab, int64_t dim, const int32_t* ids,
                              int64_t n, float* y, int32_t* bad) {
  using P = Pack<kVec>;
  const int64_t row_packs = dim / kVec;
  const int64_t total = n * row_packs;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < total;
       v += stride) {
    const int64_t i = v / row_packs, j = v % row_packs;
    const int32_t id = ids[i];
    P out;
    if (id >= 0 && id < vocab) {
      out = reinterpret_cast<const P*>(weight + id * dim)[j];
    } else {
#pragma unroll
      for (int k = 0; k < kVec; ++k) out.v[k] = 0.0f;
      if (j == 0 && bad != nullptr) atomicMin(bad, static_cast<int32_t>(i));
    }
    reinterpret_cast<P*>(y + i * dim)[j] = out;
  }
}

__global__ void scatter_atomic_kernel(const float* dy, const int32_t* ids, int64_t n, int64_t dim,
                                      float* dweight, int64_t vocab, int32_t* bad) {
  const int64_t total = n * dim;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += stride) {
    const int64_t i = e / dim, j = e % dim;
    const int32_t id = ids[i];
    if (id >= 0 && id < vocab)
      atomicAdd(dweight + id * dim + j, dy[e]);
    else if (j == 0 && bad != nullptr)
      atomicMin(bad, static_cast<int32_t>(i));
  }
}

// keys[i] = ids[i] when valid, else the sentinel vocab (reported through bad); pos[i] = i.
__global__ void sort_prepare_kernel(const int32_t* ids, int64_t n, int64_t vocab, uint32_t* keys,
                                    int32_t* pos, int32_t* bad) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const int32_t id = ids[i];
    const bool ok = id >= 0 && id < vocab;
    if (!ok && bad != nullptr) atomicMin(bad, static_cast<int32_t>(i));
    keys[i] = ok ? static_cast<uint32_t>(id) : static_cast<uint32_t>(vocab);
    pos[i] = static_cast<int32_t>(i);
  }
}

// True when a run of equal valid ids starts at sorted index k.
__device__ __forceinline__ bool run_starts(const int32_t* sorted, int64_t k, int64_t vocab,
                                           int32_t key) {
  return key < vocab && (k == 0 || sorted[k - 1] != key);
}

// True when the run of key starting at k is longer than kShortRun (the array is sorted, so
// checking one element kShortRun ahead suffices).
__device__ __forceinline__ bool run_is_long(const int32_t* sorted, int64_t k, int64_t n,
                                            int32_t key) {
  return k + kShortRun < n && sorted[k + kShortRun] == key;
}

// One warp per sorted index k; the warps at the start of a short run sum it in position order.
__global__ void scatter_short_runs_kernel(const float* dy, const int32_t* sorted,
                                          const int32_t* pos, int64_t n, int64_t dim,
                                          float* dweight, int64_t vocab) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t k = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; k < n;
       k += warps) {
    const int32_t key = sorted[k];
    if (!run_starts(sorted, k, vocab, key) || run_is_long(sorted, k, n, key)) continue;
    const bool mine = k + lane < n && sorted[k + lane] == key;  // a prefix of the lanes
    const int len = __popc(__ballot_sync(0xffffffffu, mine));
    const int32_t my_pos = mine ? pos[k + lane] : 0;
    float* row = dweight + static_cast<int64_t>(key) * dim;
    for (int64_t c0 = 0; c0 < dim; c0 += 32) {
      const int64_t c = c0 + lane;
      double acc = 0.0;
      for (int m = 0; m < len; ++m) {
        const int64_t p = __shfl_sync(0xffffffffu, my_pos, m);
        if (c < dim) acc += static_cast<double>(dy[p * dim + c]);
      }
      if (c < dim) row[c] = static_cast<float>(static_cast<double>(row[c]) + acc);
    }
  }
}

// Blocks of kColTile x kRowGroups threads; blockIdx.y picks the column tile. Each block scans
// chunks of 256 sorted indices for starts of long runs and sums each such run: row group g takes
// rows k + g, k + g + 8, ...; the group sums are added in group order.
__global__ void scatter_long_runs_kernel(const float* dy, const int32_t* sorted, const int32_t* pos,
                                         int64_t n, int64_t dim, float* dweight, int64_t vocab) {
  constexpr int kBlock = kColTile * kRowGroups;
  __shared__ int64_t starts[kBlock];
  __shared__ int count;
  __shared__ double sums[kRowGroups][kColTile];
  const int tid = threadIdx.y * kColTile + threadIdx.x;
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kColTile + threadIdx.x;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * kBlock; base < n;
       base += static_cast<int64_t>(gridDim.x) * kBlock) {
    if (tid == 0) count = 0;
    __syncthreads();
    const int64_t k = base + tid;
    if (k < n) {
      const int32_t key = sorted[k];
      if (run_starts(sorted, k, vocab, key) && run_is_long(sorted, k, n, key))
        starts[atomicAdd(&count, 1)] = k;  // list order is irrelevant: runs are independent
    }
    __syncthreads();
    const int found = count;
    __syncthreads();  // everyone has read count before thread 0 resets it
    for (int s = 0; s < found; ++s) {
      const int64_t k0 = starts[s];
      const int32_t key = sorted[k0];
      // The run's end: [k0, e) all equal key. Sorted, so matches form a prefix of each probe.
      int64_t e = k0 + kShortRun + 1;
      for (;;) {
        const int64_t p = e + tid;
        const int cnt = __syncthreads_count(p < n && sorted[p] == key);
        e += cnt;
        if (cnt < kBlock) break;
      }
      double acc = 0.0;
      if (c < dim) {
#pragma unroll 4
        for (int64_t m = k0 + threadIdx.y; m < e; m += kRowGroups)
          acc += static_cast<double>(dy[static_cast<int64_t>(pos[m]) * dim + c]);
      }
      sums[threadIdx.y][threadIdx.x] = acc;
      __syncthreads();
      if (threadIdx.y == 0 && c < dim) {
        double total = 0.0;
#pragma unroll
        for (int g = 0; g < kRowGroups; ++g) total += sums[g][threadIdx.x];
        float* w = dweight + static_cast<int64_t>(key) * dim + c;
        *w = static_cast<float>(static_cast<double>(*w) + total);
      }
      __syncthreads();
    }
  }
}

}  // namespace

cudaError_t launch_embedding_f32(const float* weight, int64_t vocab, int64_t dim,
                                 const int32_t* ids, int64_t n, float* y, int32_t* bad,
                                 cudaStream_t stream) {
  if (n > INT32_MAX || vocab >= INT32_MAX) return cudaErrorInvalidValue;
  if (n <= 0 || dim <= 0) return cudaSuccess;
  if (dim % 4 == 0 && aligned16(weight) && aligned16(y))
    gather_kernel<4>
        <<<blocks_for(n * dim / 4), kThreads, 0, stream>>>(weight, vocab, dim, ids, n, y, bad);
  else
    gather_kernel<1>
        <<<blocks_for(n * dim), kThreads, 0, stream>>>(weight, vocab, dim, ids, n, y, bad);
  return cudaGetLastError();
}

cudaError_t launch_embedding_backward_atomic_f32(const float* dy, const int32_t* ids, int64_t n,
                                                 int64_t dim, float* dweight, int64_t vocab,
                                                 int32_t* bad, cudaStream_t stream) {
  if (n > INT32_MAX || vocab >= INT32_MAX) return cudaErrorInvalidValue;
  if (n <= 0 || dim <= 0) return cudaSuccess;
  scatter_atomic_kernel<<<blocks_for(n * dim), kThreads, 0, stream>>>(dy, ids, n, dim, dweight,
                                                                      vocab, bad);
  return cudaGetLastError();
}

cudaError_t embedding_sort_scratch_bytes(int64_t n, int64_t vocab, size_t* bytes) {
  if (n > INT32_MAX || vocab >= INT32_MAX || vocab < 0) return cudaErrorInvalidValue;
  const int items = static_cast<int>(n < 0 ? 0 : n);
  size_t cub_bytes = 0;
  const cudaError_t e = cub::DeviceRadixSort::SortPairs(
      nullptr, cub_bytes, static_cast<const uint32_t*>(nullptr), static_cast<uint32_t*>(nullptr),
      static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), items, 0,
      key_bits(vocab));
  if (e != cudaSuccess) return e;
  const size_t array = align_up(static_cast<size_t>(items) * sizeof(uint32_t));
  *bytes = 2 * array + cub_bytes;
  return cudaSuccess;
}

cudaError_t launch_embedding_sort_ids(const int32_t* ids, int64_t n, int64_t vocab,
                                      int32_t* sorted_ids, int32_t* sorted_pos, void* scratch,
                                      size_t scratch_bytes, int32_t* bad, cudaStream_t stream) {
  if (n > INT32_MAX || vocab >= INT32_MAX || vocab < 0) return cudaErrorInvalidValue;
  if (n <= 0) return cudaSuccess;
  const int items = static_cast<int>(n);
  const size_t array = align_up(static_cast<size_t>(items) * sizeof(uint32_t));
  if (scratch == nullptr || scratch_bytes < 2 * array) return cudaErrorInvalidValue;
  char* base = static_cast<char*>(scratch);
  uint32_t* keys_in = reinterpret_cast<uint32_t*>(base);
  int32_t* pos_in = reinterpret_cast<int32_t*>(base + array);
  void* cub_tmp = base + 2 * array;
  size_t cub_bytes = scratch_bytes - 2 * array;
  sort_prepare_kernel<<<blocks_for(n), kThreads, 0, stream>>>(ids, n, vocab, keys_in, pos_in, bad);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  // Valid ids and the sentinel are non-negative, so u32 keys sort them as i32 would.
  e = cub::DeviceRadixSort::SortPairs(cub_tmp, cub_bytes, keys_in,
                                      reinterpret_cast<uint32_t*>(sorted_ids), pos_in, sorted_pos,
                                      items, 0, key_bits(vocab), stream);
  if (e != cudaSuccess) return e;
  return cudaGetLastError();
}

cudaError_t launch_embedding_backward_sorted_f32(const float* dy, const int32_t* sorted_ids,
                                                 const int32_t* sorted_pos, int64_t n, int64_t dim,
                                                 float* dweight, int64_t vocab,
                                                 cudaStream_t stream) {
  if (n > INT32_MAX || vocab >= INT32_MAX) return cudaErrorInvalidValue;
  if (n <= 0 || dim <= 0) return cudaSuccess;
  const int64_t col_tiles = (dim + kColTile - 1) / kColTile;
  if (col_tiles > 65535) return cudaErrorInvalidValue;
  // Short runs: a warp per sorted index (8 per block).
  scatter_short_runs_kernel<<<blocks_for(n * 32), kThreads, 0, stream>>>(dy, sorted_ids, sorted_pos,
                                                                         n, dim, dweight, vocab);
  // Long runs: chunks of 256 sorted indices per block row, column tiles over blockIdx.y.
  const int64_t chunks = (n + kColTile * kRowGroups - 1) / (kColTile * kRowGroups);
  const dim3 grid(static_cast<unsigned>(chunks < 1024 ? chunks : 1024),
                  static_cast<unsigned>(col_tiles));
  scatter_long_runs_kernel<<<grid, dim3(kColTile, kRowGroups), 0, stream>>>(
      dy, sorted_ids, sorted_pos, n, dim, dweight, vocab);
  return cudaGetLastError();
}

}  // namespace win::kernels
