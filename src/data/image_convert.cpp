// The IDX (MNIST / Fashion-MNIST) and CIFAR binary converters (image_convert.hpp). Both formats
// are streams of fixed-size records, read one record at a time (a corrupt header announcing
// billions of samples costs nothing until the data runs out) and checked strictly: a short file,
// a bad label or data past the declared end is a data error naming the file and the record.
#include "data/image_convert.hpp"

#include <zlib.h>
#include <algorithm>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/progress.hpp"

namespace win::data {

namespace fs = std::filesystem;

namespace {

std::string base_name(const std::string& path) {
  return fs::path(path).filename().string();
}

void check_readable_file(const std::string& path) {
  std::error_code ec;
  WIN_CHECK(fs::exists(path, ec), ErrorKind::Data, path, ": no such file");
  WIN_CHECK(!fs::is_directory(path, ec), ErrorKind::Data, path, ": is a folder, not a file");
}

ConvertSummary summarize(ImageShardWriter& writer, const ImageGeometry& g, int64_t num_classes) {
  ConvertSummary s;
  s.samples = writer.count();
  s.geometry = g;
  s.num_classes = num_classes;
  s.shards = writer.finish();
  // Read the statistics back through the reader: it also validates what was just written.
  const ImageDataset ds = ImageDataset::open(s.shards.front());
  s.mean = ds.mean();
  s.std = ds.std();
  return s;
}

// A file read through zlib, which reads gzip and plain files alike.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    check_readable_file(path);
    errno = 0;
    f_ = gzopen(path.c_str(), "rb");
    WIN_CHECK(f_ != nullptr, ErrorKind::Data, path,
              ": cannot open: ", errno ? std::strerror(errno) : "out of memory");
    gzbuffer(f_, 1 << 17);
  }
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Up to n bytes (fewer only at the end of the data); corrupt compressed data is an error.
  size_t read(void* buf, size_t n) {
    size_t got = 0;
    while (got < n) {
      const int r = gzread(f_, static_cast<char*>(buf) + got, static_cast<unsigned>(n - got));
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    int errnum = Z_OK;
    const char* msg = gzerror(f_, &errnum);
    WIN_CHECK(errnum == Z_OK || errnum == Z_STREAM_END, ErrorKind::Data, path_,
              ": cannot read (corrupt or truncated gzip data?): ",
              errnum == Z_ERRNO ? std::strerror(errno) : msg);
    return got;
  }
  // Exactly n bytes of `what` ("the header", "image 12").
  void read_exact(void* buf, size_t n, const std::string& what) {
    const size_t got = read(buf, n);
    WIN_CHECK(got == n, ErrorKind::Data, path_, ": truncated: ", what, " ends after ", got, " of ",
              n, " bytes");
  }
  void expect_end(const std::string& records) {
    char c = 0;
    WIN_CHECK(read(&c, 1) == 0, ErrorKind::Data, path_, ": has data after the ", records,
              " its header declares (a different file?)");
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

// An IDX header of an unsigned-byte array; returns its dimensions.
std::vector<int64_t> read_idx_header(GzFile& f, const std::string& path, int want_dims,
                                     const char* what) {
  uint8_t magic[4] = {};
  f.read_exact(magic, 4, "the header");
  WIN_CHECK(magic[0] == 0 && magic[1] == 0, ErrorKind::Data, path,
            ": not an IDX file (bad magic number)");
  WIN_CHECK(magic[2] == 0x08, ErrorKind::Data, path, ": IDX element type 0x", std::hex,
            int{magic[2]}, std::dec, " is not unsigned byte (0x08)");
  WIN_CHECK(magic[3] == want_dims, ErrorKind::Data, path, ": IDX array of ", int{magic[3]},
            " dimensions, expected ", want_dims, " for ", what);
  std::vector<int64_t> dims;
  for (int d = 0; d < want_dims; ++d) {
    uint8_t b[4] = {};
    f.read_exact(b, 4, "the header");
    dims.push_back((int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3]);
  }
  return dims;
}

}  // namespace

ConvertSummary convert_idx(const std::string& images_path, const std::string& labels_path,
                           const ShardOutput& out, int64_t num_classes) {
  WIN_CHECK(num_classes >= 1 && num_classes <= 256, ErrorKind::Usage,
            "IDX labels are bytes: the number of classes must be in 1..256, got ", num_classes);
  GzFile images(images_path), labels(labels_path);
  const std::vector<int64_t> idims = read_idx_header(images, images_path, 3, "images");
  const std::vector<int64_t> ldims = read_idx_header(labels, labels_path, 1, "labels");
  const int64_t total = idims[0];
  WIN_CHECK(total == ldims[0], ErrorKind::Data, images_path, " holds ", total, " images but ",
            labels_path, " holds ", ldims[0], " labels");
  const int64_t n = out.limit > 0 ? std::min(out.limit, total) : total;
  WIN_CHECK(n > 0, ErrorKind::Data, images_path, ": holds no images");
  WIN_CHECK(idims[1] >= 1 && idims[2] >= 1 && idims[1] * idims[2] <= (1 << 24), ErrorKind::Data,
            images_path, ": image size ", idims[1], "x", idims[2], " is not plausible");
  const ImageGeometry g{idims[1], idims[2], 1};
  ImageShardWriter writer(out.dir, out.prefix, out.per_shard, g, num_classes,
                          "idx: " + base_name(images_path) + ", " + base_name(labels_path),
                          out.gzip_level);
  std::vector<uint8_t> img(static_cast<size_t>(g.bytes()));
  Progress progress("idx " + base_name(images_path), n, "img");
  for (int64_t i = 0; i < n; ++i) {
    images.read_exact(img.data(), img.size(), cat("image ", i));
    uint8_t label = 0;
    labels.read_exact(&label, 1, cat("label ", i));
    WIN_CHECK(label < num_classes, ErrorKind::Data, labels_path, ": label ", i, " is ", int{label},
              ", outside [0, ", num_classes, ") (set the number of classes with --classes)");
    writer.add(img.data(), label);
    progress.update(i + 1);
  }
  if (n == total) {  // a subset leaves the rest unread
    images.expect_end(cat(n, " images"));
    labels.expect_end(cat(n, " labels"));
  }
  progress.finish();
  return summarize(writer, g, num_classes);
}

// ---- CIFAR ----

namespace {

constexpr int64_t kCifarPixels = 32 * 32 * 3;

CifarVariant variant_by_name(const std::string& path) {
  const std::string b = base_name(path);
  if (b.find("batch") != std::string::npos) return CifarVariant::Cifar10;
  if (b == "train.bin" || b == "test.bin") return CifarVariant::Cifar100;
  return CifarVariant::Auto;
}

int64_t record_bytes(CifarVariant v) {
  return kCifarPixels + (v == CifarVariant::Cifar10 ? 1 : 2);
}

CifarVariant detect_variant(const std::vector<std::string>& files) {
  CifarVariant by_name = CifarVariant::Auto;
  bool all_named = true;
  for (const std::string& f : files) {
    const CifarVariant v = variant_by_name(f);
    if (v == CifarVariant::Auto) {
      all_named = false;
      continue;
    }
    WIN_CHECK(by_name == CifarVariant::Auto || by_name == v, ErrorKind::Usage,
              "win data cifar: the files mix CIFAR-10 (…batch….bin) and CIFAR-100 (train.bin, "
              "test.bin) names; convert them separately, or set --variant");
    by_name = v;
  }
  if (all_named) return by_name;
  bool fits10 = true, fits100 = true;
  for (const std::string& f : files) {
    std::error_code ec;
    const auto size = static_cast<int64_t>(fs::file_size(f, ec));
    if (ec) continue;  // reported when the file is read
    fits10 = fits10 && size % record_bytes(CifarVariant::Cifar10) == 0;
    fits100 = fits100 && size % record_bytes(CifarVariant::Cifar100) == 0;
  }
  WIN_CHECK(fits10 != fits100, ErrorKind::Usage,
            "win data cifar: cannot tell from their names or sizes whether the files are CIFAR-10 "
            "or CIFAR-100: set --variant 10 or --variant 100");
  return fits10 ? CifarVariant::Cifar10 : CifarVariant::Cifar100;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

ConvertSummary convert_cifar(const std::vector<std::string>& files, const ShardOutput& out,
                             CifarVariant variant, bool coarse) {
  WIN_CHECK(!files.empty(), ErrorKind::Usage, "win data cifar: no input files");
  for (const std::string& f : files) check_readable_file(f);
  if (variant == CifarVariant::Auto) variant = detect_variant(files);
  const bool c100 = variant == CifarVariant::Cifar100;
  WIN_CHECK(!coarse || c100, ErrorKind::Usage,
            "win data cifar: --coarse applies to CIFAR-100 only (CIFAR-10 has one label)");
  const int64_t rec = record_bytes(variant);
  const int64_t num_classes = c100 ? (coarse ? 20 : 100) : 10;
  int64_t total = 0;
  std::vector<int64_t> records;
  for (const std::string& f : files) {
    std::error_code ec;
    const auto size = static_cast<int64_t>(fs::file_size(f, ec));
    WIN_CHECK(!ec, ErrorKind::Data, f, ": cannot read the size: ", ec.message());
    WIN_CHECK(size > 0, ErrorKind::Data, f, ": is empty");
    WIN_CHECK(size % rec == 0, ErrorKind::Data, f, ": size ", size,
              " is not a multiple of the CIFAR-", c100 ? 100 : 10, " record size ", rec,
              " (truncated, or not a CIFAR-", c100 ? 100 : 10, " file?)");
    records.push_back(size / rec);
    total += size / rec;
  }
  std::string source = c100 ? (coarse ? "cifar-100 (coarse labels):" : "cifar-100:") : "cifar-10:";
  for (const std::string& f : files) source += cat(" ", base_name(f));
  const ImageGeometry g{32, 32, 3};
  ImageShardWriter writer(out.dir, out.prefix, out.per_shard, g, num_classes, source,
                          out.gzip_level);
  std::vector<uint8_t> buf(static_cast<size_t>(rec)), hwc(static_cast<size_t>(kCifarPixels));
  Progress progress(c100 ? "cifar-100" : "cifar-10", total, "img");
  const int64_t label_at = c100 && !coarse ? 1 : 0;
  const int64_t pixels_at = c100 ? 2 : 1;
  int64_t done = 0;
  for (size_t fi = 0; fi < files.size(); ++fi) {
    const std::string& path = files[fi];
    errno = 0;
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
    WIN_CHECK(f != nullptr, ErrorKind::Data, path, ": cannot open: ", std::strerror(errno));
    for (int64_t r = 0; r < records[fi]; ++r) {
      WIN_CHECK(std::fread(buf.data(), 1, buf.size(), f.get()) == buf.size(), ErrorKind::Data, path,
                ": cannot read record ", r, " (file changed or unreadable)");
      const int label = buf[static_cast<size_t>(label_at)];
      WIN_CHECK(label < num_classes, ErrorKind::Data, path, ": record ", r, " has ",
                c100 ? (coarse ? "coarse " : "fine ") : "", "label ", label, ", outside [0, ",
                num_classes, ") (not a CIFAR-", c100 ? 100 : 10, " file?)");
      const uint8_t* chw = buf.data() + pixels_at;
      for (int64_t p = 0; p < 1024; ++p)
        for (int64_t c = 0; c < 3; ++c) hwc[static_cast<size_t>(p * 3 + c)] = chw[c * 1024 + p];
      writer.add(hwc.data(), label);
      progress.update(++done);
    }
  }
  progress.finish();
  return summarize(writer, g, num_classes);
}

}  // namespace win::data
