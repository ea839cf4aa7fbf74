// `win data vocab` (text -> WordPiece vocab.txt, data/vocab_trainer.hpp) and `win data sentences`
// (raw prose or WikiExtractor output -> one sentence per line, blank line between documents: the
// input format of `win data bert`, data/sentences.hpp). Both stream their inputs with a progress
// line in KiB read and end with a one-line summary.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "app/cmd_data.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "data/sentences.hpp"
#include "data/vocab_trainer.hpp"

namespace win::app {

namespace {

namespace fs = std::filesystem;

std::string required(const Args& a, const std::string& cmd, const std::string& name) {
  const auto v = a.get(name);
  WIN_CHECK(v && !v->empty(), ErrorKind::Usage, "win data ", cmd, ": ", name,
            " is required (see: win data ", cmd, " --help)");
  return *v;
}

int64_t total_bytes(const std::vector<std::string>& paths) {
  int64_t n = 0;
  for (const auto& p : paths) {
    std::error_code ec;
    const auto s = fs::file_size(p, ec);
    WIN_CHECK(!ec, ErrorKind::Data, "cannot read text file '", p, "': ", ec.message());
    n += static_cast<int64_t>(s);
  }
  return n;
}

// Calls fn(document) for every document of every file, with a progress line.
template <class Fn>
void for_each_document(const std::vector<std::string>& paths, data::TextFormat format,
                       const std::string& label, Fn&& fn) {
  auto kib = [](int64_t bytes) { return (bytes + 1023) / 1024; };
  Progress p(label, kib(total_bytes(paths)), "KiB");
  int64_t done = 0;
  data::Document doc;
  for (const auto& path : paths) {
    data::DocumentReader r(path, format);
    while (r.next(doc)) {
      fn(doc);
      p.update(kib(done + r.bytes_read()));
    }
    done += r.bytes_read();
    p.update(kib(done));
  }
  p.finish();
}

std::string files_str(size_t n) {
  return cat(n, n == 1 ? " file" : " files");
}

int run_vocab(const Args& a) {
  const std::string out = required(a, "vocab", "--out");
  data::VocabTrainerOptions opt;
  opt.vocab_size = a.get_int("--size").value_or(opt.vocab_size);
  opt.min_pair_count = a.get_int("--min-count").value_or(opt.min_pair_count);
  opt.lower_case = !a.has("--cased");
  WIN_CHECK(opt.vocab_size >= 1 && opt.vocab_size <= (int64_t{1} << 31) - 1, ErrorKind::Usage,
            "win data vocab: --size must be a positive token count, got ", opt.vocab_size);
  WIN_CHECK(opt.min_pair_count >= 1, ErrorKind::Usage, "win data vocab: --min-count must be >= 1");
  const auto format = data::parse_text_format(a.get("--format").value_or("lines"));

  data::VocabTrainer trainer(opt);
  for_each_document(a.positionals, format, "read", [&](const data::Document& doc) {
    for (const auto& s : doc) trainer.add_text(s);
  });
  WIN_CHECK(trainer.words() > 0, ErrorKind::Data, "win data vocab: no words in the ",
            files_str(a.positionals.size()), " given");

  std::unique_ptr<Progress> p;
  data::VocabStats st;
  const data::Vocab vocab = trainer.train(&st, [&](int64_t done, int64_t total) {
    if (!p) p = std::make_unique<Progress>("merge", total, "piece");
    p->update(done);
  });
  if (p) p->finish();
  vocab.save(out);
  std::printf(
      "wrote %s: %lld tokens (%lld special, %lld characters and ## forms, %lld merged pieces%s) "
      "from %lld words (%lld distinct, %s) in %s\n",
      out.c_str(), static_cast<long long>(vocab.size()), static_cast<long long>(st.specials),
      static_cast<long long>(st.characters), static_cast<long long>(st.merges),
      vocab.size() < opt.vocab_size ? "; no pair left to merge" : "",
      static_cast<long long>(st.words), static_cast<long long>(st.distinct_words),
      opt.lower_case ? "uncased" : "cased", files_str(a.positionals.size()).c_str());
  return 0;
}

int run_sentences(const Args& a) {
  const std::string out = required(a, "sentences", "--out");
  const auto format = data::parse_text_format(a.get("--format").value_or("raw"));
  for (const auto& in : a.positionals) {
    std::error_code ec;
    WIN_CHECK(!fs::equivalent(in, out, ec), ErrorKind::Usage,
              "win data sentences: --out would overwrite the input ", in);
  }
  const std::string tmp = out + ".tmp";
  struct RemoveOnError {  // no half-written file is left behind when reading fails
    const std::string& path;
    bool armed = true;
    ~RemoveOnError() {
      std::error_code ec;
      if (armed) fs::remove(path, ec);
    }
  } guard{tmp};
  int64_t docs = 0, sentences = 0;
  {
    std::ofstream os(tmp, std::ios::binary | std::ios::trunc);
    WIN_CHECK(os, ErrorKind::Output, "cannot write '", tmp, "': ", std::strerror(errno));
    for_each_document(a.positionals, format, "split", [&](const data::Document& doc) {
      if (docs++) os << '\n';
      for (const auto& s : doc) os << s << '\n';
      sentences += static_cast<int64_t>(doc.size());
    });
    os.flush();
    WIN_CHECK(os, ErrorKind::Output, "error writing '", tmp, "' (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, out, ec);
  WIN_CHECK(!ec, ErrorKind::Output, "cannot rename '", tmp, "' to '", out, "': ", ec.message());
  guard.armed = false;
  std::printf("wrote %s: %lld documents, %lld sentences from %s (%s)\n", out.c_str(),
              static_cast<long long>(docs), static_cast<long long>(sentences),
              files_str(a.positionals.size()).c_str(), data::text_format_name(format));
  return 0;
}

const char* kFormats =
    "Text formats:\n"
    "  lines          one sentence per line, blank line between documents (Google BERT)\n"
    "  raw            prose: paragraphs separated by blank lines (hard-wrapped lines are\n"
    "                 joined), split into sentences; a line holding only --- separates\n"
    "                 documents, and each file ends its last document\n"
    "  wikiextractor  WikiExtractor's <doc ...> ... </doc> blocks: the title line is\n"
    "                 skipped, every other line is a paragraph split into sentences\n"
    "Input must be UTF-8; a bad byte or an unbalanced <doc> is a data error (exit 3)\n"
    "naming the file and line.";

}  // namespace

Command data_vocab_command() {
  return {
      {.name = "data vocab",
       .synopsis = "TEXT... --out vocab.txt [--size N] [--format F] [--cased] [--min-count N]",
       .summary = "train a WordPiece vocabulary (vocab.txt) from text",
       .details =
           std::string("Words come from BERT's basic tokenizer (lower-cased and accent-stripped\n"
                       "unless --cased). The vocabulary holds [PAD] [UNK] [CLS] [SEP] [MASK],\n"
                       "every character seen and its ## form, then the most frequent merges of\n"
                       "adjacent pieces within words (frequency-based, ties to earlier pieces)\n"
                       "until --size tokens; deterministic. Every word of the text then\n"
                       "tokenizes without [UNK].\n\n") +
           kFormats,
       .options = {{"--out", "FILE", "the vocabulary to write (one token per line)", false},
                   {"--size", "N", "vocabulary size (default 8000)", false},
                   {"--format", "F", "lines (default), raw or wikiextractor", false},
                   {"--cased", "", "keep case and accents (for a cased model)", false},
                   {"--min-count", "N", "merge only pairs seen N times or more (default 2)",
                    false}},
       .min_positionals = 1,
       .max_positionals = 1 << 20},
      run_vocab};
}

Command data_sentences_command() {
  return {{.name = "data sentences",
           .synopsis = "INPUT... --out OUT.txt [--format raw|wikiextractor|lines]",
           .summary = "split raw or WikiExtractor text into one sentence per line",
           .details =
               std::string("Writes one sentence per line with a blank line between\n"
                           "documents: the input format of `win data bert`. The splitter is\n"
                           "rule-based English (abbreviations, initials, decimals, quotes).\n\n") +
               kFormats,
           .options = {{"--out", "FILE", "the sentence file to write", false},
                       {"--format", "F", "raw (default), wikiextractor or lines", false}},
           .min_positionals = 1,
           .max_positionals = 1 << 20},
          run_sentences};
}

}  // namespace win::app
