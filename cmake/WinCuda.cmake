# CUDA pieces that CMake's CUDAToolkit module does not provide: cuDNN and NCCL, which ship in the
# toolkit directory on our machines (/usr/local/cuda/lib64) or in the system library path.
set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 knows no CUDA20 flag for nvcc; kernels need only C++17
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
# nvcc's own default (sm_52 before CUDA 13, sm_75 since) would leave A100/H100 to JIT-compile
# PTX: unless the user chose, build A100 (sm_80) and H100/H200 (sm_90) code natively.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES MATCHES "^(52|75)$")
  set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures" FORCE)
endif()

find_path(WIN_CUDNN_INCLUDE cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/include)
find_library(WIN_CUDNN_LIB cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/lib/x86_64-linux-gnu)
find_path(WIN_NCCL_INCLUDE nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/include)
find_library(WIN_NCCL_LIB nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/lib/x86_64-linux-gnu)
foreach(v WIN_CUDNN_INCLUDE WIN_CUDNN_LIB WIN_NCCL_INCLUDE WIN_NCCL_LIB)
  if(NOT ${v})
    message(FATAL_ERROR "CUDA build: ${v} not found (cuDNN 9 and NCCL are required)")
  endif()
endforeach()
add_library(win_cudnn INTERFACE)
target_include_directories(win_cudnn INTERFACE ${WIN_CUDNN_INCLUDE})
target_link_libraries(win_cudnn INTERFACE ${WIN_CUDNN_LIB})
add_library(win_nccl INTERFACE)
target_include_directories(win_nccl INTERFACE ${WIN_NCCL_INCLUDE})
target_link_libraries(win_nccl INTERFACE ${WIN_NCCL_LIB})
