// Checkpoints (DESIGN §5): everything a stage needs for a bitwise resume, as one HDF5 file —
// /meta attributes (format, version, stage, step, epoch, world size, config TOML, git revision,
// and any other scalar the stage records), /model/<dotted.name>, /optim/<dotted.name>/<moment>,
// /data and /extra tensors. Files are written atomically (temporary name, fsync, rename, fsync of
// the directory) and carry a completion attribute written last, so a file cut short by a crash is
// recognised and skipped. CheckpointDir keeps the newest K of a stage's checkpoints, deleting old
// ones only after the new one is complete, and resumes from the newest that reads back whole;
// a damaged one is reported by name and the previous one is used.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace win::io {

inline constexpr const char* kCheckpointFormat = "win-checkpoint";
inline constexpr int64_t kCheckpointVersion = 1;

// A checkpoint in memory: tensors by HDF5 path ("model/layer1.0.conv1.weight") and scalar
// metadata. Tensors are shared, not copied, until written.
struct Checkpoint {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, int64_t> ints;
  std::map<std::string, double> doubles;
  std::map<std::string, std::string> strings;

  int64_t get_int(const std::string& key, const std::string& file) const;
  double get_double(const std::string& key, const std::string& file) const;
  const std::string& get_string(const std::string& key, const std::string& file) const;
  const Tensor& get_tensor(const std::string& path, const std::string& file) const;
  bool has_tensor(const std::string& path) const { return tensors.count(path) != 0; }
};

// Writes c to path atomically. Errors are checkpoint errors (exit 4) naming the file.
void save_checkpoint(const std::string& path, const Checkpoint& c);
// Reads a whole checkpoint; a missing, truncated, foreign or incomplete file is a checkpoint
// error naming it.
Checkpoint load_checkpoint(const std::string& path);

// A stage's checkpoint files: <dir>/ckpt-<step, 9 digits>.h5.
class CheckpointDir {
 public:
  CheckpointDir(std::string dir, int keep);
  // Saves c as the checkpoint of `step`, then deletes all but the newest `keep`.
  std::string save(int64_t step, const Checkpoint& c);
  // Throws a checkpoint error when a loaded checkpoint cannot be resumed from (another stage,
  // a tensor of another shape): a file that reads well but holds the wrong things.
  using Check = std::function<void(const Checkpoint&, const std::string& path)>;
  // The newest checkpoint that loads completely (every tensor's checksum included) and passes
  // `check`, trying older ones otherwise (each refusal logged as a warning naming the file).
  // nullopt when there is none at all; a checkpoint error when files exist but none is usable.
  std::optional<Checkpoint> load_newest(std::string* path = nullptr, const Check& check = {}) const;
  std::vector<std::string> files() const;  // oldest first
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int keep_;
};

}  // namespace win::io
