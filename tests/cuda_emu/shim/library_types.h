// CPU stand-in for CUDA's library_types.h: the data type tags cuBLAS(Lt) and win's host code pass
// around (the real header's values, so that a tag printed in an error reads the same).
#pragma once

typedef enum cudaDataType_t {
  CUDA_R_32F = 0,
  CUDA_R_64F = 1,
  CUDA_R_16F = 2,
  CUDA_R_16BF = 14,
} cudaDataType;
