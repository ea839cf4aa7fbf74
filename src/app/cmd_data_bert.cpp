// `win data bert` (text -> BERT pretraining shards in NVIDIA's layout, by Google's
// create_pretraining_data.py algorithm: data/pretraining.hpp) and `win data classify` (labelled
// TSV -> sequence-classification shards: data/classify_data.hpp). Both tokenize with BERT's
// WordPiece (data/wordpiece.hpp), show progress, and end with a one-line summary.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "app/cmd_data.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "data/bert_shard.hpp"
#include "data/classify_data.hpp"
#include "data/pretraining.hpp"
#include "data/sentences.hpp"
#include "data/wordpiece.hpp"

namespace win::app {

namespace {

constexpr int64_t kDefaultPerShard = 65536;

std::string required(const Args& a, const std::string& cmd, const std::string& name) {
  auto v = a.get(name);
  WIN_CHECK(v && !v->empty(), ErrorKind::Usage, "win data ", cmd, ": ", name,
            " is required (see: win data ", cmd, " --help)");
  return *v;
}

double get_double(const Args& a, const std::string& name, double def) {
  const auto v = a.get(name);
  if (!v) return def;
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(v->c_str(), &end);
  WIN_CHECK(!v->empty() && end && *end == 0 && errno == 0, ErrorKind::Usage, name,
            " expects a number, got '", *v, "'");
  return d;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

int run_bert(const Args& a) {
  const std::string vocab_path = required(a, "bert", "--vocab");
  const std::string out = required(a, "bert", "--out");
  const std::string prefix = a.get("--prefix").value_or("train");
  const data::TextFormat format = data::parse_text_format(a.get("--format").value_or("lines"));
  data::PretrainingOptions opt;
  opt.max_seq_length = a.get_int("--max-seq-length").value_or(opt.max_seq_length);
  opt.max_predictions_per_seq =
      a.get_int("--max-predictions").value_or(opt.max_predictions_per_seq);
  opt.masked_lm_prob = get_double(a, "--masked-lm-prob", opt.masked_lm_prob);
  opt.dupe_factor = a.get_int("--dupe-factor").value_or(opt.dupe_factor);
  opt.short_seq_prob = get_double(a, "--short-seq-prob", opt.short_seq_prob);
  opt.whole_word_mask = a.has("--whole-word-mask");
  const int64_t seed = a.get_int("--seed").value_or(12345);
  WIN_CHECK(seed >= 0, ErrorKind::Usage, "--seed must be >= 0, got ", seed);
  opt.seed = static_cast<uint64_t>(seed);
  const int64_t per_shard = a.get_int("--per-shard").value_or(kDefaultPerShard);
  WIN_CHECK(per_shard >= 1, ErrorKind::Usage, "--per-shard must be >= 1, got ", per_shard);
  data::validate(opt);

  const data::Vocab vocab = data::Vocab::load(vocab_path);
  (void)vocab.cls(), (void)vocab.sep(), (void)vocab.mask();  // a vocabulary without them fails now
  const data::WordPieceTokenizer tok(vocab, {.lower_case = !a.has("--cased")});

  const std::string source =
      cat("win data bert ", join(a.positionals), " (max_seq_length ", opt.max_seq_length,
          ", max_predictions_per_seq ", opt.max_predictions_per_seq, ", masked_lm_prob ",
          opt.masked_lm_prob, ", dupe_factor ", opt.dupe_factor, ", short_seq_prob ",
          opt.short_seq_prob, ", seed ", opt.seed, ")");
  // Made first: an output directory that cannot be created fails before the work.
  data::BertShardWriter w(out, prefix, data::BertShardKind::Pretraining, per_shard,
                          opt.max_seq_length, opt.max_predictions_per_seq, vocab.size(), 0, source);
  // Documents are read in batches and tokenized in parallel; each file starts a new document.
  std::vector<data::TokenizedDocument> docs;
  int64_t sentences = 0, tokens = 0, total_bytes = 0, done_bytes = 0;
  for (const auto& f : a.positionals) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(f, ec);
    total_bytes += ec ? 0 : static_cast<int64_t>(n);
  }
  {
    Progress p("tokenize", total_bytes >> 10, "KiB");
    std::vector<data::Document> batch;
    const auto flush = [&] {
      for (auto& doc : data::tokenize_documents(batch, tok)) {
        sentences += static_cast<int64_t>(doc.size());
        for (const auto& s : doc) tokens += static_cast<int64_t>(s.size());
        docs.push_back(std::move(doc));
      }
      batch.clear();
    };
    for (const auto& f : a.positionals) {
      data::DocumentReader r(f, format);
      data::Document doc;
      while (r.next(doc)) {
        batch.push_back(std::move(doc));
        doc.clear();
        if (batch.size() >= 4096) {
          flush();
          p.update((done_bytes + r.bytes_read()) >> 10);
        }
      }
      flush();
      done_bytes += r.bytes_read();
      p.update(done_bytes >> 10);
    }
    p.finish();
  }
  const auto num_docs = static_cast<int64_t>(docs.size());
  WIN_CHECK(num_docs > 0, ErrorKind::Data, "win data bert: no text in ", join(a.positionals));

  std::vector<data::PretrainingInstance> inst;
  {
    Progress p("instances", num_docs * opt.dupe_factor, "doc");
    inst = data::create_pretraining_instances(std::move(docs), vocab, opt,
                                              [&](int64_t done, int64_t) { p.update(done); });
    p.finish();
  }

  int64_t random_next = 0, predictions = 0;
  {
    Progress p("write", static_cast<int64_t>(inst.size()), "inst");
    for (size_t i = 0; i < inst.size(); ++i) {
      random_next += inst[i].random_next ? 1 : 0;
      predictions += static_cast<int64_t>(inst[i].masked_positions.size());
      w.add(data::to_example(inst[i], opt.max_seq_length, opt.max_predictions_per_seq));
      std::vector<int32_t>().swap(inst[i].tokens);  // free as we go
      if (i % 4096 == 0) p.update(static_cast<int64_t>(i));
    }
    p.update(static_cast<int64_t>(inst.size()));
    p.finish();
  }
  const auto files = w.finish();
  const double n = static_cast<double>(std::max<size_t>(1, inst.size()));
  std::printf(
      "win data bert: %lld documents, %lld sentences, %lld tokens -> %zu instances (%.1f%% random "
      "next, %.1f predictions each) in %zu shard(s) %s/%s-*.h5\n",
      static_cast<long long>(num_docs), static_cast<long long>(sentences),
      static_cast<long long>(tokens), inst.size(), 100.0 * static_cast<double>(random_next) / n,
      static_cast<double>(predictions) / n, files.size(), out.c_str(), prefix.c_str());
  return 0;
}

int run_classify(const Args& a) {
  const std::string vocab_path = required(a, "classify", "--vocab");
  const std::string out = required(a, "classify", "--out");
  const std::string prefix = a.get("--prefix").value_or("train");
  const int64_t L = a.get_int("--max-seq-length").value_or(128);
  const int64_t classes_opt = a.get_int("--classes").value_or(0);
  const int64_t per_shard = a.get_int("--per-shard").value_or(kDefaultPerShard);
  // [CLS] and [SEP] take two positions; at least one is left for the text.
  WIN_CHECK(L >= 3 && L <= 65536, ErrorKind::Usage, "--max-seq-length must be in [3, 65536], got ",
            L);
  WIN_CHECK(a.has("--classes") ? classes_opt >= 1 : true, ErrorKind::Usage,
            "--classes must be >= 1, got ", classes_opt);
  WIN_CHECK(per_shard >= 1, ErrorKind::Usage, "--per-shard must be >= 1, got ", per_shard);

  const data::Vocab vocab = data::Vocab::load(vocab_path);
  (void)vocab.cls(), (void)vocab.sep();
  const data::WordPieceTokenizer tok(vocab, {.lower_case = !a.has("--cased")});

  // Read and check every file first, so that num_classes is known before writing.
  std::vector<std::vector<data::LabelledText>> texts;
  int64_t max_label = -1, count = 0;
  for (const auto& f : a.positionals) {
    texts.push_back(data::read_labelled_tsv(f, classes_opt));
    for (const auto& t : texts.back()) max_label = std::max<int64_t>(max_label, t.label);
    count += static_cast<int64_t>(texts.back().size());
  }
  WIN_CHECK(count > 0, ErrorKind::Data, "win data classify: no examples in ", join(a.positionals));
  const int64_t classes = classes_opt > 0 ? classes_opt : max_label + 1;

  data::BertShardWriter w(
      out, prefix, data::BertShardKind::Classification, per_shard, L, 0, vocab.size(), classes,
      cat("win data classify ", join(a.positionals), " (max_seq_length ", L, ")"));
  int64_t truncated = 0, done = 0;
  Progress p("classify", count, "ex");
  for (auto& file : texts) {
    for (const auto& t : file) {
      const std::vector<int32_t> ids = tok.encode(t.text);
      truncated += static_cast<int64_t>(ids.size()) > L - 2 ? 1 : 0;
      w.add(data::make_classification_example(ids, t.label, vocab, L));
      if (++done % 4096 == 0) p.update(done);
    }
    std::vector<data::LabelledText>().swap(file);
  }
  p.update(done);
  p.finish();
  const auto files = w.finish();
  std::printf(
      "win data classify: %lld examples, %lld classes (%lld truncated to %lld tokens) in "
      "%zu shard(s) %s/%s-*.h5\n",
      static_cast<long long>(count), static_cast<long long>(classes),
      static_cast<long long>(truncated), static_cast<long long>(L), files.size(), out.c_str(),
      prefix.c_str());
  return 0;
}

}  // namespace

Command data_bert_command() {
  return {
      {.name = "data bert",
       .synopsis = "TEXT... --vocab vocab.txt --out DIR [options]",
       .summary = "text -> BERT pretraining shards (NVIDIA's HDF5 layout)",
       .details =
           "TEXT, by --format: lines (default): one sentence per line, a blank line between\n"
           "documents (Google's format); wikiextractor: WikiExtractor's <doc> output, split into\n"
           "sentences; raw: prose paragraphs, '---' between documents. Each file starts a new\n"
           "document. Instances follow Google's create_pretraining_data.py (NSP pairs, 15%\n"
           "masking 80/10/10), drawn from Philox keyed by --seed: the same for a seed whatever\n"
           "the thread count. Writes DIR/PREFIX-00000.h5, ... (input_ids, input_mask,\n"
           "segment_ids, masked_lm_positions, masked_lm_ids, next_sentence_labels) as NVIDIA\n"
           "DeepLearningExamples' BERT loader reads them. The corpus is held in memory: convert\n"
           "a large one in parts, with a different --seed each.",
       .options = {{"--vocab", "FILE", "WordPiece vocabulary, one token per line (required)"},
                   {"--out", "DIR", "output directory (required)"},
                   {"--prefix", "NAME", "shard file prefix (default train)"},
                   {"--format", "F",
                    "lines (default), wikiextractor or raw (see win data sentences)"},
                   {"--max-seq-length", "N", "tokens per instance (default 128)"},
                   {"--max-predictions", "N", "masked positions per instance (default 20)"},
                   {"--masked-lm-prob", "P", "fraction of tokens masked (default 0.15)"},
                   {"--dupe-factor", "N", "passes over the corpus, masked anew (default 5)"},
                   {"--short-seq-prob", "P", "probability of a shorter target (default 0.1)"},
                   {"--whole-word-mask", "", "mask whole words (all their ## pieces)"},
                   {"--seed", "N", "random seed (default 12345)"},
                   {"--per-shard", "N", "instances per shard (default 65536)"},
                   {"--cased", "", "keep case and accents (cased vocabularies)"}},
       .min_positionals = 1,
       .max_positionals = 1 << 20},
      run_bert};
}

Command data_classify_command() {
  return {
      {.name = "data classify",
       .synopsis = "TSV... --vocab vocab.txt --out DIR [options]",
       .summary = "labelled text -> sequence-classification shards",
       .details = "TSV: one example per line, label<TAB>text, label an integer in [0, classes)\n"
                  "(no header line; blank lines are skipped). Each text becomes\n"
                  "[CLS] tokens [SEP], truncated to max-seq-length - 2 tokens, in input order.\n"
                  "Writes DIR/PREFIX-00000.h5, ... (input_ids, input_mask, segment_ids, label;\n"
                  "attribute num_classes).",
       .options = {{"--vocab", "FILE", "WordPiece vocabulary, one token per line (required)"},
                   {"--out", "DIR", "output directory (required)"},
                   {"--prefix", "NAME", "shard file prefix (default train)"},
                   {"--classes", "K", "number of classes (default: largest label + 1)"},
                   {"--max-seq-length", "N", "tokens per example (default 128)"},
                   {"--per-shard", "N", "examples per shard (default 65536)"},
                   {"--cased", "", "keep case and accents (cased vocabularies)"}},
       .min_positionals = 1,
       .max_positionals = 1 << 20},
      run_classify};
}

}  // namespace win::app
