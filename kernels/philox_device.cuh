// Philox4x32-10 and the dropout keep decision for device code, usable from host C++ as well.
// Why a second copy of core/rng.hpp: that header is C++20 host code (std::array, __int128,
// <cmath>) and the kernels compile as C++17 device code. These functions re-implement exactly the
// same rounds, key derivation (splitmix64(seed ^ splitmix64(stream))) and counter layout (lo
// fills words 0-1, hi words 2-3) and the same dropout rule as backend/ref/embedding_dropout.cpp,
// so GPU dropout masks equal CPU masks bit for bit. They are WIN_HD (__host__ __device__ under
// nvcc, plain inline functions under a C++ compiler), so tests/cuda/test_philox_device.cpp checks
// them against core/rng.hpp on a machine without a GPU.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define WIN_HD __host__ __device__ __forceinline__
#else
#define WIN_HD inline
#endif

namespace win::kernels::philox {

// Four 32-bit words: a Philox counter or output block.
struct Block {
  uint32_t w[4];
};

// A Philox key: two 32-bit words.
struct Key {
  uint32_t k[2];
};

constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // round multipliers
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments

// High and low 32 bits of a * b.
WIN_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
#if defined(__CUDA_ARCH__)
  hi = __umulhi(a, b);
  lo = a * b;
#else
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
#endif
}

// The raw Philox4x32 bijection with 10 rounds: win::philox4x32_10 in core/rng.hpp.
WIN_HD Block philox4x32_10(Block ctr, Key key) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key.k[0] += kW0;
      key.k[1] += kW1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kM0, ctr.w[0], hi0, lo0);
    mulhilo(kM1, ctr.w[2], hi1, lo1);
    const Block next = {{hi1 ^ ctr.w[1] ^ key.k[0], lo1, hi0 ^ ctr.w[3] ^ key.k[1], lo0}};
    ctr = next;
  }
  return ctr;
}

// SplitMix64's finaliser: win::splitmix64 in core/rng.hpp.
WIN_HD uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The key of win::Philox(seed, stream): splitmix64(seed ^ splitmix64(stream)), low word first.
WIN_HD Key make_key(uint64_t seed, uint64_t stream) {
  const uint64_t k = splitmix64(seed ^ splitmix64(stream));
  return Key{{static_cast<uint32_t>(k), static_cast<uint32_t>(k >> 32)}};
}

// win::Philox::block(hi, lo): lo fills counter words 0-1, hi words 2-3.
WIN_HD Block block(Key key, uint64_t hi, uint64_t lo) {
  const Block ctr = {{static_cast<uint32_t>(lo), static_cast<uint32_t>(lo >> 32),
                      static_cast<uint32_t>(hi), static_cast<uint32_t>(hi >> 32)}};
  return philox4x32_10(ctr, key);
}

// ---- dropout (the rule of RefOps::dropout) ------------------------------------------------------

// keep_below for drop probability p in [0, 1): llround((1 - p) * 2^24), computed on the host
// exactly as RefOps::dropout does (host only: std::llround).
inline uint32_t dropout_keep_below(double p) {
  return static_cast<uint32_t>(std::llround((1.0 - p) * 16777216.0));
}

// Element e (its global position lo_offset + i) is kept when the 24-bit uniform taken from word
// e % 4 of block (hi_counter, e / 4) is below keep_below.
WIN_HD bool dropout_keep_word(uint32_t word, uint32_t keep_below) {
  return (word >> 8) < keep_below;
}
WIN_HD bool dropout_keep(Key key, uint64_t hi_counter, uint64_t e, uint32_t keep_below) {
  const Block b = block(key, hi_counter, e >> 2);
  return dropout_keep_word(b.w[e & 3], keep_below);
}

// The kept value of x: x * (1 / (1 - p)) in double, rounded once to float, as the CPU does
// (inv_keep = 1.0 / (1.0 - p) computed on the host).
WIN_HD float dropout_value(float x, bool keep, double inv_keep) {
  return keep ? static_cast<float>(static_cast<double>(x) * inv_keep) : 0.0f;
}

}  // namespace win::kernels::philox
