// TF32 rounding of an fp32 value (10 mantissa bits, nearest even), as tensor cores see an fp32
// operand: shared by the cuBLASLt and cuDNN stand-ins.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace emu {

inline float round_to_tf32(float v) {
  if (std::isnan(v)) return v;
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u += 0xfffu + ((u >> 13) & 1u);
  u &= ~0x1fffu;
  std::memcpy(&v, &u, 4);
  return v;
}

}  // namespace emu
