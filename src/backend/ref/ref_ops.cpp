// RefOps<T> instantiation, the backend registry (ops_for, ref_ops), and the defaults of the
// optional fused ops.
#include "backend/ref/ref_ops.hpp"

#include "backend/cpu/cpu_ops.hpp"
#if WIN_HAVE_CUDA
#include "backend/cuda/cuda_ops.hpp"
#endif
#include "core/error.hpp"

namespace win::backend {

// A backend without fused attention says so in fuses_attention; reaching these is a caller bug.
void Ops::attention_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double,
                            const AttentionDropout&, Tensor&, Tensor&, Tensor&) {
  WIN_FAIL(ErrorKind::Internal, name(), ": attention_forward without fused attention");
}
void Ops::attention_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double,
                             const Tensor&, double, const Tensor&, const Tensor&, const Tensor&,
                             Tensor&, Tensor&, Tensor&) {
  WIN_FAIL(ErrorKind::Internal, name(), ": attention_backward without fused attention");
}

void Ops::sgd_update_segments(Tensor& p, const Tensor& g, Tensor& buf,
                              const std::vector<UpdateSegment>& segments, double lr,
                              double momentum, bool nesterov, bool first_step) {
  for (const UpdateSegment& s : segments) {
    Tensor ps = p.slice(0, s.offset, s.offset + s.numel);
    const Tensor gs = g.slice(0, s.offset, s.offset + s.numel);
    Tensor bs = buf.defined() ? buf.slice(0, s.offset, s.offset + s.numel) : Tensor();
    sgd_update(ps, gs, bs, lr, momentum, nesterov, s.weight_decay, first_step);
  }
}

void Ops::adamw_update_segments(Tensor& p, const Tensor& g, Tensor& m, Tensor& v,
                                const std::vector<UpdateSegment>& segments, double lr, double beta1,
                                double beta2, double eps, int64_t step) {
  for (const UpdateSegment& s : segments) {
    Tensor ps = p.slice(0, s.offset, s.offset + s.numel);
    const Tensor gs = g.slice(0, s.offset, s.offset + s.numel);
    Tensor ms = m.slice(0, s.offset, s.offset + s.numel);
    Tensor vs = v.slice(0, s.offset, s.offset + s.numel);
    adamw_update(ps, gs, ms, vs, lr, beta1, beta2, eps, s.weight_decay, step);
  }
}

template <class T>
const char* RefOps<T>::name() const {
  return std::is_same_v<T, double> ? "ref-f64" : "ref-f32";
}

template class RefOps<float>;
template class RefOps<double>;

Ops& ref_ops(DType dtype) {
  static RefOps<float> f32;
  static RefOps<double> f64;
  if (dtype == DType::F32) return f32;
  if (dtype == DType::F64) return f64;
  WIN_FAIL(ErrorKind::Internal, "no reference ops for dtype ", dtype_name(dtype));
}

Ops& ops_for(Device device, DType dtype) {
#if WIN_HAVE_CUDA
  if (device == Device::CUDA) {
    WIN_CHECK(dtype == DType::F32, ErrorKind::Internal, "no CUDA op table for dtype ",
              dtype_name(dtype));
    return cuda_ops();
  }
#endif
  WIN_CHECK(device == Device::CPU, ErrorKind::Internal, "no op table for device ",
            device_name(device), " in this build");
  if (dtype == DType::F32) {
    static CpuOps cpu;
    return cpu;
  }
  return ref_ops(dtype);
}

}  // namespace win::backend
