// Metrics tables (see metrics.hpp).
#include "io/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/error.hpp"
#include "data/hdf5.hpp"
#include "io/text_file.hpp"

namespace win::io {

MetricsTable::MetricsTable(std::vector<std::string> columns) : columns_(std::move(columns)) {}

void MetricsTable::add(const std::vector<double>& row) {
  WIN_CHECK(row.size() == columns_.size(), ErrorKind::Internal, "metrics row of ", row.size(),
            " values for ", columns_.size(), " columns");
  data_.insert(data_.end(), row.begin(), row.end());
}

double MetricsTable::at(size_t row, const std::string& column) const {
  for (size_t c = 0; c < columns_.size(); ++c)
    if (columns_[c] == column) return data_.at(row * columns_.size() + c);
  WIN_FAIL(ErrorKind::Internal, "metrics: no column ", column);
}

double MetricsTable::last(const std::string& column) const {
  return rows() == 0 ? std::nan("") : at(rows() - 1, column);
}

void MetricsTable::write_csv(const std::string& path) const {
  std::string out;
  for (size_t c = 0; c < columns_.size(); ++c) {
    if (c) out += ',';
    out += columns_[c];
  }
  out += '\n';
  char buf[40];
  for (size_t r = 0; r < rows(); ++r) {
    for (size_t c = 0; c < columns_.size(); ++c) {
      std::snprintf(buf, sizeof buf, "%.10g", data_[r * columns_.size() + c]);
      if (c) out += ',';
      out += buf;
    }
    out += '\n';
  }
  write_text_file(path, out);
}

void MetricsTable::write_h5(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    h5::File f = h5::File::create(tmp, ErrorKind::Output);
    h5::Group g = f.root().create_group("metrics");
    for (size_t c = 0; c < columns_.size(); ++c) {
      Tensor col = Tensor::empty({static_cast<int64_t>(rows())}, DType::F64);
      for (size_t r = 0; r < rows(); ++r) col.data<double>()[r] = data_[r * columns_.size() + c];
      g.write(columns_[c], col);
    }
    f.close();
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  WIN_CHECK(!ec, ErrorKind::Output, "cannot rename ", tmp, " to ", path, ": ", ec.message());
}

Tensor MetricsTable::to_tensor() const {
  Tensor t = Tensor::empty({static_cast<int64_t>(rows()), static_cast<int64_t>(columns_.size())},
                           DType::F64);
  std::copy(data_.begin(), data_.end(), t.data<double>());
  return t;
}

void MetricsTable::from_tensor(const Tensor& t) {
  WIN_CHECK(
      t.dim() == 2 && t.size(1) == static_cast<int64_t>(columns_.size()) && t.dtype() == DType::F64,
      ErrorKind::Checkpoint, "checkpoint metrics of shape ", t.shape(), " for ", columns_.size(),
      " columns");
  data_ = t.to_vector();
}

MetricsTable per_epoch(const MetricsTable& steps) {
  MetricsTable out({"epoch", "steps", "last_step", "lr", "loss", "accuracy", "samples_per_s"});
  size_t r = 0;
  while (r < steps.rows()) {
    const double epoch = steps.at(r, "epoch");
    double n = 0, loss = 0, acc = 0, rate = 0;
    size_t last = r;
    for (; r < steps.rows() && steps.at(r, "epoch") == epoch; ++r) {
      n += 1;
      loss += steps.at(r, "loss");
      acc += steps.at(r, "accuracy");
      rate += steps.at(r, "samples_per_s");
      last = r;
    }
    out.add({epoch, n, steps.at(last, "step"), steps.at(last, "lr"), loss / n, acc / n, rate / n});
  }
  return out;
}

}  // namespace win::io
