// `win data SUB ...`: the dataset converters. Each SUB is a Command of its own (spec + run), in
// the cmd_data_*.cpp files; `win data` dispatches on SUB and lists them in its help.
#pragma once

#include "app/commands.hpp"

namespace win::app {

Command data_idx_command();        // MNIST / Fashion-MNIST IDX -> image shards
Command data_cifar_command();      // CIFAR-10/100 binary -> image shards
Command data_images_command();     // a folder of class folders of JPEG/PNG -> image shards
Command data_vocab_command();      // text -> WordPiece vocab.txt
Command data_sentences_command();  // raw or WikiExtractor text -> one sentence per line
Command data_bert_command();       // text -> BERT pretraining shards
Command data_classify_command();   // labelled text -> sequence-classification shards

}  // namespace win::app
