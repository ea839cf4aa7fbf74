// How fp32 tensors are multiplied on the GPU (run.precision, win bench --precision). Storage,
// master weights, optimizer state, normalisations, softmax and losses stay fp32 in every mode;
// only the tensor-core products change:
//   fp32  true fp32 (no TF32): the GPU agrees with the CPU backend to rounding (the parity tests)
//   tf32  TF32 tensor cores for matrix products and convolutions
//   bf16  matrix products on bf16 tensor cores (cuBLASLt's 32F_FAST_16BF: operands rounded to
//         bf16, fp32 accumulation), convolutions on TF32 (cuDNN cannot round fp32 operands to
//         bf16 itself)
// Process-wide, read when the GPU ops build a plan (the plan caches key on it). The CPU backend
// computes fp32 in every mode.
//
// bf16 activations (set_bf16_activations, win bench --bf16-activations; off by default until its
// GPU measurements are in): with bf16 precision, convolutions store their outputs in bf16 on the
// GPU, and what follows them (batch norm, pooling, the residual sums) keeps that dtype, as
// PyTorch's autocast does; parameters, their gradients, statistics and everything after global
// pooling stay fp32. Memory traffic, most of a ResNet step, halves.
#pragma once

#include <string>

#include "core/dtype.hpp"

namespace win::backend {

enum class Precision { Fp32, Tf32, Bf16 };

void set_precision(Precision p);
Precision precision();
const char* precision_name(Precision p);
// "fp32" | "tf32" | "bf16"; anything else is a config error naming `what` (the key or option).
Precision parse_precision(const std::string& s, const std::string& what);

// Sets a precision for its lifetime, then restores the previous one: the merge folds and checks
// the bridges in fp32 whatever the run's precision (rounded products would be saved in the merged
// weights and fail the exactness check).
class ScopedPrecision {
 public:
  explicit ScopedPrecision(Precision p) : previous_(precision()) { set_precision(p); }
  ~ScopedPrecision() { set_precision(previous_); }
  ScopedPrecision(const ScopedPrecision&) = delete;
  ScopedPrecision& operator=(const ScopedPrecision&) = delete;

 private:
  Precision previous_;
};

void set_bf16_activations(bool on);
bool bf16_activations();
// The dtype a convolution stores its output in on this device: bf16 on a GPU when the precision
// is bf16 and bf16 activations are on, else `input` (the input's dtype: the CPU keeps f32/f64).
DType activation_dtype(Device device, DType input);

// Whether a backend with fused attention (the GPU) uses it (default true); off, SelfAttention
// composes gemm, softmax and dropout as on the CPU. win bench --composed-attention turns it off
// to compare the two. The GPU's fused kernels run on fp32 CUDA cores, or on bf16 tensor cores
// when the precision is bf16 (kernels/attention_tc.cuh).
void set_fused_attention(bool on);
bool fused_attention();

// Whether GPU ops must give the same bits on every run (run.deterministic, default true): cuDNN
// then takes the first deterministic algorithm of its heuristic ranking, falling back to another
// only when no deterministic one fits. false: convolution algorithms are measured on the first
// call of each shape (PyTorch's cudnn.benchmark) and the fastest of all is taken, whose
// reductions may use atomics, so reruns and resumes match only to round-off.
void set_deterministic(bool on);
bool deterministic();

}  // namespace win::backend
