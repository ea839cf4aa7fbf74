// The oneDNN CPU engine and stream shared by all CPU ops, and memory descriptors made from win
// tensors (dims + strides, so channels-last activations need no reorder).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "core/tensor.hpp"

namespace win::backend {

dnnl::engine& cpu_engine();
dnnl::stream& cpu_stream();

// A descriptor with t's logical dims and actual strides (f32 only).
dnnl::memory::desc md_of(const Tensor& t);
// The same dims with oneDNN's choice of layout (format_tag::any), for weights.
dnnl::memory::desc md_any(const Dims& dims);
// A memory object over t's data.
dnnl::memory mem_of(const Tensor& t);

}  // namespace win::backend
