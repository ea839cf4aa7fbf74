// win::h5: a small RAII wrapper over the HDF5 C API for everything win stores in HDF5: data
// shards, checkpoints, merged weights, metrics (DESIGN §5). It exists so that the rest of win
// reads and writes tensors and attributes in one line, and so that every failure -- a missing,
// truncated or foreign file, a missing dataset, a wrong shape or type, a sample index out of
// range -- becomes a win::Error naming the file and the object, of the kind the file was opened
// with (ErrorKind::Data: exit 3 for shards, ErrorKind::Checkpoint: exit 4 for checkpoints),
// never a crash or HDF5's stderr dump (DESIGN §8).
//
// Storage, chosen so that h5py users see ordinary numpy types:
//   f32, f64, i32, i8, u8  native HDF5 types (H5T_NATIVE_FLOAT ...): h5py float32, int8, ...
//   bf16                    a 16-bit HDF5 float type with bf16's layout (sign bit 15, 8 exponent
//                           bits at 7 with bias 127, 7 mantissa bits at 0). h5py maps it to the
//                           smallest numpy float that holds it exactly, float32, and HDF5
//                           converts on read, so h5py users get exact float32 values. IEEE half
//                           (float16) datasets are not bf16 and are refused by dtype().
//   strings                 variable-length UTF-8 (h5py's default; h5py reads them as str).
//                           Reading accepts fixed-length strings too.
//   int64 / double attrs    H5T_NATIVE_INT64 / H5T_NATIVE_DOUBLE, scalar; vectors are 1-d.
//
// Thread safety: HDF5 serialises calls internally in thread-safe builds (Debian's is one; with a
// build without H5_HAVE_THREADSAFE keep all HDF5 use on one thread). Objects of this wrapper are
// not synchronised: share one object between threads only under your own lock. Objects stay usable
// after File::close(): HDF5 closes the file when the last object in it is closed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/dims.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/tensor.hpp"
#include "data/hdf5_handle.hpp"

namespace win::h5 {

enum class Mode { Read, ReadWrite };

inline const std::string kNoPath;  // path() of a default-constructed or moved-from object

class Group;
class Dataset;

// Layout of a new dataset. chunk empty: contiguous, unless gzip, shuffle or a checksum is asked
// for, which need chunks; then default_chunk() is used.
struct WriteOptions {
  std::vector<int64_t> chunk = {};  // one extent per dimension, each >= 1 and <= the dataset's
  int gzip_level = 0;               // 0 off, 1..9 (deflate)
  bool shuffle = false;             // byte shuffle before compression (helps floats)
  // A Fletcher-32 checksum per chunk (HDF5's filter, checked by HDF5 on every read, h5py's
  // included): damaged bytes make the read fail instead of returning other numbers. Not for
  // scalars or empty datasets, which cannot be chunked.
  bool checksum = false;
};

// Chunk shape for a dataset of this shape: whole rows along dim 0, as many as fit in about
// 256 KiB (splitting the trailing dimensions only when one row is bigger), so that one chunk fits
// HDF5's default 1 MiB chunk cache and reading one sample decompresses little besides it.
std::vector<int64_t> default_chunk(const Dims& shape, DType dtype);

// Something in a file that can carry attributes: a group or a dataset.
class Object {
  template <class>
  static constexpr bool kUnsupported = false;

 public:
  const std::string& path() const { return path_; }  // "/model/fc.weight"
  const std::string& file_path() const { return file_ ? file_->path : kNoPath; }
  ErrorKind error_kind() const { return file_ ? file_->kind : ErrorKind::Data; }
  hid_t id() const { return id_.get(); }
  bool valid() const { return id_.valid(); }
  // For errors about this object: "dataset '/images'".
  Where where() const;

  // Attributes. set_attr replaces an existing attribute of the same name.
  void set_attr(const std::string& name, int64_t value);
  void set_attr(const std::string& name, double value);
  void set_attr(const std::string& name, const std::string& value);
  void set_attr(const std::string& name, const char* value) { set_attr(name, std::string(value)); }
  void set_attr(const std::string& name, const std::vector<double>& value);
  void set_attr(const std::string& name, const std::vector<int64_t>& value);
  template <class T>
  requires(std::is_integral_v<T> &&
           !std::is_same_v<T, int64_t>) void set_attr(const std::string& name, T value) {
    set_attr(name, static_cast<int64_t>(value));
  }
  void set_attr(const std::string& name, float value) { set_attr(name, double{value}); }

  // T is int64_t (any stored integer), double (any stored float or integer), std::string (fixed-
  // or variable-length), std::vector<double> or std::vector<int64_t>. A missing attribute or a
  // stored type that does not fit T is an error naming file, object and attribute.
  template <class T>
  T attr(const std::string& name) const {
    static_assert(kUnsupported<T>,
                  "attr<T>: T must be int64_t, double, std::string, std::vector<double> or "
                  "std::vector<int64_t>");
  }
  bool has_attr(const std::string& name) const;
  std::vector<std::string> attr_names() const;

 protected:
  Object() = default;
  Object(Handle id, std::shared_ptr<const FileInfo> file, std::string path, const char* what)
      : id_(std::move(id)), file_(std::move(file)), path_(std::move(path)), what_(what) {}
  Where where_attr(const std::string& name) const;

  Handle id_;
  std::shared_ptr<const FileInfo> file_;
  std::string path_;
  const char* what_ = "object";
};

template <>
int64_t Object::attr<int64_t>(const std::string& name) const;
template <>
double Object::attr<double>(const std::string& name) const;
template <>
std::string Object::attr<std::string>(const std::string& name) const;
template <>
std::vector<double> Object::attr<std::vector<double>>(const std::string& name) const;
template <>
std::vector<int64_t> Object::attr<std::vector<int64_t>>(const std::string& name) const;

// A dataset: an n-d array of one of win's dtypes. Rows are the entries along dimension 0 (the
// samples of a shard).
class Dataset : public Object {
 public:
  Dataset() = default;

  Dims shape() const;
  int64_t rows() const;  // shape()[0]; an error for a scalar dataset
  int64_t numel() const { return shape().product(); }
  // The stored element type as a win dtype; an error naming file and dataset when it is not one.
  DType dtype() const;

  // Whole dataset into a contiguous CPU tensor of exactly its shape and dtype.
  void read(Tensor& out) const;
  Tensor read() const;
  // Rows [begin, begin + count) (a hyperslab along dim 0: reads only those rows from disk).
  Tensor read_rows(int64_t begin, int64_t count) const;
  // Rows [begin, begin + out.size(0)) into out (contiguous CPU, shape [k, shape[1:]...]); for
  // loaders filling a slot of a preallocated batch without allocating.
  void read_rows(int64_t begin, Tensor& out) const;

  // Whole dataset from t (same shape and dtype, any strides, CPU).
  void write(const Tensor& t);
  // Rows [begin, begin + t.size(0)) from t (shape [k, shape[1:]...], same dtype).
  void write_rows(int64_t begin, const Tensor& t);

 private:
  friend class Group;
  Dataset(Handle id, std::shared_ptr<const FileInfo> file, std::string path)
      : Object(std::move(id), std::move(file), std::move(path), "dataset") {}
  void check_tensor(const Tensor& t, const Dims& want, const char* verb) const;
  // Moves rows [begin, begin + count) (all of a scalar dataset when count < 0) between buf and
  // the file.
  void transfer(bool write, int64_t begin, int64_t count, DType dtype, void* buf) const;
  void check_rows(int64_t begin, int64_t count, int64_t rows) const;
};

// A group. Names may be paths: "a/b/c" (relative to this group) or "/a/b" (from the root).
class Group : public Object {
 public:
  Group() = default;

  bool has(const std::string& name) const;  // a link of that name exists (all of the path)
  bool is_group(const std::string& name) const;
  bool is_dataset(const std::string& name) const;
  std::vector<std::string> list() const;  // child names, in name order

  Group group(const std::string& name) const;      // must exist and be a group
  Group create_group(const std::string& name);     // must not exist; makes intermediate groups
  Group require_group(const std::string& name);    // opens, or creates when missing
  Dataset dataset(const std::string& name) const;  // must exist and be a dataset
  void remove(const std::string& name);            // unlinks (space is not reclaimed)

  // A new dataset holding t (any strides; CPU). Intermediate groups are created.
  Dataset write(const std::string& name, const Tensor& t, const WriteOptions& opts = {});
  // A new dataset to be filled with write_rows(); unwritten elements read as 0.
  Dataset create_dataset(const std::string& name, DType dtype, const Dims& shape,
                         const WriteOptions& opts = {});
  // Reads a whole dataset (shorthand for dataset(name).read()).
  Tensor read(const std::string& name) const { return dataset(name).read(); }

  // A scalar variable-length UTF-8 string dataset (e.g. the TOML text of a run's config).
  void write_string(const std::string& name, const std::string& text);
  std::string read_string(const std::string& name) const;  // fixed- or variable-length

 private:
  friend class File;
  Group(Handle id, std::shared_ptr<const FileInfo> file, std::string path)
      : Object(std::move(id), std::move(file), std::move(path), "group") {}
  std::string child_path(const std::string& name) const;
  Where where_child(const char* what, const std::string& name) const;
  void check_new(const std::string& name, const char* what) const;
};

// An open HDF5 file. Move-only; the destructor closes (without throwing); close() closes and
// reports failures.
class File {
 public:
  // Opens an existing file. A missing file, a directory, a file without the HDF5 signature or a
  // damaged/truncated one is an error of `kind` naming the file.
  // `noun` is what messages call the file ("weights file ..."); empty: the kind's name.
  static File open(const std::filesystem::path& path, Mode mode = Mode::Read,
                   ErrorKind kind = ErrorKind::Data, const std::string& noun = {});
  // Creates a file, truncating any existing one.
  static File create(const std::filesystem::path& path, ErrorKind kind = ErrorKind::Data);

  File() = default;
  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;
  ~File() = default;

  bool is_open() const { return id_.valid(); }
  const std::string& path() const { return info_ ? info_->path : kNoPath; }
  ErrorKind error_kind() const { return info_ ? info_->kind : ErrorKind::Data; }
  hid_t id() const { return id_.get(); }
  Where where() const { return Where{info_.get(), {}}; }

  Group root() const;
  // Writes HDF5's buffers to the operating system (H5Fflush; not an fsync).
  void flush();
  void close();

 private:
  File(Handle id, std::shared_ptr<const FileInfo> info)
      : id_(std::move(id)), info_(std::move(info)) {}
  Handle id_;
  std::shared_ptr<const FileInfo> info_;
};

}  // namespace win::h5
