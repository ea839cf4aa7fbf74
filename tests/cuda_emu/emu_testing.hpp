// What test_cuda_emu's tests share: "device" buffers with guard zones on both sides (the stand-in's
// device memory is host memory, so a kernel's write out of bounds lands in a guard and is
// reported, and its read of a guard gives a NaN — 0xFF bytes — that shows in float results),
// bf16 conversions, seeded random data, and the normalised error the GPU tests use
// (‖got − want‖ / ‖want‖).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "backend/ops.hpp"
#include "core/tensor.hpp"
#include "emu_kernels.hpp"

namespace win::emu_testing {

// n elements of T at an offset of `shift` elements into an allocation with `kGuard` bytes of
// 0xFF before and after it (shift != 0 makes a misaligned buffer, for the launchers' scalar
// paths). The body starts filled with 0xFF bytes too (NaN for floats). Only a write of 0xFF bytes
// out of bounds goes unseen (the NaNs kernels compute have other bit patterns).
template <class T>
class Guarded {
 public:
  static constexpr size_t kGuard = 256;
  static constexpr unsigned char kFill = 0xFF;
  // shift is a few elements at most: a larger one is a mistake, such as Guarded<int>(1, {7}),
  // where the braces pick this constructor instead of the one taking values.
  explicit Guarded(int64_t n, int64_t shift = 0)
      : n_(checked(n, shift)),
        shift_bytes_(static_cast<size_t>(shift) * sizeof(T)),
        bytes_(2 * kGuard + shift_bytes_ + static_cast<size_t>(n) * sizeof(T)) {
    raw_ = static_cast<unsigned char*>(::operator new (bytes_, std::align_val_t{64}));
    std::memset(raw_, kFill, bytes_);
  }
  Guarded(int64_t n, const std::vector<T>& values, int64_t shift = 0) : Guarded(n, shift) {
    if (values.size() != static_cast<size_t>(n))
      throw std::invalid_argument("Guarded: " + std::to_string(values.size()) +
                                  " values for a buffer of " + std::to_string(n));
    std::memcpy(body(), values.data(), static_cast<size_t>(n) * sizeof(T));
  }
  ~Guarded() { ::operator delete (raw_, std::align_val_t{64}); }
  Guarded(const Guarded&) = delete;
  Guarded& operator=(const Guarded&) = delete;

  T* ptr() { return reinterpret_cast<T*>(body()); }
  const T* ptr() const { return reinterpret_cast<const T*>(raw_ + kGuard + shift_bytes_); }
  int64_t size() const { return n_; }
  T& operator[](int64_t i) { return ptr()[i]; }
  std::vector<T> values() const { return std::vector<T>(ptr(), ptr() + n_); }

  // Success when both guards (and the shift's padding) still hold 0xFF in every byte.
  ::testing::AssertionResult guards_intact(const std::string& name) const {
    const size_t body_begin = kGuard + shift_bytes_, body_end = body_begin + n_ * sizeof(T);
    for (size_t i = 0; i < bytes_; ++i) {
      if (i >= body_begin && i < body_end) continue;
      if (raw_[i] != kFill)
        return ::testing::AssertionFailure()
               << name << ": a write " << (i < body_begin ? "before" : "after")
               << " the buffer, at byte "
               << static_cast<int64_t>(i) - static_cast<int64_t>(body_begin);
    }
    return ::testing::AssertionSuccess();
  }

 private:
  static int64_t checked(int64_t n, int64_t shift) {
    if (n < 0 || shift < 0 || shift >= 64)
      throw std::invalid_argument("Guarded: " + std::to_string(n) + " elements at shift " +
                                  std::to_string(shift) + " (shift must be in [0, 64))");
    return n;
  }
  unsigned char* body() { return raw_ + kGuard + shift_bytes_; }
  int64_t n_;
  size_t shift_bytes_, bytes_;
  unsigned char* raw_;
};

inline float bf16_to_float(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
inline __nv_bfloat16 float_to_bf16(float v) {
  return __float2bfloat16_rn(v);
}
inline uint16_t bits(__nv_bfloat16 v) {
  return v.bits;
}

// The CPU backend: the reference the launchers are held to.
inline backend::Ops& cpu_ops() {
  return backend::ops_for(Device::CPU, DType::F32);
}

inline uint32_t float_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

// The floats of a contiguous f32 CPU tensor (the CPU backend's reference results).
inline std::vector<float> to_vector(const Tensor& t) {
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

inline std::vector<__nv_bfloat16> to_bf16(const std::vector<float>& v) {
  std::vector<__nv_bfloat16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(v[i]);
  return out;
}
inline std::vector<float> widen(const std::vector<__nv_bfloat16>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = bf16_to_float(v[i]);
  return out;
}

// The values as a kernel of storage type T (float or bf16) holds them, and as it reads them back.
template <class T>
std::vector<T> stored(const std::vector<float>& v) {
  if constexpr (std::is_same_v<T, float>)
    return v;
  else
    return to_bf16(v);
}
template <class T>
std::vector<float> as_float(const std::vector<T>& v) {
  if constexpr (std::is_same_v<T, float>)
    return v;
  else
    return widen(v);
}

// What bf16 storage keeps of v.
inline std::vector<float> bf16_rounded(const std::vector<float>& v) {
  return widen(to_bf16(v));
}

template <class T>
std::vector<float> as_float(const Guarded<T>& g) {
  return as_float<T>(g.values());
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// n normal draws (mean 0, std) from a seeded generator: the same data on every run.
inline std::vector<float> randn(int64_t n, uint64_t seed, double std = 1.0) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> d(0.0, std);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(d(g));
  return v;
}

// ‖got − want‖₂ / max(‖want‖₂, 1e-30), in double.
template <class A, class B>
double normalised_error(const A& got, const B& want) {
  if (got.size() != want.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    num += (g - w) * (g - w);
    den += w * w;
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

// A CPU tensor holding these values (the CPU backend's input for the reference).
inline Tensor host(const std::vector<float>& v, const Dims& shape) {
  return Tensor::from(v, shape);
}

}  // namespace win::emu_testing
