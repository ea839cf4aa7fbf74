// The process-wide GPU math precision and determinism (see precision.hpp).
#include "backend/precision.hpp"

#include <atomic>

#include "core/error.hpp"

namespace win::backend {

namespace {
std::atomic<Precision> g_precision{Precision::Fp32};
std::atomic<bool> g_deterministic{true};
std::atomic<bool> g_bf16_activations{false};
std::atomic<bool> g_fused_attention{true};
}  // namespace

void set_fused_attention(bool on) {
  g_fused_attention.store(on);
}

bool fused_attention() {
  return g_fused_attention.load();
}

void set_bf16_activations(bool on) {
  g_bf16_activations.store(on);
}

bool bf16_activations() {
  return g_bf16_activations.load();
}

DType activation_dtype(Device device, DType input) {
  if (device == Device::CUDA && input == DType::F32 && precision() == Precision::Bf16 &&
      bf16_activations())
    return DType::BF16;
  return input;
}

void set_deterministic(bool on) {
  g_deterministic.store(on);
}

bool deterministic() {
  return g_deterministic.load();
}

void set_precision(Precision p) {
  g_precision.store(p);
}

Precision precision() {
  return g_precision.load();
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Fp32:
      return "fp32";
    case Precision::Tf32:
      return "tf32";
    case Precision::Bf16:
      return "bf16";
  }
  return "?";
}

Precision parse_precision(const std::string& s, const std::string& what) {
  if (s == "fp32") return Precision::Fp32;
  if (s == "tf32") return Precision::Tf32;
  if (s == "bf16") return Precision::Bf16;
  WIN_FAIL(ErrorKind::Config, what, " = \"", s, "\": expected \"fp32\", \"tf32\" or \"bf16\"");
}

}  // namespace win::backend
