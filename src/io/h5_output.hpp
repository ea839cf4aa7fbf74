// What the HDF5 files win writes as results (checkpoints, weights) have in common: every tensor
// carries a checksum, so a damaged file is refused rather than read as other numbers, and a file
// that could not be written whole (a full disk, a quota) leaves nothing behind.
#pragma once

#include <filesystem>
#include <string>
#include <utility>

#include "data/hdf5.hpp"

namespace win::io {

// Write options for a result tensor: Fletcher-32 per chunk, checked by HDF5 on every read.
inline const h5::WriteOptions kChecksummed{.checksum = true};

// Runs write(), which creates and fills the temporary file tmp; if it throws, tmp is removed
// before the error goes on (its name ends in .tmp: nothing would ever read it).
template <class Write>
void write_or_remove(const std::string& tmp, Write&& write) {
  try {
    std::forward<Write>(write)();
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

}  // namespace win::io
