// Image shards (DESIGN §5): HDF5 files holding `images` uint8 [N, H, W, C] (chunked by sample,
// gzip) and `labels` int32 [N], with attributes num_classes, mean and std (per channel, of pixel
// values / 255 over the whole dataset, written into every shard of a set), source and
// shard_index / num_shards. A dataset is a set of shards read as one indexed collection: a file,
// a directory of *.h5, or a glob. Opening validates every shard — datasets present, dtypes,
// shapes that agree across shards, labels in [0, num_classes) — and any problem is a data error
// (exit 3) naming the file and, for a bad sample, its index.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace win::data {

struct ImageGeometry {
  int64_t height = 0, width = 0, channels = 0;
  int64_t bytes() const { return height * width * channels; }
};

// Writes <dir>/<prefix>-00000.h5, -00001.h5, ... of at most per_shard samples each.
class ImageShardWriter {
 public:
  ImageShardWriter(std::string dir, std::string prefix, int64_t per_shard, ImageGeometry geometry,
                   int64_t num_classes, std::string source, int gzip_level = 4);
  ~ImageShardWriter();
  ImageShardWriter(const ImageShardWriter&) = delete;
  ImageShardWriter& operator=(const ImageShardWriter&) = delete;

  // One sample: hwc is geometry.bytes() bytes in (H, W, C) order; label in [0, num_classes).
  void add(const uint8_t* hwc, int32_t label);
  int64_t count() const;
  // Closes the last shard, writes mean/std and num_shards into every shard, returns their paths.
  std::vector<std::string> finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Read access to a set of image shards. Each object owns its HDF5 handles: threads that read
// concurrently use their own copies (reopen()).
// The per-channel mean and std (of pixel / 255) a set of shards was converted with: its first
// shard's attributes, read without opening the whole set (a run normalises its validation and
// test images with the training set's).
struct ImageStatistics {
  std::vector<double> mean, std;
};
ImageStatistics image_statistics(const std::string& spec);

class ImageDataset {
 public:
  // spec: a .h5 file, a directory (every *.h5 in name order), or a glob ("dir/train-*.h5").
  static ImageDataset open(const std::string& spec);
  ImageDataset(ImageDataset&&) noexcept;
  ImageDataset& operator=(ImageDataset&&) noexcept;
  ~ImageDataset();

  ImageDataset reopen() const;  // the same shards through new handles (for another thread)
  int64_t size() const;
  const ImageGeometry& geometry() const;
  int64_t num_classes() const;
  const std::vector<double>& mean() const;  // per channel, of pixel / 255
  const std::vector<double>& std() const;
  const std::vector<std::string>& files() const;
  // Label of sample i (all labels are read and validated when the set is opened).
  int32_t label(int64_t i) const;
  // Pixels of sample i, (H, W, C) uint8, into out (geometry().bytes() bytes).
  void read(int64_t i, uint8_t* out) const;

 private:
  ImageDataset();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace win::data
