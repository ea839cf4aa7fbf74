// The typed deck: one struct per TOML section with its defaults (DESIGN §6). Builders and stage
// drivers read these structs; only src/config knows TOML. Key meanings and ranges are declared in
// deck.cpp's describe() functions, which `win run --help-config` prints.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace win::config {

class SourceMap;

// Where each key of a parsed deck came from ("deck.toml:12:3", "--set a.b=1"), kept for errors
// found after loading (win run's pre-flight check: config::key_location). Not a setting: any two
// origins compare equal, so a resolved deck still parses to an equal Deck.
struct DeckOrigin {
  std::shared_ptr<const SourceMap> sources;
  bool operator==(const DeckOrigin&) const { return true; }
};

struct RunConfig {
  std::string name;  // default: the deck file's stem
  std::string dir = "runs";
  int64_t seed = 0;
  int64_t threads = 0;  // 0 = all cores
  std::vector<std::string> stages = {"wide",    "narrow", "finetune", "merge",
                                     "vanilla", "kd",     "eval"};
  std::string device = "cpu";      // where models compute: "cpu" | "cuda" (one GPU per rank)
  std::string precision = "fp32";  // GPU matrix products: "fp32" | "tf32" | "bf16"
  bool deterministic = true;       // GPU: only algorithms that give the same bits every run
  std::string log_level = "info";
  double progress_interval_s = 10.0;
  bool operator==(const RunConfig&) const = default;
};

struct MlpConfig {
  int64_t input_size = 784;
  int64_t width = 64;  // d: block input/output width
  int64_t depth = 8;   // number of blocks
  int64_t inner = 32;  // h: inner width of `inner` blocks
  std::string block = "inner";
  std::string activation = "relu";
  bool operator==(const MlpConfig&) const = default;
};

// ResNet-50's blocks per stage (a static array: GCC 12 warns falsely about an inlined
// initializer list here).
inline constexpr int64_t kResNet50Layers[4] = {3, 4, 6, 3};

struct ResNetConfig {
  std::string block = "bottleneck";
  std::vector<int64_t> layers = std::vector<int64_t>(kResNet50Layers, kResNet50Layers + 4);
  int64_t base_width = 64;
  int64_t stem_width = 0;  // 0 = base_width
  double width_multiplier = 1.0;
  int64_t inner_scale = 1;  // bottleneck inner width factor: the teacher's widening
  std::string stem = "imagenet";
  int64_t in_channels = 3;
  int64_t image_size = 224;
  bool operator==(const ResNetConfig&) const = default;
};

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t layers = 12;
  int64_t hidden = 768;
  int64_t embedding_size = 0;  // 0 = hidden; else a projection maps embeddings to hidden
  int64_t heads = 12;
  int64_t ffn = 3072;
  int64_t max_positions = 512;
  int64_t type_vocab = 2;
  double dropout = 0.1;
  double attention_dropout = 0.1;
  int64_t seq_length = 128;
  std::string head = "pretrain";
  bool operator==(const BertConfig&) const = default;
};

struct ModelConfig {
  std::string family;
  int64_t classes = 10;
  MlpConfig mlp;
  ResNetConfig resnet;
  BertConfig bert;
  bool operator==(const ModelConfig&) const = default;
};

struct TeacherConfig {
  int64_t widen = 2;
  bool widen_outputs = false;
  std::string checkpoint;
  bool operator==(const TeacherConfig&) const = default;
};

struct DataConfig {
  std::string format = "image";
  std::string train;
  std::string val;
  std::string test;
  double val_fraction = 0.0;
  int64_t prefetch = 2;
  bool augment = true;
  int64_t crop_padding = 4;
  bool flip = true;
  std::string downstream_train;
  std::string downstream_test;
  bool operator==(const DataConfig&) const = default;
};

// Optimisation settings shared by every training stage.
struct OptimConfig {
  double epochs = 1.0;
  int64_t steps = 0;  // > 0: a fixed step count instead of epochs
  int64_t batch_size = 128;
  std::string optimizer = "sgd";
  double lr = 0.1;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  std::string lr_schedule = "step";
  double warmup_epochs = 0.0;
  int64_t warmup_steps = 0;  // > 0: overrides warmup_epochs
  std::vector<double> milestones = {};
  double gamma = 0.1;
  double clip_grad_norm = 0.0;
  std::vector<std::string> no_decay = {"bn", "ln", "bias"};
  bool operator==(const OptimConfig&) const = default;
};

struct TrainStageConfig {
  OptimConfig optim;
  std::string loss = "ce";
  double kd_temperature = 4.0;
  double kd_alpha = 0.5;  // ce+kd: weight of the KD term
  int64_t restarts = 1;
  bool operator==(const TrainStageConfig&) const = default;
};

struct NarrowConfig {
  OptimConfig optim;
  std::string schedule = "sequential";
  bool train_prefix = true;
  int64_t steps_per_block = 1000;
  std::string budget = "constant";
  int64_t restarts = 1;
  std::string loss = "mse";
  std::string bridge_init = "orthogonal";
  std::string bridge_mode = "free";
  std::string input = "student";  // pipelined: what each block reads (student or teacher)
  bool operator==(const NarrowConfig&) const = default;
};

struct MergeConfig {
  std::string when = "after_finetune";
  double tolerance = 1e-4;
  int64_t post_finetune_steps = 0;
  bool operator==(const MergeConfig&) const = default;
};

struct EvalConfig {
  int64_t batch_size = 256;
  double downstream_epochs = 3.0;
  double downstream_lr = 2e-5;
  int64_t downstream_batch_size = 32;
  bool operator==(const EvalConfig&) const = default;
};

struct CheckpointConfig {
  int64_t every_steps = 1000;
  int64_t keep = 2;
  bool operator==(const CheckpointConfig&) const = default;
};

struct DistConfig {
  int64_t pipeline = 1;
  std::vector<int64_t> partition = {};
  bool sync_bn = false;
  double bucket_mb = 25.0;
  int64_t micro_batches = 4;
  bool operator==(const DistConfig&) const = default;
};

struct Deck {
  RunConfig run;
  ModelConfig model;
  TeacherConfig teacher;
  DataConfig data;
  TrainStageConfig wide;
  NarrowConfig narrow;
  TrainStageConfig finetune;
  MergeConfig merge;
  EvalConfig eval;
  TrainStageConfig vanilla;
  TrainStageConfig kd{.optim = {}, .loss = "ce+kd"};
  CheckpointConfig checkpoint;
  DistConfig dist;
  DeckOrigin origin;
  bool operator==(const Deck&) const = default;
};

class Section;
// Declares every key of the deck into root (see schema.hpp); values bind to d's members.
void describe(Section& root, Deck& d);

}  // namespace win::config
