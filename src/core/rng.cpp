// Tensor fills from the counter-based generator. Each element draws from its own counter, so the
// work can be split across threads in any way without changing a single bit of the result.
#include "core/rng.hpp"

#include <cmath>

#include "core/parallel.hpp"
#include "core/tensor.hpp"

namespace win {

namespace {

// One Philox block is ~10 multiply rounds per element; chunks of this size amortise the OpenMP
// scheduling. Chunk boundaries depend only on this constant, never on the thread count.
constexpr int64_t kGrain = 1 << 14;

void check_fillable(const Tensor& t, const char* what) {
  WIN_CHECK(t.defined(), ErrorKind::Internal, what, ": undefined tensor");
  WIN_CHECK(t.device() == Device::CPU, ErrorKind::Internal, what, ": tensor on ",
            device_name(t.device()), ", expected cpu");
  WIN_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, ErrorKind::Internal, what,
            ": dtype ", dtype_name(t.dtype()), ", expected f32 or f64");
  WIN_CHECK(t.is_contiguous(), ErrorKind::Internal, what, ": tensor of shape ", t.shape(),
            " is not contiguous");
}

template <class T, class Draw>
void fill_with(Tensor& t, Draw draw) {
  T* p = t.data<T>();
  parallel_for(t.numel(), kGrain, [p, &draw](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) p[i] = draw(static_cast<uint64_t>(i));
  });
}

}  // namespace

void fill_uniform(Tensor& t, const Philox& rng, double lo, double hi, uint64_t hi_counter) {
  check_fillable(t, "fill_uniform");
  WIN_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, ErrorKind::Internal,
            "fill_uniform: bad range [", lo, ", ", hi, ")");
  if (t.dtype() == DType::F32) {
    const float l = static_cast<float>(lo), h = static_cast<float>(hi), w = h - l;
    const float top = l < h ? std::nextafter(h, l) : h;  // lo + w * u may round up to hi
    fill_with<float>(t, [&](uint64_t i) {
      const float v = l + w * rng.uniform(hi_counter, i);
      return v < top ? v : top;
    });
  } else {
    const double w = hi - lo;
    const double top = lo < hi ? std::nextafter(hi, lo) : hi;
    fill_with<double>(t, [&](uint64_t i) {
      const double v = lo + w * rng.uniform_double(hi_counter, i);
      return v < top ? v : top;
    });
  }
}

void fill_normal(Tensor& t, const Philox& rng, double mean, double std, uint64_t hi_counter) {
  check_fillable(t, "fill_normal");
  WIN_CHECK(std::isfinite(mean) && std::isfinite(std) && std >= 0, ErrorKind::Internal,
            "fill_normal: bad mean ", mean, " or std ", std);
  if (t.dtype() == DType::F32) {
    const float m = static_cast<float>(mean), s = static_cast<float>(std);
    fill_with<float>(t, [&](uint64_t i) { return m + s * rng.normal(hi_counter, i); });
  } else {
    fill_with<double>(t, [&](uint64_t i) { return mean + std * rng.normal_double(hi_counter, i); });
  }
}

}  // namespace win
