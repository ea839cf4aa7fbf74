// Labelled text to sequence-classification examples (see classify_data.hpp).
#include "data/classify_data.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "data/unicode.hpp"

namespace win::data {

std::vector<LabelledText> read_labelled_tsv(const std::string& path, int64_t num_classes) {
  WIN_CHECK(!std::filesystem::is_directory(path), ErrorKind::Data, "data file ", path,
            ": is a directory, not a TSV file");
  std::ifstream in(path, std::ios::binary);
  WIN_CHECK(in.good(), ErrorKind::Data, "data file ", path, ": cannot open for reading");
  std::vector<LabelledText> out;
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t\v\f") == std::string::npos) continue;
    const size_t tab = line.find('\t');
    WIN_CHECK(tab != std::string::npos, ErrorKind::Data, "data file ", path, ": line ", n,
              ": no tab: expected label<TAB>text");
    const std::string label = line.substr(0, tab);
    int64_t v = 0;
    bool ok = !label.empty() && label.size() <= 9;
    for (char c : label) {
      ok = ok && c >= '0' && c <= '9';
      v = v * 10 + (c - '0');
    }
    WIN_CHECK(ok, ErrorKind::Data, "data file ", path, ": line ", n, ": label '", label,
              "' is not a non-negative integer (expected label<TAB>text, no header line)");
    WIN_CHECK(num_classes <= 0 || v < num_classes, ErrorKind::Data, "data file ", path, ": line ",
              n, ": label ", v, " out of range [0, ", num_classes, ")");
    // As the other text converters: a byte that is not UTF-8 would be tokenised as garbage.
    size_t bad = 0;
    WIN_CHECK(unicode::valid_utf8(line, &bad), ErrorKind::Data, "data file ", path, ": line ", n,
              ": byte ", bad + 1, " is not UTF-8");
    out.push_back({static_cast<int32_t>(v), line.substr(tab + 1), n});
  }
  WIN_CHECK(!in.bad(), ErrorKind::Data, "data file ", path, ": read error after line ", n);
  return out;
}

BertExample make_classification_example(const std::vector<int32_t>& ids, int32_t label,
                                        const Vocab& vocab, int64_t max_seq_length) {
  WIN_CHECK(max_seq_length >= 2, ErrorKind::Usage, "--max-seq-length must be >= 2, got ",
            max_seq_length);
  const auto L = static_cast<size_t>(max_seq_length);
  const size_t n = std::min(ids.size(), L - 2);
  BertExample e;
  e.input_ids.assign(L, 0);
  e.input_mask.assign(L, 0);
  e.segment_ids.assign(L, 0);
  e.input_ids[0] = vocab.cls();
  std::copy(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), e.input_ids.begin() + 1);
  e.input_ids[n + 1] = vocab.sep();
  std::fill(e.input_mask.begin(), e.input_mask.begin() + static_cast<std::ptrdiff_t>(n + 2), 1);
  e.label = label;
  return e;
}

}  // namespace win::data
