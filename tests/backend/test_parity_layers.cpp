// Parity of the stateful ops (activations, softmax, layer norm, linear, convolution, batch norm,
// pooling) with the reference, per backend, on channels-last activations as the models use them.
// fp32 tolerances, normalised error: 1e-5, and 1e-4 where a convolution or normalisation sums
// long rows in another order. (The CUDA backend must keep TF32 off in fp32 mode for these.)
#include "parity_testing.hpp"

using namespace win;
using win::parity::host_randn;
using win::parity::OpParity;

TEST_P(OpParity, ActivationsForwardAndBackward) {
  for (auto kind : {backend::Eltwise::Relu, backend::Eltwise::Gelu, backend::Eltwise::Tanh}) {
    auto op_ref = ref().eltwise(kind);
    auto op = ops().eltwise(kind);
    const Tensor x = host_randn({6, 70}, 1, 2.0), dy = host_randn({6, 70}, 2);
    Tensor y_ref = Tensor::empty({6, 70}, DType::F32), y = like(y_ref);
    op_ref->forward(x, y_ref);
    op->forward(put(x), y);
    EXPECT_PARITY(get(y), y_ref, 1e-6) << " kind " << static_cast<int>(kind);
    Tensor dx_ref = Tensor::empty({6, 70}, DType::F32), dx = like(dx_ref);
    op_ref->backward(x, dy, dx_ref);
    op->backward(put(x), put(dy), dx);
    EXPECT_PARITY(get(dx), dx_ref, 1e-6) << " kind " << static_cast<int>(kind);
  }
}

TEST_P(OpParity, SoftmaxForwardAndBackward) {
  const Tensor x = host_randn({10, 129}, 1, 3.0), dy = host_randn({10, 129}, 2);
  auto sm_ref = ref().softmax();
  auto sm = ops().softmax();
  Tensor y_ref = Tensor::empty({10, 129}, DType::F32), y = like(y_ref);
  sm_ref->forward(x, y_ref);
  sm->forward(put(x), y);
  EXPECT_PARITY(get(y), y_ref, 1e-5);
  Tensor dx_ref = Tensor::empty({10, 129}, DType::F32), dx = like(dx_ref);
  sm_ref->backward(y_ref, dy, dx_ref);
  sm->backward(put(y_ref), put(dy), dx);
  EXPECT_PARITY(get(dx), dx_ref, 1e-5);
}

// Layer norm (statistics, output, gradients) at the widths and row counts of the GPU kernels'
// paths: a short row in one backward chunk (10 x 129); BERT-base's 768 (24 values per lane) over
// 5 chunks of 64 rows, the last one of 44; a row wider than the warp path (1100: one block per
// row and a separate column-sum kernel) over chunks of 64 and 6; and more rows than 128 chunks
// of 64 hold (8193: 127 chunks of 65, the last of 3).
TEST_P(OpParity, LayerNormOverRowWidthsAndChunks) {
  for (const Dims& shape : {Dims{10, 129}, Dims{300, 768}, Dims{70, 1100}, Dims{8193, 40}}) {
    SCOPED_TRACE(::testing::Message() << "shape " << shape);
    const int64_t rows = shape[0], d = shape[1];
    const Tensor x = host_randn(shape, 11, 2.0), dy = host_randn(shape, 12);
    const Tensor gamma = host_randn({d}, 13), beta = host_randn({d}, 14);
    auto ln_ref = ref().layernorm();
    auto ln = ops().layernorm();
    Tensor y_ref = Tensor::empty(shape, DType::F32), y = like(y_ref);
    Tensor mean_ref = Tensor::empty({rows}, DType::F32),
           var_ref = Tensor::empty({rows}, DType::F32);
    Tensor mean = like(mean_ref), var = like(var_ref);
    ln_ref->forward(x, gamma, beta, 1e-5, mean_ref, var_ref, y_ref);
    ln->forward(put(x), put(gamma), put(beta), 1e-5, mean, var, y);
    EXPECT_PARITY(get(y), y_ref, 1e-5);
    EXPECT_PARITY(get(mean), mean_ref, 1e-5);
    EXPECT_PARITY(get(var), var_ref, 1e-5);
    Tensor dx_ref = Tensor::empty(shape, DType::F32), dx = like(dx_ref);
    Tensor dg_ref = host_randn({d}, 15), db_ref = host_randn({d}, 16);
    Tensor dg = put(dg_ref), db = put(db_ref);
    ln_ref->backward(x, dy, gamma, mean_ref, var_ref, 1e-5, dx_ref, dg_ref, db_ref);
    ln->backward(put(x), put(dy), put(gamma), mean, var, 1e-5, dx, dg, db);
    EXPECT_PARITY(get(dx), dx_ref, 1e-5);
    EXPECT_PARITY(get(dg), dg_ref, 1e-5);
    EXPECT_PARITY(get(db), db_ref, 1e-5);
  }
}

TEST_P(OpParity, LinearWithAndWithoutFusedRelu) {
  for (bool relu : {false, true}) {
    auto op_ref = ref().linear(relu);
    auto op = ops().linear(relu);
    const Tensor x = host_randn({13, 40}, 1), w = host_randn({24, 40}, 2), b = host_randn({24}, 3);
    Tensor y_ref = Tensor::empty({13, 24}, DType::F32), y = like(y_ref);
    op_ref->forward(x, w, b, y_ref);
    op->forward(put(x), put(w), put(b), y);
    EXPECT_PARITY(get(y), y_ref, 1e-5) << " relu " << relu;
  }
}

TEST_P(OpParity, ConvolutionForwardAndBothBackwards) {
  for (const backend::Conv2dDesc d :
       {backend::Conv2dDesc{3, 3, 1, 1}, backend::Conv2dDesc{1, 1, 2, 0},
        backend::Conv2dDesc{3, 3, 2, 1}}) {
    auto op_ref = ref().conv2d(d);
    auto op = ops().conv2d(d);
    const int64_t H = 9, P = (H + 2 * d.padding - d.kernel_h) / d.stride + 1;
    const Tensor x = host_randn({2, 6, H, H}, 1, 1.0, true);
    const Tensor w = host_randn({8, 6, d.kernel_h, d.kernel_w}, 2, 0.3);
    const Tensor b = host_randn({8}, 3);
    Tensor y_ref = empty_channels_last({2, 8, P, P}, DType::F32), y = like(y_ref);
    op_ref->forward(x, w, b, y_ref);
    op->forward(put(x), put(w), put(b), y);
    EXPECT_PARITY(get(y), y_ref, 1e-4) << " kernel " << d.kernel_h << " stride " << d.stride;
    const Tensor dy = host_randn({2, 8, P, P}, 4, 1.0, true);
    Tensor dx_ref = empty_channels_last({2, 6, H, H}, DType::F32), dx = like(dx_ref);
    op_ref->backward_data(dy, w, dx_ref);
    op->backward_data(put(dy), put(w), dx);
    EXPECT_PARITY(get(dx), dx_ref, 1e-4);
    Tensor dw_ref = host_randn(w.shape(), 5), db_ref = host_randn({8}, 6);
    Tensor dw = put(dw_ref), db = put(db_ref);
    op_ref->backward_weights(x, dy, dw_ref, db_ref);
    op->backward_weights(put(x), put(dy), dw, db);
    EXPECT_PARITY(get(dw), dw_ref, 1e-4);
    EXPECT_PARITY(get(db), db_ref, 1e-4);
  }
}

TEST_P(OpParity, BatchNormTrainingEvalAndFusedRelu) {
  for (bool relu : {false, true}) {
    auto op_ref = ref().batchnorm(relu);
    auto op = ops().batchnorm(relu);
    const Tensor x = host_randn({4, 7, 5, 5}, 1, 2.0, true),
                 dy = host_randn({4, 7, 5, 5}, 2, 1.0, true);
    const Tensor gamma = host_randn({7}, 3), beta = host_randn({7}, 4);
    Tensor rm_ref = host_randn({7}, 5, 0.1), rv_ref = Tensor::zeros({7}, DType::F32);
    rv_ref.fill(1.0);
    Tensor rm = put(rm_ref), rv = put(rv_ref);
    Tensor mean_ref = Tensor::empty({7}, DType::F32), var_ref = Tensor::empty({7}, DType::F32);
    Tensor mean = like(mean_ref), var = like(var_ref);
    Tensor y_ref = empty_channels_last({4, 7, 5, 5}, DType::F32), y = like(y_ref);
    op_ref->forward_train(x, gamma, beta, 1e-5, 0.1, rm_ref, rv_ref, mean_ref, var_ref, y_ref);
    op->forward_train(put(x), put(gamma), put(beta), 1e-5, 0.1, rm, rv, mean, var, y);
    EXPECT_PARITY(get(y), y_ref, 1e-5) << " relu " << relu;
    EXPECT_PARITY(get(rm), rm_ref, 1e-5);
    EXPECT_PARITY(get(rv), rv_ref, 1e-5);
    EXPECT_PARITY(get(mean), mean_ref, 1e-5);
    EXPECT_PARITY(get(var), var_ref, 1e-5);
    Tensor dx_ref = empty_channels_last({4, 7, 5, 5}, DType::F32), dx = like(dx_ref);
    Tensor dg_ref = Tensor::zeros({7}, DType::F32), db_ref = Tensor::zeros({7}, DType::F32);
    Tensor dg = put(dg_ref), db = put(db_ref);
    op_ref->backward(x, y_ref, dy, gamma, mean_ref, var_ref, 1e-5, dx_ref, dg_ref, db_ref);
    op->backward(put(x), y, put(dy), put(gamma), mean, var, 1e-5, dx, dg, db);
    EXPECT_PARITY(get(dx), dx_ref, 1e-4);
    EXPECT_PARITY(get(dg), dg_ref, 1e-4);
    EXPECT_PARITY(get(db), db_ref, 1e-5);
    op_ref->forward_eval(x, gamma, beta, 1e-5, rm_ref, rv_ref, y_ref);
    op->forward_eval(put(x), put(gamma), put(beta), 1e-5, rm, rv, y);
    EXPECT_PARITY(get(y), y_ref, 1e-5);
  }
}

// Shapes past one chunk of rows and one block of channels (40 000 rows, 40 channels), gradients
// accumulated onto non-zero values, and a (N, C, 1, 1) contiguous input (the same memory as
// channels-last): the GPU's channels-last kernels take all three.
TEST_P(OpParity, BatchNormLargeAndOneByOne) {
  for (const Dims& shape : {Dims{4, 40, 100, 100}, Dims{16, 40, 1, 1}}) {
    const bool cl = shape[2] > 1;
    auto op_ref = ref().batchnorm(true);
    auto op = ops().batchnorm(true);
    const Tensor x = host_randn(shape, 11, 3.0, cl), dy = host_randn(shape, 12, 1.0, cl);
    const Tensor gamma = host_randn({40}, 13), beta = host_randn({40}, 14);
    Tensor rm_ref = host_randn({40}, 15, 0.1), rv_ref = Tensor::zeros({40}, DType::F32);
    rv_ref.fill(2.0);
    Tensor rm = put(rm_ref), rv = put(rv_ref);
    Tensor mean_ref = Tensor::empty({40}, DType::F32), var_ref = Tensor::empty({40}, DType::F32);
    Tensor mean = like(mean_ref), var = like(var_ref);
    Tensor y_ref = cl ? empty_channels_last(shape, DType::F32) : Tensor::empty(shape, DType::F32);
    Tensor y = like(y_ref);
    op_ref->forward_train(x, gamma, beta, 1e-5, 0.1, rm_ref, rv_ref, mean_ref, var_ref, y_ref);
    op->forward_train(put(x), put(gamma), put(beta), 1e-5, 0.1, rm, rv, mean, var, y);
    EXPECT_PARITY(get(y), y_ref, 1e-5) << shape;
    EXPECT_PARITY(get(rm), rm_ref, 1e-5) << shape;
    EXPECT_PARITY(get(rv), rv_ref, 1e-5) << shape;
    EXPECT_PARITY(get(var), var_ref, 1e-5) << shape;
    Tensor dx_ref = cl ? empty_channels_last(shape, DType::F32) : Tensor::empty(shape, DType::F32);
    Tensor dx = like(dx_ref);
    Tensor dg_ref = host_randn({40}, 16), db_ref = host_randn({40}, 17);  // accumulated onto
    Tensor dg = put(dg_ref), db = put(db_ref);
    op_ref->backward(x, y_ref, dy, gamma, mean_ref, var_ref, 1e-5, dx_ref, dg_ref, db_ref);
    op->backward(put(x), y, put(dy), put(gamma), mean, var, 1e-5, dx, dg, db);
    EXPECT_PARITY(get(dx), dx_ref, 1e-4) << shape;
    EXPECT_PARITY(get(dg), dg_ref, 1e-4) << shape;
    EXPECT_PARITY(get(db), db_ref, 1e-4) << shape;
    op_ref->forward_eval(x, gamma, beta, 1e-5, rm_ref, rv_ref, y_ref);
    op->forward_eval(put(x), put(gamma), put(beta), 1e-5, rm, rv, y);
    EXPECT_PARITY(get(y), y_ref, 1e-5) << shape;
  }
}

TEST_P(OpParity, MaxAndAveragePooling) {
  using K = backend::Pool2dDesc::Kind;
  for (const backend::Pool2dDesc d :
       {backend::Pool2dDesc{K::Max, 3, 2, 1}, backend::Pool2dDesc{K::Avg, 2, 2, 0},
        backend::Pool2dDesc{K::Avg, 3, 2, 1}}) {
    auto op_ref = ref().pool2d(d);
    auto op = ops().pool2d(d);
    const int64_t H = 8, P = (H + 2 * d.padding - d.kernel) / d.stride + 1;
    const Tensor x = host_randn({2, 5, H, H}, 1, 1.0, true),
                 dy = host_randn({2, 5, P, P}, 2, 1.0, true);
    Tensor y_ref = empty_channels_last({2, 5, P, P}, DType::F32), y = like(y_ref);
    op_ref->forward(x, y_ref);
    const Tensor xd = put(x);
    op->forward(xd, y);
    EXPECT_PARITY(get(y), y_ref, 1e-6) << " kind " << static_cast<int>(d.kind);
    Tensor dx_ref = empty_channels_last({2, 5, H, H}, DType::F32), dx = like(dx_ref);
    op_ref->backward(x, y_ref, dy, dx_ref);
    op->backward(xd, y, put(dy), dx);
    EXPECT_PARITY(get(dx), dx_ref, 1e-6);
  }
}
