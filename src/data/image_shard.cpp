// Image shards (see image_shard.hpp): the writer used by the converters and the validated reader
// used by the loaders.
//
// Layout choices:
// - images are chunked one sample per chunk: a shuffled loader reads and inflates exactly the
//   sample it wants, whatever the image size (one 224x224x3 sample is 150 KB, more samples per
//   chunk would make random access inflate data it throws away). Measured on 28x28x1 shards this
//   still reads far faster than training consumes samples (see the read-throughput test).
// - the writer creates both datasets extendible (unlimited rows) and appends in blocks of about
//   4 MiB, so it needs neither the sample count up front nor a whole shard in memory. The blocks
//   are gzipped in parallel (see write_compressed).
// - mean and std come from exact integer sums of pixel values and their squares per channel
//   (uint64 cannot overflow below ~10^14 pixels), so they do not depend on how the dataset is
//   split into shards, and are written into every shard once the last one is closed.
#include "data/image_shard.hpp"

#include <glob.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/log.hpp"
#include "data/hdf5.hpp"

namespace win::data {

namespace fs = std::filesystem;

namespace {

std::string shard_path(const std::string& dir, const std::string& prefix, int64_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "-%05lld.h5", static_cast<long long>(index));
  return (fs::path(dir) / (prefix + name)).string();
}

// Which of a conversion's `written` shards (named like `files`, by shard_path) the folder lacks:
// "shard 00001 (train-00001.h5)", the first few of them.
std::string missing_shards(const std::vector<std::string>& files, int64_t written) {
  const fs::path first(files.front());
  std::string stem = first.filename().string();  // <prefix>-<5 digits>.h5
  const std::string prefix = stem.size() > 9 ? stem.substr(0, stem.size() - 9) : stem;
  std::string out;
  int listed = 0, missing = 0;
  for (int64_t i = 0; i < written; ++i) {
    const std::string want = shard_path(first.parent_path().string(), prefix, i);
    if (std::find(files.begin(), files.end(), want) != files.end()) continue;
    if (++missing <= 4) {
      char index[32];
      std::snprintf(index, sizeof index, "%05lld", static_cast<long long>(i));
      out +=
          cat(listed++ ? ", " : "", "shard ", index, " (", fs::path(want).filename().string(), ")");
    }
  }
  if (missing > 4) out += cat(" and ", missing - 4, " more");
  return out.empty() ? std::string("shards") : out;
}

// An empty dataset of rows shaped row_shape, extendible along dim 0, chunked `chunk_rows` rows at
// a time, gzip compressed. The wrapper creates fixed-size datasets only, hence the C API here.
h5::Dataset create_extendible(h5::File& file, const std::string& name, DType dtype,
                              const std::vector<hsize_t>& row_shape, hsize_t chunk_rows,
                              int gzip_level) {
  h5::Where w = file.where();
  w.object = cat("dataset '/", name, "'");
  std::vector<hsize_t> dims{0}, maxdims{H5S_UNLIMITED}, chunk{chunk_rows};
  for (hsize_t d : row_shape) {
    dims.push_back(d);
    maxdims.push_back(d);
    chunk.push_back(d);
  }
  const int rank = static_cast<int>(dims.size());
  h5::Handle space(WIN_H5_CHECK(H5Screate_simple(rank, dims.data(), maxdims.data()), w,
                                "cannot create the dataspace"));
  h5::Handle dcpl(WIN_H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), w, "cannot create a creation list"));
  WIN_H5_CHECK(H5Pset_chunk(dcpl.get(), rank, chunk.data()), w, "cannot set the chunk shape");
  if (gzip_level > 0)
    WIN_H5_CHECK(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(gzip_level)), w,
                 "cannot set gzip level ", gzip_level);
  h5::Handle type = h5::type_of(dtype);
  h5::Handle d(WIN_H5_CHECK(H5Dcreate2(file.id(), name.c_str(), type.get(), space.get(),
                                       H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                            w, "cannot create"));
  d.reset();
  return file.root().dataset(name);
}

void extend(h5::Dataset& d, int64_t rows) {
  Dims dims = d.shape();
  dims[0] = rows;
  std::vector<hsize_t> ext(dims.begin(), dims.end());
  WIN_H5_CHECK(H5Dset_extent(d.id(), ext.data()), d.where(), "cannot extend to ", rows, " rows");
}

}  // namespace

// ---- ImageShardWriter ----

struct ImageShardWriter::Impl {
  std::string dir, prefix, source;
  int64_t per_shard = 0, num_classes = 0;
  ImageGeometry g;
  int gzip_level = 4;

  std::vector<std::string> paths;
  h5::File file;  // the shard being written
  h5::Dataset images, labels;
  int64_t in_shard = 0;  // rows of the current shard already in the file
  Tensor image_buf, label_buf;
  std::vector<std::vector<uint8_t>> packed;  // compressed chunks of the buffered samples
  int64_t buffered = 0;
  int64_t total = 0;
  std::vector<uint64_t> sum, sumsq;  // per channel, of raw pixel values
  bool finished = false;

  // Shards are written as <name>.partial and renamed by finish(), after their statistics: an
  // interrupted conversion leaves no file a folder spec reads (those end in .h5), and an earlier
  // conversion's complete shards of the same names stay as they were until the new set is done.
  static std::string partial(const std::string& path) { return path + ".partial"; }

  void open_shard() {
    paths.push_back(shard_path(dir, prefix, static_cast<int64_t>(paths.size())));
    file = h5::File::create(partial(paths.back()), ErrorKind::Output);
    const auto hw = [](int64_t v) { return static_cast<hsize_t>(v); };
    images = create_extendible(file, "images", DType::U8,
                               {hw(g.height), hw(g.width), hw(g.channels)}, 1, gzip_level);
    labels =
        create_extendible(file, "labels", DType::I32, {},
                          static_cast<hsize_t>(std::min<int64_t>(per_shard, 16384)), gzip_level);
    h5::Group root = file.root();
    root.set_attr("num_classes", num_classes);
    root.set_attr("source", source);
    root.set_attr("shard_index", static_cast<int64_t>(paths.size() - 1));
    in_shard = 0;
  }

  void flush() {
    if (buffered == 0) return;
    extend(images, in_shard + buffered);
    extend(labels, in_shard + buffered);
    if (gzip_level > 0)
      write_compressed();
    else
      images.write_rows(in_shard, image_buf.slice(0, 0, buffered));
    labels.write_rows(in_shard, label_buf.slice(0, 0, buffered));
    in_shard += buffered;
    buffered = 0;
  }

  // gzip is most of a conversion's time and HDF5 runs its filters on one thread, so the buffered
  // samples (one chunk each) are deflated in parallel here, in the zlib format of HDF5's deflate
  // filter, and stored with H5Dwrite_chunk; readers see an ordinary gzip dataset.
  void write_compressed() {
    const auto bytes = static_cast<uLong>(g.bytes());
    const uint8_t* src = image_buf.data<uint8_t>();
    if (packed.size() < static_cast<size_t>(buffered)) packed.resize(static_cast<size_t>(buffered));
    int failures = 0;
    const bool parallel = bytes * static_cast<uLong>(buffered) >= (1u << 18);  // else not worth it
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failures) if (parallel)
    for (int64_t i = 0; i < buffered; ++i) {
      std::vector<uint8_t>& out = packed[static_cast<size_t>(i)];
      uLongf len = compressBound(bytes);
      out.resize(len);
      failures += compress2(out.data(), &len, src + static_cast<size_t>(i) * bytes, bytes,
                            gzip_level) != Z_OK;
      out.resize(len);
    }
    if (failures > 0) images.where().fail("cannot compress samples (zlib failed: out of memory?)");
    for (int64_t i = 0; i < buffered; ++i) {
      const std::vector<uint8_t>& c = packed[static_cast<size_t>(i)];
      const hsize_t offset[4] = {static_cast<hsize_t>(in_shard + i), 0, 0, 0};
      WIN_H5_CHECK(H5Dwrite_chunk(images.id(), H5P_DEFAULT, 0, offset, c.size(), c.data()),
                   images.where(), "cannot write sample ", in_shard + i);
    }
  }

  void close_shard() {
    if (!file.is_open()) return;
    flush();
    images = {};
    labels = {};
    file.close();
  }
};

ImageShardWriter::ImageShardWriter(std::string dir, std::string prefix, int64_t per_shard,
                                   ImageGeometry geometry, int64_t num_classes, std::string source,
                                   int gzip_level)
    : impl_(std::make_unique<Impl>()) {
  WIN_CHECK(per_shard >= 1, ErrorKind::Usage, "image shards: samples per shard must be >= 1, got ",
            per_shard);
  WIN_CHECK(geometry.height >= 1 && geometry.width >= 1 && geometry.channels >= 1,
            ErrorKind::Internal, "image shards: invalid geometry ", geometry.height, "x",
            geometry.width, "x", geometry.channels);
  WIN_CHECK(num_classes >= 1 && num_classes <= INT32_MAX, ErrorKind::Usage,
            "image shards: number of classes must be >= 1, got ", num_classes);
  WIN_CHECK(gzip_level >= 0 && gzip_level <= 9, ErrorKind::Usage,
            "image shards: gzip level must be in 0..9, got ", gzip_level);
  Impl& m = *impl_;
  m.dir = std::move(dir);
  m.prefix = std::move(prefix);
  m.source = std::move(source);
  m.per_shard = per_shard;
  m.num_classes = num_classes;
  m.g = geometry;
  m.gzip_level = gzip_level;
  const int64_t block = std::clamp<int64_t>((4 << 20) / geometry.bytes(), 1, per_shard);
  m.image_buf =
      Tensor::empty({block, geometry.height, geometry.width, geometry.channels}, DType::U8);
  m.label_buf = Tensor::empty({block}, DType::I32);
  m.sum.assign(static_cast<size_t>(geometry.channels), 0);
  m.sumsq.assign(static_cast<size_t>(geometry.channels), 0);
  std::error_code ec;
  fs::create_directories(m.dir, ec);
  WIN_CHECK(!ec && fs::is_directory(m.dir), ErrorKind::Output, "cannot create the output folder ",
            m.dir, ": ", ec ? ec.message() : std::string("a file of that name is in the way"));
}

ImageShardWriter::~ImageShardWriter() {
  if (!impl_ || impl_->finished) return;
  try {  // an unfinished conversion (an error or an exception in the caller): its partial shards go
    impl_->close_shard();
  } catch (...) {
  }
  for (const std::string& p : impl_->paths) {
    std::error_code ec;
    fs::remove(Impl::partial(p), ec);
  }
}

void ImageShardWriter::add(const uint8_t* hwc, int32_t label) {
  Impl& m = *impl_;
  WIN_CHECK(!m.finished, ErrorKind::Internal, "ImageShardWriter::add after finish()");
  WIN_CHECK(label >= 0 && label < m.num_classes, ErrorKind::Data, "image shards: sample ", m.total,
            " has label ", label, ", outside [0, ", m.num_classes, ")");
  if (!m.file.is_open()) m.open_shard();
  const auto bytes = static_cast<size_t>(m.g.bytes());
  std::memcpy(m.image_buf.data<uint8_t>() + static_cast<size_t>(m.buffered) * bytes, hwc, bytes);
  m.label_buf.data<int32_t>()[m.buffered] = label;
  const auto c = static_cast<size_t>(m.g.channels);
  for (size_t ch = 0; ch < c; ++ch) {
    uint64_t s = 0, q = 0;
    for (size_t i = ch; i < bytes; i += c) {
      const uint64_t v = hwc[i];
      s += v;
      q += v * v;
    }
    m.sum[ch] += s;
    m.sumsq[ch] += q;
  }
  ++m.buffered;
  ++m.total;
  if (m.buffered == m.image_buf.size(0)) m.flush();
  if (m.in_shard + m.buffered == m.per_shard) m.close_shard();
}

int64_t ImageShardWriter::count() const {
  return impl_->total;
}

std::vector<std::string> ImageShardWriter::finish() {
  Impl& m = *impl_;
  WIN_CHECK(!m.finished, ErrorKind::Internal, "ImageShardWriter::finish called twice");
  WIN_CHECK(m.total > 0, ErrorKind::Data, "image shards: no samples to write to ", m.dir);
  m.close_shard();
  m.finished = true;
  const double n = static_cast<double>(m.total) * static_cast<double>(m.g.height * m.g.width);
  std::vector<double> mean, stdev;
  for (size_t c = 0; c < m.sum.size(); ++c) {
    const double mu = static_cast<double>(m.sum[c]) / n;
    const double var = std::max(0.0, static_cast<double>(m.sumsq[c]) / n - mu * mu);
    mean.push_back(mu / 255.0);
    stdev.push_back(std::sqrt(var) / 255.0);
  }
  const auto num_shards = static_cast<int64_t>(m.paths.size());
  for (const std::string& p : m.paths) {
    h5::File f = h5::File::open(Impl::partial(p), h5::Mode::ReadWrite, ErrorKind::Output);
    h5::Group root = f.root();
    root.set_attr("mean", mean);
    root.set_attr("std", stdev);
    root.set_attr("num_shards", num_shards);
    f.close();
  }
  for (const std::string& p : m.paths) {
    std::error_code ec;
    fs::rename(Impl::partial(p), p, ec);
    WIN_CHECK(!ec, ErrorKind::Output, "cannot rename ", Impl::partial(p), " to ", p, ": ",
              ec.message());
  }
  const std::string stale = shard_path(m.dir, m.prefix, num_shards);
  if (std::error_code stale_ec; fs::exists(stale, stale_ec))
    log_warn(stale, " is left from an earlier conversion with more shards: delete it, or a ",
             "folder spec will read it along with the ", num_shards, " new shards");
  return m.paths;
}

// ---- ImageDataset ----

namespace {

struct Shard {
  std::string path;
  h5::File file;
  h5::Dataset images;
};

bool has_glob_chars(const std::string& s) {
  return s.find_first_of("*?[") != std::string::npos;
}

std::vector<std::string> resolve_spec(const std::string& spec) {
  WIN_CHECK(!spec.empty(), ErrorKind::Data, "image shards: empty file name");
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(spec, ec)) {
    for (const auto& e : fs::directory_iterator(spec, ec))
      if (e.path().extension() == ".h5" && !e.is_directory()) files.push_back(e.path().string());
    WIN_CHECK(!ec, ErrorKind::Data, "cannot list the folder ", spec, ": ", ec.message());
    WIN_CHECK(!files.empty(), ErrorKind::Data, "folder ", spec, " holds no .h5 files");
  } else if (!fs::exists(spec, ec) && has_glob_chars(spec)) {
    glob_t g{};
    const int rc = glob(spec.c_str(), GLOB_NOSORT, nullptr, &g);
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; ++i)
      if (!fs::is_directory(g.gl_pathv[i], ec)) files.emplace_back(g.gl_pathv[i]);
    globfree(&g);
    WIN_CHECK(rc == 0 || rc == GLOB_NOMATCH, ErrorKind::Data, "cannot expand the pattern ", spec);
    WIN_CHECK(!files.empty(), ErrorKind::Data, "no files match ", spec);
  } else {
    files.push_back(spec);  // h5::File::open says what is wrong with it
  }
  std::sort(files.begin(), files.end());  // byte order, independent of the locale
  return files;
}

}  // namespace

struct ImageDataset::Impl {
  std::vector<Shard> shards;
  std::vector<int64_t> starts;  // global index of each shard's first sample
  std::vector<int32_t> labels;  // all of them
  ImageGeometry g;
  int64_t num_classes = 0;
  std::vector<double> mean, stdev;
  std::vector<std::string> files;
  Tensor row;  // [1, H, W, C], reused by read()

  void open_handles() {
    shards.clear();
    for (const std::string& f : files) {
      Shard s{f, h5::File::open(f, h5::Mode::Read, ErrorKind::Data), {}};
      s.images = s.file.root().dataset("images");
      shards.push_back(std::move(s));
    }
    row = Tensor::empty({1, g.height, g.width, g.channels}, DType::U8);
  }
};

ImageDataset::ImageDataset() : impl_(std::make_unique<Impl>()) {}
ImageDataset::ImageDataset(ImageDataset&&) noexcept = default;
ImageDataset& ImageDataset::operator=(ImageDataset&&) noexcept = default;
ImageDataset::~ImageDataset() = default;

ImageStatistics image_statistics(const std::string& spec) {
  const std::string first = resolve_spec(spec).front();
  const h5::File file = h5::File::open(first, h5::Mode::Read, ErrorKind::Data);
  const h5::Group root = file.root();
  for (const char* a : {"mean", "std"})
    if (!root.has_attr(a))
      root.where().fail(
          cat("has no attribute '", a, "' (written last: an unfinished conversion?)"));
  return {root.attr<std::vector<double>>("mean"), root.attr<std::vector<double>>("std")};
}

ImageDataset ImageDataset::open(const std::string& spec) {
  ImageDataset ds;
  Impl& m = *ds.impl_;
  m.files = resolve_spec(spec);
  std::error_code ec;
  const bool folder = fs::is_directory(spec, ec);
  std::string first;  // the file the others are compared with
  for (const std::string& path : m.files) {
    h5::File file = h5::File::open(path, h5::Mode::Read, ErrorKind::Data);
    const h5::Group root = file.root();
    h5::Dataset images = root.dataset("images");
    const h5::Dataset labels = root.dataset("labels");
    if (images.dtype() != DType::U8)
      images.where().fail(cat("holds ", dtype_name(images.dtype()), ", expected u8"));
    if (labels.dtype() != DType::I32)
      labels.where().fail(cat("holds ", dtype_name(labels.dtype()), ", expected i32"));
    const Dims s = images.shape();
    if (s.size() != 4 || s[1] < 1 || s[2] < 1 || s[3] < 1)
      images.where().fail(cat("has shape ", s, ", expected [N, H, W, C] with H, W, C >= 1"));
    const Dims ls = labels.shape();
    if (ls.size() != 1 || ls[0] != s[0])
      labels.where().fail(cat("has shape ", ls, ", expected [", s[0], "] (one label per image)"));
    const ImageGeometry g{s[1], s[2], s[3]};
    for (const char* a : {"num_classes", "mean", "std"})
      if (!root.has_attr(a))
        root.where().fail(
            cat("has no attribute '", a, "' (written last: an unfinished conversion?)"));
    // A folder read whole must hold one conversion: shards a later, smaller conversion left
    // behind would be trained on along with it (the converter warns, but nothing stops a run).
    if (folder && root.has_attr("num_shards") &&
        root.attr<int64_t>("num_shards") != static_cast<int64_t>(m.files.size())) {
      const int64_t written = root.attr<int64_t>("num_shards");
      if (written > static_cast<int64_t>(m.files.size()))
        root.where().fail(cat("was written as one of ", written,
                              " shards (num_shards), but the "
                              "folder ",
                              spec, " holds ", m.files.size(), ": ",
                              missing_shards(m.files, written), " missing"));
      root.where().fail(cat("was written as one of ", written,
                            " shards (num_shards), but the "
                            "folder ",
                            spec, " holds ", m.files.size(),
                            ": shards of another conversion? Remove them, or name the shards "
                            "to read with a glob"));
    }
    const int64_t nc = root.attr<int64_t>("num_classes");
    if (nc < 1 || nc > INT32_MAX) root.where().fail(cat("num_classes ", nc, " is not >= 1"));
    const auto mean = root.attr<std::vector<double>>("mean");
    const auto stdev = root.attr<std::vector<double>>("std");
    if (static_cast<int64_t>(mean.size()) != g.channels ||
        static_cast<int64_t>(stdev.size()) != g.channels)
      root.where().fail(cat("attributes mean and std have ", mean.size(), " and ", stdev.size(),
                            " values, expected one per channel (", g.channels, ")"));
    if (first.empty()) {
      first = path;
      m.g = g;
      m.num_classes = nc;
      m.mean = mean;
      m.stdev = stdev;
    } else {
      if (g.height != m.g.height || g.width != m.g.width || g.channels != m.g.channels)
        images.where().fail(cat("samples are ", g.height, "x", g.width, "x", g.channels,
                                " (HxWxC) but ", m.g.height, "x", m.g.width, "x", m.g.channels,
                                " in ", first, ": shards of one dataset must agree"));
      if (nc != m.num_classes)
        root.where().fail(cat("num_classes is ", nc, " but ", m.num_classes, " in ", first));
      if (mean != m.mean || stdev != m.stdev)
        log_warn(path, ": mean/std differ from those of ", first, " (shards of different ",
                 "conversions?); using those of ", first);
    }
    const Tensor lt = labels.read();
    const int32_t* l = lt.data<int32_t>();
    for (int64_t i = 0; i < s[0]; ++i)
      if (l[i] < 0 || l[i] >= nc)
        labels.where().fail(
            cat("sample ", i, " has label ", l[i], ", outside [0, ", nc, ") (num_classes)"));
    m.starts.push_back(static_cast<int64_t>(m.labels.size()));
    m.labels.insert(m.labels.end(), l, l + s[0]);
    m.shards.push_back(Shard{path, std::move(file), std::move(images)});
  }
  WIN_CHECK(!m.labels.empty(), ErrorKind::Data, "image shards ", spec, " hold no samples");
  m.row = Tensor::empty({1, m.g.height, m.g.width, m.g.channels}, DType::U8);
  return ds;
}

ImageDataset ImageDataset::reopen() const {
  ImageDataset ds;
  Impl& m = *ds.impl_;
  m.starts = impl_->starts;
  m.labels = impl_->labels;
  m.g = impl_->g;
  m.num_classes = impl_->num_classes;
  m.mean = impl_->mean;
  m.stdev = impl_->stdev;
  m.files = impl_->files;
  m.open_handles();
  return ds;
}

int64_t ImageDataset::size() const {
  return static_cast<int64_t>(impl_->labels.size());
}
const ImageGeometry& ImageDataset::geometry() const {
  return impl_->g;
}
int64_t ImageDataset::num_classes() const {
  return impl_->num_classes;
}
const std::vector<double>& ImageDataset::mean() const {
  return impl_->mean;
}
const std::vector<double>& ImageDataset::std() const {
  return impl_->stdev;
}
const std::vector<std::string>& ImageDataset::files() const {
  return impl_->files;
}

int32_t ImageDataset::label(int64_t i) const {
  WIN_CHECK(i >= 0 && i < size(), ErrorKind::Internal, "ImageDataset::label: index ", i,
            " outside [0, ", size(), ")");
  return impl_->labels[static_cast<size_t>(i)];
}

void ImageDataset::read(int64_t i, uint8_t* out) const {
  Impl& m = *impl_;
  WIN_CHECK(i >= 0 && i < size(), ErrorKind::Internal, "ImageDataset::read: index ", i,
            " outside [0, ", size(), ")");
  const auto s = static_cast<size_t>(std::upper_bound(m.starts.begin(), m.starts.end(), i) -
                                     m.starts.begin() - 1);
  m.shards[s].images.read_rows(i - m.starts[s], m.row);
  std::memcpy(out, m.row.raw(), static_cast<size_t>(m.g.bytes()));
}

}  // namespace win::data
