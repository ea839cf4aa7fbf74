// Reference (and CpuOps) embedding lookup / scatter-add and dropout. Both must be reproducible
// bit for bit whatever the thread count (DESIGN §7): the scatter-add groups positions by id with a
// stable sort and sums each id's rows in position order (no racing float atomics), and a dropout
// mask bit is a pure function of (rng, hi_counter, element index).
#include <algorithm>
#include <numeric>
#include <vector>

#include <cmath>

#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::backend {

namespace {

// Ids are validated serially before any parallel loop: an exception cannot leave an OpenMP region.
void check_ids(const Tensor& ids, int64_t vocab, const char* what) {
  WIN_CHECK(ids.dtype() == DType::I32 && ids.dim() == 1, ErrorKind::Internal, what,
            ": ids must be a 1-d i32 tensor, got ", dtype_name(ids.dtype()), " ", ids.shape());
  const ref::View<int32_t> I(ids);
  for (int64_t i = 0; i < ids.size(0); ++i)
    WIN_CHECK(I(i) >= 0 && I(i) < vocab, ErrorKind::Data, what, ": token id ", I(i),
              " at position ", i, " is outside the vocabulary [0, ", vocab, ")");
}

void check_dropout_p(double p) {
  WIN_CHECK(p >= 0.0 && p < 1.0, ErrorKind::Internal, "dropout: p = ", p, " not in [0, 1)");
}

}  // namespace

template <class T>
void RefOps<T>::embedding(const Tensor& weight, const Tensor& ids, Tensor& y) {
  WIN_CHECK(weight.dim() == 2, ErrorKind::Internal, "embedding: weight ", weight.shape());
  check_ids(ids, weight.size(0), "embedding");
  ref::check_shape(y, {ids.size(0), weight.size(1)}, "embedding output");
  const int64_t d = weight.size(1);
  const ref::View<T> W(weight), Y(y);
  const ref::View<int32_t> I(ids);
  parallel_for(ids.size(0), 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = 0; j < d; ++j) Y(i, j) = W(I(i), j);
  });
}

template <class T>
void RefOps<T>::embedding_backward(const Tensor& dy, const Tensor& ids, Tensor& dweight) {
  WIN_CHECK(dweight.dim() == 2, ErrorKind::Internal, "embedding backward: dweight ",
            dweight.shape());
  check_ids(ids, dweight.size(0), "embedding backward");
  ref::check_shape(dy, {ids.size(0), dweight.size(1)}, "embedding backward dy");
  const int64_t n = ids.size(0), d = dweight.size(1);
  const ref::View<T> D(dy), DW(dweight);
  const ref::View<int32_t> I(ids);
  // Positions sorted by id (stable: equal ids stay in position order), then one group per id.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return I(a) < I(b); });
  std::vector<int64_t> group_start;
  for (int64_t k = 0; k < n; ++k)
    if (k == 0 || I(order[k]) != I(order[k - 1])) group_start.push_back(k);
  group_start.push_back(n);
  const int64_t groups = static_cast<int64_t>(group_start.size()) - 1;
  // Each group writes only its own row of dweight, so groups run in parallel without races.
  parallel_for(groups, 8, [&](int64_t g0, int64_t g1) {
    std::vector<double> acc(static_cast<size_t>(d));
    for (int64_t g = g0; g < g1; ++g) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t k = group_start[g]; k < group_start[g + 1]; ++k)
        for (int64_t j = 0; j < d; ++j) acc[j] += static_cast<double>(D(order[k], j));
      const int64_t row = I(order[group_start[g]]);
      for (int64_t j = 0; j < d; ++j)
        DW(row, j) = static_cast<T>(static_cast<double>(DW(row, j)) + acc[j]);
    }
  });
}

template <class T>
void RefOps<T>::dropout(const Tensor& x, double p, const Philox& rng, uint64_t hi_counter,
                        uint64_t lo_offset, Tensor& mask, Tensor& y) {
  check_dropout_p(p);
  ref::check_same_shape(x, mask, "dropout mask");
  ref::check_same_shape(x, y, "dropout output");
  WIN_CHECK(mask.dtype() == DType::U8, ErrorKind::Internal, "dropout: mask must be u8, got ",
            dtype_name(mask.dtype()));
  // Element e = lo_offset + i (its global position) keeps when the 24-bit uniform made from word
  // e % 4 of Philox block e / 4 is below 1 - p: one block serves four elements, and the draw of
  // an element depends only on e, never on threads or on where a batch was split.
  const uint32_t keep_below = static_cast<uint32_t>(std::llround((1.0 - p) * 16777216.0));
  const double inv_keep = 1.0 / (1.0 - p);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  uint8_t* pm = mask.data<uint8_t>();
  auto keep_of = [&](uint64_t e) {
    return static_cast<uint8_t>((rng.block(hi_counter, e >> 2)[e & 3] >> 8) < keep_below);
  };
  auto apply = [&](int64_t ox, int64_t om, int64_t oy, uint8_t keep) {
    pm[om] = keep;
    py[oy] = keep ? static_cast<T>(static_cast<double>(px[ox]) * inv_keep) : T(0);
  };
  if (x.is_contiguous() && mask.is_contiguous() && y.is_contiguous()) {
    // Chunks of 4096 elements; within one, whole Philox blocks are drawn once for 4 elements.
    parallel_for(x.numel(), 1 << 12, [&](int64_t i0, int64_t i1) {
      int64_t i = i0;
      for (; i < i1 && ((lo_offset + static_cast<uint64_t>(i)) & 3) != 0; ++i)
        apply(i, i, i, keep_of(lo_offset + static_cast<uint64_t>(i)));
      for (; i + 4 <= i1; i += 4) {
        const PhiloxCounter b = rng.block(hi_counter, (lo_offset + static_cast<uint64_t>(i)) >> 2);
        for (int w = 0; w < 4; ++w)
          apply(i + w, i + w, i + w,
                static_cast<uint8_t>((b[static_cast<size_t>(w)] >> 8) < keep_below));
      }
      for (; i < i1; ++i) apply(i, i, i, keep_of(lo_offset + static_cast<uint64_t>(i)));
    });
  } else {  // element i is the row-major logical index whatever the strides
    ref::for_each3(x.shape(), x.strides(), mask.strides(), y.strides(),
                   [&](int64_t i, int64_t ox, int64_t om, int64_t oy) {
                     apply(ox, om, oy, keep_of(lo_offset + static_cast<uint64_t>(i)));
                   });
  }
}

template <class T>
void RefOps<T>::dropout_backward(const Tensor& dy, const Tensor& mask, double p, Tensor& dx) {
  check_dropout_p(p);
  ref::check_same_shape(dy, mask, "dropout backward mask");
  ref::check_same_shape(dy, dx, "dropout backward dx");
  WIN_CHECK(mask.dtype() == DType::U8, ErrorKind::Internal, "dropout: mask must be u8, got ",
            dtype_name(mask.dtype()));
  const double inv_keep = 1.0 / (1.0 - p);
  const T* pd = dy.data<T>();
  const uint8_t* pm = mask.data<uint8_t>();
  T* pg = dx.data<T>();
  auto one = [&](int64_t, int64_t od, int64_t om, int64_t og) {
    pg[og] = pm[om] ? static_cast<T>(static_cast<double>(pd[od]) * inv_keep) : T(0);
  };
  if (dy.is_contiguous() && mask.is_contiguous() && dx.is_contiguous()) {
    parallel_for(dy.numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) one(i, i, i, i);
    });
  } else {
    ref::for_each3(dy.shape(), dy.strides(), mask.strides(), dx.strides(), one);
  }
}

#define WIN_INSTANTIATE(T)                                                                   \
  template void RefOps<T>::embedding(const Tensor&, const Tensor&, Tensor&);                 \
  template void RefOps<T>::embedding_backward(const Tensor&, const Tensor&, Tensor&);        \
  template void RefOps<T>::dropout(const Tensor&, double, const Philox&, uint64_t, uint64_t, \
                                   Tensor&, Tensor&);                                        \
  template void RefOps<T>::dropout_backward(const Tensor&, const Tensor&, double, Tensor&);
WIN_INSTANTIATE(float)
WIN_INSTANTIATE(double)
#undef WIN_INSTANTIATE

}  // namespace win::backend
