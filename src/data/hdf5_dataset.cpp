// win::h5 datasets: creating them (contiguous, or chunked with shuffle and gzip), reading and
// writing whole tensors and row ranges (hyperslabs along dim 0, so a loader reads sample i of a
// shard without reading the rest), with shape, dtype and range checks that name the file and
// the dataset.
#include "data/hdf5.hpp"

#include <algorithm>

namespace win::h5 {

namespace {

std::vector<hsize_t> to_hsize(const Dims& d) {
  std::vector<hsize_t> out;
  for (int64_t v : d) out.push_back(static_cast<hsize_t>(v));
  return out;
}

// [k, rest...]: the shape of k rows of a dataset of shape s.
Dims rows_shape(const Dims& s, int64_t k) {
  Dims out = s;
  out[0] = k;
  return out;
}

}  // namespace

std::vector<int64_t> default_chunk(const Dims& shape, DType dtype) {
  constexpr int64_t kTarget = 256 * 1024;
  std::vector<int64_t> chunk;
  for (int64_t v : shape) chunk.push_back(std::max<int64_t>(1, v));
  for (size_t d = 0; d < chunk.size(); ++d) {
    int64_t tail = static_cast<int64_t>(dtype_size(dtype));  // bytes of one step along d
    for (size_t e = d + 1; e < chunk.size(); ++e) tail *= chunk[e];
    if (tail * chunk[d] <= kTarget) break;
    if (tail <= kTarget) {
      chunk[d] = std::max<int64_t>(1, kTarget / tail);
      break;
    }
    chunk[d] = 1;  // one step along d is too big already: split the next dimension too
  }
  return chunk;
}

// ---- Dataset ----

Dims Dataset::shape() const {
  Handle space(WIN_H5_CHECK(H5Dget_space(id()), where(), "cannot read the dataspace"));
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) where().fail("holds no data (null)");
  const int rank =
      WIN_H5_CHECK(H5Sget_simple_extent_ndims(space.get()), where(), "cannot read the rank");
  if (rank > Dims::kMax) where().fail(cat("has ", rank, " dimensions, more than ", Dims::kMax));
  hsize_t dims[Dims::kMax] = {};
  WIN_H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims, nullptr), where(),
               "cannot read the shape");
  Dims out;
  for (int i = 0; i < rank; ++i) out.push_back(static_cast<int64_t>(dims[i]));
  return out;
}

int64_t Dataset::rows() const {
  const Dims s = shape();
  if (s.empty()) where().fail("is a scalar and has no rows");
  return s[0];
}

DType Dataset::dtype() const {
  Handle type(WIN_H5_CHECK(H5Dget_type(id()), where(), "cannot read the element type"));
  DType out{};
  if (!to_dtype(type.get(), &out))
    where().fail(cat("stored type ", describe_type(type.get()),
                     " is not one of win's dtypes (f32, f64, bf16, i32, i8, u8)"));
  return out;
}

void Dataset::check_tensor(const Tensor& t, const Dims& want, const char* verb) const {
  const DType dt = dtype();
  if (!t.defined()) where().fail(cat("cannot ", verb, " an undefined tensor"));
  if (t.device() != Device::CPU)
    where().fail(cat("cannot ", verb, " a ", device_name(t.device()), " tensor (CPU only)"));
  if (t.dtype() != dt || !(t.shape() == want))
    where().fail(cat("cannot ", verb, " a ", dtype_name(t.dtype()), " tensor of shape ", t.shape(),
                     ": expected ", dtype_name(dt), " ", want));
}

void Dataset::check_rows(int64_t begin, int64_t count, int64_t rows) const {
  if (count < 0) where().fail(cat("invalid row count ", count));
  if (begin < 0 || begin > rows - count)
    where().fail(cat("rows [", begin, ", ", begin + count, ") out of range: the dataset has ", rows,
                     " rows"));
}

void Dataset::transfer(bool write, int64_t begin, int64_t count, DType dtype, void* buf) const {
  Handle mem_type = type_of(dtype);
  const char* verb = write ? "cannot write" : "cannot read";
  if (count < 0) {  // everything
    const herr_t status = write ? H5Dwrite(id(), mem_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf)
                                : H5Dread(id(), mem_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    WIN_H5_CHECK(status, where(), verb);
    return;
  }
  Handle file_space(WIN_H5_CHECK(H5Dget_space(id()), where(), "cannot read the dataspace"));
  const int rank =
      WIN_H5_CHECK(H5Sget_simple_extent_ndims(file_space.get()), where(), "cannot read the rank");
  std::vector<hsize_t> start(static_cast<size_t>(rank), 0), extent(static_cast<size_t>(rank));
  WIN_H5_CHECK(H5Sget_simple_extent_dims(file_space.get(), extent.data(), nullptr), where(),
               "cannot read the shape");
  start[0] = static_cast<hsize_t>(begin);
  extent[0] = static_cast<hsize_t>(count);
  WIN_H5_CHECK(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                   extent.data(), nullptr),
               where(), "cannot select rows [", begin, ", ", begin + count, ")");
  Handle mem_space(WIN_H5_CHECK(H5Screate_simple(rank, extent.data(), nullptr), where(),
                                "cannot create a memory dataspace"));
  const herr_t status =
      write ? H5Dwrite(id(), mem_type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT, buf)
            : H5Dread(id(), mem_type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT, buf);
  WIN_H5_CHECK(status, where(), verb, " rows [", begin, ", ", begin + count, ")");
}

void Dataset::read(Tensor& out) const {
  check_tensor(out, shape(), "read into");
  if (!out.is_contiguous()) where().fail("cannot read into a non-contiguous tensor");
  if (out.numel() == 0) return;
  transfer(false, 0, -1, out.dtype(), out.raw());
}

Tensor Dataset::read() const {
  Tensor out = Tensor::empty(shape(), dtype());
  read(out);
  return out;
}

Tensor Dataset::read_rows(int64_t begin, int64_t count) const {
  const Dims s = shape();
  if (s.empty()) where().fail("is a scalar and has no rows");
  check_rows(begin, count, s[0]);
  Tensor out = Tensor::empty(rows_shape(s, count), dtype());
  if (count > 0 && out.numel() > 0) transfer(false, begin, count, out.dtype(), out.raw());
  return out;
}

void Dataset::read_rows(int64_t begin, Tensor& out) const {
  const Dims s = shape();
  if (s.empty()) where().fail("is a scalar and has no rows");
  if (!out.defined() || out.dim() != s.size())
    where().fail(cat("cannot read rows into a tensor of shape ", out.shape(), ": expected [k, ",
                     "...] matching ", s));
  const int64_t count = out.size(0);
  check_rows(begin, count, s[0]);
  check_tensor(out, rows_shape(s, count), "read rows into");
  if (!out.is_contiguous()) where().fail("cannot read rows into a non-contiguous tensor");
  if (out.numel() > 0) transfer(false, begin, count, out.dtype(), out.raw());
}

void Dataset::write(const Tensor& t) {
  check_tensor(t, shape(), "write");
  if (t.numel() == 0) return;
  const Tensor c = t.contiguous();
  transfer(true, 0, -1, c.dtype(), c.raw());
}

void Dataset::write_rows(int64_t begin, const Tensor& t) {
  const Dims s = shape();
  if (s.empty()) where().fail("is a scalar and has no rows");
  if (!t.defined() || t.dim() != s.size())
    where().fail(cat("cannot write rows from a tensor of shape ", t.shape(), ": expected [k, ",
                     "...] matching ", s));
  const int64_t count = t.size(0);
  check_rows(begin, count, s[0]);
  check_tensor(t, rows_shape(s, count), "write rows from");
  if (t.numel() == 0) return;
  const Tensor c = t.contiguous();
  transfer(true, begin, count, c.dtype(), c.raw());
}

// ---- creating datasets ----

Dataset Group::create_dataset(const std::string& name, DType dtype, const Dims& shape,
                              const WriteOptions& opts) {
  check_new(name, "dataset");
  const Where w = where_child("dataset", name);
  if (opts.gzip_level < 0 || opts.gzip_level > 9)
    w.fail(cat("gzip level ", opts.gzip_level, " is not in 0..9"));
  if (!opts.chunk.empty()) {
    if (static_cast<int>(opts.chunk.size()) != shape.size())
      w.fail(cat("chunk ", list_str(opts.chunk), " does not match the rank of shape ", shape));
    for (int64_t c : opts.chunk)
      if (c < 1) w.fail(cat("chunk ", list_str(opts.chunk), " has an extent below 1"));
  }
  for (int64_t v : shape)
    if (v < 0) w.fail(cat("negative extent in shape ", shape));

  Handle type = type_of(dtype);
  Handle space(shape.empty()
                   ? WIN_H5_CHECK(H5Screate(H5S_SCALAR), w, "cannot create dataspace")
                   : WIN_H5_CHECK(H5Screate_simple(shape.size(), to_hsize(shape).data(), nullptr),
                                  w, "cannot create the dataspace for shape ", shape));
  Handle dcpl(WIN_H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), w, "cannot create a creation list"));
  // Filters need chunks. Scalars and empty datasets cannot be chunked by default: they stay
  // contiguous (an explicit chunk is passed on, and HDF5 says what is wrong with it).
  const bool filtered = opts.gzip_level > 0 || opts.shuffle || opts.checksum;
  const bool chunked = !opts.chunk.empty() || (filtered && !shape.empty() && shape.product() > 0);
  if (chunked) {
    const std::vector<int64_t> chunk =
        opts.chunk.empty() ? default_chunk(shape, dtype) : opts.chunk;
    std::vector<hsize_t> c(chunk.begin(), chunk.end());
    WIN_H5_CHECK(H5Pset_chunk(dcpl.get(), static_cast<int>(c.size()), c.data()), w,
                 "cannot set chunk ", list_str(chunk));
    if (opts.shuffle) WIN_H5_CHECK(H5Pset_shuffle(dcpl.get()), w, "cannot set shuffle");
    if (opts.gzip_level > 0)
      WIN_H5_CHECK(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(opts.gzip_level)), w,
                   "cannot set gzip level ", opts.gzip_level);
    if (opts.checksum) WIN_H5_CHECK(H5Pset_fletcher32(dcpl.get()), w, "cannot set a checksum");
  }
  Handle lcpl = intermediate_groups(w);
  Handle d(WIN_H5_CHECK(
      H5Dcreate2(id(), name.c_str(), type.get(), space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
      w, "cannot create (", dtype_name(dtype), " ", shape, ")"));
  return Dataset(std::move(d), file_, child_path(name));
}

Dataset Group::write(const std::string& name, const Tensor& t, const WriteOptions& opts) {
  if (!t.defined()) where_child("dataset", name).fail("cannot write an undefined tensor");
  if (t.device() != Device::CPU)
    where_child("dataset", name)
        .fail(cat("cannot write a ", device_name(t.device()), " tensor (copy it to the CPU)"));
  Dataset d = create_dataset(name, t.dtype(), t.shape(), opts);
  d.write(t);
  return d;
}

}  // namespace win::h5
