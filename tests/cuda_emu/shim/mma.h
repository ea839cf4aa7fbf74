// CPU stand-in for the warp matrix functions of <mma.h> (nvcuda::wmma) that kernels/*.cu use: bf16
// 16 x 16 x 16 tiles with fp32 accumulation, for test_cuda_emu (see cuda_runtime.h here).
//
// On a GPU a fragment is spread over the warp's 32 lanes in an unspecified layout; kernels may
// only touch its elements uniformly (x[i] for every i < num_elements). Here every lane holds the
// whole tile, which is exactly as good for such kernels and needs no exchange between lanes:
// loads read the whole tile in each lane, mma_sync multiplies in each lane. A store writes
// each element from one lane only (element e from lane e % 32), so a lane that reads back
// what another lane stored before a __syncwarp reads stale or poisoned memory here, as it may on
// a GPU. The rules the hardware imposes and faults or misbehaves on are checked and end the test
// with a message: a pointer not 32-byte aligned, or a leading dimension not a multiple of
// 16 bytes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include "cuda_bf16.h"
#include "cuda_runtime.h"

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the stand-in has 16 x 16 x 16 tiles only");
  static constexpr int num_elements = 256;  // the whole tile, row-major, in every lane
  T x[num_elements];
};

namespace detail {

inline void require(bool ok, const char* what, const void* ptr, unsigned ldm) {
  if (ok) return;
  std::fprintf(stderr, "wmma stand-in: %s (pointer %p, ldm %u)\n", what, ptr, ldm);
  std::abort();
}

template <class T>
void check_operand(const T* ptr, unsigned ldm) {
  require(reinterpret_cast<uintptr_t>(ptr) % 32 == 0, "pointer not 32-byte aligned", ptr, ldm);
  require((ldm * sizeof(T)) % 16 == 0, "leading dimension not a multiple of 16 bytes", ptr, ldm);
}

inline float widen(float v) {
  return v;
}
inline float widen(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

}  // namespace detail

template <class Use, class T, class Layout>
void fill_fragment(fragment<Use, 16, 16, 16, T, Layout>& f, T v) {
  for (T& e : f.x) e = v;
}

// matrix_a / matrix_b: element (r, c) of the tile at ptr[r * ldm + c] (row_major) or
// ptr[c * ldm + r] (col_major).
template <class Use, class T, class Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout>& f, const T* ptr, unsigned ldm) {
  detail::check_operand(ptr, ldm);
  constexpr bool row = std::is_same_v<Layout, row_major>;
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) f.x[r * 16 + c] = row ? ptr[r * ldm + c] : ptr[c * ldm + r];
}

// The accumulator, laid out as `layout` says.
inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& f, const float* ptr,
                             unsigned ldm, layout_t layout) {
  detail::check_operand(ptr, ldm);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c)
      f.x[r * 16 + c] = layout == mem_row_major ? ptr[r * ldm + c] : ptr[c * ldm + r];
}

inline void store_matrix_sync(float* ptr, const fragment<accumulator, 16, 16, 16, float>& f,
                              unsigned ldm, layout_t layout) {
  detail::check_operand(ptr, ldm);
  const unsigned lane = emu::flat_thread() % 32;
  for (unsigned e = lane; e < 256; e += 32) {
    const unsigned r = e / 16, c = e % 16;
    (layout == mem_row_major ? ptr[r * ldm + c] : ptr[c * ldm + r]) = f.x[e];
  }
}

// d = a b + c, products exact in fp32 (bf16 x bf16) and summed in fp32 in k order.
template <class T, class LayoutA, class LayoutB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d,
              const fragment<matrix_a, 16, 16, 16, T, LayoutA>& a,
              const fragment<matrix_b, 16, 16, 16, T, LayoutB>& b,
              const fragment<accumulator, 16, 16, 16, float>& c) {
  float out[256];
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 16; ++n) {
      float acc = c.x[r * 16 + n];
      for (int k = 0; k < 16; ++k)
        acc += detail::widen(a.x[r * 16 + k]) * detail::widen(b.x[k * 16 + n]);
      out[r * 16 + n] = acc;
    }
  for (int e = 0; e < 256; ++e) d.x[e] = out[e];
}

}  // namespace nvcuda::wmma
