// Strided tensor copy (see strided_copy.cuh). The host side normalises the layout first: drops
// size-1 dimensions, orders the rest by dst stride (dst's fastest-moving dimension last) and
// merges neighbours that are contiguous in both tensors, so most copies end as one memcpy, a
// batch of 2-d transposes through shared memory, or a short element walk over dst in memory order.
#include "strided_copy.cuh"

#include <algorithm>

namespace win::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;
constexpr int kTile = 32;     // transpose tile edge
constexpr int kTileRows = 8;  // threadIdx.y extent of a tile block (32 x 8 = 256 threads)

int blocks_for(int64_t work) {
  const int64_t want = (work + kThreads - 1) / kThreads;
  return static_cast<int>(want < 1 ? 1 : (want < kMaxBlocks ? want : kMaxBlocks));
}

int64_t iabs(int64_t v) {
  return v < 0 ? -v : v;
}

// Up to 4 dimensions in dst memory order: dim 3 moves fastest in dst. Unused leading dims have
// size 1.
struct Walk {
  int64_t size[4];
  int64_t ss[4];
  int64_t ds[4];
};

// Element copy: flat index i enumerates w in row-major order over size[], i.e. dst memory order.
template <class T>
__global__ void walk_copy_kernel(const T* src, T* dst, Walk w, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    int64_t rest = i, so = 0, dof = 0;
#pragma unroll
    for (int d = 3; d >= 0; --d) {
      const int64_t idx = rest % w.size[d];
      rest /= w.size[d];
      so += idx * w.ss[d];
      dof += idx * w.ds[d];
    }
    dst[dof] = src[so];
  }
}

// A batch (n1 x n2) of (na x nb) transposes: dimension a moves fastest in dst, b fastest in src.
struct Tiles {
  int64_t na, nb, n1, n2;
  int64_t ssa, ssb, ss1, ss2;
  int64_t dsa, dsb, ds1, ds2;
  int64_t tiles_a, tiles_b, total;
};

template <class T>
__global__ void tile_copy_kernel(const T* src, T* dst, Tiles t) {
  __shared__ T tile[kTile][kTile + 1];  // +1: no bank conflicts on the transposed read
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t q = blockIdx.x; q < t.total; q += gridDim.x) {
    const int64_t ta = q % t.tiles_a;
    const int64_t tb = (q / t.tiles_a) % t.tiles_b;
    const int64_t o = q / (t.tiles_a * t.tiles_b);
    const int64_t i1 = o / t.n2, i2 = o % t.n2;
    const int64_t sbase = i1 * t.ss1 + i2 * t.ss2, dbase = i1 * t.ds1 + i2 * t.ds2;
    const int64_t a0 = ta * kTile, b0 = tb * kTile;
    // Read: consecutive threads walk b, src's fastest dimension.
    for (int r = ty; r < kTile; r += kTileRows) {
      const int64_t ia = a0 + r, ib = b0 + tx;
      if (ia < t.na && ib < t.nb) tile[r][tx] = src[sbase + ia * t.ssa + ib * t.ssb];
    }
    __syncthreads();
    // Write: consecutive threads walk a, dst's fastest dimension.
    for (int r = ty; r < kTile; r += kTileRows) {
      const int64_t ib = b0 + r, ia = a0 + tx;
      if (ia < t.na && ib < t.nb) dst[dbase + ia * t.dsa + ib * t.dsb] = tile[tx][r];
    }
    __syncthreads();
  }
}

template <class T>
cudaError_t copy_typed(const void* src_v, void* dst_v, int nd, const int64_t* size,
                       const int64_t* ss, const int64_t* ds, int64_t n, cudaStream_t stream) {
  const T* src = static_cast<const T*>(src_v);
  T* dst = static_cast<T*>(dst_v);
  // Tile path: dst's fastest dimension (last) is not src's fastest, both are long enough for
  // 32-wide tiles, and each is unit-stride on its own side.
  int b = 0;
  for (int d = 1; d < nd; ++d)
    if (iabs(ss[d]) < iabs(ss[b])) b = d;
  const int a = nd - 1;
  if (nd >= 2 && b != a && iabs(ss[b]) == 1 && iabs(ds[a]) == 1 && size[a] >= kTile / 2 &&
      size[b] >= kTile / 2) {
    int other[2] = {-1, -1};
    for (int d = 0, k = 0; d < nd; ++d)
      if (d != a && d != b) other[k++] = d;
    Tiles t{};
    t.na = size[a];
    t.nb = size[b];
    t.ssa = ss[a];
    t.ssb = ss[b];
    t.dsa = ds[a];
    t.dsb = ds[b];
    t.n1 = other[0] >= 0 ? size[other[0]] : 1;
    t.ss1 = other[0] >= 0 ? ss[other[0]] : 0;
    t.ds1 = other[0] >= 0 ? ds[other[0]] : 0;
    t.n2 = other[1] >= 0 ? size[other[1]] : 1;
    t.ss2 = other[1] >= 0 ? ss[other[1]] : 0;
    t.ds2 = other[1] >= 0 ? ds[other[1]] : 0;
    t.tiles_a = (t.na + kTile - 1) / kTile;
    t.tiles_b = (t.nb + kTile - 1) / kTile;
    t.total = t.tiles_a * t.tiles_b * t.n1 * t.n2;
    const int blocks = static_cast<int>(std::min<int64_t>(t.total, kMaxBlocks));
    tile_copy_kernel<T><<<blocks, dim3(kTile, kTileRows), 0, stream>>>(src, dst, t);
    return cudaGetLastError();
  }
  Walk w{};
  for (int d = 0; d < 4; ++d) {
    const int k = d - (4 - nd);  // right-align: the last of the nd dims becomes dim 3
    w.size[d] = k >= 0 ? size[k] : 1;
    w.ss[d] = k >= 0 ? ss[k] : 0;
    w.ds[d] = k >= 0 ? ds[k] : 0;
  }
  walk_copy_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(src, dst, w, n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_strided_copy(const void* src, void* dst, int elem_bytes, const int64_t shape[4],
                                const int64_t src_strides[4], const int64_t dst_strides[4],
                                cudaStream_t stream) {
  if (elem_bytes != 1 && elem_bytes != 2 && elem_bytes != 4 && elem_bytes != 8)
    return cudaErrorInvalidValue;
  int64_t n = 1;
  for (int d = 0; d < 4; ++d) {
    if (shape[d] < 0) return cudaErrorInvalidValue;
    n *= shape[d];
  }
  if (n == 0) return cudaSuccess;

  // The dimensions that matter (size > 1), ordered by decreasing |dst stride| (stable).
  int dims[4];
  int nd = 0;
  for (int d = 0; d < 4; ++d)
    if (shape[d] > 1) dims[nd++] = d;
  std::stable_sort(dims, dims + nd,
                   [&](int x, int y) { return iabs(dst_strides[x]) > iabs(dst_strides[y]); });
  // Merge neighbours that are contiguous in both tensors (outer stride = inner stride * size).
  int64_t size[4], ss[4], ds[4];
  int m = 0;
  for (int k = 0; k < nd; ++k) {
    const int d = dims[k];
    if (m > 0 && ss[m - 1] == src_strides[d] * shape[d] && ds[m - 1] == dst_strides[d] * shape[d]) {
      size[m - 1] *= shape[d];
      ss[m - 1] = src_strides[d];
      ds[m - 1] = dst_strides[d];
    } else {
      size[m] = shape[d];
      ss[m] = src_strides[d];
      ds[m] = dst_strides[d];
      ++m;
    }
  }
  // One dense run with the same unit stride on both sides (or a single element): a memcpy.
  if (m == 0 || (m == 1 && ss[0] == 1 && ds[0] == 1)) {
    const cudaError_t e = cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * elem_bytes,
                                          cudaMemcpyDeviceToDevice, stream);
    return e != cudaSuccess ? e : cudaGetLastError();
  }
  switch (elem_bytes) {
    case 1:
      return copy_typed<uint8_t>(src, dst, m, size, ss, ds, n, stream);
    case 2:
      return copy_typed<uint16_t>(src, dst, m, size, ss, ds, n, stream);
    case 4:
      return copy_typed<uint32_t>(src, dst, m, size, ss, ds, n, stream);
    default:
      return copy_typed<uint64_t>(src, dst, m, size, ss, ds, n, stream);
  }
}

}  // namespace win::kernels
