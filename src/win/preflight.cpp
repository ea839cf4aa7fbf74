// Pre-flight check of `win run` (see preflight.hpp): which data each stage reads mirrors
// RunContext's sources (train_source, val_source, test_source, eval_source), the narrow stage's
// validation data, merge's held-out data and eval's downstream fine-tunes.
#include "win/preflight.hpp"

#include <algorithm>

#include "config/load.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "data/bert_shard.hpp"
#include "data/image_shard.hpp"
#include "dist/collective.hpp"
#include "dist/comm.hpp"
#include "models/build.hpp"
#include "win/downstream.hpp"

namespace win::method {

namespace {

std::string list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += cat(i ? ", " : "", v[i]);
  return s + "]";
}

// The key that sets the model's number of blocks, and its value.
std::string blocks_key(const config::ModelConfig& m) {
  if (m.family == "mlp") return cat("model.mlp.depth = ", m.mlp.depth);
  if (m.family == "resnet") return cat("model.resnet.layers = ", list(m.resnet.layers));
  return cat("model.bert.layers = ", m.bert.layers);
}

// A data source of the deck, as a stage reads it.
struct Source {
  const char* key;   // data.train, ...
  std::string path;  // its value
  bool downstream;   // sequence-classification shards of eval's downstream task
};

// Opens spec with open(); a failure (missing file, wrong shard kind, bad shard) keeps its kind
// (a data error: exit 3) and names the deck key and where it was set.
template <class F>
auto opened(const config::Deck& d, const Source& s, F&& open) {
  try {
    return open();
  } catch (const Error& e) {
    WIN_FAIL(e.kind(), config::key_location(d, s.key), ": ", s.key, " = \"", s.path,
             "\": ", e.what());
  }
}

// "model.classes = 5, but data.train (data/x/train-00000.h5) has num_classes = 10".
[[noreturn]] void mismatch(const config::Deck& d, const std::string& key, int64_t value,
                           const Source& s, const std::string& file, const std::string& what) {
  config::deck_error(d, key,
                     cat("is ", value, ", but ", s.key, " (", file, ") has ", what,
                         ": the model must match its data"));
}

void check_images(const config::Deck& d, const Source& s) {
  const auto ds = opened(d, s, [&] { return data::ImageDataset::open(s.path); });
  const auto& g = ds.geometry();
  const std::string& file = ds.files().front();
  const auto& m = d.model;
  const std::string shape = cat(g.height, "x", g.width, "x", g.channels, " images");
  if (m.family == "mlp" && m.mlp.input_size != g.bytes())
    mismatch(d, "model.mlp.input_size", m.mlp.input_size, s, file,
             cat(shape, " = ", g.bytes(), " inputs"));
  if (m.family == "resnet") {
    if (m.resnet.in_channels != g.channels)
      mismatch(d, "model.resnet.in_channels", m.resnet.in_channels, s, file,
               cat(shape, " (", g.channels, " channel", g.channels == 1 ? "" : "s", ")"));
    if (m.resnet.image_size != g.height || m.resnet.image_size != g.width)
      mismatch(d, "model.resnet.image_size", m.resnet.image_size, s, file, shape);
  }
  if (m.classes != ds.num_classes())
    mismatch(d, "model.classes", m.classes, s, file, cat("num_classes = ", ds.num_classes()));
}

void check_bert(const config::Deck& d, const Source& s) {
  const auto& b = d.model.bert;
  const bool classify = s.downstream || b.head == "classify";
  const auto ds = opened(d, s, [&] {
    return data::BertDataset::open(
        s.path, classify ? data::BertShardKind::Classification : data::BertShardKind::Pretraining);
  });
  const std::string& file = ds.files().front();
  if (ds.vocab_size() > b.vocab_size)
    mismatch(d, "model.bert.vocab_size", b.vocab_size, s, file,
             cat("token ids of a vocabulary of vocab_size = ", ds.vocab_size()));
  if (s.downstream) {  // the downstream model takes the classes from the shards
    if (ds.max_seq_length() > b.max_positions)
      mismatch(d, "model.bert.max_positions", b.max_positions, s, file,
               cat("sequences of max_seq_length = ", ds.max_seq_length()));
    return;
  }
  if (ds.max_seq_length() != b.seq_length)
    mismatch(d, "model.bert.seq_length", b.seq_length, s, file,
             cat("sequences of max_seq_length = ", ds.max_seq_length()));
  if (classify && d.model.classes != ds.num_classes())
    mismatch(d, "model.classes", d.model.classes, s, file, cat("num_classes = ", ds.num_classes()));
}

// The data sources the deck's stages open, in the order a run needs them.
std::vector<Source> needed_sources(const config::Deck& d) {
  const auto& x = d.data;
  const auto& st = d.run.stages;
  auto runs = [&](const char* s) { return std::find(st.begin(), st.end(), s) != st.end(); };
  const bool eval = runs("eval"), merge = runs("merge");
  // Held-out data: data.val, else a split of data.train when val_fraction > 0.
  const bool split = x.val.empty() && x.val_fraction > 0;
  const bool held_out = !x.val.empty() || split;
  const bool train = (runs("wide") && d.teacher.checkpoint.empty()) || runs("narrow") ||
                     runs("finetune") || runs("vanilla") || runs("kd") ||
                     (merge && (split || x.test.empty())) ||  // merge: val, test, else train
                     (eval && x.test.empty() && split);       // eval: test, else held out
  const bool val = !x.val.empty() && (runs("narrow") || merge || (eval && x.test.empty()));
  const bool test = !x.test.empty() && (eval || (merge && !held_out));
  if (eval && x.test.empty() && !held_out)
    config::deck_error(d, "data.test",
                       "the eval stage needs test or validation data: set data.test, data.val "
                       "or data.val_fraction");
  std::vector<Source> out;
  if (train) {
    if (x.train.empty())
      config::deck_error(d, "data.train", "not set, and the deck's stages train on it");
    out.push_back({"data.train", x.train, false});
  }
  if (val) out.push_back({"data.val", x.val, false});
  if (test) out.push_back({"data.test", x.test, false});
  if (eval && has_downstream(d)) {
    out.push_back({"data.downstream_train", x.downstream_train, false});
    out.push_back({"data.downstream_test", x.downstream_test, false});
    out[out.size() - 2].downstream = out.back().downstream = true;
  }
  return out;
}

void check_data(const config::Deck& d) {
  const bool bert = d.model.family == "bert";
  if (bert != (d.data.format == "bert"))
    config::deck_error(d, "data.format",
                       cat("is \"", d.data.format, "\", but model.family = \"", d.model.family,
                           "\" reads ", bert ? "\"bert\"" : "\"image\"", " shards"));
  for (const auto& s : needed_sources(d)) {
    if (bert)
      check_bert(d, s);
    else
      check_images(d, s);
  }
}

}  // namespace

void check_grid(const config::Deck& d, int world) {
  if (d.narrow.schedule != "pipelined") return;
  // The same deck on every rank gives the same verdict: on several ranks every rank raises it
  // (one message, exit 2, no abort), as RunContext's own checks do.
  auto refuse = [&](const std::string& key, const std::string& msg) {
    if (world == 1) config::deck_error(d, key, msg);
    throw dist::CollectiveError(ErrorKind::Config,
                                cat(config::key_location(d, key), ": ", key, ": ", msg), true);
  };
  if (world % d.dist.pipeline != 0)
    refuse("dist.pipeline",
           cat("dist.pipeline = ", d.dist.pipeline, " pipeline stages do not divide the ", world,
               " ranks of the job (the pipelined narrow stage runs on a pipeline x data grid)"));
  const auto& st = d.run.stages;
  if (std::find(st.begin(), st.end(), "narrow") == st.end()) return;
  const auto blocks = static_cast<int64_t>(models::boundary_widths(d.model).size());
  const auto& part = d.dist.partition;
  int64_t given = 0;
  for (const int64_t c : part) given += c;
  if (!part.empty() && given != blocks)
    refuse("dist.partition", cat(list(part), " gives ", given, " blocks to ", part.size(),
                                 " pipeline stages, but the model has ", blocks, " blocks (",
                                 blocks_key(d.model), "): the counts must add up to ", blocks));
  if (part.empty() && d.dist.pipeline > blocks)
    refuse("dist.pipeline",
           cat(d.dist.pipeline, " pipeline stages for a model of ", blocks, " blocks (",
               blocks_key(d.model), "): every stage needs at least one block"));
}

void preflight(const config::Deck& d) {
  check_grid(d, dist::world().size());
  if (d.narrow.schedule != "pipelined" && d.dist.pipeline > 1 && dist::world().is_root())
    log_warn(config::key_location(d, "dist.pipeline"), ": dist.pipeline = ", d.dist.pipeline,
             " has no effect with narrow.schedule = \"", d.narrow.schedule,
             "\" (only the pipelined schedule splits the blocks over pipeline stages)");
  // Rank 0 opens the files; its verdict (or its error) is every rank's.
  dist::on_root(dist::world(), [&] { check_data(d); });
}

}  // namespace win::method
