// The launchers of kernels/*.cu as test_cuda_emu sees them: the same headers, declared in
// namespace win::kernels_emu, where tools/cu2emu.py's translations of the .cu files define them
// (apart from the real launchers a CUDA build links into win_backend). Include this, never a .cuh
// directly.
#pragma once

#include <cuda_bf16.h>  // tests/cuda_emu/shim: the CPU stand-in
#include <cuda_runtime.h>

#define kernels kernels_emu
#include "attention.cuh"
#include "attention_tc.cuh"
#include "batchnorm_nhwc.cuh"
#include "cast.cuh"
#include "dropout.cuh"
#include "eltwise.cuh"
#include "embedding.cuh"
#include "fill.cuh"
#include "layernorm.cuh"
#include "loss.cuh"
#include "optim.cuh"
#include "reduce.cuh"
#include "softmax.cuh"
#include "strided_axpby.cuh"
#include "strided_copy.cuh"
#undef kernels
