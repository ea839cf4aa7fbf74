// BERT pretraining instances (masked LM + next-sentence prediction) from tokenized documents: the
// algorithm of Google's create_pretraining_data.py, the script NVIDIA DeepLearningExamples uses to
// make its HDF5 shards, so that models pretrained on win's shards see the same distribution.
//
// Follows Google's script:
//  * target length: max_num_tokens = max_seq_length - 3 ([CLS], [SEP], [SEP]); with probability
//    short_seq_prob a shorter target drawn uniformly from [2, max_num_tokens];
//  * sentences of a document accumulate into a chunk until the target is reached (or the document
//    ends); the chunk is split into A = its first a_end sentences, a_end uniform in [1, n - 1]
//    (1 for a one-sentence chunk);
//  * with probability 0.5, or always for a one-sentence chunk, B is "random next" (NSP label 1):
//    sentences from a random start in a random other document (10 tries to avoid this one) until
//    the remaining target is filled; the chunk's unused sentences are put back. Otherwise B is the
//    rest of the chunk (label 0);
//  * while len(A) + len(B) > max_num_tokens the longer one (B on a tie) loses its first or last
//    token, each with probability 0.5;
//  * [CLS] A [SEP] B [SEP], segment ids 0 up to and including the first [SEP], then 1;
//  * masking: candidates are every position but [CLS]/[SEP] (with whole-word masking a word's
//    "##" pieces join its candidate), shuffled; num_to_predict = min(max_predictions_per_seq,
//    max(1, round(len * masked_lm_prob))) with Python 3's round-half-to-even; each chosen
//    position becomes [MASK] when u < 0.8, else keeps its token when a second u < 0.5, else a
//    token drawn uniformly from the whole vocabulary (as Google, special tokens included);
//    predictions sorted by position; input_ids and masked_lm_* zero padded.
// Differs from Google's script:
//  * randomness: Philox keyed by the seed, with the counter (dupe pass, document index, draw
//    number) instead of one Python random.Random consumed in sequence. Same distribution, but not
//    the same instances as Google's for a given seed; in exchange each (pass, document) is a pure
//    function of (seed, corpus), so the output is identical for any thread count;
//  * documents are not shuffled first (a random document is drawn uniformly anyway, and the
//    instances are shuffled at the end: Fisher-Yates with Philox);
//  * each input file starts a new document (Google's reader runs the last document of a file into
//    the first of the next unless the file ends with a blank line);
//  * token ids instead of token strings.
// Like Google's script, the whole tokenized corpus and its instances are held in memory: convert a
// large corpus in parts (as NVIDIA does), with a different --seed per part.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/bert_shard.hpp"
#include "data/wordpiece.hpp"

namespace win::data {

// A document: its sentences, each a list of token ids.
using TokenizedDocument = std::vector<std::vector<int32_t>>;

struct PretrainingOptions {
  int64_t max_seq_length = 128;
  int64_t max_predictions_per_seq = 20;
  double masked_lm_prob = 0.15;
  int64_t dupe_factor = 5;
  double short_seq_prob = 0.1;
  bool whole_word_mask = false;
  uint64_t seed = 12345;
  bool shuffle = true;  // shuffle the instances at the end (Google does)
};

// A usage error naming the option when one is out of range (max_seq_length in [5, 65536],
// max_predictions_per_seq in [1, max_seq_length], probabilities in [0, 1], dupe_factor >= 1).
void validate(const PretrainingOptions& opt);

// One instance before padding (Google's TrainingInstance, with ids).
struct PretrainingInstance {
  std::vector<int32_t> tokens;            // [CLS] A [SEP] B [SEP], masked tokens substituted
  int32_t num_a = 0;                      // tokens of A: the first [SEP] is at num_a + 1
  std::vector<int32_t> masked_positions;  // sorted, never [CLS] or a [SEP]
  std::vector<int32_t> masked_labels;     // the original ids at those positions
  bool random_next = false;               // next_sentence_label 1
};

// The padded example of the shard format (input_mask 1 on the tokens, segment ids 0 then 1).
BertExample to_example(const PretrainingInstance& inst, int64_t max_seq_length,
                       int64_t max_predictions);

// Instances of docs[doc_index] for one dupe pass. Every document must be non-empty, as must
// every sentence (create_pretraining_instances removes empty ones). Deterministic in
// (opt.seed, docs, doc_index, pass).
std::vector<PretrainingInstance> create_instances_from_document(
    const std::vector<TokenizedDocument>& docs, int64_t doc_index, int64_t pass, const Vocab& vocab,
    const PretrainingOptions& opt);

// dupe_factor passes over every document (empty sentences and documents removed first), in
// parallel, then shuffled when opt.shuffle. progress(done, total) is called with documents
// processed over all passes. A data error when no document is left.
std::vector<PretrainingInstance> create_pretraining_instances(
    std::vector<TokenizedDocument> docs, const Vocab& vocab, const PretrainingOptions& opt,
    const std::function<void(int64_t, int64_t)>& progress = {});

// Sentences (UTF-8 text) of documents to token ids, in parallel; empty sentences and documents
// are dropped. (The documents come from data/sentences.hpp's readers.)
std::vector<TokenizedDocument> tokenize_documents(const std::vector<std::vector<std::string>>& docs,
                                                  const WordPieceTokenizer& tokenizer);

}  // namespace win::data
