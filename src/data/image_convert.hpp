// Converters from the usual image dataset formats to win's image shards (DESIGN §5,
// image_shard.hpp), behind `win data idx|cifar|images`: IDX (MNIST, Fashion-MNIST; gzipped or not),
// CIFAR-10/100 binary, and an ImageNet-style folder of class folders of JPEG/PNG files. They live
// in the data layer, not in the app, so tests and tools can call them directly. Every problem with
// an input is a data error (exit 3) naming the file and, where there is one, the record; each
// converter shows progress and returns what it wrote.
//
// The image decoding and resizing pieces of the folder converter are exposed too, for tests and
// for a future on-the-fly loader.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/image_shard.hpp"

namespace win::data {

// Where and how the shards are written.
struct ShardOutput {
  std::string dir;               // created if missing
  std::string prefix = "train";  // <dir>/<prefix>-00000.h5, ...
  int64_t per_shard = 10000;     // samples per shard (the last may hold fewer)
  int gzip_level = 4;            // 1..9
  int64_t limit = 0;             // convert only the first `limit` samples (0: all)
};

// What a converter wrote.
struct ConvertSummary {
  int64_t samples = 0;
  ImageGeometry geometry;
  int64_t num_classes = 0;
  std::vector<std::string> shards;
  std::vector<double> mean, std;         // per channel, of pixel / 255
  std::vector<std::string> class_names;  // folder converter: index -> name
};

// IDX (http://yann.lecun.com/exdb/mnist/): images ubyte [N, rows, cols] and labels ubyte [N],
// each file raw or gzipped (zlib reads both). Labels must lie in [0, num_classes).
ConvertSummary convert_idx(const std::string& images_path, const std::string& labels_path,
                           const ShardOutput& out, int64_t num_classes = 10);

enum class CifarVariant { Auto, Cifar10, Cifar100 };

// CIFAR binary files, in the order given. CIFAR-10 (data_batch_*.bin, test_batch.bin): records of
// 1 label byte + 3072 bytes of 32x32 RGB in CHW order. CIFAR-100 (train.bin, test.bin): a coarse
// (20 classes) and a fine (100 classes) label byte, then the pixels; fine labels unless coarse.
// Auto tells the two apart by the file names (…batch… is CIFAR-10, train.bin / test.bin is
// CIFAR-100), else by which record size divides every file's size; ambiguity is a usage error.
ConvertSummary convert_cifar(const std::vector<std::string>& files, const ShardOutput& out,
                             CifarVariant variant = CifarVariant::Auto, bool coarse = false);

// The ImageNet-style folder converter.
struct FolderOptions {
  int64_t size = 224;    // output is size x size (center crop)
  int64_t resize = 256;  // the shorter side is resized to this first (>= size)
  int channels = 3;      // 3 (RGB) or 1 (grayscale, BT.601 luma)
  int threads = 0;       // decoding threads; 0: all (output does not depend on it)
};

// dir holds one sub-folder per class; class names sorted byte-wise become indices 0..K-1 (hidden
// folders, starting with '.', are skipped). In each, the .jpg/.jpeg/.png files (any case) in name
// order are decoded (by content, so a PNG named .jpg works), resized and center-cropped. Samples
// are written class by class in that order; <out.dir>/classes.txt gets "index<TAB>name" lines.
ConvertSummary convert_image_folder(const std::string& dir, const ShardOutput& out,
                                    const FolderOptions& opts = {});

// ---- decoding and resizing (image_convert_decode.cpp) ----

// An 8-bit image in (H, W, C) order.
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;
};

// Decodes a JPEG or PNG (told apart by their signatures) held in memory to `channels` (1 or 3)
// channels. `name` is used in errors. JPEG: gray, YCbCr, RGB and CMYK/YCCK (Adobe-inverted or
// not) are supported; other color spaces are refused. PNG: palette, gray, 16-bit (scaled to 8
// bits) and alpha (dropped, as PIL's convert("RGB") does) are converted; gamma is ignored (as PIL
// does). Gray from color uses the BT.601 luma weights of JPEG. When min_shorter > 0 a JPEG may be
// decoded at 1/2, 1/4 or 1/8 scale (in the DCT, a good-quality box-like filter, much faster)
// as long as its shorter side stays >= min_shorter.
Image decode_image(const std::vector<uint8_t>& bytes, int channels, const std::string& name,
                   int64_t min_shorter = 0);
// Reads the file and decodes it; errors name the file.
Image load_image(const std::string& path, int channels, int64_t min_shorter = 0);

// Resizes so that the shorter side becomes `shorter` (the longer side keeps the aspect ratio,
// rounded to the nearest pixel). Each axis is resampled on its own: area averaging (each output
// pixel is the exact coverage-weighted mean of the input pixels under it) when that axis shrinks,
// bilinear interpolation with half-pixel centers when it grows, a copy when it keeps its size.
// Area averaging does not alias when shrinking a lot; bilinear is smooth when enlarging.
Image resize_shorter_side(const Image& img, int64_t shorter);
// The centered size x size window (the top/left margin is the smaller one when odd).
Image center_crop(const Image& img, int64_t size);

}  // namespace win::data
