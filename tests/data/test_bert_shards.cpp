// Tests of BERT pretraining and classification data: shard writer -> reader round trips over
// several shards, NVIDIA's dataset names and dtypes on disk (through the HDF5 API and through an
// independent h5py check, tools/check_bert_shards.py, which must also reject a wrong dtype),
// reading a shard written the way NVIDIA's script writes them, the per-sample validation errors
// (exit 3, naming file and sample), Google's instance-creation algorithm (determinism, structure,
// masking counts and 80/10/10, NSP balance, whole-word masking) and the TSV reader of `win data
// classify`.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "data/bert_shard.hpp"
#include "data/classify_data.hpp"
#include "data/hdf5.hpp"
#include "data/pretraining.hpp"
#include "temp_dir_test.hpp"

namespace win::data {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kL = 16, kP = 4, kV = 50;

class BertShardTest : public testing_data::TempDirTest {
 protected:
  BertShardTest() : TempDirTest("win_bert_") {}
};

// Runs f, expects a data error (exit 3), returns its message.
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

// A valid example (pretraining or classification) drawn from Philox by index.
BertExample example(int64_t i, bool pre) {
  const Philox r(7, 1);
  const auto u = [&](int k, int64_t n) { return static_cast<int32_t>(r.uniform_int(i, k, n)); };
  BertExample e;
  const int32_t len = 4 + u(0, kL - 3);  // 4..kL
  e.input_ids.assign(kL, 0);
  e.input_mask.assign(kL, 0);
  e.segment_ids.assign(kL, 0);
  for (int32_t k = 0; k < len; ++k) {
    e.input_ids[k] = u(10 + k, kV);
    e.input_mask[k] = 1;
    e.segment_ids[k] = k >= len / 2 ? 1 : 0;
  }
  if (pre) {
    e.masked_lm_positions.assign(kP, 0);
    e.masked_lm_ids.assign(kP, 0);
    const int32_t n = 1 + u(1, kP);
    for (int32_t k = 0; k < n && k + 1 < len; ++k) {
      e.masked_lm_positions[k] = k + 1;
      e.masked_lm_ids[k] = u(40 + k, kV);
    }
    e.next_sentence_label = u(2, 2);
  } else {
    e.label = u(3, 3);
  }
  return e;
}

void expect_same(const BertExample& a, const BertExample& b) {
  EXPECT_EQ(a.input_ids, b.input_ids);
  EXPECT_EQ(a.input_mask, b.input_mask);
  EXPECT_EQ(a.segment_ids, b.segment_ids);
  EXPECT_EQ(a.masked_lm_positions, b.masked_lm_positions);
  EXPECT_EQ(a.masked_lm_ids, b.masked_lm_ids);
  EXPECT_EQ(a.next_sentence_label, b.next_sentence_label);
  EXPECT_EQ(a.label, b.label);
}

std::vector<std::string> write_set(const std::string& dir, bool pre, int64_t n, int64_t per) {
  BertShardWriter w(dir, "train", pre ? BertShardKind::Pretraining : BertShardKind::Classification,
                    per, kL, pre ? kP : 0, kV, pre ? 0 : 3, "test");
  for (int64_t i = 0; i < n; ++i) w.add(example(i, pre));
  EXPECT_EQ(w.count(), n);
  return w.finish();
}

// ---- shards ----

TEST_F(BertShardTest, BertShardsRoundTripAcrossShards) {
  for (bool pre : {true, false}) {
    const std::string dir = path(pre ? "pre" : "cls");
    const auto files = write_set(dir, pre, 23, 10);
    ASSERT_EQ(files.size(), 3u);
    EXPECT_EQ(fs::path(files[2]).filename(), "train-00002.h5");
    const auto kind = pre ? BertShardKind::Pretraining : BertShardKind::Classification;
    for (const std::string& spec : {dir, dir + "/train-*.h5"}) {
      const BertDataset d = BertDataset::open(spec, kind);
      ASSERT_EQ(d.size(), 23);
      EXPECT_EQ(d.files(), files);
      EXPECT_EQ(d.max_seq_length(), kL);
      EXPECT_EQ(d.max_predictions(), pre ? kP : 0);
      if (!pre) {
        EXPECT_EQ(d.num_classes(), 3);
      }
      const BertDataset d2 = d.reopen();
      BertExample got;
      for (int64_t i = 22; i >= 0; --i) {
        d2.read(i, got);
        expect_same(got, example(i, pre));
      }
    }
    EXPECT_EQ(BertDataset::open(files[1], kind).size(), 10);
    EXPECT_EQ(h5::File::open(files[0]).root().attr<int64_t>("num_shards"), 3);
  }
}

TEST_F(BertShardTest, BertReadsSetsOfMoreShardsThanItKeepsOpen) {
  const auto files = write_set(path("many"), true, 50, 2);  // 25 shards; 16 are kept open
  ASSERT_EQ(files.size(), 25u);
  const BertDataset d = BertDataset::open(path("many"), BertShardKind::Pretraining);
  const Philox r(3, 3);
  BertExample got;
  for (int k = 0; k < 300; ++k) {
    const auto i = static_cast<int64_t>(r.uniform_int(0, k, 50));
    d.read(i, got);
    expect_same(got, example(i, true));
  }
}

TEST_F(BertShardTest, BertShardsHaveNvidiasDatasetNamesDtypesAndGzip) {
  const auto files = write_set(path("s"), true, 5, 10);
  const h5::File f = h5::File::open(files[0]);
  const std::vector<std::string> names = {
      "input_ids",           "input_mask",           "masked_lm_ids",
      "masked_lm_positions", "next_sentence_labels", "segment_ids"};
  EXPECT_EQ(f.root().list(), names);
  for (const auto& n : names) {
    const hid_t want = n == "input_mask" || n == "segment_ids" || n == "next_sentence_labels"
                           ? H5T_STD_I8LE
                           : H5T_STD_I32LE;
    const h5::Dataset d = f.root().dataset(n);
    h5::Handle type(H5Dget_type(d.id())), dcpl(H5Dget_create_plist(d.id()));
    EXPECT_GT(H5Tequal(type.get(), want), 0) << n;
    unsigned flags = 0;
    size_t nelem = 1;
    unsigned level = 0;
    EXPECT_GE(H5Pget_filter_by_id2(dcpl.get(), H5Z_FILTER_DEFLATE, &flags, &nelem, &level, 0,
                                   nullptr, nullptr),
              0)
        << n << " is not gzip-compressed";
  }
  EXPECT_EQ(f.root().dataset("input_ids").shape(), Dims({5, kL}));
  EXPECT_EQ(f.root().dataset("masked_lm_positions").shape(), Dims({5, kP}));
  EXPECT_EQ(f.root().attr<int64_t>("vocab_size"), kV);
  const auto cls = write_set(path("c"), false, 5, 10);
  const h5::Dataset label = h5::File::open(cls[0]).root().dataset("label");
  EXPECT_EQ(label.dtype(), DType::I32);
}

// A shard as NVIDIA's create_pretraining_data.py writes it with h5py: create_dataset(data=...,
// dtype='i4'/'i1', compression='gzip'): little-endian file types, one chunk (h5py's guess for a
// small array), deflate level 4, no attributes.
void write_like_h5py(const std::string& file, const std::vector<BertExample>& ex,
                     DType mask_dtype = DType::I8) {
  const auto n = static_cast<hsize_t>(ex.size());
  h5::Handle f(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  const auto put = [&](const char* name, hid_t ftype, hid_t mtype, const void* buf, hsize_t cols) {
    const hsize_t dims[2] = {n, cols};
    const int rank = cols ? 2 : 1;
    h5::Handle space(H5Screate_simple(rank, dims, nullptr)), dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(dcpl.get(), rank, dims);
    H5Pset_deflate(dcpl.get(), 4);
    h5::Handle d(
        H5Dcreate2(f.get(), name, ftype, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
    ASSERT_GE(H5Dwrite(d.get(), mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0) << name;
  };
  std::vector<int32_t> ids, pos, mids, mask32;
  std::vector<int8_t> mask, seg, nsp;
  for (const auto& e : ex) {
    ids.insert(ids.end(), e.input_ids.begin(), e.input_ids.end());
    mask.insert(mask.end(), e.input_mask.begin(), e.input_mask.end());
    mask32.insert(mask32.end(), e.input_mask.begin(), e.input_mask.end());
    seg.insert(seg.end(), e.segment_ids.begin(), e.segment_ids.end());
    pos.insert(pos.end(), e.masked_lm_positions.begin(), e.masked_lm_positions.end());
    mids.insert(mids.end(), e.masked_lm_ids.begin(), e.masked_lm_ids.end());
    nsp.push_back(static_cast<int8_t>(e.next_sentence_label));
  }
  put("input_ids", H5T_STD_I32LE, H5T_NATIVE_INT32, ids.data(), kL);
  if (mask_dtype == DType::I8)
    put("input_mask", H5T_STD_I8LE, H5T_NATIVE_INT8, mask.data(), kL);
  else
    put("input_mask", H5T_STD_I32LE, H5T_NATIVE_INT32, mask32.data(), kL);
  put("segment_ids", H5T_STD_I8LE, H5T_NATIVE_INT8, seg.data(), kL);
  put("masked_lm_positions", H5T_STD_I32LE, H5T_NATIVE_INT32, pos.data(), kP);
  put("masked_lm_ids", H5T_STD_I32LE, H5T_NATIVE_INT32, mids.data(), kP);
  put("next_sentence_labels", H5T_STD_I8LE, H5T_NATIVE_INT8, nsp.data(), 0);
}

TEST_F(BertShardTest, BertReadsShardsWrittenLikeNvidiasScript) {
  std::vector<BertExample> ex;
  for (int64_t i = 0; i < 37; ++i) ex.push_back(example(i, true));
  write_like_h5py(path("nv.h5"), ex);
  for (int64_t vocab : {int64_t{0}, kV}) {
    const BertDataset d = BertDataset::open(path("nv.h5"), BertShardKind::Pretraining, vocab);
    ASSERT_EQ(d.size(), 37);
    EXPECT_EQ(d.max_predictions(), kP);
    BertExample got;
    for (int64_t i = 0; i < 37; ++i) {
      d.read(i, got);
      expect_same(got, ex[static_cast<size_t>(i)]);
    }
  }
  // A token id bound given by the caller applies to foreign shards (which have no attribute).
  const BertDataset small = BertDataset::open(path("nv.h5"), BertShardKind::Pretraining, 5);
  BertExample got;
  EXPECT_NE(data_error([&] { small.read(3, got); }).find("vocabulary size 5"), std::string::npos);
}

// ---- the independent h5py check ----

bool have_h5py() {
  return std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0;
}

int run_check(const std::string& args) {
  const std::string cmd = cat("/usr/bin/python3 ", WIN_SOURCE_DIR, "/tools/check_bert_shards.py ",
                              args, " >/dev/null 2>&1");
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST_F(BertShardTest, BertPythonCheckAcceptsWinShardsAndRejectsAWrongDtype) {
  if (!have_h5py()) GTEST_SKIP() << "h5py is not importable by /usr/bin/python3";
  write_set(path("pre"), true, 23, 10);
  write_set(path("cls"), false, 7, 5);
  EXPECT_EQ(run_check(path("pre")), 0);
  EXPECT_EQ(run_check(cat(path("pre"), " --vocab-size ", kV)), 0);
  EXPECT_EQ(run_check(path("cls")), 0);
  std::vector<BertExample> ex;
  for (int64_t i = 0; i < 9; ++i) ex.push_back(example(i, true));
  write_like_h5py(path("nv.h5"), ex);
  EXPECT_EQ(run_check(path("nv.h5")), 0);
  write_like_h5py(path("wrong.h5"), ex, DType::I32);  // input_mask i4 instead of i1
  EXPECT_EQ(run_check(path("wrong.h5")), 1);
  EXPECT_EQ(run_check(cat(path("pre"), " --vocab-size 10")), 1);  // ids up to 49
  const std::string msg =
      data_error([&] { (void)BertDataset::open(path("wrong.h5"), BertShardKind::Pretraining); });
  EXPECT_NE(msg.find("input_mask"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected i8"), std::string::npos) << msg;
}

// ---- validation ----

// Overwrites element (row, col) of a dataset of an existing shard.
template <class T>
void poke(const std::string& file, const std::string& name, int64_t row, int64_t col, T value) {
  h5::File f = h5::File::open(file, h5::Mode::ReadWrite);
  h5::Dataset d = f.root().dataset(name);
  Tensor t = d.read_rows(row, 1);
  t.data<T>()[col] = value;
  d.write_rows(row, t);
  f.close();
}

TEST_F(BertShardTest, BertReadValidatesEverySample) {
  struct Case {
    std::string dataset;
    int64_t col;
    int32_t value;
    std::string says;
  };
  // Example 12 (sample 2 of the second shard) has len >= 4 and at least one prediction.
  const BertExample e12 = example(12, true);
  const auto len = std::count(e12.input_mask.begin(), e12.input_mask.end(), 1);
  const std::vector<Case> cases = {
      {"input_ids", 1, static_cast<int32_t>(kV), "vocabulary size 50"},
      {"input_ids", 0, -3, "negative"},
      {"masked_lm_positions", 0, static_cast<int32_t>(kL), "outside"},
      {"masked_lm_positions", 0, static_cast<int32_t>(len), "outside the"},
      {"masked_lm_ids", 0, static_cast<int32_t>(kV + 1), "vocabulary size"},
      {"input_mask", kL - 1, 1, "ones, then zeros"},
      {"segment_ids", 0, 2, "not 0 or 1"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dataset + " " + c.says);
    fs::remove_all(path("s"));
    const auto files = write_set(path("s"), true, 23, 10);
    if (c.dataset == "input_mask" || c.dataset == "segment_ids")
      poke<int8_t>(files[1], c.dataset, 2, c.col, static_cast<int8_t>(c.value));
    else
      poke<int32_t>(files[1], c.dataset, 2, c.col, c.value);
    const BertDataset d = BertDataset::open(path("s"), BertShardKind::Pretraining);
    BertExample got;
    d.read(11, got);  // neighbours are fine
    const std::string msg = data_error([&] { d.read(12, got); });
    EXPECT_NE(msg.find(files[1]), std::string::npos) << msg;
    EXPECT_NE(msg.find("sample 2 (index 12"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
  }
}

TEST_F(BertShardTest, BertOpenValidatesLabelsDatasetsAndFiles) {
  auto files = write_set(path("p"), true, 23, 10);
  poke<int8_t>(files[2], "next_sentence_labels", 1, 0, 2);
  std::string msg =
      data_error([&] { (void)BertDataset::open(path("p"), BertShardKind::Pretraining); });
  EXPECT_NE(msg.find(files[2]), std::string::npos) << msg;
  EXPECT_NE(msg.find("sample 1: next_sentence_labels 2"), std::string::npos) << msg;

  files = write_set(path("c"), false, 23, 10);
  poke<int32_t>(files[0], "label", 4, 0, 3);  // num_classes is 3
  msg = data_error([&] { (void)BertDataset::open(path("c"), BertShardKind::Classification); });
  EXPECT_NE(msg.find(files[0]), std::string::npos) << msg;
  EXPECT_NE(msg.find("sample 4: label 3 out of range [0, 3)"), std::string::npos) << msg;

  files = write_set(path("m"), true, 5, 10);
  {
    h5::File f = h5::File::open(files[0], h5::Mode::ReadWrite);
    f.root().remove("masked_lm_ids");
  }
  msg = data_error([&] { (void)BertDataset::open(files[0], BertShardKind::Pretraining); });
  EXPECT_NE(msg.find(files[0]), std::string::npos) << msg;
  EXPECT_NE(msg.find("masked_lm_ids"), std::string::npos) << msg;
  // A pretraining shard is not a classification shard.
  files = write_set(path("k"), true, 5, 10);
  msg = data_error([&] { (void)BertDataset::open(files[0], BertShardKind::Classification); });
  EXPECT_NE(msg.find("'label'"), std::string::npos) << msg;

  // Truncated: HDF5 notices at open, before any sample; the message names the file.
  files = write_set(path("t"), true, 23, 100);
  fs::resize_file(files[0], fs::file_size(files[0]) / 2);
  msg = data_error([&] { (void)BertDataset::open(files[0], BertShardKind::Pretraining); });
  EXPECT_NE(msg.find(files[0]), std::string::npos) << msg;

  msg = data_error([&] { (void)BertDataset::open(path("none-*.h5"), BertShardKind::Pretraining); });
  EXPECT_NE(msg.find("no files match"), std::string::npos) << msg;
  msg =
      data_error([&] { (void)BertDataset::open(path("missing.h5"), BertShardKind::Pretraining); });
  EXPECT_NE(msg.find("missing.h5"), std::string::npos) << msg;
}

// ---- pretraining instances ----

constexpr int32_t kWords = 900, kVocab = 1000;  // ids 5..899 words, 900..999 "##" pieces

const Vocab& test_vocab() {
  static const Vocab v = [] {
    std::vector<std::string> t = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int32_t i = 5; i < kWords; ++i) t.push_back(cat("w", i));
    for (int32_t i = kWords; i < kVocab; ++i) t.push_back(cat("##p", i));
    return Vocab::from_tokens(t);
  }();
  return v;
}

// Documents of 1 to max_sentences sentences of 3 to max_tokens tokens; a word is followed by a
// "##" piece 20% of the time.
std::vector<TokenizedDocument> corpus(int64_t docs, uint64_t seed, int32_t max_tokens = 20,
                                      int32_t max_sentences = 12) {
  const Philox r(seed, 9);
  uint64_t k = 0;
  const auto u = [&](uint64_t n) { return static_cast<int32_t>(r.uniform_int(0, k++, n)); };
  std::vector<TokenizedDocument> out(static_cast<size_t>(docs));
  for (auto& d : out) {
    d.resize(static_cast<size_t>(1 + u(static_cast<uint64_t>(max_sentences))));
    for (auto& s : d) {
      const int32_t n = 3 + u(static_cast<uint64_t>(max_tokens - 2));
      while (static_cast<int32_t>(s.size()) < n) {
        s.push_back(5 + u(kWords - 5));
        if (u(5) == 0) s.push_back(kWords + u(kVocab - kWords));
      }
    }
  }
  return out;
}

bool same(const std::vector<PretrainingInstance>& a, const std::vector<PretrainingInstance>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].tokens != b[i].tokens || a[i].num_a != b[i].num_a ||
        a[i].masked_positions != b[i].masked_positions ||
        a[i].masked_labels != b[i].masked_labels || a[i].random_next != b[i].random_next)
      return false;
  return true;
}

TEST(PretrainingTest, PretrainingIsDeterministicForASeedAndThreadCount) {
  PretrainingOptions opt;
  opt.max_seq_length = 64;
  opt.dupe_factor = 2;
  const auto docs = corpus(200, 1);
  const auto a = create_pretraining_instances(docs, test_vocab(), opt);
  const int threads = num_threads();
  set_num_threads(1);
  const auto b = create_pretraining_instances(docs, test_vocab(), opt);
  set_num_threads(threads);
  EXPECT_GT(a.size(), 200u);
  EXPECT_TRUE(same(a, b));
  opt.seed += 1;
  EXPECT_FALSE(same(a, create_pretraining_instances(docs, test_vocab(), opt)));
}

TEST(PretrainingTest, PretrainingInstancesAreWellFormed) {
  const Vocab& v = test_vocab();
  for (const int64_t L : {int64_t{16}, int64_t{64}}) {
    PretrainingOptions opt;
    opt.max_seq_length = L;
    opt.max_predictions_per_seq = 5;
    opt.short_seq_prob = 0.3;
    // Sentences up to 70 tokens: with L = 16 every pair needs truncating.
    const auto inst = create_pretraining_instances(corpus(100, 2, 70), v, opt);
    for (const auto& in : inst) {
      const auto n = static_cast<int32_t>(in.tokens.size());
      ASSERT_LE(n, L);
      ASSERT_GE(in.num_a, 1);
      ASSERT_GE(n - in.num_a - 3, 1);  // B is not empty
      const int32_t sep1 = in.num_a + 1;
      std::set<int32_t> masked(in.masked_positions.begin(), in.masked_positions.end());
      EXPECT_EQ(in.tokens[0], v.cls());
      EXPECT_EQ(in.tokens[sep1], v.sep());
      EXPECT_EQ(in.tokens[n - 1], v.sep());
      for (int32_t k = 1; k < n - 1; ++k)
        if (k != sep1 && !masked.count(k)) {
          EXPECT_GE(in.tokens[k], 5) << "special token inside";
        }
      // Python 3's round(): half to even (30 tokens: round(4.5) = 4).
      const auto want = std::min<size_t>(5, std::max<size_t>(1, std::nearbyint(n * 0.15)));
      EXPECT_EQ(in.masked_positions.size(), want) << n << " tokens";
      EXPECT_TRUE(std::is_sorted(in.masked_positions.begin(), in.masked_positions.end()));
      EXPECT_EQ(masked.size(), in.masked_positions.size());
      for (size_t j = 0; j < in.masked_positions.size(); ++j) {
        const int32_t p = in.masked_positions[j];
        EXPECT_TRUE(p > 0 && p < n - 1 && p != sep1) << p;
        EXPECT_GE(in.masked_labels[j], 5);
      }
      const BertExample e = to_example(in, L, 5);
      for (int32_t k = 0; k < L; ++k) {
        EXPECT_EQ(e.input_mask[k], k < n ? 1 : 0);
        EXPECT_EQ(e.segment_ids[k], k > sep1 && k < n ? 1 : 0);
        if (k >= n) {
          EXPECT_EQ(e.input_ids[k], 0);
        }
      }
    }
  }
}

TEST(PretrainingTest, PretrainingMasksEightyTenTenAndBalancesNsp) {
  PretrainingOptions opt;  // Google's defaults: L 128, 20 predictions, 0.15, dupe 5
  opt.short_seq_prob = 0;
  // Long documents (up to 80 sentences), so that few chunks are a document's one-sentence end.
  const auto inst = create_pretraining_instances(corpus(300, 3, 20, 80), test_vocab(), opt);
  int64_t preds = 0, mask = 0, keep = 0, random_next = 0;
  for (const auto& in : inst) {
    random_next += in.random_next;
    for (size_t j = 0; j < in.masked_positions.size(); ++j) {
      const int32_t t = in.tokens[static_cast<size_t>(in.masked_positions[j])];
      ++preds;
      mask += t == test_vocab().mask();
      keep += t == in.masked_labels[j];
    }
  }
  ASSERT_GT(preds, 50000);
  // Binomial standard deviations are below 0.002 at this count; 0.01 is over 5 sigma. "keep"
  // includes random tokens that happen to equal the original (0.1 / 1000).
  const double n = static_cast<double>(preds);
  EXPECT_NEAR(mask / n, 0.8, 0.01);
  EXPECT_NEAR(keep / n, 0.1 + 0.1 / kVocab, 0.01);
  EXPECT_NEAR((preds - mask - keep) / n, 0.1, 0.01);
  // Random next: 0.5, plus half of the chunks of one sentence (always random), which are rare
  // with these long documents: measured 0.529 over 8377 instances (binomial sd 0.006).
  const double nsp = static_cast<double>(random_next) / static_cast<double>(inst.size());
  EXPECT_GT(nsp, 0.47);
  EXPECT_LT(nsp, 0.58);
}

TEST(PretrainingTest, PretrainingWholeWordMaskCoversWholeWords) {
  PretrainingOptions opt;
  opt.max_seq_length = 64;
  opt.whole_word_mask = true;
  const auto inst = create_pretraining_instances(corpus(300, 4), test_vocab(), opt);
  int64_t pieces = 0;
  for (const auto& in : inst) {
    const std::set<int32_t> masked(in.masked_positions.begin(), in.masked_positions.end());
    EXPECT_LE(masked.size(), std::max<size_t>(1, std::nearbyint(in.tokens.size() * 0.15)));
    for (size_t j = 0; j < in.masked_positions.size(); ++j) {
      const int32_t p = in.masked_positions[j];
      if (in.masked_labels[j] < kWords) continue;
      ++pieces;  // a "##" piece: its word's previous piece is masked too, unless truncation from
                 // the front left the piece first in A or B (then, as in Google's script, it is a
                 // word of its own or joins A's last word across the [SEP])
      EXPECT_TRUE(masked.count(p - 1) || p - 1 == 0 || p - 1 == in.num_a + 1) << p;
    }
  }
  EXPECT_GT(pieces, 100);
}

TEST(PretrainingTest, PretrainingEdgeCasesAndErrors) {
  PretrainingOptions opt;
  opt.max_seq_length = 32;
  // One document of one sentence: B comes from the same document; empty pieces are dropped.
  std::vector<TokenizedDocument> one = {{{}, {7, 8, 9}}, {}};
  const auto inst = create_pretraining_instances(one, test_vocab(), opt);
  ASSERT_EQ(inst.size(), 5u);
  for (const auto& in : inst) EXPECT_TRUE(in.random_next);
  const auto msg = data_error([&] {
    (void)create_pretraining_instances({{{}}, {}}, test_vocab(), opt);
  });
  EXPECT_NE(msg.find("no text"), std::string::npos) << msg;
  using Edit = void (*)(PretrainingOptions&);
  for (Edit bad :
       std::initializer_list<Edit>{[](PretrainingOptions& o) { o.max_seq_length = 4; },
                                   [](PretrainingOptions& o) { o.masked_lm_prob = 1.5; },
                                   [](PretrainingOptions& o) { o.dupe_factor = 0; },
                                   [](PretrainingOptions& o) { o.max_predictions_per_seq = 0; }}) {
    PretrainingOptions o;
    bad(o);
    try {
      validate(o);
      ADD_FAILURE() << "validate accepted a bad option";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage) << e.what();
    }
  }
}

// ---- classification ----

TEST_F(BertShardTest, ClassificationTsvAndExamples) {
  {
    std::ofstream f(path("ok.tsv"));
    f << "0\thello world\r\n\n2\tsecond\tline with a tab\n1\t\n";
  }
  const auto t = read_labelled_tsv(path("ok.tsv"));
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].text, "hello world");
  EXPECT_EQ(t[1].label, 2);
  EXPECT_EQ(t[1].text, "second\tline with a tab");
  EXPECT_EQ(t[1].line, 3);
  EXPECT_EQ(t[2].text, "");
  const auto bad = [&](const std::string& text, int64_t classes, const std::string& says) {
    {
      std::ofstream f(path("bad.tsv"));
      f << "1\tfine\n" << text << "\n";
    }
    const std::string msg = data_error([&] { (void)read_labelled_tsv(path("bad.tsv"), classes); });
    EXPECT_NE(msg.find(path("bad.tsv") + ": line 2: " + says), std::string::npos) << msg;
  };
  bad("no tab here", 0, "no tab");
  bad("label\ttext", 0, "label 'label' is not a non-negative integer");
  bad("-1\ttext", 0, "label '-1'");
  bad("99999999999\ttext", 0, "label '99999999999'");
  bad("3\ttext", 3, "label 3 out of range [0, 3)");
  bad("1\tcaf\xe9", 0, "byte 6 is not UTF-8");
  data_error([&] { (void)read_labelled_tsv(path("missing.tsv")); });

  const Vocab& v = test_vocab();
  const BertExample e = make_classification_example({10, 11, 12, 13, 14}, 2, v, 6);
  EXPECT_EQ(e.input_ids, (std::vector<int32_t>{v.cls(), 10, 11, 12, 13, v.sep()}));
  EXPECT_EQ(e.input_mask, (std::vector<int8_t>(6, 1)));
  EXPECT_EQ(e.label, 2);
  const BertExample s = make_classification_example({}, 0, v, 4);
  EXPECT_EQ(s.input_ids, (std::vector<int32_t>{v.cls(), v.sep(), 0, 0}));
  EXPECT_EQ(s.input_mask, (std::vector<int8_t>{1, 1, 0, 0}));
  EXPECT_EQ(s.segment_ids, (std::vector<int8_t>(4, 0)));
}

// ---- the commands ----

// Runs `win ARGS` with stdout and stderr captured; returns the exit code.
int run_win(const std::string& args, std::string* output) {
  const std::string cmd = cat(WIN_BINARY, " ", args, " 2>&1");
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  const int rc = ::pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST_F(BertShardTest, BertAndClassifyCommands) {
  if (!fs::exists(WIN_BINARY)) GTEST_SKIP() << "no win binary at " << WIN_BINARY;
  {
    std::ofstream v(path("vocab.txt"));
    for (const char* t : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on",
                          "a", "mat", "dog", "ran", ".", "run", "##s", "##ning"})
      v << t << "\n";
    std::ofstream t(path("a.txt"));
    for (int d = 0; d < 20; ++d) {
      for (int s = 0; s < 1 + d % 7; ++s) t << "The cat sat on a mat. The dog runs.\n";
      t << "\n";
    }
    std::ofstream c(path("c.tsv"));
    for (int i = 0; i < 30; ++i) c << i % 4 << "\tthe dog ran on the mat running\n";
    std::ofstream b(path("bad.tsv"));
    b << "1\tfine\n2 no tab\n";
  }
  std::string out;
  const std::string v = " --vocab " + path("vocab.txt");
  ASSERT_EQ(run_win("data bert " + path("a.txt") + v + " --out " + path("pre") +
                        " --max-seq-length 32 --per-shard 50 --seed 3",
                    &out),
            0)
      << out;
  EXPECT_NE(out.find("win data bert: 20 documents"), std::string::npos) << out;
  const BertDataset d = BertDataset::open(path("pre"), BertShardKind::Pretraining, 17);
  EXPECT_EQ(d.max_seq_length(), 32);
  EXPECT_GT(d.size(), 50);
  BertExample e;
  for (int64_t i = 0; i < d.size(); ++i) d.read(i, e);
  if (have_h5py()) {
    EXPECT_EQ(run_check(path("pre")), 0);
  }

  out.clear();
  ASSERT_EQ(run_win("data classify " + path("c.tsv") + v + " --out " + path("cls"), &out), 0)
      << out;
  const BertDataset c = BertDataset::open(path("cls"), BertShardKind::Classification);
  EXPECT_EQ(c.size(), 30);
  EXPECT_EQ(c.num_classes(), 4);
  c.read(5, e);
  EXPECT_EQ(e.label, 1);

  out.clear();
  EXPECT_EQ(run_win("data classify " + path("bad.tsv") + v + " --out " + path("x"), &out), 3);
  EXPECT_NE(out.find(path("bad.tsv") + ": line 2: no tab"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(run_win("data bert " + path("a.txt") + " --out " + path("x"), &out), 2);
  EXPECT_NE(out.find("--vocab is required"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(
      run_win("data bert " + path("a.txt") + v + " --out " + path("x") + " --dupe-factor 0", &out),
      2);
  // A negative seed (stored as 2^64 - 3 before) and a sequence with no room for text.
  out.clear();
  EXPECT_EQ(run_win("data bert " + path("a.txt") + v + " --out " + path("x") + " --seed -3", &out),
            2);
  EXPECT_NE(out.find("--seed must be >= 0"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(
      run_win("data classify " + path("c.tsv") + v + " --out " + path("x") + " --max-seq-length 2",
              &out),
      2);
  EXPECT_NE(out.find("--max-seq-length must be in [3, 65536]"), std::string::npos) << out;
}

}  // namespace
}  // namespace win::data
