// W1-W3 and G1-G2 of BENCHMARKS.md (see bench_workloads.hpp).
#include "app/bench_workloads.hpp"

#include "backend/transfer.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "models/bert.hpp"
#include "models/mlp.hpp"
#include "models/resnet.hpp"
#include "nn/loss.hpp"

namespace win::app {

namespace {

// Random class labels / token ids in [0, n).
Tensor random_ints(const Dims& shape, int64_t n, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::I32);
  const Philox rng(seed, 7);
  int32_t* p = t.data<int32_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = static_cast<int32_t>(
        rng.uniform_int(0, static_cast<uint64_t>(i), static_cast<uint64_t>(n)));
  return t;
}

// Image classifiers: W1 and W2. x is random normal input, labels random classes.
class ImageWorkload final : public Workload {
 public:
  ImageWorkload(const char* name, std::unique_ptr<models::Model> m, const Dims& x_shape,
                int64_t classes, const config::OptimConfig& opt, uint64_t seed, Device device)
      : name_(name), model_(std::move(m)) {
    nn::init_params(*model_, seed);
    store_ = nn::ParamStore(*model_);
    opt_ = train::make_optimizer(opt, store_);
    Tensor x = Tensor::empty(x_shape, DType::F32);
    fill_normal(x, Philox(seed, 5), 0.0, 1.0, 0);
    x_ = backend::to_device(x, device);
    labels_ = backend::to_device(random_ints({x_shape[0]}, classes, seed), device);
    lr_ = opt.lr;
  }
  const char* name() const override { return name_; }
  int64_t batch() const override { return x_.size(0); }
  models::Model& model() override { return *model_; }
  double compute(nn::Context& ctx) override {
    store_.zero_grad();
    const Tensor logits = model_->forward(x_, ctx);
    const nn::LossOutput l = ce_(logits, labels_);
    model_->backward(l.grad, ctx);
    return l.loss;
  }
  void update() override { opt_->step(lr_); }
  nn::ParamStore& store() override { return store_; }

 private:
  const char* name_;
  std::unique_ptr<models::Model> model_;
  nn::ParamStore store_;
  std::unique_ptr<train::Optimizer> opt_;
  nn::CrossEntropyLoss ce_;
  Tensor x_, labels_;
  double lr_;
};

// W3: BERT pretraining step, MLM over 20 masked positions per sequence plus NSP.
class BertWorkload final : public Workload {
 public:
  BertWorkload(const char* name, const config::BertConfig& c, int64_t batch, int64_t predictions,
               uint64_t seed, Device device)
      : name_(name), model_(models::build_bert(c, 2, DType::F32)) {
    nn::init_params(*model_, seed);
    store_ = nn::ParamStore(*model_);
    config::OptimConfig opt;
    opt.optimizer = "adamw";
    opt.lr = 1e-4;
    opt.weight_decay = 0.01;
    opt_ = train::make_optimizer(opt, store_);
    lr_ = opt.lr;
    const int64_t t = c.seq_length;
    ids_ = random_ints({batch, t}, c.vocab_size, seed);
    segments_ = Tensor::zeros({batch, t}, DType::I32);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t j = t / 2; j < t; ++j) segments_.at<int32_t>({b, j}) = 1;
    mask_ = Tensor::empty({batch, t}, DType::I32);
    mask_.fill(1.0);
    positions_ = Tensor::empty({batch, predictions}, DType::I32);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t j = 0; j < predictions; ++j)
        positions_.at<int32_t>({b, j}) = static_cast<int32_t>(1 + j * (t - 2) / predictions);
    // On the model's device (the loader's host batch would be moved once per step); the masked
    // positions and the mask stay on the host, where the model reads them.
    ids_ = backend::to_device(ids_, device);
    segments_ = backend::to_device(segments_, device);
    mlm_labels_ =
        backend::to_device(random_ints({batch * predictions}, c.vocab_size, seed + 1), device);
    nsp_labels_ = backend::to_device(random_ints({batch}, 2, seed + 2), device);
  }
  const char* name() const override { return name_; }
  int64_t batch() const override { return ids_.size(0); }
  models::Model& model() override { return *model_; }
  double compute(nn::Context& ctx) override {
    store_.zero_grad();
    model_->set_inputs(segments_, mask_, positions_);
    const Tensor mlm = model_->forward(ids_, ctx);
    const nn::LossOutput lm = mlm_(mlm, mlm_labels_);
    const nn::LossOutput ln = nsp_(model_->nsp_logits(), nsp_labels_);
    model_->set_nsp_grad(ln.grad);
    model_->backward(lm.grad, ctx);
    return lm.loss + ln.loss;
  }
  void update() override { opt_->step(lr_); }
  nn::ParamStore& store() override { return store_; }

 private:
  const char* name_;
  std::unique_ptr<models::BertModel> model_;
  nn::ParamStore store_;
  std::unique_ptr<train::Optimizer> opt_;
  nn::CrossEntropyLoss mlm_, nsp_;
  Tensor ids_, segments_, mask_, positions_, mlm_labels_, nsp_labels_;
  double lr_;
};

}  // namespace

bool is_gpu_workload(const std::string& name) {
  return name == "resnet50" || name == "bert-base";
}

bool is_workload(const std::string& name) {
  return name == "mlp" || name == "resnet" || name == "bert" || name == "loader" ||
         name == "sgemm" || is_gpu_workload(name);
}

std::unique_ptr<Workload> make_workload(const std::string& name, uint64_t seed, int slices,
                                        Device device) {
  // Every module made below lives on `device`.
  const nn::DeviceScope on_device(device);
  auto share = [&](int64_t batch) {
    WIN_CHECK(slices >= 1 && batch % slices == 0, ErrorKind::Usage, "win bench ", name,
              ": the batch of ", batch, " does not split into ", slices, " equal slices");
    return batch / slices;
  };
  config::OptimConfig sgd;
  sgd.optimizer = "sgd";
  sgd.lr = 0.01;
  sgd.momentum = 0.9;
  if (name == "mlp") {
    // W1: 784 -> 24 x (Linear 128 + ReLU) -> Linear 10, batch 256, SGD momentum 0.9, CE.
    config::MlpConfig c;
    c.input_size = 784;
    c.width = 128;
    c.depth = 24;
    c.block = "plain";
    c.activation = "relu";
    sgd.weight_decay = 0;
    return std::make_unique<ImageWorkload>("mlp", models::build_mlp(c, 10, DType::F32),
                                           Dims{share(256), 784}, 10, sgd, seed, device);
  }
  if (name == "resnet") {
    // W2: 3x3 stem 1 -> 32 + BN + ReLU; bottleneck stages [2,2,2,2], inner 16..128, expansion 4;
    // global average pool; Linear 10; batch 128 of 1x28x28; SGD momentum 0.9, wd 1e-4, CE.
    config::ResNetConfig c;
    c.block = "bottleneck";
    c.layers = {2, 2, 2, 2};
    c.base_width = 16;
    c.stem_width = 32;
    c.stem = "small";
    c.in_channels = 1;
    c.image_size = 28;
    sgd.weight_decay = 1e-4;
    return std::make_unique<ImageWorkload>("resnet", models::build_resnet(c, 10, DType::F32),
                                           Dims{share(128), 1, 28, 28}, 10, sgd, seed, device);
  }
  if (name == "bert") {
    // W3: post-LN BERT, 4 layers, hidden 256, 4 heads, FFN 1024, dropout 0.1, vocab 30522,
    // seq 128, batch 32 with 20 masked positions, AdamW, MLM CE + NSP CE.
    config::BertConfig c;
    c.layers = 4;
    c.hidden = 256;
    c.heads = 4;
    c.ffn = 1024;
    c.vocab_size = 30522;
    c.seq_length = 128;
    c.max_positions = 512;
    c.dropout = 0.1;
    c.attention_dropout = 0.1;
    return std::make_unique<BertWorkload>("bert", c, share(32), 20, seed, device);
  }
  if (name == "resnet50") {
    // G1: torchvision ResNet-50 (7x7 stem, bottlenecks [3,4,6,3], width 64), 1000 classes, batch
    // 256 of 3x224x224, SGD momentum 0.9, wd 1e-4, CE.
    config::ResNetConfig c;
    sgd.lr = 0.1;
    sgd.weight_decay = 1e-4;
    return std::make_unique<ImageWorkload>("resnet50", models::build_resnet(c, 1000, DType::F32),
                                           Dims{share(256), 3, 224, 224}, 1000, sgd, seed, device);
  }
  if (name == "bert-base") {
    // G2: BERT-base (12 layers, hidden 768, 12 heads, FFN 3072, vocab 30522), seq 128, batch 64
    // with 20 masked positions, AdamW, MLM CE + NSP CE.
    config::BertConfig c;
    c.seq_length = 128;
    return std::make_unique<BertWorkload>("bert-base", c, share(64), 20, seed, device);
  }
  WIN_FAIL(ErrorKind::Usage, "win bench: unknown workload '", name, "' (", kWorkloadNames, ")");
}

}  // namespace win::app
