// Every deck key, its type, default, range and meaning (DESIGN §2, §6). Adding a key means adding
// a member in deck.hpp and one line here; parsing, --set, printing and help follow from it.
#include "config/deck.hpp"

#include "config/schema.hpp"

namespace win::config {

namespace {

const std::vector<std::string> kStages = {"wide", "narrow",  "finetune", "merge",
                                          "eval", "vanilla", "kd"};

void describe_optim(Section& s, OptimConfig& o) {
  s.add("epochs", o.epochs, "training length in epochs (ignored when steps > 0)").min(0);
  s.add("steps", o.steps, "training length in optimizer steps; 0 = use epochs").min(0);
  s.add("batch_size", o.batch_size, "global batch size (split over data-parallel ranks)").min(1);
  s.add("optimizer", o.optimizer, "optimizer").one_of({"sgd", "adamw"});
  s.add("lr", o.lr, "peak learning rate").min(0, true);
  s.add("momentum", o.momentum, "SGD momentum").min(0).max(1, true);
  s.add("nesterov", o.nesterov, "SGD with Nesterov momentum");
  s.add("weight_decay", o.weight_decay, "weight decay (decoupled for AdamW)").min(0);
  s.add("beta1", o.beta1, "AdamW beta1").min(0).max(1, true);
  s.add("beta2", o.beta2, "AdamW beta2").min(0).max(1, true);
  s.add("eps", o.eps, "AdamW epsilon").min(0, true);
  s.add("lr_schedule", o.lr_schedule, "learning-rate schedule after warm-up")
      .one_of({"constant", "step", "cosine", "linear"});
  s.add("warmup_epochs", o.warmup_epochs, "linear warm-up from 0 to lr, in epochs").min(0);
  s.add("warmup_steps", o.warmup_steps, "linear warm-up in steps; > 0 overrides warmup_epochs")
      .min(0);
  s.add("milestones", o.milestones, "lr_schedule step: epochs at which lr is multiplied by gamma")
      .min(0);
  s.add("gamma", o.gamma, "lr_schedule step: lr factor at each milestone").min(0, true).max(1);
  s.add("clip_grad_norm", o.clip_grad_norm, "clip the global gradient norm to this; 0 = off")
      .min(0);
  s.add("no_decay", o.no_decay, "parameter kinds without weight decay")
      .one_of({"bn", "ln", "bias", "embedding", "bridge"});
}

void describe_train(Section& s, TrainStageConfig& t, const std::vector<std::string>& losses) {
  describe_optim(s, t.optim);
  s.add("loss", t.loss, "training loss: labels, teacher logits, or both").one_of(losses);
  s.add("kd_temperature", t.kd_temperature, "KD softmax temperature T (loss scaled by T^2)")
      .min(0, true);
  s.add("kd_alpha", t.kd_alpha, "ce+kd: weight of the KD term (1 - alpha on CE)").min(0).max(1);
  s.add("restarts", t.restarts, "independent restarts; the lowest training loss is kept").min(1);
}

}  // namespace

void describe(Section& root, Deck& d) {
  {
    Section& s = root.section("run", "the run as a whole");
    auto& r = d.run;
    s.add("name", r.name, "run directory name under run.dir; default: the deck's file name");
    s.add("dir", r.dir, "parent directory of run directories").non_empty();
    s.add("seed", r.seed, "seed of every random draw (weights, data order, dropout)").min(0);
    s.add("threads", r.threads, "CPU threads per rank; 0 = all cores").min(0);
    s.add("stages", r.stages, "stages to run, in this order").one_of(kStages).non_empty();
    s.add("device", r.device, "where models compute: cpu, or cuda (one GPU per rank)")
        .one_of({"cpu", "cuda"});
    s.add("precision", r.precision,
          "GPU matrix products: fp32 (exact), tf32, or bf16 (fp32 storage and master weights)")
        .one_of({"fp32", "tf32", "bf16"});
    s.add("deterministic", r.deterministic,
          "GPU: deterministic algorithms only (bitwise reruns and resumes); false lets cuDNN take "
          "the fastest");
    s.add("log_level", r.log_level, "log verbosity").one_of({"error", "warn", "info", "debug"});
    s.add("progress_interval_s", r.progress_interval_s,
          "seconds between progress lines when output is not a terminal")
        .min(0, true);
  }
  {
    Section& s = root.section("model", "the thin student S; the teacher is derived from it");
    auto& m = d.model;
    s.add("family", m.family, "model family").one_of({"mlp", "resnet", "bert"}).required();
    s.add("classes", m.classes, "output classes (images; BERT sequence classification)").min(2);
    Section& mlp = s.section("mlp", "multi-layer perceptron (DESIGN §2)")
                       .only_when([&m] { return m.family == "mlp"; }, "model.family = \"mlp\"",
                                  "model.family");
    mlp.add("input_size", m.mlp.input_size, "input features (784 for 28x28 images)").min(1);
    mlp.add("width", m.mlp.width, "block width d (block input and output)").min(1);
    mlp.add("depth", m.mlp.depth, "number of blocks n").min(1);
    mlp.add("inner", m.mlp.inner, "inner width h of `inner` blocks").min(1);
    mlp.add("block", m.mlp.block, "block form: Linear-act-Linear, or Linear-act")
        .one_of({"inner", "plain"});
    mlp.add("activation", m.mlp.activation, "activation").one_of({"relu", "gelu"});
    Section& rn = s.section("resnet", "ResNet v1.5; blocks are its stages")
                      .only_when([&m] { return m.family == "resnet"; }, "model.family = \"resnet\"",
                                 "model.family");
    rn.add("block", m.resnet.block, "residual block").one_of({"bottleneck", "basic"});
    rn.add("layers", m.resnet.layers, "residual blocks per stage ([3,4,6,3] = ResNet-50)")
        .min(1)
        .non_empty();
    rn.add("base_width", m.resnet.base_width, "inner width of the first stage").min(1);
    rn.add("stem_width", m.resnet.stem_width, "stem output channels; 0 = base_width").min(0);
    rn.add("inner_scale", m.resnet.inner_scale,
           "factor on every block's inner width (how a teacher widens: DESIGN §2)")
        .min(1);
    rn.add("width_multiplier", m.resnet.width_multiplier, "scales every channel (1/2, 1/4)")
        .min(0, true)
        .max(4);
    rn.add("stem", m.resnet.stem, "imagenet: 7x7/2 conv + max pool; small: 3x3/1 conv")
        .one_of({"imagenet", "small"});
    rn.add("in_channels", m.resnet.in_channels, "input image channels").min(1);
    rn.add("image_size", m.resnet.image_size, "input height and width (for MAC counts)").min(1);
    Section& bt = s.section("bert", "post-LN BERT; blocks are its transformer layers")
                      .only_when([&m] { return m.family == "bert"; }, "model.family = \"bert\"",
                                 "model.family");
    bt.add("vocab_size", m.bert.vocab_size, "WordPiece vocabulary size").min(1);
    bt.add("layers", m.bert.layers, "transformer layers").min(1);
    bt.add("hidden", m.bert.hidden, "hidden size").min(1);
    bt.add("embedding_size", m.bert.embedding_size,
           "embedding width; 0 = hidden (a wide teacher keeps its student's and projects)")
        .min(0);
    bt.add("heads", m.bert.heads, "attention heads (must divide hidden)").min(1);
    bt.add("ffn", m.bert.ffn, "feed-forward inner size").min(1);
    bt.add("max_positions", m.bert.max_positions, "position embeddings").min(1);
    bt.add("type_vocab", m.bert.type_vocab, "segment (token type) vocabulary").min(1);
    bt.add("dropout", m.bert.dropout, "hidden dropout").min(0).max(1, true);
    bt.add("attention_dropout", m.bert.attention_dropout, "attention-probability dropout")
        .min(0)
        .max(1, true);
    bt.add("seq_length", m.bert.seq_length, "sequence length of the shards").min(1);
    bt.add("head", m.bert.head, "pretraining (MLM + NSP) or sequence classification")
        .one_of({"pretrain", "classify"});
  }
  {
    Section& s = root.section("teacher", "the wide network B");
    s.add("widen", d.teacher.widen, "widening factor k (DESIGN §2 widening rules)").min(1);
    s.add("widen_outputs", d.teacher.widen_outputs, "also widen block outputs (ResNet stages)");
    s.add("checkpoint", d.teacher.checkpoint, "use this trained teacher and skip stage wide");
  }
  {
    Section& s = root.section("data", "training and evaluation data (HDF5 shards)");
    auto& x = d.data;
    s.add("format", x.format, "shard kind").one_of({"image", "bert"});
    s.add("train", x.train, "training shards: a file, a directory or a glob");
    s.add("val", x.val, "validation shards (model selection); empty = split from train");
    s.add("test", x.test, "test shards (reported, never used for selection)");
    s.add("val_fraction", x.val_fraction, "fraction of train held out when val is empty")
        .min(0)
        .max(0.5);
    s.add("prefetch", x.prefetch, "batches decoded ahead by the loader thread").min(0);
    s.add("augment", x.augment, "random crop with padding and horizontal flip (images)");
    s.add("crop_padding", x.crop_padding, "zero padding before the random crop").min(0);
    s.add("flip", x.flip, "random horizontal flip when augmenting");
    s.add("downstream_train", x.downstream_train, "BERT: sequence-classification shards");
    s.add("downstream_test", x.downstream_test, "BERT: sequence-classification test shards");
  }
  describe_train(root.section("wide", "stage 1: train the wide teacher B with labels"), d.wide,
                 {"ce"});
  {
    Section& s = root.section("narrow", "stage 2: block-wise imitation of B by the bridged S");
    auto& n = d.narrow;
    describe_optim(s, n.optim);
    s.add("schedule", n.schedule, "Algorithm 1, or blocks spread over pipeline ranks")
        .one_of({"sequential", "pipelined"});
    s.add("train_prefix", n.train_prefix, "train the whole prefix (true) or the newest block");
    s.add("steps_per_block", n.steps_per_block, "imitation steps for block 1").min(1);
    s.add("budget", n.budget, "per-block steps: constant, or growing linearly with the block")
        .one_of({"constant", "linear"});
    s.add("restarts", n.restarts, "re-initialisations of each block; the best imitator is kept")
        .min(1);
    s.add("loss", n.loss, "imitation loss").one_of({"mse", "kl"});
    s.add("bridge_init", n.bridge_init, "initialisation of the bridges and thin blocks")
        .one_of({"orthogonal", "random", "teacher_subsample"});
    s.add("bridge_mode", n.bridge_mode, "free M1, M2; or tied M2 = pinv(M1) (exact BERT merge)")
        .one_of({"free", "tied"});
    s.add("input", n.input,
          "pipelined: each block reads the student's activation before it (student) or the "
          "teacher's (teacher-forced)")
        .one_of({"student", "teacher"});
  }
  describe_train(root.section("finetune", "stage 3: fine-tune the bridged student"), d.finetune,
                 {"ce", "kd", "ce+kd"});
  {
    Section& s = root.section("merge", "fold the bridges so S has its original architecture");
    s.add("when", d.merge.when, "merge after fine-tuning (MAF) or right after narrow (MAP)")
        .one_of({"after_finetune", "after_narrow"});
    s.add("tolerance", d.merge.tolerance, "max |merged - unmerged| / max |unmerged| allowed")
        .min(0, true);
    s.add("post_finetune_steps", d.merge.post_finetune_steps,
          "steps of fine-tuning after an inexact (BERT free) merge")
        .min(0);
  }
  {
    Section& s = root.section("eval", "evaluation of every trained model");
    s.add("batch_size", d.eval.batch_size, "evaluation batch size").min(1);
    s.add("downstream_epochs", d.eval.downstream_epochs, "BERT: downstream fine-tune epochs")
        .min(0, true);
    s.add("downstream_lr", d.eval.downstream_lr, "BERT: downstream fine-tune learning rate")
        .min(0, true);
    s.add("downstream_batch_size", d.eval.downstream_batch_size,
          "BERT: downstream fine-tune batch size")
        .min(1);
  }
  describe_train(root.section("vanilla", "baseline: train S from scratch with labels"), d.vanilla,
                 {"ce"});
  describe_train(root.section("kd", "baseline: Hinton knowledge distillation from B"), d.kd,
                 {"kd", "ce+kd"});
  {
    Section& s = root.section("checkpoint", "checkpoints (atomic, resumable)");
    s.add("every_steps", d.checkpoint.every_steps, "steps between checkpoints").min(1);
    s.add("keep", d.checkpoint.keep, "checkpoints kept per stage").min(2);
  }
  {
    Section& s = root.section("dist", "distribution over MPI ranks");
    s.add("pipeline", d.dist.pipeline, "pipeline stages of the pipelined narrow schedule").min(1);
    s.add("partition", d.dist.partition, "blocks per pipeline stage; empty = balance by MACs")
        .min(1);
    s.add("sync_bn", d.dist.sync_bn, "synchronise BatchNorm statistics over data ranks");
    s.add("bucket_mb", d.dist.bucket_mb, "gradient allreduce bucket size in MiB").min(0, true);
    s.add("micro_batches", d.dist.micro_batches, "micro-batches in flight in the pipeline").min(1);
  }
}

}  // namespace win::config
