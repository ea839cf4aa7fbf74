# test_cuda_host_emu: win's CUDA host code itself (src/backend/cuda: cuBLASLt products, the op
# table, transfers, op timing; the device paths of src/nn and src/models, the optimizers)
# compiled against the CPU stand-ins for the
# CUDA runtime, cuBLAS(Lt), cuDNN and NCCL in tests/cuda_emu/shim and .../host, over the kernels
# as translated for test_cuda_emu (_emu_srcs, kept in win::kernels here), and run with the GPU
# tests of test_cuda and the backend parity tests. So the host code that test_cuda checks only on
# a GPU machine runs in CI too, on every build, whether or not CUDA is installed.
#
# Not linked to win_backend (whose CUDA part is the real one, or none): the backend's CUDA-dependent
# sources are compiled again with WIN_HAVE_CUDA=1 and the shim first on the include path; the
# rest (the CPU backend, nn, models: src/CMakeLists.txt's object libraries) and win_core are the
# same objects the libraries hold.
file(GLOB _host_emu_srcs CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/src/backend/*.cpp ${PROJECT_SOURCE_DIR}/src/backend/ref/ref_ops.cpp
     ${PROJECT_SOURCE_DIR}/src/backend/cuda/*.cpp ${PROJECT_SOURCE_DIR}/src/train/optimizer.cpp
     ${CMAKE_CURRENT_SOURCE_DIR}/models/fixture_training.cpp
     ${CMAKE_CURRENT_SOURCE_DIR}/cuda_emu/host/*.cpp
     ${CMAKE_CURRENT_SOURCE_DIR}/cuda/*.cpp ${CMAKE_CURRENT_SOURCE_DIR}/backend/*.cpp)
list(FILTER _host_emu_srcs EXCLUDE REGEX "/backend/precision\\.cpp$")
add_executable(test_cuda_host_emu ${_host_emu_srcs} ${_emu_srcs}
               ${CMAKE_CURRENT_SOURCE_DIR}/nn/nn_testing.cpp
               $<TARGET_OBJECTS:win_backend_common> $<TARGET_OBJECTS:win_nn_objects>
               $<TARGET_OBJECTS:win_models_objects>)
target_include_directories(test_cuda_host_emu BEFORE PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/cuda_emu/shim)
target_include_directories(test_cuda_host_emu PRIVATE ${PROJECT_SOURCE_DIR}/kernels
                           ${PROJECT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR}/nn
                           ${CMAKE_CURRENT_SOURCE_DIR}/backend ${CMAKE_CURRENT_SOURCE_DIR}/models
                           ${CMAKE_CURRENT_SOURCE_DIR}/cuda)
target_link_libraries(test_cuda_host_emu PRIVATE win_config win_data DNNL::dnnl GTest::gtest_main
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
# Every test of test_cuda and the parity tests runs here, cuDNN's convolutions, pooling and batch
# norm on the stand-in too (tests/cuda_emu/host/cudnn_*standin.cpp).
add_test(NAME cuda_host_emu COMMAND test_cuda_host_emu)
set_tests_properties(cuda_host_emu PROPERTIES LABELS cuda_emu TIMEOUT 900)
