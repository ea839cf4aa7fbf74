// The CUDA context that every CUDA op runs in: one per thread and device, made on first use. It
// holds the compute stream, the cuBLAS, cuBLASLt and cuDNN handles bound to it, and one growable
// device workspace for the libraries' scratch. Per thread, because cuBLAS and cuDNN handles must
// not be used by two threads at once; per device, so that a thread that switches devices gets
// handles and memory of the device it is on.
//
// The stream is a blocking one (cudaStreamDefault, not cudaStreamNonBlocking): it is ordered with
// the legacy default stream, on which cuda_allocator's cudaMemset and the host/device copies
// (cudaMemcpy) run, so a copy_to_host after an op reads its finished result without an explicit
// synchronisation. Work issued by one thread is ordered on that thread's stream only: a tensor
// handed to another thread needs synchronize() first.
//
// Also here, because every cuDNN op needs them: RAII cuDNN descriptors, the dtype mappings and
// the tensor descriptor of a win tensor (its logical NCHW dims with its actual strides).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.hpp"
#include "core/tensor.hpp"

// WIN_CUDNN_CHECK with cuDNN 9's own description of the failure appended (it names the
// unsupported layout or parameter behind a bare CUDNN_STATUS_NOT_SUPPORTED). cuBLASLt returns
// cublasStatus_t: its calls use WIN_CUBLAS_CHECK.
#define WIN_CUDNN_CALL(call)                                                                    \
  do {                                                                                          \
    const cudnnStatus_t win_cudnn_s_ = (call);                                                  \
    if (win_cudnn_s_ != CUDNN_STATUS_SUCCESS) [[unlikely]]                                      \
      WIN_FAIL(::win::ErrorKind::Internal, "cuDNN: ", #call,                                    \
               " failed: ", cudnnGetErrorString(win_cudnn_s_), ::win::backend::cudnn_detail()); \
  } while (0)

namespace win::backend {

class CudaContext {
 public:
  explicit CudaContext(int device);
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  cublasLtHandle_t cublaslt() const { return cublaslt_; }
  cudnnHandle_t cudnn() const { return cudnn_; }

  // Device scratch of at least `bytes` (nullptr for 0), for work queued on stream(). Valid until
  // the next call that must grow it; growing waits for the stream first, so queued work never
  // loses its buffer. It grows to the largest request and stays there: a steady-state step
  // allocates nothing.
  void* workspace(size_t bytes);
  size_t workspace_bytes() const { return workspace_.defined() ? workspace_.nbytes() : 0; }

  // Waits for everything queued on stream().
  void synchronize();

 private:
  void release() noexcept;

  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cublasLtHandle_t cublaslt_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  Tensor workspace_;  // u8, from cuda_allocator()
};

// The context of the calling thread on the current device (cudaGetDevice), made on first use.
CudaContext& cuda_context();

// ---- helpers shared by the cuBLAS and cuDNN ops
// ---------------------------------------------------

// " (cuDNN's last error message)" or "" when it has none (for WIN_CUDNN_CALL).
std::string cudnn_detail();

// An owned cuDNN descriptor: created in the constructor, destroyed in the destructor.
template <class T, cudnnStatus_t (*Create)(T*), cudnnStatus_t (*Destroy)(T)>
class CudnnDescriptor {
 public:
  CudnnDescriptor() { WIN_CUDNN_CALL(Create(&d_)); }
  ~CudnnDescriptor() {
    if (d_) Destroy(d_);
  }
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  T get() const { return d_; }
  operator T() const { return d_; }  // NOLINT: passes straight into cuDNN calls

 private:
  T d_ = nullptr;
};

using TensorDesc = CudnnDescriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor,
                                   cudnnDestroyTensorDescriptor>;
using FilterDesc = CudnnDescriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor,
                                   cudnnDestroyFilterDescriptor>;
using ConvDesc = CudnnDescriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                                 cudnnDestroyConvolutionDescriptor>;
using PoolDesc = CudnnDescriptor<cudnnPoolingDescriptor_t, cudnnCreatePoolingDescriptor,
                                 cudnnDestroyPoolingDescriptor>;
using ActivationDesc = CudnnDescriptor<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor,
                                       cudnnDestroyActivationDescriptor>;

// The library types of win's floating dtypes on the GPU: f32 and bf16; anything else is an
// internal error naming `what`.
cudnnDataType_t cudnn_dtype(DType t, const char* what);
cudaDataType_t cuda_dtype(DType t, const char* what);

// Internal error unless t is defined and lives on the GPU.
void check_on_device(const Tensor& t, const char* what);

// Whether a 4-d (N, C, H, W) tensor is stored channels-last (its C stride is the smallest). A
// tensor with C == 1 is both layouts at once: then `if_ambiguous` decides.
bool channels_last(const Tensor& t, bool if_ambiguous = false);

// The strides cuDNN should see for a 4-d tensor: its own, except that a dimension of extent 1
// (whose stride never addresses anything and may be arbitrary in a view) gets the stride it would
// have in a packed tensor of the given layout, so that packed NHWC/NCHW tensors are recognised
// as such by cuDNN's kernel selection.
std::array<int64_t, 4> cudnn_strides(const Tensor& t, bool nhwc);
// Whether t (4-d) is packed (dense, no gaps) in NHWC (nhwc) or NCHW order.
bool packed_as(const Tensor& t, bool nhwc);

// Sets d to t's logical NCHW dims and cudnn_strides(t, nhwc).
void set_tensor_desc(TensorDesc& d, const Tensor& t, bool nhwc);
// Sets d to a packed (1, c, 1, 1) tensor of dtype t (a per-channel vector).
void set_channel_desc(TensorDesc& d, int64_t c, DType t);

// Appends what identifies a tensor's description (dtype, dims, strides) to a cache key.
void append_key(std::vector<int64_t>& key, const Tensor& t);

// The 32-bit int a cuDNN descriptor takes, or an internal error naming `what`.
int to_int(int64_t v, const char* what);

}  // namespace win::backend
