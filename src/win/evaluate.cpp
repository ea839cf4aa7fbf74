// Whole-set evaluation (see evaluate.hpp).
#include "win/evaluate.hpp"

#include <algorithm>
#include <cmath>

#include "backend/ops.hpp"
#include "core/error.hpp"

namespace win::method {

namespace {

// Visits the source in order in batches of at most `batch`: f(batch, count).
template <class F>
void for_each_batch(data::SampleSource& src, int64_t batch, int64_t limit, F&& f) {
  const int64_t n = limit > 0 ? std::min(limit, src.size()) : src.size();
  data::Batch full, tail;
  src.allocate(full, std::min(batch, n));
  const int64_t rest = n % batch;
  if (rest > 0 && n > batch) src.allocate(tail, rest);
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t count = std::min(batch, n - start);
    data::Batch& b = (count == batch || n <= batch) ? full : tail;
    b.ids.resize(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) {
      b.ids[static_cast<size_t>(k)] = start + k;
      src.fill(b, k, start + k, 0);
    }
    f(b, count);
  }
}

}  // namespace

EvalResult evaluate_classifier(nn::Module& model, data::SampleSource& source, int64_t batch) {
  EvalResult r;
  nn::Context ctx;
  ctx.training = false;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0;
  Tensor dlogits;
  for_each_batch(source, batch, 0, [&](const data::Batch& b, int64_t count) {
    const Tensor logits = model.forward(b.x, ctx);
    WIN_CHECK(logits.size(0) == count, ErrorKind::Internal, "eval batch of ", count, " gave ",
              logits.shape());
    nn::ensure(dlogits, logits.shape(), logits.dtype());
    const auto ce = backend::ops_for(logits).cross_entropy(logits, b.labels, -100, 1.0, dlogits);
    loss_sum += ce.loss * static_cast<double>(ce.counted);
    top1 += ce.correct;
    const Tensor lc = logits.contiguous();
    const int64_t classes = logits.size(1);
    for (int64_t i = 0; i < count; ++i) {  // top-5: fewer than 5 logits beat the label's
      const float* row = lc.data<float>() + i * classes;
      const int32_t label = b.labels.data<int32_t>()[i];
      int64_t better = 0;
      for (int64_t c = 0; c < classes; ++c) better += row[c] > row[label];
      top5 += better < 5;
    }
    r.samples += count;
  });
  WIN_CHECK(r.samples > 0, ErrorKind::Data, "evaluation set is empty");
  r.loss = loss_sum / static_cast<double>(r.samples);
  r.top1 = static_cast<double>(top1) / static_cast<double>(r.samples);
  r.top5 = static_cast<double>(top5) / static_cast<double>(r.samples);
  return r;
}

double max_relative_difference(nn::Module& a, nn::Module& b, data::SampleSource& source,
                               int64_t samples) {
  nn::Context ctx;
  ctx.training = false;
  double diff = 0, ref = 0;
  for_each_batch(source, std::min<int64_t>(samples, 256), samples,
                 [&](const data::Batch& x, int64_t) {
                   const auto ya = a.forward(x.x, ctx).to_vector();
                   const auto yb = b.forward(x.x, ctx).to_vector();
                   for (size_t i = 0; i < ya.size(); ++i) {
                     diff = std::max(diff, std::abs(ya[i] - yb[i]));
                     ref = std::max(ref, std::abs(ya[i]));
                   }
                 });
  return ref > 0 ? diff / ref : diff;
}

}  // namespace win::method
