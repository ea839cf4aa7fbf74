# test_cuda_host_emu: win's CUDA host code itself (src/backend/cuda: cuBLASLt products, the op
# table, transfers, op timing; src/nn's device paths) compiled against the CPU stand-ins for the
# CUDA runtime, cuBLAS(Lt), cuDNN and NCCL in tests/cuda_emu/shim and .../host, over the kernels
# as translated for test_cuda_emu (_emu_srcs, kept in win::kernels here), and run with the GPU
# tests of test_cuda and the backend parity tests. So the host code that test_cuda checks only on
# a GPU machine runs in CI too, on every build, whether or not CUDA is installed. cuDNN is not
# emulated: the tests of ops that need it are filtered out below and stay with the GPU machine.
#
# Built from sources (not by linking win_backend/win_nn, whose objects are the non-CUDA or the real
# CUDA build): the backend and nn are compiled again with WIN_HAVE_CUDA=1 and the shim first on
# the include path. win_core does not depend on CUDA and is shared.
file(GLOB _host_emu_srcs CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/src/backend/*.cpp ${PROJECT_SOURCE_DIR}/src/backend/cpu/*.cpp
     ${PROJECT_SOURCE_DIR}/src/backend/ref/*.cpp ${PROJECT_SOURCE_DIR}/src/backend/cuda/*.cpp
     ${PROJECT_SOURCE_DIR}/src/nn/*.cpp ${PROJECT_SOURCE_DIR}/src/models/*.cpp
     ${CMAKE_CURRENT_SOURCE_DIR}/cuda_emu/host/*.cpp
     ${CMAKE_CURRENT_SOURCE_DIR}/cuda/*.cpp ${CMAKE_CURRENT_SOURCE_DIR}/backend/*.cpp)
# The model fixtures need the training library (data, io, dist): left to test_cuda.
list(FILTER _host_emu_srcs EXCLUDE REGEX "/cuda/test_cuda_fixture_training\\.cpp$")
add_executable(test_cuda_host_emu ${_host_emu_srcs} ${_emu_srcs}
               ${CMAKE_CURRENT_SOURCE_DIR}/nn/nn_testing.cpp)
target_include_directories(test_cuda_host_emu BEFORE PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/cuda_emu/shim)
target_include_directories(test_cuda_host_emu PRIVATE ${PROJECT_SOURCE_DIR}/kernels
                           ${PROJECT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR}/nn
                           ${CMAKE_CURRENT_SOURCE_DIR}/backend)
target_link_libraries(test_cuda_host_emu PRIVATE win_config DNNL::dnnl GTest::gtest_main
                      Threads::Threads)
target_compile_definitions(test_cuda_host_emu PRIVATE WIN_EMU_KERNELS_AS_REAL
                           WIN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
# win_core carries WIN_HAVE_CUDA=<this build's> to its users as a definition; compile options come
# after definitions on the command line, so this build's objects see WIN_HAVE_CUDA=1.
target_compile_options(test_cuda_host_emu PRIVATE -UWIN_HAVE_CUDA -DWIN_HAVE_CUDA=1
                       -Wno-unknown-pragmas -ffp-contract=off
                       -fsanitize=alignment -fno-sanitize-recover=alignment)
target_link_options(test_cuda_host_emu PRIVATE -fsanitize=alignment)
# The kernels read float4/bfloat162 through reinterpret_cast as CUDA code does: no type-based
# alias analysis for them on the CPU (test_cuda_emu builds them likewise without -Wall).
set_source_files_properties(${_emu_srcs} PROPERTIES COMPILE_OPTIONS -fno-strict-aliasing)
# The stand-ins' own sources name every parameter of the cuDNN prototypes they refuse.
set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/cuda_emu/host/cudnn_standin.cpp
                            PROPERTIES COMPILE_OPTIONS -Wno-unused-parameter)
# The tests of ops that need cuDNN (convolutions, pooling, the measured algorithm search) stay
# with the GPU machine's test_cuda; everything else of test_cuda and the parity tests runs here.
set(_host_emu_gpu_only
    "*/OpParity.ConvolutionForwardAndBothBackwards/cuda:*/OpParity.MaxAndAveragePooling/cuda"
    "CudaConvSearch.*:CudaPrecision.ConvolutionsStayWithinTf32RoundingInEveryPrecision"
    "CudaBf16Activations.ConvolutionWithFp32WeightsMatchesTheCpu"
    "CudaBf16Activations.PoolingAndResidualOpsMatchTheCpu"
    "CudaBf16Activations.ResNetStepMatchesTheCpuToBf16Rounding")
list(JOIN _host_emu_gpu_only ":" _host_emu_gpu_only)
add_test(NAME cuda_host_emu
         COMMAND test_cuda_host_emu --gtest_filter=-${_host_emu_gpu_only})
set_tests_properties(cuda_host_emu PROPERTIES LABELS cuda_emu TIMEOUT 900)
