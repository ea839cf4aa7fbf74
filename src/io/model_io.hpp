// Model weights in HDF5 (DESIGN §5): every parameter and buffer of a module as a dataset
// /model/<dotted.name> (PyTorch-style names, so h5py and PyTorch users can map them), plus /meta
// attributes (format, version, what the file holds). Merged weights are such a file with /model
// only. Loading checks that every name exists with the right shape and that none is left over,
// and fails with a checkpoint error (exit 4) naming the file and the tensor.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "data/hdf5.hpp"
#include "nn/module.hpp"

namespace win::io {

inline constexpr const char* kWeightsFormat = "win-weights";
inline constexpr int64_t kWeightsVersion = 1;

// Writes m's parameters and buffers under group /model of file (created or replaced).
void write_model(h5::Group& root, nn::Module& m);
// Which tensors a load may leave alone: m's tensors whose names start with a `keep` prefix keep
// their values (a new head), and the file's tensors under an `unused` prefix may be left over
// (the old head). Anything else missing or left over is still an error.
struct PartialLoad {
  std::vector<std::string> keep, unused;
};

// Reads them back into m (same names, shapes; dtype converted when it differs).
void read_model(const h5::Group& root, nn::Module& m, const PartialLoad& partial = {});

// A whole weights file: /model plus /meta attributes (format, version, kind, and the given
// string attributes, e.g. the model config as TOML). Written to path.tmp, then renamed.
void save_weights(const std::string& path, nn::Module& m, const std::string& kind,
                  const std::map<std::string, std::string>& meta = {});
void load_weights(const std::string& path, nn::Module& m, const PartialLoad& partial = {});

}  // namespace win::io
