// Backward memory (core/caching_allocator.hpp): a backward holds the few gradients alive at a time,
// not one per layer. Measured on the host heap, which counts every tensor byte whether a module
// keeps it or the transient pool caches it: what backward adds to the heap, at its peak and after
// it, must stay a small part of what forward saved for it. When every layer kept its own
// input-gradient buffer, backward added as much again as forward had, in both models below (1.00
// times); now the ResNet's adds 0.41 times (a bottleneck stage's few gradients, and the cached
// blocks of the smaller stages behind it), the BERT's 0.23 times.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/caching_allocator.hpp"
#include "models/bert.hpp"
#include "models/build.hpp"
#include "nn_testing.hpp"
#include "tiny_models.hpp"

using namespace win;
using namespace win::testing_nn;

namespace {

struct Growth {
  double forward = 0;        // heap bytes forward added (saved activations and outputs)
  double backward_peak = 0;  // the most backward added on top of that at any moment
  double backward_kept = 0;  // what stays once backward's result is dropped
};

// fwd runs forward (and makes the output gradient); bwd runs backward and drops its result.
template <class Fwd, class Bwd>
Growth measure(Fwd fwd, Bwd bwd) {
  transient_allocator(Device::CPU).trim();  // blocks cached by earlier tests would hide growth
  HeapAllocator& heap = cpu_allocator();
  const double h0 = static_cast<double>(heap.stats().bytes_in_use);
  fwd();
  const double h1 = static_cast<double>(heap.stats().bytes_in_use);
  heap.reset_peak();
  bwd();
  const AllocStats s = heap.stats();

  return {h1 - h0, static_cast<double>(s.peak_bytes) - h1,
          static_cast<double>(s.bytes_in_use) - h1};
}

void expect_small(const Growth& g, double peak_share, double kept_share, const char* what) {
  std::printf("%s: forward %.0f KiB, backward peak %.0f KiB, kept %.0f KiB\n", what,
              g.forward / 1024, g.backward_peak / 1024, g.backward_kept / 1024);
  EXPECT_GT(g.forward, 0) << what;
  EXPECT_LT(g.backward_peak, peak_share * g.forward)
      << what << ": backward peaked " << g.backward_peak << " bytes above forward's " << g.forward;
  EXPECT_LT(g.backward_kept, kept_share * g.forward)
      << what << ": backward kept " << g.backward_kept << " bytes (forward: " << g.forward << ")";
}

}  // namespace

TEST(BackwardMemory, ResNetHoldsAFewGradientsNotOnePerLayer) {
  // The tiny test ResNet, deeper and wider: two bottlenecks per stage, 8 to 256 channels.
  config::ModelConfig c = tiny_resnet("bottleneck", "small", 3, 8);
  c.resnet.layers = {2, 2, 2, 2};
  auto m = models::build_model(c, DType::F32);
  nn::Context ctx;
  const Tensor x = randn({8, 3, 16, 16}, DType::F32, 1);
  Tensor dlogits;
  const Growth g = measure(
      [&] {
        const Tensor logits = m->forward(x, ctx);
        dlogits = randn(logits.shape(), DType::F32, 2);
      },
      [&] { m->backward(dlogits, ctx); });
  expect_small(g, 0.5, 0.5, "resnet");
}

TEST(BackwardMemory, BertHoldsAFewGradientsNotOnePerLayer) {
  config::BertConfig c;
  c.vocab_size = 100;
  c.layers = 4;
  c.hidden = 64;
  c.heads = 4;
  c.ffn = 256;
  c.max_positions = 32;
  c.seq_length = 32;
  c.dropout = 0.1;
  c.attention_dropout = 0.1;
  c.head = "classifier";
  auto m = models::build_bert(c, 3, DType::F32);
  const int64_t b = 8, t = 32;
  Tensor ids = Tensor::zeros({b, t}, DType::I32), seg = Tensor::zeros({b, t}, DType::I32),
         mask = Tensor::zeros({b, t}, DType::I32);
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < t; ++j) {
      ids.at<int32_t>({i, j}) = static_cast<int32_t>((i * 7 + j * 3) % c.vocab_size);
      mask.at<int32_t>({i, j}) = j < t - i;
    }
  nn::Context ctx;
  ctx.rng = Philox(3, 4);
  Tensor dlogits;
  const Growth g = measure(
      [&] {
        m->set_inputs(seg, mask, Tensor());
        const Tensor logits = m->forward(ids, ctx);
        dlogits = randn(logits.shape(), DType::F32, 2);
      },
      [&] { m->backward(dlogits, ctx); });
  expect_small(g, 0.35, 0.3, "bert");
}
