// Downstream fine-tune and score of a pretrained BERT (see downstream.hpp).
#include "win/downstream.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "core/log.hpp"
#include "data/bert_shard.hpp"
#include "io/model_io.hpp"
#include "models/build.hpp"
#include "nn/param_store.hpp"
#include "win/stages.hpp"
#include "win/task.hpp"

namespace win::method {

namespace fs = std::filesystem;

bool has_downstream(const config::Deck& d) {
  return d.model.family == "bert" && d.model.bert.head == "pretrain" &&
         !d.data.downstream_train.empty();
}

EvalResult downstream_score(const RunContext& rc, const std::string& name,
                            const config::ModelConfig& pretrained, const std::string& weights) {
  const auto& d = rc.deck();
  WIN_CHECK(!d.data.downstream_test.empty(), ErrorKind::Config,
            "data.downstream_test: needed to score the downstream task");
  const int64_t vocab = pretrained.bert.vocab_size;
  auto train =
      data::bert_source(d.data.downstream_train, data::BertShardKind::Classification, vocab);
  auto test = data::bert_source(d.data.downstream_test, data::BertShardKind::Classification, vocab);
  config::ModelConfig c = pretrained;
  c.bert.head = "classify";
  c.classes =
      data::BertDataset::open(d.data.downstream_train, data::BertShardKind::Classification, vocab)
          .num_classes();
  auto model = models::build_model(c, DType::F32);
  const std::string dir = (fs::path(rc.stage_dir("eval")) / "downstream" / name).string();
  const std::string out = (fs::path(dir) / "final.h5").string();
  if (rc.exists(out)) {
    io::load_weights(out, *model);
  } else {
    rc.write([&] { fs::create_directories(dir); });
    nn::init_params(*model, static_cast<uint64_t>(d.run.seed) + 3);
    // The pretrained backbone (embeddings, layers, pooler) under a fresh classifier.
    io::load_weights(weights, *model, io::PartialLoad{{"classifier."}, {"cls."}});
    config::TrainStageConfig cfg;
    cfg.loss = "ce";
    auto& o = cfg.optim;
    o.optimizer = "adamw";
    o.lr = d.eval.downstream_lr;
    o.epochs = d.eval.downstream_epochs;
    o.batch_size = d.eval.downstream_batch_size;
    o.lr_schedule = "linear";
    o.warmup_epochs = 0.1 * d.eval.downstream_epochs;
    o.weight_decay = 0.01;
    o.no_decay = {"ln", "bias"};
    o.clip_grad_norm = 1.0;
    log_info("eval: fine-tuning ", name, " on the downstream task (", train->size(), " examples, ",
             c.classes, " classes)");
    train_model(rc, *model, c, nullptr, "downstream " + name, dir, cfg, 3000, std::move(train));
    rc.write([&] { io::save_weights(out, *model, "downstream", {{"config", rc.toml()}}); });
  }
  auto task = make_task(c);
  return evaluate(*task, *model, *test, d.eval.batch_size);
}

}  // namespace win::method
