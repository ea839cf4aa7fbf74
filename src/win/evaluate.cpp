// Whole-set evaluation (see evaluate.hpp).
#include "win/evaluate.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "backend/ops.hpp"
#include "backend/transfer.hpp"
#include "core/error.hpp"

namespace win::method {

namespace {

// Visits the source in order in batches of at most `batch`: f(batch, count); with stride > 1 only
// batches first, first + stride, ...
template <class F>
void for_each_batch(data::SampleSource& src, int64_t batch, int64_t limit, F&& f, int first = 0,
                    int stride = 1) {
  const int64_t n = limit > 0 ? std::min(limit, src.size()) : src.size();
  data::Batch full, tail;
  src.allocate(full, std::min(batch, n));
  const int64_t rest = n % batch;
  if (rest > 0 && n > batch) src.allocate(tail, rest);
  for (int64_t start = first * batch; start < n; start += stride * batch) {
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

EvalResult evaluate(Task& task, nn::Module& model, data::SampleSource& source, int64_t batch,
                    const dist::Comm& comm) {
  EvalResult r;
  nn::Context ctx;
  ctx.training = false;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0, nsp_correct = 0;
  Tensor dlogits, labels_dev;
  for_each_batch(
      source, batch, 0,
      [&](const data::Batch& b, int64_t count) {
        const Tensor logits = model.forward(task.prepare(model, b), ctx);
        const Tensor& labels = task.labels_of(b);
        WIN_CHECK(logits.size(0) == labels.numel(), ErrorKind::Internal, "eval batch of ", count,
                  " gave logits ", logits.shape(), " for ", labels.numel(), " labels");
        nn::ensure(dlogits, logits.shape(), logits.dtype(), &logits);
        const auto ce = backend::ops_for(logits).cross_entropy(
            logits, backend::on_device(labels, logits.device(), labels_dev), -100, 1.0, dlogits);
        loss_sum += ce.loss * static_cast<double>(ce.counted);
        top1 += ce.correct;
        r.predictions += ce.counted;
        const Tensor lc = backend::to_device(logits, Device::CPU).contiguous();
        const int64_t classes = logits.size(1);
        for (int64_t i = 0; i < logits.size(0);
             ++i) {  // top-5: fewer than 5 logits beat the label's
          const int32_t label = labels.data<int32_t>()[i];
          if (label < 0) continue;
          const float* row = lc.data<float>() + i * classes;
          int64_t better = 0;
          for (int64_t c = 0; c < classes; ++c) better += row[c] > row[label];
          top5 += better < 5;
        }
        if (const Tensor* nsp = task.nsp_logits(model)) {
          const Tensor nc = backend::to_device(*nsp, Device::CPU).contiguous();
          for (int64_t i = 0; i < count; ++i) {
            const float* row = nc.data<float>() + 2 * i;
            nsp_correct += (row[1] > row[0] ? 1 : 0) == b.nsp_labels.data<int32_t>()[i];
          }
        }
        r.samples += count;
      },
      comm.rank(), comm.size());
  std::array<double, 7> sums = {loss_sum,
                                static_cast<double>(top1),
                                static_cast<double>(top5),
                                static_cast<double>(nsp_correct),
                                static_cast<double>(r.predictions),
                                static_cast<double>(r.samples),
                                task.nsp_logits(model) ? 1.0 : 0.0};
  comm.allreduce(std::span<double>(sums));
  loss_sum = sums[0];
  top1 = static_cast<int64_t>(sums[1]);
  top5 = static_cast<int64_t>(sums[2]);
  nsp_correct = static_cast<int64_t>(sums[3]);
  r.predictions = static_cast<int64_t>(sums[4]);
  r.samples = static_cast<int64_t>(sums[5]);
  WIN_CHECK(r.predictions > 0, ErrorKind::Data, "evaluation set is empty");
  const auto n = static_cast<double>(r.predictions);
  r.loss = loss_sum / n;
  r.top1 = static_cast<double>(top1) / n;
  r.top5 = static_cast<double>(top5) / n;
  if (sums[6] > 0) r.nsp = static_cast<double>(nsp_correct) / double(r.samples);
  return r;
}

double max_relative_difference(Task& task, nn::Module& a, nn::Module& b, data::SampleSource& source,
                               int64_t samples) {
  nn::Context ctx;
  ctx.training = false;
  double diff = 0, ref = 0;
  auto compare = [&](const std::vector<double>& ya, const std::vector<double>& yb) {
    for (size_t i = 0; i < ya.size(); ++i) {
      diff = std::max(diff, std::abs(ya[i] - yb[i]));
      ref = std::max(ref, std::abs(ya[i]));
    }
  };
  for_each_batch(source, std::min<int64_t>(samples, 256), samples,
                 [&](const data::Batch& x, int64_t) {
                   // to_vector reads device tensors back through the host.
                   const auto ya = a.forward(task.prepare(a, x), ctx).to_vector();
                   std::vector<double> na;
                   if (const Tensor* n = task.nsp_logits(a)) na = n->to_vector();
                   const auto yb = b.forward(task.prepare(b, x), ctx).to_vector();
                   compare(ya, yb);
                   if (const Tensor* n = task.nsp_logits(b)) compare(na, n->to_vector());
                 });
  return ref > 0 ? diff / ref : diff;
}

}  // namespace win::method
