// The pre-flight check of `win run` (and `win run --dry-run`): before any stage trains, everything
// the deck's stages will need that can be checked without training is checked once, so that a
// deck/data mismatch fails in seconds instead of after minutes of earlier stages:
//   - the job grid of a pipelined narrow stage (dist.pipeline against the ranks, dist.partition
//     or dist.pipeline against the model's blocks);
//   - every data source the stages that run will open (data.train, data.val, data.test,
//     data.downstream_train / _test), opened as the shard kind the stage reads: a data error
//     (exit 3) naming the deck key and the path;
//   - the model against the shards' metadata (image channels and size or the MLP's input size,
//     classes; BERT vocabulary, sequence length, classes): a config error (exit 2) naming the
//     key, its value, the shard file and the shard's value.
// Files are opened on rank 0 alone (as RunContext::exists does), and its verdict is every rank's.
#pragma once

#include "config/deck.hpp"
#include "win/run_context.hpp"

namespace win::method {

// The grid checks alone (no files): the same verdict on every rank, a config error (exit 2).
void check_grid(const config::Deck& deck, int world);

// The whole check; collective (every rank of the job calls it).
void preflight(const config::Deck& deck);
inline void preflight(const RunContext& rc) {
  preflight(rc.deck());
}

}  // namespace win::method
