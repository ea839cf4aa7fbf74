// Tests of image shards and their converters (data/image_shard.hpp, data/image_convert.hpp):
// writer -> dataset round trips across shards (order, pixels, labels, mean/std), the IDX and CIFAR
// converters on small files written here (raw and gzipped; CHW -> HWC), the image-folder converter
// on JPEG and PNG files written here with libjpeg/libpng (color types, resize + crop, class
// order, classes.txt), and the errors users meet (truncated or inconsistent shards, bad labels,
// corrupt images), each with exit code 3 and the file (and sample) named.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <png.h>

#include "data/hdf5.hpp"
#include "data/image_convert.hpp"
#include "data/image_shard.hpp"
#include "temp_dir_test.hpp"

namespace win::data {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

class ImageShardTest : public testing_data::TempDirTest {
 protected:
  ImageShardTest() : TempDirTest("win_img_") {}
  ShardOutput out(const std::string& sub, int64_t per_shard = 4) const {
    return ShardOutput{path(sub), "train", per_shard, 4};
  }
  fs::path dir_;
};

// Runs f, expects a win::Error with exit code 3 (data), returns its message.
std::string data_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 3) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no win::Error thrown";
  return {};
}

void write_file(const std::string& p, const Bytes& b) {
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes read_sample(const ImageDataset& ds, int64_t i) {
  Bytes b(static_cast<size_t>(ds.geometry().bytes()));
  ds.read(i, b.data());
  return b;
}

// Writes n random samples with the writer; returns them (HWC) and their labels.
std::vector<Bytes> write_random(const std::string& dir, const std::string& prefix, ImageGeometry g,
                                int64_t n, int64_t per_shard, int64_t classes,
                                std::vector<int32_t>* labels, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  ImageShardWriter w(dir, prefix, per_shard, g, classes, "test");
  std::vector<Bytes> imgs;
  for (int64_t i = 0; i < n; ++i) {
    Bytes b(static_cast<size_t>(g.bytes()));
    for (auto& v : b) v = static_cast<uint8_t>(rng() % 256);
    labels->push_back(static_cast<int32_t>(rng() % classes));
    w.add(b.data(), labels->back());
    imgs.push_back(std::move(b));
  }
  w.finish();
  return imgs;
}

TEST_F(ImageShardTest, WriterAndDatasetRoundTripAcrossShards) {
  const ImageGeometry g{5, 4, 3};
  std::vector<int32_t> labels;
  const auto imgs = write_random(path("set"), "train", g, 23, 7, 5, &labels);
  // Reference statistics of pixel / 255 per channel.
  std::vector<double> s(3), q(3);
  for (const Bytes& b : imgs)
    for (size_t i = 0; i < b.size(); ++i) {
      s[i % 3] += b[i] / 255.0;
      q[i % 3] += (b[i] / 255.0) * (b[i] / 255.0);
    }
  const double n = 23.0 * 5 * 4;
  for (const std::string& spec : {path("set"), path("set/train-*.h5")}) {
    const ImageDataset ds = ImageDataset::open(spec);
    ASSERT_EQ(ds.files().size(), 4u) << spec;  // 7 + 7 + 7 + 2
    EXPECT_EQ(ds.files()[3], path("set/train-00003.h5"));
    ASSERT_EQ(ds.size(), 23);
    EXPECT_EQ(ds.geometry().height, 5);
    EXPECT_EQ(ds.geometry().width, 4);
    EXPECT_EQ(ds.geometry().channels, 3);
    EXPECT_EQ(ds.num_classes(), 5);
    for (int c = 0; c < 3; ++c) {
      const double mean = s[c] / n;
      EXPECT_NEAR(ds.mean()[c], mean, 1e-12);
      EXPECT_NEAR(ds.std()[c], std::sqrt(q[c] / n - mean * mean), 1e-12);
    }
    const ImageDataset other = ds.reopen();
    for (int64_t i : {22, 0, 7, 13, 6, 21}) {  // out of order, across shard boundaries
      EXPECT_EQ(read_sample(ds, i), imgs[i]) << "sample " << i;
      EXPECT_EQ(read_sample(other, i), imgs[i]) << "sample " << i;
      EXPECT_EQ(ds.label(i), labels[i]);
    }
    Bytes b(60);
    EXPECT_THROW(ds.read(23, b.data()), Error);
    EXPECT_THROW(ds.read(-1, b.data()), Error);
  }
  // Every shard carries the whole set's statistics and its place in the set.
  const ImageDataset last = ImageDataset::open(path("set/train-00003.h5"));
  EXPECT_EQ(last.size(), 2);
  EXPECT_EQ(read_sample(last, 1), imgs[22]);
  EXPECT_NEAR(last.mean()[1], s[1] / n, 1e-12);
  const h5::File f = h5::File::open(path("set/train-00002.h5"));
  EXPECT_EQ(f.root().attr<int64_t>("num_shards"), 4);
  EXPECT_EQ(f.root().attr<int64_t>("shard_index"), 2);
  EXPECT_EQ(f.root().attr<std::string>("source"), "test");
}

// ---- IDX ----

Bytes idx(const std::vector<uint32_t>& dims, const Bytes& data) {
  Bytes b{0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(d >> s));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

void write_gz(const std::string& p, const Bytes& b) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, b.data(), static_cast<unsigned>(b.size())), static_cast<int>(b.size()));
  gzclose(f);
}

TEST_F(ImageShardTest, IdxRawAndGzippedRoundTrip) {
  Bytes pix(5 * 3 * 4);
  for (size_t i = 0; i < pix.size(); ++i) pix[i] = static_cast<uint8_t>(i * 7);
  const Bytes labels{3, 0, 9, 1, 3};
  write_file(path("img"), idx({5, 3, 4}, pix));
  write_file(path("lab"), idx({5}, labels));
  write_gz(path("img.gz"), idx({5, 3, 4}, pix));
  write_gz(path("lab.gz"), idx({5}, labels));
  for (const std::string ext : {"", ".gz"}) {
    const ConvertSummary s = convert_idx(path("img" + ext), path("lab" + ext), out("o" + ext, 2));
    EXPECT_EQ(s.samples, 5);
    EXPECT_EQ(s.shards.size(), 3u);
    const ImageDataset ds = ImageDataset::open(path("o" + ext));
    ASSERT_EQ(ds.size(), 5);
    EXPECT_EQ(ds.geometry().height, 3);
    EXPECT_EQ(ds.geometry().width, 4);
    EXPECT_EQ(ds.geometry().channels, 1);
    EXPECT_EQ(ds.num_classes(), 10);
    for (int64_t i = 0; i < 5; ++i) {
      EXPECT_EQ(read_sample(ds, i), Bytes(pix.begin() + i * 12, pix.begin() + i * 12 + 12));
      EXPECT_EQ(ds.label(i), labels[i]);
    }
  }
  // A label beyond --classes, a truncated image file.
  std::string msg = data_error([&] { convert_idx(path("img"), path("lab"), out("x"), 5); });
  EXPECT_NE(msg.find(path("lab")), std::string::npos) << msg;
  EXPECT_NE(msg.find("label 2 is 9"), std::string::npos) << msg;
  Bytes cut = idx({5, 3, 4}, pix);
  cut.resize(cut.size() - 5);
  write_gz(path("cut.gz"), cut);
  msg = data_error([&] { convert_idx(path("cut.gz"), path("lab"), out("y")); });
  EXPECT_NE(msg.find(path("cut.gz")), std::string::npos) << msg;
  EXPECT_NE(msg.find("image 4"), std::string::npos) << msg;
}

// ---- CIFAR ----

// n records with pixels derived from (record, c, y, x) and the given label bytes.
Bytes cifar(int n, const std::vector<Bytes>& label_bytes) {
  Bytes b;
  for (int r = 0; r < n; ++r) {
    b.insert(b.end(), label_bytes[r].begin(), label_bytes[r].end());
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 1024; ++p) b.push_back(static_cast<uint8_t>(r * 31 + c * 101 + p * 3));
  }
  return b;
}

void expect_cifar_hwc(const ImageDataset& ds, int64_t i, int record) {
  const Bytes img = read_sample(ds, i);
  for (int y : {0, 5, 31})
    for (int x : {0, 17, 31})
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(img[(y * 32 + x) * 3 + c],
                  static_cast<uint8_t>(record * 31 + c * 101 + (y * 32 + x) * 3))
            << "sample " << i << " y " << y << " x " << x << " c " << c;
}

TEST_F(ImageShardTest, Cifar10And100RoundTrip) {
  write_file(path("data_batch_1.bin"), cifar(3, {{4}, {9}, {0}}));
  write_file(path("test_batch.bin"), cifar(2, {{7}, {1}}));
  convert_cifar({path("data_batch_1.bin"), path("test_batch.bin")}, out("c10"));
  const ImageDataset d10 = ImageDataset::open(path("c10"));
  ASSERT_EQ(d10.size(), 5);
  EXPECT_EQ(d10.num_classes(), 10);
  EXPECT_EQ(d10.geometry().height, 32);
  EXPECT_EQ(d10.geometry().channels, 3);
  const std::vector<int32_t> l10{4, 9, 0, 7, 1};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(d10.label(i), l10[i]);
  expect_cifar_hwc(d10, 1, 1);
  expect_cifar_hwc(d10, 3, 0);  // first record of the second file

  write_file(path("train.bin"), cifar(3, {{2, 55}, {19, 99}, {0, 3}}));
  convert_cifar({path("train.bin")}, out("fine"));
  convert_cifar({path("train.bin")}, out("coarse"), CifarVariant::Auto, true);
  const ImageDataset fine = ImageDataset::open(path("fine"));
  const ImageDataset coarse = ImageDataset::open(path("coarse"));
  EXPECT_EQ(fine.num_classes(), 100);
  EXPECT_EQ(coarse.num_classes(), 20);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(fine.label(i), (std::vector<int32_t>{55, 99, 3})[i]);
    EXPECT_EQ(coarse.label(i), (std::vector<int32_t>{2, 19, 0})[i]);
  }
  expect_cifar_hwc(fine, 2, 2);

  Bytes cut = cifar(2, {{1}, {2}});
  cut.pop_back();
  write_file(path("data_batch_2.bin"), cut);
  const std::string msg = data_error([&] { convert_cifar({path("data_batch_2.bin")}, out("x")); });
  EXPECT_NE(msg.find(path("data_batch_2.bin")), std::string::npos) << msg;
  write_file(path("data_batch_3.bin"), cifar(2, {{1}, {12}}));
  const std::string bad = data_error([&] { convert_cifar({path("data_batch_3.bin")}, out("y")); });
  EXPECT_NE(bad.find("record 1 has label 12"), std::string::npos) << bad;
}

// ---- image folder ----

// A solid-color image of w x h in `components` (1 gray, 3 RGB, 4 CMYK) channels as a JPEG.
Bytes jpeg(int w, int h, const Bytes& color, J_COLOR_SPACE space) {
  jpeg_compress_struct ci{};
  jpeg_error_mgr err{};
  ci.err = jpeg_std_error(&err);
  jpeg_create_compress(&ci);
  unsigned char* mem = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&ci, &mem, &size);
  ci.image_width = static_cast<JDIMENSION>(w);
  ci.image_height = static_cast<JDIMENSION>(h);
  ci.input_components = static_cast<int>(color.size());
  ci.in_color_space = space;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, 95, TRUE);
  jpeg_start_compress(&ci, TRUE);
  Bytes row;
  for (int x = 0; x < w; ++x) row.insert(row.end(), color.begin(), color.end());
  JSAMPROW rp = row.data();
  while (ci.next_scanline < ci.image_height) jpeg_write_scanlines(&ci, &rp, 1);
  jpeg_finish_compress(&ci);
  Bytes out(mem, mem + size);
  jpeg_destroy_compress(&ci);
  std::free(mem);
  return out;
}

// A solid-color PNG through libpng's simplified API; `format` says the channels and bit depth.
void png(const std::string& p, int w, int h, uint32_t format, const std::vector<uint16_t>& color,
         const Bytes& colormap = {}) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = format;
  img.colormap_entries = static_cast<png_uint_32>(colormap.size() / 3);
  std::vector<uint16_t> wide;
  Bytes narrow;
  for (int i = 0; i < w * h; ++i)
    for (uint16_t c : color) {
      wide.push_back(c);
      narrow.push_back(static_cast<uint8_t>(c));
    }
  const void* buf = (format & PNG_FORMAT_FLAG_LINEAR) ? static_cast<const void*>(wide.data())
                                                      : static_cast<const void*>(narrow.data());
  ASSERT_TRUE(png_image_write_to_file(&img, p.c_str(), 0, buf, 0,
                                      colormap.empty() ? nullptr : colormap.data()))
      << img.message;
}

void expect_solid(const Bytes& img, const Bytes& color, int tolerance, const std::string& what) {
  const size_t c = color.size();
  int worst = 0;
  for (size_t i = 0; i < img.size(); ++i) worst = std::max(worst, std::abs(img[i] - color[i % c]));
  EXPECT_LE(worst, tolerance) << what;
}

TEST_F(ImageShardTest, ImageFolderJpegAndPng) {
  // Class folders are listed out of order on purpose; "b_png" also holds a file to skip.
  for (const char* d : {"in/c_cmyk", "in/a_jpeg", "in/b_png"}) fs::create_directories(path(d));
  write_file(path("in/a_jpeg/x1.jpg"), jpeg(40, 28, {200, 30, 90}, JCS_RGB));  // down: 28 -> 16
  write_file(path("in/a_jpeg/x0.JPEG"), jpeg(12, 10, {77}, JCS_GRAYSCALE));    // up: 10 -> 16
  png(path("in/b_png/p.png"), 30, 60, PNG_FORMAT_RGB, {10, 220, 40});
  png(path("in/b_png/q.png"), 17, 17, PNG_FORMAT_LINEAR_Y, {0x8080});    // 16-bit gray
  png(path("in/b_png/r.png"), 20, 18, PNG_FORMAT_RGBA, {5, 6, 7, 100});  // alpha dropped
  png(path("in/b_png/s.png"), 25, 16, PNG_FORMAT_RGB_COLORMAP, {1}, {0, 0, 0, 250, 120, 3});
  write_file(path("in/b_png/notes.txt"), {'h', 'i'});
  // Adobe CMYK as Photoshop writes it (inverted: 255 = no ink) decodes to (200, 30, 90).
  write_file(path("in/c_cmyk/k.jpg"), jpeg(24, 24, {200, 30, 90, 255}, JCS_CMYK));

  const ConvertSummary s = convert_image_folder(path("in"), out("rgb", 3), {12, 16, 3, 2});
  EXPECT_EQ(s.samples, 7);
  EXPECT_EQ(s.shards.size(), 3u);
  std::stringstream classes;
  classes << std::ifstream(path("rgb/classes.txt")).rdbuf();
  EXPECT_EQ(classes.str(), "0\ta_jpeg\n1\tb_png\n2\tc_cmyk\n");
  const ImageDataset ds = ImageDataset::open(path("rgb"));
  ASSERT_EQ(ds.size(), 7);
  EXPECT_EQ(ds.num_classes(), 3);
  EXPECT_EQ(ds.geometry().height, 12);
  EXPECT_EQ(ds.geometry().width, 12);
  EXPECT_EQ(ds.geometry().channels, 3);
  const std::vector<int32_t> want_labels{0, 0, 1, 1, 1, 1, 2};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(ds.label(i), want_labels[i]) << i;
  expect_solid(read_sample(ds, 0), {77, 77, 77}, 2, "gray JPEG, upscaled");
  expect_solid(read_sample(ds, 1), {200, 30, 90}, 6, "RGB JPEG");
  expect_solid(read_sample(ds, 2), {10, 220, 40}, 0, "RGB PNG");
  expect_solid(read_sample(ds, 3), {128, 128, 128}, 0, "16-bit gray PNG");
  expect_solid(read_sample(ds, 4), {5, 6, 7}, 0, "RGBA PNG");
  expect_solid(read_sample(ds, 5), {250, 120, 3}, 0, "palette PNG");
  expect_solid(read_sample(ds, 6), {200, 30, 90}, 6, "Adobe CMYK JPEG");

  // --gray: BT.601 luma.
  convert_image_folder(path("in"), out("gray"), {8, 8, 1, 1});
  const ImageDataset g = ImageDataset::open(path("gray"));
  EXPECT_EQ(g.geometry().channels, 1);
  expect_solid(read_sample(g, 2),
               {static_cast<uint8_t>(std::lround(0.299 * 10 + 0.587 * 220 + 0.114 * 40))}, 0,
               "gray from RGB PNG");
  expect_solid(read_sample(g, 0), {77}, 2, "gray JPEG");
}

TEST_F(ImageShardTest, ResizeAndCenterCrop) {
  Image img{2, 8, 1, {}};
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 8; ++x) img.pixels.push_back(static_cast<uint8_t>(x * 10 + y * 100));
  // Shorter side 2 -> 1: area average of 2x2 blocks, 8 -> 4 wide.
  const Image half = resize_shorter_side(img, 1);
  ASSERT_EQ(half.height, 1);
  ASSERT_EQ(half.width, 4);
  EXPECT_EQ(half.pixels, (Bytes{55, 75, 95, 115}));
  // 2 -> 4: bilinear with half-pixel centers, edges clamped: rows 0, 25, 75, 100 (+ x * 10).
  const Image twice = resize_shorter_side(img, 4);
  ASSERT_EQ(twice.width, 16);
  EXPECT_EQ(twice.pixels[0 * 16 + 0], 0);
  EXPECT_EQ(twice.pixels[1 * 16 + 0], 25);
  EXPECT_EQ(twice.pixels[2 * 16 + 0], 75);
  EXPECT_EQ(twice.pixels[3 * 16 + 15], 170);
  EXPECT_EQ(twice.pixels[0 * 16 + 1], 3);  // x: 0.25 * 10 + 0.75 * 0 = 2.5 rounds to 3
  const Image crop = center_crop(img, 2);  // columns 3, 4
  EXPECT_EQ(crop.pixels, (Bytes{30, 40, 130, 140}));
}

// ---- validation ----

void write_shard(const std::string& p, const Dims& img_shape, const std::vector<int32_t>& labels,
                 bool with_labels = true) {
  fs::create_directories(fs::path(p).parent_path());
  h5::File f = h5::File::create(p);
  h5::Group root = f.root();
  root.write("images", Tensor::zeros(img_shape, DType::U8));
  if (with_labels)
    root.write("labels", Tensor::from(labels, {static_cast<int64_t>(labels.size())}));
  root.set_attr("num_classes", int64_t{3});
  root.set_attr("mean", std::vector<double>(static_cast<size_t>(img_shape[3]), 0.5));
  root.set_attr("std", std::vector<double>(static_cast<size_t>(img_shape[3]), 0.2));
  f.close();
}

TEST_F(ImageShardTest, OpenRefusesBadShardsNamingFileAndSample) {
  std::vector<int32_t> labels;
  write_random(path("trunc"), "train", {4, 4, 1}, 8, 4, 3, &labels);
  const std::string victim = path("trunc/train-00001.h5");
  fs::resize_file(victim, fs::file_size(victim) / 2);
  std::string msg = data_error([&] { ImageDataset::open(path("trunc")); });
  EXPECT_NE(msg.find(victim), std::string::npos) << msg;

  write_shard(path("badlabel/a.h5"), {4, 2, 2, 1}, {0, 1, 2, 0});
  write_shard(path("badlabel/b.h5"), {4, 2, 2, 1}, {0, 1, 7, 0});
  msg = data_error([&] { ImageDataset::open(path("badlabel/*.h5")); });
  EXPECT_NE(msg.find(path("badlabel/b.h5")), std::string::npos) << msg;
  EXPECT_NE(msg.find("sample 2 has label 7"), std::string::npos) << msg;

  write_shard(path("shapes/a.h5"), {2, 2, 2, 1}, {0, 1});
  write_shard(path("shapes/b.h5"), {2, 3, 2, 1}, {0, 1});
  msg = data_error([&] { ImageDataset::open(path("shapes")); });
  EXPECT_NE(msg.find(path("shapes/b.h5")), std::string::npos) << msg;
  EXPECT_NE(msg.find("3x2x1"), std::string::npos) << msg;

  write_shard(path("nolabels.h5"), {2, 2, 2, 1}, {}, false);
  msg = data_error([&] { ImageDataset::open(path("nolabels.h5")); });
  EXPECT_NE(msg.find(path("nolabels.h5")), std::string::npos) << msg;
  EXPECT_NE(msg.find("labels"), std::string::npos) << msg;

  msg = data_error([&] { ImageDataset::open(path("none-*.h5")); });
  EXPECT_NE(msg.find("none-*.h5"), std::string::npos) << msg;
}

// An interrupted conversion (the writer gone without finish) leaves no shard behind, and an
// earlier complete conversion into the same folder stays as it was: shards are written under a
// .partial name and renamed only when the whole set is done.
TEST_F(ImageShardTest, AnInterruptedConversionLeavesTheEarlierShardsAsTheyWere) {
  std::vector<int32_t> labels;
  const auto first = write_random(path("set"), "train", {4, 4, 1}, 8, 4, 3, &labels);
  {
    ImageShardWriter w(path("set"), "train", 4, {4, 4, 1}, 3, "interrupted");
    const Bytes zeros(16, 0);
    for (int i = 0; i < 6; ++i) w.add(zeros.data(), 0);  // a shard closed, one open: no finish()
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(path("set")))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"train-00000.h5", "train-00001.h5"}));
  const ImageDataset ds = ImageDataset::open(path("set"));
  ASSERT_EQ(ds.size(), 8);
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(read_sample(ds, i), first[static_cast<size_t>(i)]);
}

TEST_F(ImageShardTest, ImageFolderNamesCorruptFile) {
  fs::create_directories(path("in/cat"));
  const Bytes good = jpeg(16, 16, {1, 2, 3}, JCS_RGB);
  write_file(path("in/cat/a.jpg"), good);
  write_file(path("in/cat/b.jpg"), Bytes(good.begin(), good.begin() + good.size() / 2));
  std::string msg = data_error([&] { convert_image_folder(path("in"), out("o"), {8, 8, 3, 1}); });
  EXPECT_NE(msg.find(path("in/cat/b.jpg")), std::string::npos) << msg;
  write_file(path("in/cat/b.jpg"), {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
  msg = data_error([&] { convert_image_folder(path("in"), out("o"), {8, 8, 3, 1}); });
  EXPECT_NE(msg.find(path("in/cat/b.jpg")), std::string::npos) << msg;
  EXPECT_NE(msg.find("neither a JPEG nor a PNG"), std::string::npos) << msg;
}

}  // namespace
}  // namespace win::data
