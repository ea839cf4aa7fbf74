// CudaContext and the cuDNN descriptor helpers (see cuda_context.hpp).
#include "backend/cuda/cuda_context.hpp"

#include <climits>
#include <memory>

#include "backend/cuda/cuda_allocator.hpp"

namespace win::backend {

CudaContext::CudaContext(int device) : device_(device) {
  // Construction is all-or-nothing: a failure part-way releases what was made (the destructor
  // does not run for a constructor that throws).
  try {
    WIN_CUDA_CHECK(cudaStreamCreate(&stream_));
    WIN_CUBLAS_CHECK(cublasCreate(&cublas_));
    WIN_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    WIN_CUBLAS_CHECK(cublasLtCreate(&cublaslt_));
    WIN_CUDNN_CALL(cudnnCreate(&cudnn_));
    WIN_CUDNN_CALL(cudnnSetStream(cudnn_, stream_));
  } catch (...) {
    release();
    throw;
  }
}

CudaContext::~CudaContext() {
  release();
}

// Never throws: it runs at thread exit, possibly after the CUDA runtime has begun shutting down,
// when these calls may fail harmlessly.
void CudaContext::release() noexcept {
  if (stream_) cudaStreamSynchronize(stream_);
  workspace_ = Tensor();
  if (cudnn_) cudnnDestroy(cudnn_);
  if (cublaslt_) cublasLtDestroy(cublaslt_);
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
  cudnn_ = nullptr, cublaslt_ = nullptr, cublas_ = nullptr, stream_ = nullptr;
}

void* CudaContext::workspace(size_t bytes) {
  if (bytes == 0) return nullptr;
  if (bytes > workspace_bytes()) {
    synchronize();  // queued work may still use the old buffer
    workspace_ = Tensor();
    constexpr size_t kGrain = size_t{1} << 20;  // whole MiB: fewer regrowths
    const size_t want = (bytes + kGrain - 1) / kGrain * kGrain;
    workspace_ = Tensor::empty({static_cast<int64_t>(want)}, DType::U8, cuda_allocator());
  }
  return workspace_.raw();
}

void CudaContext::synchronize() {
  WIN_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

CudaContext& cuda_context() {
  int device = 0;
  WIN_CUDA_CHECK(cudaGetDevice(&device));
  thread_local std::vector<std::unique_ptr<CudaContext>> contexts;
  if (static_cast<size_t>(device) >= contexts.size())
    contexts.resize(static_cast<size_t>(device) + 1);
  auto& c = contexts[static_cast<size_t>(device)];
  if (!c) c = std::make_unique<CudaContext>(device);
  return *c;
}

// ---- helpers ------------------------------------------------------------------------------------

std::string cudnn_detail() {
  char message[512] = {};
  cudnnGetLastErrorString(message, sizeof message);
  return message[0] ? cat(" (", message, ")") : std::string();
}

cudnnDataType_t cudnn_dtype(DType t, const char* what) {
  switch (t) {
    case DType::F32:
      return CUDNN_DATA_FLOAT;
    case DType::BF16:
      return CUDNN_DATA_BFLOAT16;
    default:
      WIN_FAIL(ErrorKind::Internal, what, ": no CUDA support for ", dtype_name(t),
               " tensors (f32 and bf16 only)");
  }
}

cudaDataType_t cuda_dtype(DType t, const char* what) {
  switch (t) {
    case DType::F32:
      return CUDA_R_32F;
    case DType::BF16:
      return CUDA_R_16BF;
    default:
      WIN_FAIL(ErrorKind::Internal, what, ": no CUDA support for ", dtype_name(t),
               " tensors (f32 and bf16 only)");
  }
}

void check_on_device(const Tensor& t, const char* what) {
  WIN_CHECK(t.defined() && t.device() == Device::CUDA, ErrorKind::Internal, what, ": a ",
            (t.defined() ? device_name(t.device()) : "undefined"), " tensor ",
            (t.defined() ? t.shape() : Dims{}), " where a CUDA tensor was expected");
}

bool channels_last(const Tensor& t, bool if_ambiguous) {
  WIN_ASSERT(t.dim() == 4, "channels_last of a ", t.dim(), "-d tensor");
  if (t.size(1) == 1) return if_ambiguous;
  for (int d : {2, 3})
    if (t.size(d) > 1 && t.stride(d) < t.stride(1)) return false;
  return true;
}

std::array<int64_t, 4> cudnn_strides(const Tensor& t, bool nhwc) {
  WIN_ASSERT(t.dim() == 4, "cudnn_strides of a ", t.dim(), "-d tensor");
  // Dimensions from innermost to outermost in the layout.
  const std::array<int, 4> order =
      nhwc ? std::array<int, 4>{1, 3, 2, 0} : std::array<int, 4>{3, 2, 1, 0};
  std::array<int64_t, 4> s{};
  int64_t packed = 1;  // the stride of the next dimension out, were the tensor packed so far
  for (int d : order) {
    s[static_cast<size_t>(d)] = t.size(d) == 1 ? packed : t.stride(d);
    packed = s[static_cast<size_t>(d)] * t.size(d);
  }
  return s;
}

bool packed_as(const Tensor& t, bool nhwc) {
  const std::array<int64_t, 4> s = cudnn_strides(t, nhwc);
  const std::array<int, 4> order =
      nhwc ? std::array<int, 4>{1, 3, 2, 0} : std::array<int, 4>{3, 2, 1, 0};
  int64_t packed = 1;
  for (int d : order) {
    if (s[static_cast<size_t>(d)] != packed) return false;
    packed *= t.size(d);
  }
  return true;
}

int to_int(int64_t v, const char* what) {
  WIN_CHECK(v >= INT_MIN && v <= INT_MAX, ErrorKind::Internal, what, ": ", v,
            " does not fit the 32-bit int of a cuDNN descriptor");
  return static_cast<int>(v);
}

void set_tensor_desc(TensorDesc& d, const Tensor& t, bool nhwc) {
  WIN_ASSERT(t.dim() == 4, "cuDNN tensor descriptor of a ", t.dim(), "-d tensor ", t.shape());
  const std::array<int64_t, 4> s = cudnn_strides(t, nhwc);
  const char* what = "cuDNN tensor descriptor";
  WIN_CUDNN_CALL(cudnnSetTensor4dDescriptorEx(
      d, cudnn_dtype(t.dtype(), what), to_int(t.size(0), what), to_int(t.size(1), what),
      to_int(t.size(2), what), to_int(t.size(3), what), to_int(s[0], what), to_int(s[1], what),
      to_int(s[2], what), to_int(s[3], what)));
}

void set_channel_desc(TensorDesc& d, int64_t c, DType t) {
  const char* what = "cuDNN per-channel descriptor";
  WIN_CUDNN_CALL(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, cudnn_dtype(t, what), 1,
                                            to_int(c, what), 1, 1));
}

void append_key(std::vector<int64_t>& key, const Tensor& t) {
  key.push_back(t.defined() ? static_cast<int64_t>(t.dtype()) : -1);
  key.push_back(t.dim());
  for (int d = 0; d < t.dim(); ++d) {
    key.push_back(t.size(d));
    key.push_back(t.stride(d));
  }
}

}  // namespace win::backend
