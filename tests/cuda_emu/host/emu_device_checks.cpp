// test_cuda_host_emu runs win's host code, which must never hand host memory to a device copy or
// a device range past its allocation: the runtime stand-in checks both from the start (see
// tests/cuda_emu/shim/emu_runtime_host.h).
#include <cuda_runtime.h>

namespace {
const bool checks_on = [] {
  emu::check_device_pointers = true;
  return true;
}();
}  // namespace
