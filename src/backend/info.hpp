// What the compute backends are, for `win version` and logs: library versions that are read from
// the libraries at run time (not from headers), so a mismatched install shows up.
#pragma once

#include <string>

namespace win::backend {

// "2.6.3 (OpenMP runtime, ISA avx512_core)".
std::string dnnl_version();
// True when the CUDA backend was compiled in.
bool cuda_compiled();
// "13.0" or "not built".
std::string cuda_runtime_version();
// "1 x NVIDIA H100 80GB HBM3 (sm_90)" or "none (<reason>)".
std::string cuda_devices();
// "9.10.2" or "not built".
std::string cudnn_version();
// "2.27.7" or "not built".
std::string nccl_version();

}  // namespace win::backend
