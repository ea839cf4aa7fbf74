// Element types and devices of tensors. bf16 is stored as the top 16 bits of an IEEE float and
// converted with round-to-nearest-even, matching PyTorch and CUDA's __float2bfloat16.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace win {

enum class DType : uint8_t { F32, F64, BF16, I32, I8, U8 };
enum class Device : uint8_t { CPU, CUDA };

struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  explicit bf16(float f) : bits(from_float(f)) {}
  explicit operator float() const { return to_float(bits); }

  static uint16_t from_float(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
      return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);                    // round to nearest, ties to even
    return static_cast<uint16_t>(u >> 16);
  }
  static float to_float(uint16_t b) {
    uint32_t u = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::F64:
      return 8;
    case DType::BF16:
      return 2;
    case DType::I32:
      return 4;
    case DType::I8:
      return 1;
    case DType::U8:
      return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
    case DType::F64:
      return "f64";
    case DType::BF16:
      return "bf16";
    case DType::I32:
      return "i32";
    case DType::I8:
      return "i8";
    case DType::U8:
      return "u8";
  }
  return "?";
}

constexpr bool dtype_is_float(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::BF16;
}

constexpr std::string_view device_name(Device d) {
  return d == Device::CPU ? "cpu" : "cuda";
}

template <class T>
struct dtype_of_t;
template <>
struct dtype_of_t<float> {
  static constexpr DType value = DType::F32;
};
template <>
struct dtype_of_t<double> {
  static constexpr DType value = DType::F64;
};
template <>
struct dtype_of_t<bf16> {
  static constexpr DType value = DType::BF16;
};
template <>
struct dtype_of_t<int32_t> {
  static constexpr DType value = DType::I32;
};
template <>
struct dtype_of_t<int8_t> {
  static constexpr DType value = DType::I8;
};
template <>
struct dtype_of_t<uint8_t> {
  static constexpr DType value = DType::U8;
};
template <class T>
constexpr DType dtype_of = dtype_of_t<T>::value;

// Calls f(T{}) with T the C++ type of dtype t; lets type-generic code be written once.
template <class F>
decltype(auto) dispatch_dtype(DType t, F&& f) {
  switch (t) {
    case DType::F32:
      return f(float{});
    case DType::F64:
      return f(double{});
    case DType::BF16:
      return f(bf16{});
    case DType::I32:
      return f(int32_t{});
    case DType::I8:
      return f(int8_t{});
    case DType::U8:
      return f(uint8_t{});
  }
  return f(float{});
}

}  // namespace win
