// Image and BERT tasks (see task.hpp).
#include "win/task.hpp"

#include "backend/transfer.hpp"
#include "core/error.hpp"
#include "models/bert.hpp"
#include "win/bridged_model.hpp"

namespace win::method {

models::Model* architecture_of(nn::Module& net) {
  if (auto* b = dynamic_cast<BridgedModel*>(&net)) return &b->student();
  return dynamic_cast<models::Model*>(&net);
}

namespace {

class ImageTask final : public Task {
 public:
  // The loader's host batch on the network's device (staged: no allocation per step).
  Tensor prepare(nn::Module& net, const data::Batch& b) override {
    return backend::on_device(b.x, net.device(), x_);
  }
  const Tensor& labels_of(const data::Batch& b) const override { return b.labels; }
  train::StepStats step(nn::Module& net, nn::Module* teacher, const data::Batch& b,
                        nn::Context& ctx, const LossSpec& loss) override {
    const Tensor x = prepare(net, b);
    const Tensor logits = net.forward(x, ctx);
    Tensor t;
    if (loss.needs_teacher()) t = teacher->forward(x, eval_ctx_);
    const train::StepStats s = objective_(logits, b.labels, t, loss);
    net.backward(objective_.grad(), ctx);
    return s;
  }

 private:
  Objective objective_;
  nn::Context eval_ctx_{.training = false};
  Tensor x_;
};

models::BertModel& bert_of(nn::Module& net) {
  auto* m = dynamic_cast<models::BertModel*>(architecture_of(net));
  WIN_ASSERT(m != nullptr, "a BERT task on a network that is not BERT");
  return *m;
}

// BERT pretraining: MLM over the masked positions (padded slots ignored) + NSP, each distilled
// from the teacher's logits when the loss says so; classification: one CE/KD on the classifier.
class BertTask final : public Task {
 public:
  explicit BertTask(bool pretrain) : pretrain_(pretrain) {}
  Tensor prepare(nn::Module& net, const data::Batch& b) override {
    bert_of(net).set_inputs(b.segment_ids, b.input_mask, pretrain_ ? b.masked_positions : Tensor());
    return b.input_ids;
  }
  const Tensor& labels_of(const data::Batch& b) const override {
    return pretrain_ ? b.mlm_labels : b.labels;
  }
  const Tensor* nsp_logits(nn::Module& net) const override {
    return pretrain_ ? &bert_of(net).nsp_logits() : nullptr;
  }
  train::StepStats step(nn::Module& net, nn::Module* teacher, const data::Batch& b,
                        nn::Context& ctx, const LossSpec& loss) override {
    Tensor tmain, tnsp;
    if (loss.needs_teacher()) {
      tmain = backend::clone(teacher->forward(prepare(*teacher, b), eval_ctx_));
      if (pretrain_) tnsp = backend::clone(bert_of(*teacher).nsp_logits());
    }
    const Tensor logits = net.forward(prepare(net, b), ctx);
    if (!pretrain_) {
      const train::StepStats s = mlm_(logits, b.labels, tmain, loss);
      net.backward(mlm_.grad(), ctx);
      return s;
    }
    train::StepStats s = mlm_(logits, b.mlm_labels, tmain, loss, ctx.label_weight);
    const train::StepStats n = nsp_(bert_of(net).nsp_logits(), b.nsp_labels, tnsp, loss);
    s.loss += n.loss;  // MLM accuracy stays the reported accuracy
    bert_of(net).set_nsp_grad(nsp_.grad());
    net.backward(mlm_.grad(), ctx);
    return s;
  }

 private:
  bool pretrain_;
  Objective mlm_, nsp_;
  nn::Context eval_ctx_{.training = false};
};

}  // namespace

std::unique_ptr<Task> make_task(const config::ModelConfig& model) {
  if (model.family == "bert") return std::make_unique<BertTask>(model.bert.head == "pretrain");
  return std::make_unique<ImageTask>();
}

std::unique_ptr<Task> make_task(const config::Deck& deck) {
  return make_task(deck.model);
}

}  // namespace win::method
