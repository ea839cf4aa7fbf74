// Sequence-classification examples for fine-tuning: labelled text (one example per line,
// `label<TAB>text`, label a non-negative integer) tokenized with BERT's WordPiece into
// [CLS] tokens [SEP], truncated to max_seq_length - 2 tokens, segment ids 0, zero padded: the
// examples of the classification shards of bert_shard.hpp. Kept apart from the command so that
// tests and other front ends build the same examples.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/bert_shard.hpp"
#include "data/wordpiece.hpp"

namespace win::data {

struct LabelledText {
  int32_t label = 0;
  std::string text;
  int64_t line = 0;  // 1-based line in its file, for messages
};

// The examples of one TSV file. Blank lines are skipped; a trailing \r is dropped; the text is
// everything after the first tab. A line without a tab, or whose label is not a non-negative
// integer (below num_classes when num_classes > 0), is a data error naming the file and line; so
// is an unreadable file.
std::vector<LabelledText> read_labelled_tsv(const std::string& path, int64_t num_classes = 0);

// [CLS] ids[:max_seq_length - 2] [SEP], input_mask 1 on those, segment ids 0, zero padded, label.
// max_seq_length >= 2.
BertExample make_classification_example(const std::vector<int32_t>& ids, int32_t label,
                                        const Vocab& vocab, int64_t max_seq_length);

}  // namespace win::data
