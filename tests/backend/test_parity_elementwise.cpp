// Parity of the stateless ops (gemm, element-wise, reductions, embedding, dropout, losses,
// optimizer updates) with the reference, per backend. fp32 tolerances, normalised error:
// element-wise and updates 1e-6 (the same formula, maybe fused differently), reductions and
// matrix products 1e-5 (summation order), exact for masks and integer counts.
#include <cmath>

#include "parity_testing.hpp"

using namespace win;
using win::parity::host_randn;
using win::parity::OpParity;

namespace {

Tensor host_ints(const Dims& shape, int64_t n, uint64_t seed) {
  std::vector<int32_t> v;
  const Philox rng(seed, 0x1D5);
  int64_t count = 1;
  for (int i = 0; i < shape.size(); ++i) count *= shape[i];
  for (int64_t i = 0; i < count; ++i)
    v.push_back(static_cast<int32_t>(
        rng.uniform_int(0, static_cast<uint64_t>(i), static_cast<uint64_t>(n))));
  return Tensor::from(v, shape);
}

}  // namespace

TEST_P(OpParity, GemmEveryTransposeAndBatched) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const Tensor a = host_randn(ta ? Dims{37, 19} : Dims{19, 37}, 1);
      const Tensor b = host_randn(tb ? Dims{23, 37} : Dims{37, 23}, 2);
      Tensor c_ref = host_randn({19, 23}, 3);
      Tensor c = put(c_ref);
      ref().gemm(ta, tb, 0.7, a, b, 0.3, c_ref);
      ops().gemm(ta, tb, 0.7, put(a), put(b), 0.3, c);
      EXPECT_PARITY(get(c), c_ref, 1e-5) << " ta " << ta << " tb " << tb;
    }
  // Attention's per-head products: (B, H, T, d) x (B, H, d, T).
  const Tensor q = host_randn({2, 3, 9, 8}, 4), k = host_randn({2, 3, 9, 8}, 5);
  Tensor s_ref = Tensor::empty({2, 3, 9, 9}, DType::F32);
  Tensor s = like(s_ref);
  ref().gemm(false, true, 0.125, q, k, 0.0, s_ref);
  ops().gemm(false, true, 0.125, put(q), put(k), 0.0, s);
  EXPECT_PARITY(get(s), s_ref, 1e-5);
}

// Batched products whose factors have different batch strides: (B, M, K) x (B, K, N) with M != N,
// and attention's mask product (B, H T, 1) x (B, 1, T) with k = 1, accumulated into the scores.
TEST_P(OpParity, GemmWithUnequalBatchStrides) {
  const Tensor a = host_randn({3, 4, 6}, 21), b = host_randn({3, 6, 5}, 22);
  Tensor c_ref = host_randn({3, 4, 5}, 23), c = put(c_ref);
  ref().gemm(false, false, 1.0, a, b, 0.5, c_ref);
  ops().gemm(false, false, 1.0, put(a), put(b), 0.5, c);
  EXPECT_PARITY(get(c), c_ref, 1e-5);
  Tensor ones = Tensor::empty({3, 2 * 6, 1}, DType::F32);
  ones.fill(1.0);
  const Tensor bias = host_randn({3, 1, 6}, 24);
  Tensor s_ref = host_randn({3, 2 * 6, 6}, 25), s = put(s_ref);
  ref().gemm(false, false, 1.0, ones, bias, 1.0, s_ref);
  ops().gemm(false, false, 1.0, put(ones), put(bias), 1.0, s);
  EXPECT_PARITY(get(s), s_ref, 1e-6);
}

TEST_P(OpParity, ElementwiseOps) {
  const Tensor a = host_randn({7, 33}, 1), b = host_randn({7, 33}, 2);
  Tensor y_ref = Tensor::empty({7, 33}, DType::F32), y = like(y_ref);
  ref().add(a, b, y_ref);
  ops().add(put(a), put(b), y);
  EXPECT_PARITY(get(y), y_ref, 1e-6);
  ref().add_relu(a, b, y_ref);
  ops().add_relu(put(a), put(b), y);
  EXPECT_PARITY(get(y), y_ref, 1e-6);
  ref().relu_backward(a, b, y_ref);
  ops().relu_backward(put(a), put(b), y);
  EXPECT_PARITY(get(y), y_ref, 0.0);
  Tensor acc_ref = b.clone(), acc = put(b);
  ref().axpy(-0.3, a, acc_ref);
  ops().axpy(-0.3, put(a), acc);
  ref().scale(1.7, acc_ref);
  ops().scale(1.7, acc);
  EXPECT_PARITY(get(acc), acc_ref, 1e-6);
  const Tensor bias = host_randn({33}, 3);
  ref().add_bias(bias, acc_ref);
  ops().add_bias(put(bias), acc);
  EXPECT_PARITY(get(acc), acc_ref, 1e-6);
  Tensor db_ref = host_randn({33}, 4), db = put(db_ref);
  ref().bias_grad(a, db_ref);
  ops().bias_grad(put(a), db);
  EXPECT_PARITY(get(db), db_ref, 1e-5);
  Tensor dz_ref = Tensor::empty({7, 33}, DType::F32), dz = like(dz_ref);
  ref().relu_bias_backward(a, b, dz_ref, db_ref);
  ops().relu_bias_backward(put(a), put(b), dz, db);
  EXPECT_PARITY(get(dz), dz_ref, 0.0);
  EXPECT_PARITY(get(db), db_ref, 1e-5);
  const double ss_ref = ref().sum_squares(a), ss = ops().sum_squares(put(a));
  EXPECT_NEAR(ss, ss_ref, 1e-6 * ss_ref);
}

// Element-wise updates into and from strided views (BERT's pooler adds the first token's gradient
// into a (B, T, H) buffer; weight surgery scales slices): the operands share no dense layout.
TEST_P(OpParity, ElementwiseOnStridedViews) {
  const Tensor x = host_randn({3, 8}, 11);
  const Tensor big = host_randn({3, 2, 8}, 12);  // view [:, 0, :]: (3, 8) with row stride 16
  Tensor big_ref = big.clone(), big_dev = put(big);
  Tensor view_ref = big_ref.select(1, 0), view = big_dev.select(1, 0);
  ref().axpy(0.5, x, view_ref);
  ops().axpy(0.5, put(x), view);
  EXPECT_PARITY(get(big_dev), big_ref, 1e-6);
  Tensor col_ref = big_ref.select(2, 3), col = big_dev.select(2, 3);  // (3, 2), strides (16, 8)
  ref().scale(-1.5, col_ref);
  ops().scale(-1.5, col);
  EXPECT_PARITY(get(big_dev), big_ref, 1e-6);
  const Tensor a = host_randn({3, 8}, 13);
  Tensor other_ref = big_ref.select(1, 1), other = big_dev.select(1, 1);
  ref().add(a, x, other_ref);  // into a strided view
  ops().add(put(a), put(x), other);
  EXPECT_PARITY(get(big_dev), big_ref, 1e-6);
  ref().add(other_ref, x, other_ref);  // in place on a strided view
  ops().add(other, put(x), other);
  EXPECT_PARITY(get(big_dev), big_ref, 1e-6);
}

TEST_P(OpParity, CopyBetweenLayoutsAndGlobalAveragePooling) {
  const Tensor x = host_randn({3, 5, 4, 6}, 1);  // contiguous NCHW
  Tensor cl_ref = empty_channels_last({3, 5, 4, 6}, DType::F32);
  Tensor cl = like(cl_ref);
  ref().copy(x, cl_ref);
  ops().copy(put(x), cl);
  EXPECT_PARITY(get(cl), cl_ref, 0.0);
  Tensor y_ref = Tensor::empty({3, 5}, DType::F32), y = like(y_ref);
  ref().global_avg_pool(cl_ref, y_ref);
  ops().global_avg_pool(cl, y);
  EXPECT_PARITY(get(y), y_ref, 1e-6);
  Tensor dx_ref = empty_channels_last({3, 5, 4, 6}, DType::F32), dx = like(dx_ref);
  ref().global_avg_pool_backward(y_ref, dx_ref);
  ops().global_avg_pool_backward(y, dx);
  EXPECT_PARITY(get(dx), dx_ref, 1e-6);
}

TEST_P(OpParity, EmbeddingGatherAndScatter) {
  const Tensor w = host_randn({50, 12}, 1), ids = host_ints({40}, 50, 2);
  Tensor y_ref = Tensor::empty({40, 12}, DType::F32), y = like(y_ref);
  ref().embedding(w, ids, y_ref);
  ops().embedding(put(w), put(ids), y);
  EXPECT_PARITY(get(y), y_ref, 0.0);
  const Tensor dy = host_randn({40, 12}, 3);
  Tensor dw_ref = host_randn({50, 12}, 4), dw = put(dw_ref);
  ref().embedding_backward(dy, ids, dw_ref);
  ops().embedding_backward(put(dy), put(ids), dw);
  EXPECT_PARITY(get(dw), dw_ref, 1e-6);
  // An id out of range is a data error naming its position, on every backend.
  Tensor bad = ids.clone();
  bad.data<int32_t>()[17] = 50;
  try {
    ops().embedding(put(w), put(bad), y);
    sync();
    FAIL() << "id 50 of 50 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("17"), std::string::npos) << e.what();
  }
}

// Rounding to bf16 is to nearest, ties to even, on every backend and into any layout; widening
// back is exact. bf16 spaces values 2^-7 apart above 1: 1 + 2^-8 is a tie that goes to 1 (even),
// 1 + 3 * 2^-8 a tie that goes to 1 + 2^-6 (even), and 1 + 2^-8 + 2^-20 rounds up to 1 + 2^-7.
TEST_P(OpParity, ConvertRoundsToNearestEven) {
  const std::vector<float> v = {
      1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f, -2.5f, 0.0f, 3.0e38f};
  const std::vector<double> want = {1.0, 1.0 + 0x1p-6, 1.0 + 0x1p-7, -2.5, 0.0, 3.0e38};
  const Tensor x = Tensor::from(v, {2, 3});
  Tensor h = like(Tensor::empty({2, 3}, DType::BF16));
  ops().convert(put(x), h);
  Tensor back = like(Tensor::empty({3, 2}, DType::F32)).transpose(0, 1);  // another layout
  ops().convert(h, back);
  const std::vector<double> got = get(back).to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], std::abs(want[i]) * 0x1p-8) << "element " << i;
  EXPECT_EQ(got[0], 1.0);
  EXPECT_EQ(got[1], 1.0 + 0x1p-6);
  EXPECT_EQ(got[2], 1.0 + 0x1p-7);
}

TEST_P(OpParity, DropoutMasksAreBitwiseTheReferenceOnes) {
  const Tensor x = host_randn({9, 131}, 1);
  const Philox rng(42, 0xD0);
  Tensor m_ref = Tensor::empty({9, 131}, DType::U8), y_ref = Tensor::empty({9, 131}, DType::F32);
  Tensor m = like(m_ref), y = like(y_ref);
  ref().dropout(x, 0.3, rng, 5, 1000, m_ref, y_ref);
  ops().dropout(put(x), 0.3, rng, 5, 1000, m, y);
  EXPECT_EQ(get(m).to_vector(), m_ref.to_vector());
  EXPECT_PARITY(get(y), y_ref, 1e-6);
  const Tensor dy = host_randn({9, 131}, 2);
  Tensor dx_ref = Tensor::empty({9, 131}, DType::F32), dx = like(dx_ref);
  ref().dropout_backward(dy, m_ref, 0.3, dx_ref);
  ops().dropout_backward(put(dy), m, 0.3, dx);
  EXPECT_PARITY(get(dx), dx_ref, 1e-6);
}

TEST_P(OpParity, LossesAndTheirGradients) {
  const Tensor logits = host_randn({16, 11}, 1, 2.0);
  Tensor labels = host_ints({16}, 11, 2);
  labels.data<int32_t>()[3] = -100;  // ignored row
  Tensor d_ref = Tensor::empty({16, 11}, DType::F32), d = like(d_ref);
  const auto r_ref = ref().cross_entropy(logits, labels, -100, 0.5, d_ref);
  const auto r = ops().cross_entropy(put(logits), put(labels), -100, 0.5, d);
  EXPECT_NEAR(r.loss, r_ref.loss, 1e-6 * std::abs(r_ref.loss));
  EXPECT_EQ(r.counted, r_ref.counted);
  EXPECT_EQ(r.correct, r_ref.correct);
  EXPECT_PARITY(get(d), d_ref, 1e-6);
  const Tensor target = host_randn({16, 11}, 3);
  const double mse_ref = ref().mse(logits, target, 2.0, d_ref);
  const double mse = ops().mse(put(logits), put(target), 2.0, d);
  EXPECT_NEAR(mse, mse_ref, 1e-6 * mse_ref);
  EXPECT_PARITY(get(d), d_ref, 1e-6);
  const double kl_ref = ref().kl_div(logits, target, 4.0, 1.0, d_ref);
  const double kl = ops().kl_div(put(logits), put(target), 4.0, 1.0, d);
  EXPECT_NEAR(kl, kl_ref, 1e-5 * std::abs(kl_ref));
  EXPECT_PARITY(get(d), d_ref, 1e-5);
}

TEST_P(OpParity, OptimizerUpdates) {
  const Tensor g = host_randn({1000}, 1);
  Tensor p_ref = host_randn({1000}, 2), buf_ref = Tensor::zeros({1000}, DType::F32);
  Tensor p = put(p_ref), buf = put(buf_ref);
  for (int s = 0; s < 3; ++s) {
    ref().sgd_update(p_ref, g, buf_ref, 0.1, 0.9, s == 2, 1e-4, s == 0);
    ops().sgd_update(p, put(g), buf, 0.1, 0.9, s == 2, 1e-4, s == 0);
  }
  EXPECT_PARITY(get(p), p_ref, 1e-6);
  EXPECT_PARITY(get(buf), buf_ref, 1e-6);
  Tensor m_ref = Tensor::zeros({1000}, DType::F32), v_ref = Tensor::zeros({1000}, DType::F32);
  Tensor m = put(m_ref), v = put(v_ref);
  for (int s = 1; s <= 3; ++s) {
    ref().adamw_update(p_ref, g, m_ref, v_ref, 1e-3, 0.9, 0.999, 1e-8, 0.01, s);
    ops().adamw_update(p, put(g), m, v, 1e-3, 0.9, 0.999, 1e-8, 0.01, s);
  }
  EXPECT_PARITY(get(p), p_ref, 1e-6);
  EXPECT_PARITY(get(m), m_ref, 1e-6);
  EXPECT_PARITY(get(v), v_ref, 1e-6);
}

// A whole optimizer step over segments of flat buffers (the GPU's one multi-tensor launch)
// against the reference's per-segment updates: segments of unequal sizes (empty, one element,
// more than one work chunk, not a multiple of it), each with its own weight decay, and gaps
// between them that must stay untouched.
TEST_P(OpParity, UpdatesOverSegmentsMatchPerSegmentUpdates) {
  const int64_t n = 12000;
  const std::vector<backend::Ops::UpdateSegment> segs = {
      {0, 4100, 1e-2}, {4100, 0, 0.0}, {4100, 1, 0.0}, {4200, 7000, 5e-4}, {11300, 600, 0.0}};
  const Tensor g = host_randn({n}, 3);
  Tensor p_ref = host_randn({n}, 4), buf_ref = Tensor::zeros({n}, DType::F32);
  Tensor p = put(p_ref), buf = put(buf_ref);
  const std::vector<double> start = p_ref.to_vector();
  for (int s = 0; s < 3; ++s) {
    for (const auto& seg : segs) {
      Tensor ps = p_ref.slice(0, seg.offset, seg.offset + seg.numel);
      Tensor bs = buf_ref.slice(0, seg.offset, seg.offset + seg.numel);
      ref().sgd_update(ps, g.slice(0, seg.offset, seg.offset + seg.numel), bs, 0.1, 0.9, true,
                       seg.weight_decay, s == 0);
    }
    ops().sgd_update_segments(p, put(g), buf, segs, 0.1, 0.9, true, s == 0);
  }
  EXPECT_PARITY(get(p), p_ref, 1e-6);
  EXPECT_PARITY(get(buf), buf_ref, 1e-6);
  const std::vector<double> after = get(p).to_vector();
  EXPECT_EQ(after[4150], start[4150]) << "a gap between segments was written";
  EXPECT_NE(after[4100], start[4100]) << "the one-element segment was not updated";

  Tensor m_ref = Tensor::zeros({n}, DType::F32), v_ref = Tensor::zeros({n}, DType::F32);
  Tensor m = put(m_ref), v = put(v_ref);
  for (int s = 1; s <= 3; ++s) {
    for (const auto& seg : segs) {
      auto sl = [&](const Tensor& t) { return t.slice(0, seg.offset, seg.offset + seg.numel); };
      Tensor ps = sl(p_ref), ms = sl(m_ref), vs = sl(v_ref);
      ref().adamw_update(ps, sl(g), ms, vs, 1e-3, 0.9, 0.999, 1e-8, seg.weight_decay, s);
    }
    ops().adamw_update_segments(p, put(g), m, v, segs, 1e-3, 0.9, 0.999, 1e-8, s);
  }
  EXPECT_PARITY(get(p), p_ref, 1e-6);
  EXPECT_PARITY(get(m), m_ref, 1e-6);
  EXPECT_PARITY(get(v), v_ref, 1e-6);
}

// Optimizers at work side by side (the pipelined narrow stage steps several per rank): segment
// lists that alternate, that differ from another only in a weight decay, and more of them than
// the GPU keeps segment tables for (8), each call against the reference's per-segment updates.
TEST_P(OpParity, AlternatingSegmentListsEachUpdateTheirOwnSegments) {
  const int64_t n = 6000;
  using Segments = std::vector<backend::Ops::UpdateSegment>;
  std::vector<Segments> lists;
  for (int k = 0; k < 10; ++k)
    lists.push_back({{0, 1000 + 100 * k, 1e-2 * (k % 3)}, {2000 + 10 * k, 3000, 5e-4 * k}});
  lists.push_back(lists[0]);
  lists.back()[0].weight_decay = 0.5;  // the same layout as list 0, another decay
  const Tensor g = host_randn({n}, 5);
  Tensor p_ref = host_randn({n}, 6), buf_ref = Tensor::zeros({n}, DType::F32);
  Tensor p = put(p_ref), buf = put(buf_ref);
  const std::vector<size_t> order = {0, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 10};
  for (size_t i : order) {
    for (const auto& seg : lists[i]) {
      auto sl = [&](const Tensor& t) { return t.slice(0, seg.offset, seg.offset + seg.numel); };
      Tensor ps = sl(p_ref), bs = sl(buf_ref);
      ref().sgd_update(ps, sl(g), bs, 0.1, 0.9, false, seg.weight_decay, false);
    }
    ops().sgd_update_segments(p, put(g), buf, lists[i], 0.1, 0.9, false, false);
    ASSERT_LE(parity::normalised_error(get(p), p_ref), 1e-6) << "after list " << i;
  }
  EXPECT_PARITY(get(buf), buf_ref, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Backends, OpParity, testing::ValuesIn(win::parity::backend_cases()),
                         [](const auto& i) { return i.param.name; });
