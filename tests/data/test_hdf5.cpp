// Tests of win::h5, the HDF5 wrapper (src/data/hdf5*.hpp): round trips of every dtype and of
// strided tensors, chunked/gzip layout as seen through the HDF5 API, row ranges, attributes and
// strings, and the errors users meet (missing, foreign, truncated files; missing datasets and
// attributes; out-of-range rows) with their exit-code kinds and the file named.
#include "data/hdf5.hpp"
#include "temp_dir_test.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace win::h5 {
namespace {

namespace fs = std::filesystem;

class Hdf5Test : public testing_data::TempDirTest {
 protected:
  Hdf5Test() : TempDirTest("win_h5_") {}
};

// Runs f, expects a win::Error of `kind`, returns its message ("" and a failure otherwise).
std::string error_of(const std::function<void()>& f, ErrorKind kind = ErrorKind::Data) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no win::Error thrown";
  return {};
}

template <class T>
Tensor make(const std::vector<T>& v, const Dims& shape) {
  return Tensor::from(v, shape);
}

std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> out;
  for (float f : v) out.emplace_back(f);
  return out;
}

// ---- round trips ----

TEST_F(Hdf5Test, RoundTripsEveryDtypeWithNativeFileTypes) {
  struct Case {
    std::string name;
    Tensor t;
    hid_t file_type;  // what h5py / h5dump should see
  };
  std::vector<Case> cases;
  cases.push_back(
      {"f32", make<float>({-1.5f, 0.f, 3.25f, 1e30f, -7e-20f, 42.f}, {2, 3}), H5T_IEEE_F32LE});
  cases.push_back(
      {"f64", make<double>({0.1, -0.2 + 1e-12, 1e300, -3.0, 5e-310, 7.0}, {3, 2}), H5T_IEEE_F64LE});
  cases.push_back(
      {"i32", make<int32_t>({-2000000000, -1, 0, 1, 2000000000, 12345}, {6}), H5T_STD_I32LE});
  cases.push_back({"i8", make<int8_t>({-128, -1, 0, 1, 127, 64}, {2, 3}), H5T_STD_I8LE});
  cases.push_back({"u8", make<uint8_t>({0, 1, 128, 200, 255, 7}, {1, 2, 3}), H5T_STD_U8LE});
  cases.push_back(
      {"bf16", make<bf16>(to_bf16({-1.5f, 0.f, 3.25f, 1e30f, -2.f, 65536.f}), {3, 2}), -1});
  {
    File f = File::create(path("all.h5"));
    Group root = f.root();
    for (const Case& c : cases) root.write(c.name, c.t);
    f.close();
  }
  File f = File::open(path("all.h5"));
  Group root = f.root();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Dataset d = root.dataset(c.name);
    EXPECT_EQ(d.dtype(), c.t.dtype());
    EXPECT_EQ(d.shape(), c.t.shape());
    Tensor back = d.read();
    EXPECT_EQ(back.dtype(), c.t.dtype());
    EXPECT_EQ(back.shape(), c.t.shape());
    EXPECT_EQ(back.to_vector(), c.t.to_vector());
    if (c.file_type >= 0) {
      Handle type(H5Dget_type(d.id()));
      EXPECT_GT(H5Tequal(type.get(), c.file_type), 0);
    }
  }
}

TEST_F(Hdf5Test, Bf16ReadsAsExactFloat32ThroughHdf5Conversion) {
  // What h5py does: it reads our bf16 type as float32 and lets HDF5 convert.
  const std::vector<float> values = {-1.5f, 0.f, 3.25f, 1e30f, -2.f, 0.0078125f};
  File f = File::create(path("bf16.h5"));
  Dataset d = f.root().write("w", make<bf16>(to_bf16(values), {6}));
  Handle type(H5Dget_type(d.id()));
  EXPECT_EQ(H5Tget_class(type.get()), H5T_FLOAT);
  EXPECT_EQ(H5Tget_size(type.get()), 2u);
  std::vector<float> as_float(6), expected;
  for (float v : values) expected.push_back(static_cast<float>(bf16(v)));  // 1e30 rounds
  ASSERT_GE(H5Dread(d.id(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, as_float.data()), 0);
  EXPECT_EQ(as_float, expected);
  EXPECT_NE(as_float[3], 1e30f);  // really rounded to bf16, not stored as f32
}

TEST_F(Hdf5Test, NonContiguousTensorsAreWrittenInLogicalOrder) {
  Tensor base = make<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  Tensor transposed = base.transpose(0, 1);  // [4, 3]
  Tensor strided = make<int32_t>({0, -1, 2, -3, 4, -5, 6, -7}, {8}).slice(0, 1, 8, 2);
  ASSERT_FALSE(transposed.is_contiguous());
  ASSERT_FALSE(strided.is_contiguous());
  {
    File f = File::create(path("nc.h5"));
    f.root().write("t", transposed);
    f.root().write("s", strided);
  }
  File f = File::open(path("nc.h5"));
  Tensor t = f.root().read("t");
  EXPECT_EQ(t.shape().vec(), (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(t.to_vector(), transposed.to_vector());
  EXPECT_EQ(t.at<float>({0, 1}), 4.f);
  EXPECT_EQ(f.root().read("s").to_vector(), std::vector<double>({-1, -3, -5, -7}));
}

TEST_F(Hdf5Test, ScalarAndEmptyDatasets) {
  {
    File f = File::create(path("se.h5"));
    Tensor scalar = Tensor::empty(Dims{}, DType::F64);
    scalar.fill(2.5);
    f.root().write("scalar", scalar);
    f.root().write("empty", Tensor::empty({0, 3}, DType::F32), {.gzip_level = 3});
  }
  File f = File::open(path("se.h5"));
  Tensor s = f.root().read("scalar");
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.to_vector(), std::vector<double>({2.5}));
  Dataset e = f.root().dataset("empty");
  EXPECT_EQ(e.shape().vec(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(e.read().numel(), 0);
  EXPECT_EQ(e.read_rows(0, 0).shape().vec(), (std::vector<int64_t>{0, 3}));
}

// ---- layout ----

TEST_F(Hdf5Test, ChunkedGzipShuffleRoundTripWithLayoutVisibleToHdf5) {
  std::vector<uint8_t> pixels(10 * 8 * 8 * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i * 7) % 251);
  Tensor images = make<uint8_t>(pixels, {10, 8, 8, 3});
  {
    File f = File::create(path("gz.h5"));
    f.root().write("images", images, {.chunk = {1, 8, 8, 3}, .gzip_level = 4, .shuffle = true});
  }
  File f = File::open(path("gz.h5"));
  Dataset d = f.root().dataset("images");
  EXPECT_EQ(d.read().to_vector(), images.to_vector());

  Handle dcpl(H5Dget_create_plist(d.id()));
  ASSERT_TRUE(dcpl.valid());
  EXPECT_EQ(H5Pget_layout(dcpl.get()), H5D_CHUNKED);
  hsize_t chunk[4] = {};
  ASSERT_EQ(H5Pget_chunk(dcpl.get(), 4, chunk), 4);
  EXPECT_EQ(std::vector<hsize_t>(chunk, chunk + 4), std::vector<hsize_t>({1, 8, 8, 3}));
  bool deflate = false, shuffle = false;
  for (int i = 0; i < H5Pget_nfilters(dcpl.get()); ++i) {
    unsigned flags = 0, cd[4] = {};
    size_t ncd = 4;
    const H5Z_filter_t id =
        H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &ncd, cd, 0, nullptr, nullptr);
    if (id == H5Z_FILTER_DEFLATE) {
      deflate = true;
      EXPECT_EQ(cd[0], 4u);  // the level
    }
    if (id == H5Z_FILTER_SHUFFLE) shuffle = true;
  }
  EXPECT_TRUE(deflate);
  EXPECT_TRUE(shuffle);
}

TEST_F(Hdf5Test, GzipWithoutChunkUsesDefaultChunkAndPlainWriteIsContiguous) {
  Tensor ids = Tensor::zeros({1000, 128}, DType::I32);
  File f = File::create(path("dc.h5"));
  Dataset gz = f.root().write("input_ids", ids, {.gzip_level = 1});
  Dataset plain = f.root().write("plain", ids);
  Handle gz_dcpl(H5Dget_create_plist(gz.id()));
  Handle plain_dcpl(H5Dget_create_plist(plain.id()));
  EXPECT_EQ(H5Pget_layout(plain_dcpl.get()), H5D_CONTIGUOUS);
  ASSERT_EQ(H5Pget_layout(gz_dcpl.get()), H5D_CHUNKED);
  hsize_t chunk[2] = {};
  ASSERT_EQ(H5Pget_chunk(gz_dcpl.get(), 2, chunk), 2);
  EXPECT_EQ(chunk[0], 512u);  // 256 KiB of 512-byte rows
  EXPECT_EQ(chunk[1], 128u);
}

TEST_F(Hdf5Test, DefaultChunkKeepsChunksNear256KiB) {
  EXPECT_EQ(default_chunk({1000, 512}, DType::I32), (std::vector<int64_t>{128, 512}));
  EXPECT_EQ(default_chunk({5}, DType::F32), (std::vector<int64_t>{5}));
  EXPECT_EQ(default_chunk({0, 3}, DType::U8), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(default_chunk({100, 224, 224, 3}, DType::U8), (std::vector<int64_t>{1, 224, 224, 3}));
  // One row is 64 MiB: split the trailing dimension as well.
  EXPECT_EQ(default_chunk({10, 4096, 4096}, DType::F32), (std::vector<int64_t>{1, 16, 4096}));
}

// ---- rows ----

TEST_F(Hdf5Test, WriteRowsAndReadRows) {
  File f = File::create(path("rows.h5"));
  Dataset d = f.root().create_dataset("labels", DType::I32, {6, 2}, {.chunk = {2, 2}});
  d.write_rows(0, make<int32_t>({0, -1, 10, -11, 20, -21}, {3, 2}));
  d.write_rows(4, make<int32_t>({40, -41, 50, -51}, {2, 2}));
  EXPECT_EQ(d.read_rows(2, 3).to_vector(), std::vector<double>({20, -21, 0, 0, 40, -41}));
  EXPECT_EQ(d.read_rows(5, 1).shape().vec(), (std::vector<int64_t>{1, 2}));

  // Into a slot of a preallocated batch.
  Tensor batch = Tensor::zeros({4, 2}, DType::I32);
  Tensor slot = batch.slice(0, 1, 3);
  d.read_rows(4, slot);
  EXPECT_EQ(batch.to_vector(), std::vector<double>({0, 0, 40, -41, 50, -51, 0, 0}));
}

TEST_F(Hdf5Test, RowsOutOfRangeNameFileDatasetAndRange) {
  const std::string p = path("range.h5");
  File f = File::create(p);
  Dataset d = f.root().write("labels", make<int32_t>({1, 2, 3, 4}, {4}));
  std::string msg = error_of([&] { d.read_rows(3, 2); });
  EXPECT_NE(msg.find(p), std::string::npos) << msg;
  EXPECT_NE(msg.find("'/labels'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3, 5)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4 rows"), std::string::npos) << msg;
  msg = error_of([&] { d.read_rows(-1, 1); });
  EXPECT_NE(msg.find("[-1, 0)"), std::string::npos) << msg;
  msg = error_of([&] { d.write_rows(4, make<int32_t>({9}, {1})); });
  EXPECT_NE(msg.find("[4, 5)"), std::string::npos) << msg;
  Tensor out = Tensor::empty({2}, DType::I32);
  msg = error_of([&] { d.read_rows(3, out); });
  EXPECT_NE(msg.find("[3, 5)"), std::string::npos) << msg;
}

TEST_F(Hdf5Test, ReadChecksShapeAndDtype) {
  const std::string p = path("check.h5");
  File f = File::create(p);
  Dataset d = f.root().write("x", Tensor::zeros({2, 3}, DType::F32));
  Tensor wrong_dtype = Tensor::empty({2, 3}, DType::F64);
  Tensor wrong_shape = Tensor::empty({3, 2}, DType::F32);
  for (Tensor* t : {&wrong_dtype, &wrong_shape}) {
    const std::string msg = error_of([&] { d.read(*t); });
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_NE(msg.find("dataset '/x'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected f32 [2, 3]"), std::string::npos) << msg;
  }
  error_of([&] { d.write_rows(0, Tensor::zeros({1, 4}, DType::F32)); });
  Tensor ok = Tensor::empty({2, 3}, DType::F32);
  d.read(ok);
  EXPECT_EQ(ok.to_vector(), std::vector<double>(6, 0.0));
}

// ---- attributes and strings ----

TEST_F(Hdf5Test, AttributesOfEveryTypeRoundTrip) {
  const std::string text = "ünïcødé \"quoted\"\nsecond line";
  {
    File f = File::create(path("attrs.h5"));
    Group root = f.root();
    Dataset d = root.write("images", Tensor::zeros({1}, DType::U8));
    for (Object* o : std::vector<Object*>{&root, &d}) {
      o->set_attr("count", int64_t{-(int64_t{1} << 40)});
      o->set_attr("small", 7);  // int goes through the integral template
      o->set_attr("lr", 0.1);
      o->set_attr("text", text);
      o->set_attr("mean", std::vector<double>{0.4914, -0.4822, 1e-300});
      o->set_attr("dims", std::vector<int64_t>{-1, 0, int64_t{1} << 50});
      o->set_attr("none", std::vector<double>{});
      o->set_attr("replaced", "a string first");
      o->set_attr("replaced", 3.5);  // replaced, with another type
    }
  }
  File f = File::open(path("attrs.h5"));
  Group root = f.root();
  Dataset d = root.dataset("images");
  for (const Object* o : std::vector<const Object*>{&root, &d}) {
    SCOPED_TRACE(o->path());
    EXPECT_EQ(o->attr<int64_t>("count"), -(int64_t{1} << 40));
    EXPECT_EQ(o->attr<int64_t>("small"), 7);
    EXPECT_EQ(o->attr<double>("small"), 7.0);  // an integer reads as a double
    EXPECT_EQ(o->attr<double>("lr"), 0.1);
    EXPECT_EQ(o->attr<std::string>("text"), text);
    EXPECT_EQ(o->attr<std::vector<double>>("mean"), (std::vector<double>{0.4914, -0.4822, 1e-300}));
    EXPECT_EQ(o->attr<std::vector<int64_t>>("dims"),
              (std::vector<int64_t>{-1, 0, int64_t{1} << 50}));
    EXPECT_TRUE(o->attr<std::vector<double>>("none").empty());
    EXPECT_EQ(o->attr<double>("replaced"), 3.5);
    EXPECT_TRUE(o->has_attr("lr"));
    EXPECT_FALSE(o->has_attr("nope"));
    EXPECT_EQ(o->attr_names(), (std::vector<std::string>{"count", "dims", "lr", "mean", "none",
                                                         "replaced", "small", "text"}));
  }
}

TEST_F(Hdf5Test, MissingOrMistypedAttributeNamesFileObjectAndAttribute) {
  const std::string p = path("attr_err.h5");
  File f = File::create(p);
  Dataset d = f.root().write("images", Tensor::zeros({1}, DType::U8));
  d.set_attr("source", "mnist");
  d.set_attr("mean", std::vector<double>{1, 2});
  d.set_attr("lr", 0.5);
  std::string msg = error_of([&] { (void)d.attr<double>("num_classes"); });
  EXPECT_NE(msg.find(p), std::string::npos) << msg;
  EXPECT_NE(msg.find("dataset '/images'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("attribute 'num_classes'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
  msg = error_of([&] { (void)d.attr<int64_t>("source"); });
  EXPECT_NE(msg.find("attribute 'source'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("string"), std::string::npos) << msg;
  msg = error_of([&] { (void)d.attr<double>("mean"); });  // two values, not one
  EXPECT_NE(msg.find("attribute 'mean'"), std::string::npos) << msg;
  msg = error_of([&] { (void)d.attr<int64_t>("lr"); });  // no silent float -> int
  EXPECT_NE(msg.find("64-bit float"), std::string::npos) << msg;
  msg = error_of([&] { (void)d.attr<std::string>("lr"); });
  EXPECT_NE(msg.find("not a string"), std::string::npos) << msg;
  msg = error_of([&] { (void)f.root().attr<std::string>("format"); });
  EXPECT_NE(msg.find("group '/': attribute 'format': not found"), std::string::npos) << msg;
}

TEST_F(Hdf5Test, FixedLengthStringsAreAccepted) {
  // As written by h5py for numpy bytes, or by older tools: fixed-length, null- or space-padded.
  File f = File::create(path("fixed.h5"));
  Group root = f.root();
  auto fixed_type = [](size_t n, H5T_str_t pad) {
    Handle t(H5Tcopy(H5T_C_S1));
    H5Tset_size(t.get(), n);
    H5Tset_strpad(t.get(), pad);
    return t;
  };
  Handle scalar(H5Screate(H5S_SCALAR));
  {
    Handle t = fixed_type(8, H5T_STR_NULLPAD);
    Handle a(H5Acreate2(root.id(), "source", t.get(), scalar.get(), H5P_DEFAULT, H5P_DEFAULT));
    const char buf[8] = {'c', 'i', 'f', 'a', 'r', '\0', '\0', '\0'};
    ASSERT_GE(H5Awrite(a.get(), t.get(), buf), 0);
  }
  {
    Handle t = fixed_type(6, H5T_STR_SPACEPAD);
    Handle d(H5Dcreate2(root.id(), "padded", t.get(), scalar.get(), H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT));
    ASSERT_GE(H5Dwrite(d.get(), t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, "ab    "), 0);
  }
  {
    Handle t = fixed_type(5, H5T_STR_NULLTERM);
    Handle d(H5Dcreate2(root.id(), "full", t.get(), scalar.get(), H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT));
    ASSERT_GE(H5Dwrite(d.get(), t.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, "abcd"), 0);
  }
  EXPECT_EQ(root.attr<std::string>("source"), "cifar");
  EXPECT_EQ(root.read_string("padded"), "ab");
  EXPECT_EQ(root.read_string("full"), "abcd");
}

TEST_F(Hdf5Test, StringDatasetsRoundTrip) {
  const std::string toml = "[model]\nname = \"resnet\"  # ü\nwidths = [64, 128]\n";
  const std::string big(200000, 'x');
  {
    File f = File::create(path("str.h5"));
    f.root().write_string("meta/config", toml);
    f.root().write_string("big", big);
    f.root().write_string("empty", "");
  }
  File f = File::open(path("str.h5"));
  EXPECT_EQ(f.root().read_string("meta/config"), toml);
  EXPECT_EQ(f.root().group("meta").read_string("config"), toml);
  EXPECT_EQ(f.root().read_string("big"), big);
  EXPECT_EQ(f.root().read_string("empty"), "");
  const std::string msg = error_of([&] { f.root().read_string("meta/nope"); });
  EXPECT_NE(msg.find("dataset '/meta/nope': not found"), std::string::npos) << msg;
}

// ---- groups ----

TEST_F(Hdf5Test, GroupsAndPaths) {
  File f = File::create(path("groups.h5"));
  Group root = f.root();
  Group c = root.create_group("a/b/c");
  EXPECT_EQ(c.path(), "/a/b/c");
  EXPECT_TRUE(root.has("a"));
  EXPECT_TRUE(root.has("a/b"));
  EXPECT_TRUE(root.has("/a/b/c"));
  EXPECT_FALSE(root.has("a/x/y"));  // a missing intermediate: false, not an error
  EXPECT_FALSE(root.has("zzz"));
  root.write("model/fc.weight", Tensor::zeros({2, 2}, DType::F32));
  EXPECT_FALSE(root.has("model/fc.weight/deeper"));  // through a dataset
  EXPECT_TRUE(root.is_dataset("model/fc.weight"));
  EXPECT_FALSE(root.is_group("model/fc.weight"));
  EXPECT_TRUE(root.is_group("model"));
  EXPECT_FALSE(root.is_dataset("nope"));
  Group b = root.group("a").group("b");
  EXPECT_EQ(b.path(), "/a/b");
  EXPECT_EQ(b.list(), std::vector<std::string>{"c"});
  root.create_group("a/a2");
  EXPECT_EQ(root.group("a").list(), (std::vector<std::string>{"a2", "b"}));
  EXPECT_EQ(root.list(), (std::vector<std::string>{"a", "model"}));
  EXPECT_EQ(root.dataset("model/fc.weight").path(), "/model/fc.weight");
  EXPECT_EQ(root.require_group("a/b").path(), "/a/b");
  EXPECT_EQ(root.require_group("new/one").path(), "/new/one");

  std::string msg = error_of([&] { root.create_group("a/b"); });
  EXPECT_NE(msg.find("group '/a/b': already exists"), std::string::npos) << msg;
  msg = error_of([&] { root.write("model/fc.weight", Tensor::zeros({1}, DType::F32)); });
  EXPECT_NE(msg.find("already exists"), std::string::npos) << msg;
  msg = error_of([&] { root.group("model/fc.weight"); });
  EXPECT_NE(msg.find("is not a group"), std::string::npos) << msg;
  msg = error_of([&] { root.dataset("a"); });
  EXPECT_NE(msg.find("dataset '/a': is not a dataset"), std::string::npos) << msg;

  root.remove("model/fc.weight");
  EXPECT_FALSE(root.has("model/fc.weight"));
}

// ---- errors ----

TEST_F(Hdf5Test, MissingFileIsADataError) {
  const std::string p = path("missing.h5");
  const std::string msg = error_of([&] { File::open(p); });
  EXPECT_NE(msg.find("data file " + p + ": no such file"), std::string::npos) << msg;
  try {
    File::open(p);
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 3);
  }
}

TEST_F(Hdf5Test, NonHdf5FileIsADataError) {
  const std::string p = path("text.h5");
  std::ofstream(p) << "this is not HDF5, just some text that is long enough to be read\n";
  const std::string msg = error_of([&] { File::open(p); });
  EXPECT_NE(msg.find(p), std::string::npos) << msg;
  EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << msg;
  std::ofstream(path("empty.h5")).close();
  error_of([&] { File::open(path("empty.h5")); });
  error_of([&] { File::open(dir_); });  // a directory
}

TEST_F(Hdf5Test, TruncatedFileIsADataError) {
  const std::string p = path("truncated.h5");
  {
    File f = File::create(p);
    f.root().write("images", Tensor::zeros({64, 32}, DType::F32));
    f.root().set_attr("num_classes", 10);
  }
  fs::resize_file(p, fs::file_size(p) / 2);
  try {
    File f = File::open(p);
    (void)f.root().read("images");
    FAIL() << "a truncated file opened and read";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_EQ(e.exit_code(), 3);
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

TEST_F(Hdf5Test, MissingDatasetNamesFileAndPath) {
  const std::string p = path("shard.h5");
  File::create(p).root().create_group("bert");
  File f = File::open(p);
  const std::string msg = error_of([&] { f.root().group("bert").dataset("input_ids"); });
  EXPECT_NE(msg.find("data file " + p + ": dataset '/bert/input_ids': not found"),
            std::string::npos)
      << msg;
}

TEST_F(Hdf5Test, CheckpointFilesRaiseCheckpointErrors) {
  const std::string p = path("ckpt.h5");
  File::create(p, ErrorKind::Checkpoint).root().write("x", Tensor::zeros({2}, DType::F32));
  File f = File::open(p, Mode::Read, ErrorKind::Checkpoint);
  EXPECT_EQ(f.error_kind(), ErrorKind::Checkpoint);
  std::string msg = error_of([&] { f.root().dataset("model/w"); }, ErrorKind::Checkpoint);
  EXPECT_NE(msg.find("checkpoint file " + p), std::string::npos) << msg;
  error_of([&] { (void)f.root().attr<int64_t>("step"); }, ErrorKind::Checkpoint);
  error_of([&] { f.root().dataset("x").read_rows(1, 5); }, ErrorKind::Checkpoint);
  error_of([&] { File::open(path("none.h5"), Mode::Read, ErrorKind::Checkpoint); },
           ErrorKind::Checkpoint);
  try {
    File::open(path("none.h5"), Mode::ReadWrite, ErrorKind::Checkpoint);
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 4);
  }
}

TEST_F(Hdf5Test, Hdf5FailuresCarryHdf5sReasonAndPrintNothing) {
  const std::string p = path("reason.h5");
  File f = File::create(p);
  std::string msg;
  // On another thread too: HDF5 keeps an error stack (and its printing switch) per thread.
  std::thread([&] {
    ::testing::internal::CaptureStderr();
    try {
      f.root().create_dataset("x", DType::F32, {2, 2}, {.chunk = {4, 4}});  // chunk > extent
    } catch (const Error& e) {
      msg = e.what();
    }
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  }).join();
  EXPECT_NE(msg.find("data file " + p + ": dataset '/x': cannot create"), std::string::npos) << msg;
  EXPECT_NE(msg.find("chunk size must be <= maximum dimension size"), std::string::npos) << msg;

  // A read-only file refuses writes with HDF5's reason.
  f.close();
  File ro = File::open(p);
  msg = error_of([&] { ro.root().set_attr("a", 1); });
  EXPECT_NE(msg.find("attribute 'a': cannot create"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no write intent"), std::string::npos) << msg;
}

TEST_F(Hdf5Test, StoredTypesThatAreNotWinDtypesAreNamed) {
  const std::string p = path("foreign.h5");
  File f = File::create(p);
  Handle space(H5Screate_simple(1, std::vector<hsize_t>{3}.data(), nullptr));
  for (auto [name, type] : {std::pair{"i64", H5T_STD_I64LE}, std::pair{"half", H5T_IEEE_F32LE}}) {
    Handle t(H5Tcopy(type));
    if (std::string(name) == "half") {  // IEEE half: 1 sign, 5 exponent, 10 mantissa bits
      H5Tset_fields(t.get(), 15, 10, 5, 0, 10);
      H5Tset_precision(t.get(), 16);
      H5Tset_size(t.get(), 2);
      H5Tset_ebias(t.get(), 15);
    }
    Handle d(H5Dcreate2(f.root().id(), name, t.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT));
    ASSERT_TRUE(d.valid());
  }
  std::string msg = error_of([&] { (void)f.root().read("i64"); });
  EXPECT_NE(msg.find("dataset '/i64': stored type 64-bit signed integer"), std::string::npos)
      << msg;
  msg = error_of([&] { (void)f.root().dataset("half").dtype(); });
  EXPECT_NE(msg.find("IEEE half"), std::string::npos) << msg;
}

TEST_F(Hdf5Test, CheckMacroReturnsValuesAndThrowsWithContext) {
  const std::string p = path("macro.h5");
  File f = File::create(p);
  const hid_t g = WIN_H5_CHECK(H5Gopen2(f.id(), "/", H5P_DEFAULT), f.where(), "open root");
  EXPECT_GE(g, 0);
  Handle owned(g);
  const std::string msg =
      error_of([&] { WIN_H5_CHECK(H5Dopen2(f.id(), "nope", H5P_DEFAULT), f.where(), "open ", 7); });
  EXPECT_NE(msg.find("data file " + p + ": open 7: "), std::string::npos) << msg;
  EXPECT_GT(msg.size(), (cat("data file ", p, ": open 7: ")).size());  // HDF5's reason follows
}

TEST_F(Hdf5Test, FilesMoveAndCloseAndObjectsOutliveClose) {
  const std::string p = path("move.h5");
  File a = File::create(p);
  Dataset d = a.root().write("x", make<float>({1, 2}, {2}));
  File b = std::move(a);
  EXPECT_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): moved-from is closed
  EXPECT_TRUE(b.is_open());
  b.flush();
  b.close();
  b.close();  // twice is fine
  EXPECT_FALSE(b.is_open());
  EXPECT_EQ(d.read().to_vector(), std::vector<double>({1, 2}));  // the file stays open for d
}

TEST_F(Hdf5Test, LibraryVersionIsReported) {
  EXPECT_EQ(hdf5_library_version(), cat(H5_VERS_MAJOR, '.', H5_VERS_MINOR, '.', H5_VERS_RELEASE));
}

}  // namespace
}  // namespace win::h5
