// Metrics of a stage (DESIGN §5): rows of named numeric columns, written both as CSV (pandas:
// pd.read_csv) and as HDF5 with one f64 dataset per column under /metrics (h5py). A table is also
// stored in checkpoints, so a resumed stage's metrics are those of an uninterrupted run.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace win::io {

class MetricsTable {
 public:
  MetricsTable() = default;
  explicit MetricsTable(std::vector<std::string> columns);

  void add(const std::vector<double>& row);  // one value per column
  size_t rows() const { return data_.size() / std::max<size_t>(columns_.size(), 1); }
  const std::vector<std::string>& columns() const { return columns_; }
  double at(size_t row, const std::string& column) const;
  // The last value of a column (NaN when empty).
  double last(const std::string& column) const;

  // Atomic writes (temporary file, rename).
  void write_csv(const std::string& path) const;
  void write_h5(const std::string& path) const;

  Tensor to_tensor() const;  // (rows, columns) f64
  void from_tensor(const Tensor& t);

 private:
  std::vector<std::string> columns_;
  std::vector<double> data_;  // row-major
};

// The per-epoch summary of a per-step table (columns step, epoch, lr, loss, accuracy,
// samples_per_s): one row per epoch with its step count, mean loss and accuracy over its steps,
// the lr of its last step and its mean samples/s.
MetricsTable per_epoch(const MetricsTable& steps);

}  // namespace win::io
