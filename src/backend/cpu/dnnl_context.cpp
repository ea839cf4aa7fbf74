// Engine, stream and descriptors for the oneDNN CPU ops (see dnnl_context.hpp).
#include "backend/cpu/dnnl_context.hpp"

#include "backend/cpu/dnnl_check.hpp"

namespace win::backend {

dnnl::engine& cpu_engine() {
  static dnnl::engine e =
      dnnl_call("engine", [] { return dnnl::engine(dnnl::engine::kind::cpu, 0); });
  return e;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream s = dnnl_call("stream", [] { return dnnl::stream(cpu_engine()); });
  return s;
}

dnnl::memory::desc md_of(const Tensor& t) {
  WIN_CHECK(t.dtype() == DType::F32, ErrorKind::Internal, "oneDNN ops take f32 tensors, got ",
            dtype_name(t.dtype()));
  dnnl::memory::dims dims(t.shape().begin(), t.shape().end());
  dnnl::memory::dims strides(t.strides().begin(), t.strides().end());
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory::desc md_any(const Dims& d) {
  dnnl::memory::dims dims(d.begin(), d.end());
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
}

dnnl::memory mem_of(const Tensor& t) {
  return dnnl::memory(md_of(t), cpu_engine(), t.raw());
}

}  // namespace win::backend
