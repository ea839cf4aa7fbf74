// The CUDA half of backend/info.hpp for builds without CUDA (WIN_CUDA=OFF or no nvcc).
#include "backend/info.hpp"

#if !WIN_HAVE_CUDA
namespace win::backend {
bool cuda_compiled() {
  return false;
}
std::string cuda_runtime_version() {
  return "not built";
}
std::string cuda_devices() {
  return "none (built without CUDA)";
}
std::string cudnn_version() {
  return "not built";
}
std::string nccl_version() {
  return "not built";
}
}  // namespace win::backend
#endif
