// CPU stand-in for the two NCCL calls win's backend names outside the communicator (version and
// error text): test_cuda_host_emu has no NCCL and builds no NcclComm.
#pragma once

typedef enum { ncclSuccess = 0, ncclInvalidUsage = 5 } ncclResult_t;

inline ncclResult_t ncclGetVersion(int* version) {
  *version = 0;
  return ncclInvalidUsage;  // no NCCL in the emulator: `win version` says "unknown"
}
inline const char* ncclGetErrorString(ncclResult_t r) {
  return r == ncclSuccess ? "no error" : "NCCL is not emulated";
}
