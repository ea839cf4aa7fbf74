// Counter-based random numbers (Philox4x32-10, Salmon et al., SC'11; the generator of Random123,
// cuRAND and PyTorch). Every draw is a pure function of (seed, stream, counter), with no state
// that advances, so dropout masks, data order and augmentation come out the same whatever the
// number of threads or MPI ranks and whatever order work is done in, and a resumed run redraws
// exactly what an uninterrupted one would have (DESIGN §7).
//
// Conventions: the stream names a purpose (dropout, augmentation, init...); the 128-bit counter
// is (hi, lo) where hi holds a per-purpose offset such as the step and lo the element or global
// sample index.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace win {

class Tensor;

using PhiloxCounter = std::array<uint32_t, 4>;
using PhiloxKey = std::array<uint32_t, 2>;

// The raw Philox4x32 bijection with 10 rounds, exactly as Random123's philox4x32_R(10, ...), so
// it can be checked against Random123's known-answer vectors.
constexpr PhiloxCounter philox4x32_10(PhiloxCounter ctr, PhiloxKey key) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // multipliers
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += kW0;
      key[1] += kW1;
    }
    const uint64_t p0 = uint64_t{kM0} * ctr[0];
    const uint64_t p1 = uint64_t{kM1} * ctr[2];
    ctr = {static_cast<uint32_t>(p1 >> 32) ^ ctr[1] ^ key[0], static_cast<uint32_t>(p1),
           static_cast<uint32_t>(p0 >> 32) ^ ctr[3] ^ key[1], static_cast<uint32_t>(p0)};
  }
  return ctr;
}

// SplitMix64's finaliser (Steele, Lea & Flood 2014): a bijection on 64 bits with good avalanche,
// used to turn (seed, stream) into well-separated keys.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

class Philox {
 public:
  // key = splitmix64(seed ^ splitmix64(stream)): for a fixed stream distinct seeds give distinct
  // keys and vice versa (splitmix64 is a bijection), and nearby seeds or streams land far apart.
  constexpr Philox(uint64_t seed, uint64_t stream) {
    const uint64_t k = splitmix64(seed ^ splitmix64(stream));
    key_ = {static_cast<uint32_t>(k), static_cast<uint32_t>(k >> 32)};
  }
  constexpr explicit Philox(PhiloxKey key) : key_(key) {}

  constexpr const PhiloxKey& key() const { return key_; }

  // Four independent 32-bit words for counter (hi, lo). Counter word order is little-endian:
  // lo fills words 0-1 and hi words 2-3.
  constexpr PhiloxCounter block(uint64_t hi, uint64_t lo) const {
    return philox4x32_10({static_cast<uint32_t>(lo), static_cast<uint32_t>(lo >> 32),
                          static_cast<uint32_t>(hi), static_cast<uint32_t>(hi >> 32)},
                         key_);
  }

  constexpr uint32_t u32(uint64_t hi, uint64_t index) const { return block(hi, index)[0]; }
  constexpr uint64_t u64(uint64_t hi, uint64_t index) const {
    const PhiloxCounter b = block(hi, index);
    return uint64_t{b[0]} | uint64_t{b[1]} << 32;
  }

  // Uniform in [0, 1) with 24 random bits: every value is exactly representable as a float.
  constexpr float uniform(uint64_t hi, uint64_t index) const {
    return static_cast<float>(u32(hi, index) >> 8) * 0x1p-24f;
  }
  // Uniform in [0, 1) with 53 random bits.
  constexpr double uniform_double(uint64_t hi, uint64_t index) const {
    return static_cast<double>(u64(hi, index) >> 11) * 0x1p-53;
  }

  // Uniform integer in [0, n), n > 0, by Lemire's multiply-shift on 64 bits: the bias is at most
  // n / 2^64, far below anything a training run could detect, and there is no rejection loop
  // (which would make the number of blocks consumed data-dependent).
  constexpr uint64_t uniform_int(uint64_t hi, uint64_t index, uint64_t n) const {
    __extension__ typedef unsigned __int128 u128;  // __extension__: no -Wpedantic warning
    return static_cast<uint64_t>((u128{u64(hi, index)} * n) >> 64);
  }

  // Standard normal by Box-Muller on two uniforms of the same block. The radius uniform is taken
  // in (0, 1] so log never sees 0; the float version is therefore bounded by about 5.8 sigma, the
  // double version by about 8.6.
  float normal(uint64_t hi, uint64_t index) const {
    const PhiloxCounter b = block(hi, index);
    const float u1 = static_cast<float>((b[0] >> 8) + 1) * 0x1p-24f;  // (0, 1]
    const float u2 = static_cast<float>(b[1] >> 8) * 0x1p-24f;        // [0, 1)
    return std::sqrt(-2.0f * std::log(u1)) * std::cos(kTwoPiF * u2);
  }
  double normal_double(uint64_t hi, uint64_t index) const {
    const PhiloxCounter b = block(hi, index);
    const uint64_t r1 = (uint64_t{b[0]} | uint64_t{b[1]} << 32) >> 11;
    const uint64_t r2 = (uint64_t{b[2]} | uint64_t{b[3]} << 32) >> 11;
    const double u1 = static_cast<double>(r1 + 1) * 0x1p-53;  // (0, 1]
    const double u2 = static_cast<double>(r2) * 0x1p-53;      // [0, 1)
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
  }

 private:
  static constexpr double kTwoPi = 6.283185307179586476925286766559;
  static constexpr float kTwoPiF = 6.28318530717958647692f;
  PhiloxKey key_{};
};

// Tensor fills for contiguous CPU f32 or f64 tensors (anything else is an Internal error).
// Element i (row-major) gets the draw at counter (hi_counter, i), so a fill equals the scalar
// helpers above element by element, and is bit-identical for any thread count.
// fill_uniform: values in [lo, hi) (rounding is clamped so hi itself never appears, unless
// lo == hi). fill_normal: mean + std * normal.
void fill_uniform(Tensor& t, const Philox& rng, double lo, double hi, uint64_t hi_counter);
void fill_normal(Tensor& t, const Philox& rng, double mean, double std, uint64_t hi_counter);

}  // namespace win
