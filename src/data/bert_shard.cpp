// BERT pretraining and sequence-classification shards (see bert_shard.hpp): a writer that buffers
// one shard of examples and writes it in NVIDIA's layout (gzip, chunks of about 8 KiB so that
// reading one sample decompresses little else), and a reader that validates every shard's datasets
// when a set is opened and every sample when it is read, so that a bad shard is a data error
// naming the file and the sample rather than an out-of-range embedding lookup in training.
#include "data/bert_shard.hpp"

#include <glob.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/error.hpp"
#include "data/hdf5.hpp"

namespace win::data {

namespace fs = std::filesystem;

namespace {

// NVIDIA's dataset names and dtypes.
constexpr const char* kIds = "input_ids";
constexpr const char* kMask = "input_mask";
constexpr const char* kSeg = "segment_ids";
constexpr const char* kPos = "masked_lm_positions";
constexpr const char* kMids = "masked_lm_ids";
constexpr const char* kNsp = "next_sentence_labels";
constexpr const char* kLabel = "label";

// gzip (h5py's default level 4, as NVIDIA's script) in chunks of `chunk_rows` whole rows.
h5::WriteOptions chunked(int64_t rows, int64_t cols, int64_t chunk_rows) {
  return {.chunk = {std::min(rows, chunk_rows), cols}, .gzip_level = 4};
}

// The shard files of a spec: a file, a directory (its *.h5 in name order) or a glob.
std::vector<std::string> expand_spec(const std::string& spec) {
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(spec, ec)) {
    for (const auto& e : fs::directory_iterator(spec, ec))
      if (e.path().extension() == ".h5" && e.is_regular_file(ec)) files.push_back(e.path());
    WIN_CHECK(!ec, ErrorKind::Data, "data directory ", spec, ": cannot list: ", ec.message());
    WIN_CHECK(!files.empty(), ErrorKind::Data, "data directory ", spec, ": no *.h5 shards in it");
  } else if (spec.find_first_of("*?[") != std::string::npos) {
    glob_t g{};
    if (::glob(spec.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
    WIN_CHECK(!files.empty(), ErrorKind::Data, "data spec ", spec, ": no files match");
  } else {
    files.push_back(spec);  // a missing file is reported by h5::File::open
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

// ---- writer ----

struct BertShardWriter::Impl {
  std::string dir, prefix;
  BertShardKind kind = BertShardKind::Pretraining;
  int64_t per_shard = 1, L = 0, P = 0, vocab = 0, classes = 0;
  std::string source;
  std::vector<int32_t> ids, pos, mids, labels;
  std::vector<int8_t> mask, seg, nsp;
  int64_t buffered = 0, total = 0;
  std::vector<std::string> paths;
  bool finished = false;

  void flush() {
    if (buffered == 0) return;
    const int64_t n = buffered;
    char name[64];
    std::snprintf(name, sizeof name, "-%05zu.h5", paths.size());
    const std::string path = (fs::path(dir) / (prefix + name)).string();
    const std::string tmp = path + ".tmp";
    // Every 2-d dataset in chunks of the same rows, 8 KiB of input_ids: reading one sample
    // inflates little besides it (0.13-0.19 ms for a random sample at L = 128; 64 KiB chunks took
    // ~1 ms), at a cost of ~10% in compression.
    const int64_t rows = std::max<int64_t>(1, 8192 / (L * 4));
    try {
      h5::File f = h5::File::create(tmp, ErrorKind::Output);
      h5::Group g = f.root();
      g.write(kIds, Tensor::from(ids, {n, L}), chunked(n, L, rows));
      g.write(kMask, Tensor::from(mask, {n, L}), chunked(n, L, rows));
      g.write(kSeg, Tensor::from(seg, {n, L}), chunked(n, L, rows));
      if (kind == BertShardKind::Pretraining) {
        g.write(kPos, Tensor::from(pos, {n, P}), chunked(n, P, rows));
        g.write(kMids, Tensor::from(mids, {n, P}), chunked(n, P, rows));
        g.write(kNsp, Tensor::from(nsp, {n}), {.gzip_level = 4});
        g.set_attr("max_predictions_per_seq", P);
      } else {
        g.write(kLabel, Tensor::from(labels, {n}), {.gzip_level = 4});
        g.set_attr("num_classes", classes);
      }
      g.set_attr("vocab_size", vocab);
      g.set_attr("max_seq_length", L);
      g.set_attr("source", source);
      g.set_attr("shard_index", static_cast<int64_t>(paths.size()));
      f.close();
      fs::rename(tmp, path);
    } catch (...) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw;
    }
    paths.push_back(path);
    for (auto* v : {&ids, &pos, &mids, &labels}) v->clear();
    for (auto* v : {&mask, &seg, &nsp}) v->clear();
    buffered = 0;
  }
};

BertShardWriter::BertShardWriter(std::string dir, std::string prefix, BertShardKind kind,
                                 int64_t per_shard, int64_t max_seq_length, int64_t max_predictions,
                                 int64_t vocab_size, int64_t num_classes, std::string source)
    : impl_(std::make_unique<Impl>()) {
  const bool pre = kind == BertShardKind::Pretraining;
  WIN_CHECK(per_shard >= 1, ErrorKind::Usage, "--per-shard must be >= 1, got ", per_shard);
  WIN_CHECK(max_seq_length >= 2, ErrorKind::Usage, "--max-seq-length must be >= 2, got ",
            max_seq_length);
  WIN_CHECK(!pre || max_predictions >= 1, ErrorKind::Usage, "--max-predictions must be >= 1, got ",
            max_predictions);
  WIN_CHECK(pre || num_classes >= 1, ErrorKind::Usage, "--classes must be >= 1, got ", num_classes);
  WIN_CHECK(vocab_size >= 0, ErrorKind::Usage, "vocab_size must be >= 0, got ", vocab_size);
  std::error_code ec;
  fs::create_directories(dir, ec);
  WIN_CHECK(fs::is_directory(dir, ec), ErrorKind::Output, "output directory ", dir,
            ": cannot create it", ec ? ": " + ec.message() : ": a file of that name is in the way");
  Impl& s = *impl_;
  s.dir = std::move(dir);
  s.prefix = std::move(prefix);
  s.kind = kind;
  s.per_shard = per_shard;
  s.L = max_seq_length;
  s.P = pre ? max_predictions : 0;
  s.vocab = vocab_size;
  s.classes = pre ? 0 : num_classes;
  s.source = std::move(source);
}

BertShardWriter::~BertShardWriter() = default;

void BertShardWriter::add(const BertExample& e) {
  Impl& s = *impl_;
  WIN_CHECK(!s.finished, ErrorKind::Internal, "BertShardWriter::add after finish()");
  const auto L = static_cast<size_t>(s.L), P = static_cast<size_t>(s.P);
  WIN_CHECK(e.input_ids.size() == L && e.input_mask.size() == L && e.segment_ids.size() == L,
            ErrorKind::Internal, "BertShardWriter: example of ", e.input_ids.size(),
            " tokens, expected max_seq_length ", s.L);
  if (s.kind == BertShardKind::Pretraining) {
    WIN_CHECK(e.masked_lm_positions.size() == P && e.masked_lm_ids.size() == P, ErrorKind::Internal,
              "BertShardWriter: ", e.masked_lm_positions.size(),
              " masked positions, expected max_predictions ", s.P);
    s.pos.insert(s.pos.end(), e.masked_lm_positions.begin(), e.masked_lm_positions.end());
    s.mids.insert(s.mids.end(), e.masked_lm_ids.begin(), e.masked_lm_ids.end());
    s.nsp.push_back(static_cast<int8_t>(e.next_sentence_label));
  } else {
    WIN_CHECK(e.label >= 0 && e.label < s.classes, ErrorKind::Internal, "BertShardWriter: label ",
              e.label, " out of range [0, ", s.classes, ")");
    s.labels.push_back(e.label);
  }
  s.ids.insert(s.ids.end(), e.input_ids.begin(), e.input_ids.end());
  s.mask.insert(s.mask.end(), e.input_mask.begin(), e.input_mask.end());
  s.seg.insert(s.seg.end(), e.segment_ids.begin(), e.segment_ids.end());
  ++s.buffered;
  ++s.total;
  if (s.buffered == s.per_shard) s.flush();
}

int64_t BertShardWriter::count() const {
  return impl_->total;
}

std::vector<std::string> BertShardWriter::finish() {
  Impl& s = *impl_;
  if (!s.finished) {
    s.flush();
    s.finished = true;
    for (const auto& p : s.paths) {
      h5::File f = h5::File::open(p, h5::Mode::ReadWrite);
      f.root().set_attr("num_shards", static_cast<int64_t>(s.paths.size()));
      f.close();
    }
  }
  return s.paths;
}

// ---- reader ----

namespace {

// What opening a set learns from each shard (validated once, shared by reopen()ed copies).
struct ShardMeta {
  std::string path;
  int64_t rows = 0;
  int64_t vocab = 0;            // 0: token ids unchecked
  std::vector<int32_t> labels;  // next_sentence_labels or label, validated at open
};

struct SetMeta {
  std::string spec;
  BertShardKind kind = BertShardKind::Pretraining;
  std::vector<std::string> files;
  std::vector<ShardMeta> shards;
  std::vector<int64_t> starts;  // first global index of each shard
  int64_t total = 0, L = 0, P = 0, classes = 0;
  int64_t vocab_attr = 0;  // the largest vocab_size attribute of the shards (0: none)
};

// The open datasets of one shard. Shards are opened on demand and at most kMaxOpen at a time, so
// that sets of thousands of shards (NVIDIA's Wikipedia + books) stay within the file limit.
struct OpenShard {
  h5::File file;
  h5::Dataset ids, mask, seg, pos, mids;
};
constexpr size_t kMaxOpen = 16;

h5::Dataset typed(const h5::Group& g, const char* name, DType want, int rank) {
  h5::Dataset d = g.dataset(name);
  const DType got = d.dtype();
  if (got != want)
    d.where().fail(cat("is ", dtype_name(got), ", expected ", dtype_name(want),
                       " (NVIDIA's BERT shard layout)"));
  if (d.shape().size() != rank)
    d.where().fail(cat("has shape ", d.shape(), ", expected rank ", rank));
  return d;
}

OpenShard open_shard(const std::string& path, bool pre) {
  OpenShard o;
  o.file = h5::File::open(path);
  const h5::Group g = o.file.root();
  const auto need = [&](const char* name) {
    if (!g.is_dataset(name))
      WIN_FAIL(ErrorKind::Data, "data file ", path, ": no dataset '", name, "' (not a ",
               pre ? "BERT pretraining" : "sequence-classification", " shard?)");
  };
  for (const char* n : {kIds, kMask, kSeg}) need(n);
  if (pre)
    for (const char* n : {kPos, kMids, kNsp}) need(n);
  else
    need(kLabel);
  o.ids = typed(g, kIds, DType::I32, 2);
  o.mask = typed(g, kMask, DType::I8, 2);
  o.seg = typed(g, kSeg, DType::I8, 2);
  if (pre) {
    o.pos = typed(g, kPos, DType::I32, 2);
    o.mids = typed(g, kMids, DType::I32, 2);
  }
  return o;
}

// Opens and validates every shard of the set: datasets, dtypes, shapes, labels.
std::shared_ptr<const SetMeta> scan(const std::string& spec, BertShardKind kind,
                                    int64_t vocab_arg) {
  auto m = std::make_shared<SetMeta>();
  m->spec = spec;
  m->kind = kind;
  m->files = expand_spec(spec);
  const bool pre = kind == BertShardKind::Pretraining;
  const std::string& first = m->files.front();
  int64_t max_label = -1;
  for (const auto& path : m->files) {
    const OpenShard o = open_shard(path, pre);
    const h5::Group g = o.file.root();
    ShardMeta s;
    s.path = path;
    const Dims shape = o.ids.shape();
    s.rows = shape[0];
    for (const auto* d : {&o.mask, &o.seg})
      if (!(d->shape() == shape))
        d->where().fail(cat("has shape ", d->shape(), ", expected ", shape, " as input_ids"));
    WIN_CHECK(shape[1] >= 2, ErrorKind::Data, "data file ", path, ": sequence length ", shape[1],
              " < 2");
    WIN_CHECK(path == first || shape[1] == m->L, ErrorKind::Data, "data file ", path,
              ": sequence length ", shape[1], " differs from ", m->L, " in ", first);
    m->L = shape[1];
    h5::Dataset lab;
    if (pre) {
      lab = typed(g, kNsp, DType::I8, 1);
      const Dims ps = o.pos.shape();
      if (ps[0] != s.rows || ps[1] < 1)
        o.pos.where().fail(cat("has shape ", ps, ", expected [", s.rows, ", P >= 1]"));
      if (!(o.mids.shape() == ps))
        o.mids.where().fail(cat("has shape ", o.mids.shape(), ", expected ", ps));
      WIN_CHECK(path == first || ps[1] == m->P, ErrorKind::Data, "data file ", path, ": ", ps[1],
                " masked positions per sample, ", m->P, " in ", first);
      m->P = ps[1];
    } else {
      lab = typed(g, kLabel, DType::I32, 1);
      if (g.has_attr("num_classes")) {
        const int64_t k = g.attr<int64_t>("num_classes");
        WIN_CHECK(k >= 1, ErrorKind::Data, "data file ", path, ": num_classes ", k, " < 1");
        WIN_CHECK(m->classes == 0 || k == m->classes, ErrorKind::Data, "data file ", path,
                  ": num_classes ", k, " differs from ", m->classes, " in an earlier shard");
        m->classes = k;
      }
    }
    if (lab.rows() != s.rows)
      lab.where().fail(cat("has ", lab.rows(), " rows, input_ids ", s.rows));
    const Tensor t = lab.read();
    s.labels.resize(static_cast<size_t>(s.rows));
    for (int64_t j = 0; j < s.rows; ++j) {
      const int32_t v = pre ? t.data<int8_t>()[j] : t.data<int32_t>()[j];
      const bool ok = pre ? (v == 0 || v == 1) : (v >= 0 && (m->classes == 0 || v < m->classes));
      WIN_CHECK(ok, ErrorKind::Data, "data file ", path, ": sample ", j, ": ",
                pre ? "next_sentence_labels " : "label ", v, " out of range [0, ",
                pre ? 2 : m->classes, ")");
      s.labels[static_cast<size_t>(j)] = v;
      max_label = std::max<int64_t>(max_label, v);
    }
    if (g.has_attr("vocab_size"))
      m->vocab_attr = std::max(m->vocab_attr, g.attr<int64_t>("vocab_size"));
    s.vocab = vocab_arg > 0              ? vocab_arg
              : g.has_attr("vocab_size") ? g.attr<int64_t>("vocab_size")
                                         : 0;
    m->starts.push_back(m->total);
    m->total += s.rows;
    m->shards.push_back(std::move(s));
  }
  WIN_CHECK(m->total > 0, ErrorKind::Data, "data spec ", spec, ": the shards hold no samples");
  if (!pre && m->classes == 0) m->classes = max_label + 1;
  return m;
}

std::string bad_id(int32_t id, int64_t vocab) {
  return id < 0 ? " is negative" : cat(" is not below the vocabulary size ", vocab);
}

}  // namespace

struct BertDataset::Impl {
  std::shared_ptr<const SetMeta> meta;
  mutable std::vector<std::unique_ptr<OpenShard>> open;  // by shard, kMaxOpen at most
  mutable std::vector<size_t> lru;                       // open shards, most recent last
  mutable Tensor t_ids, t_mask, t_seg, t_pos, t_mids;    // one-row read buffers

  explicit Impl(std::shared_ptr<const SetMeta> m) : meta(std::move(m)) {
    open.resize(meta->shards.size());
    t_ids = Tensor::empty({1, meta->L}, DType::I32);
    t_mask = Tensor::empty({1, meta->L}, DType::I8);
    t_seg = Tensor::empty({1, meta->L}, DType::I8);
    if (meta->kind == BertShardKind::Pretraining) {
      t_pos = Tensor::empty({1, meta->P}, DType::I32);
      t_mids = Tensor::empty({1, meta->P}, DType::I32);
    }
  }

  const OpenShard& shard(size_t si) const {
    const auto it = std::find(lru.begin(), lru.end(), si);
    if (it != lru.end()) {
      lru.erase(it);
      lru.push_back(si);
      return *open[si];
    }
    if (lru.size() == kMaxOpen) {
      open[lru.front()].reset();
      lru.erase(lru.begin());
    }
    open[si] = std::make_unique<OpenShard>(
        open_shard(meta->shards[si].path, meta->kind == BertShardKind::Pretraining));
    lru.push_back(si);
    return *open[si];
  }
};

BertDataset::BertDataset() = default;
BertDataset::BertDataset(BertDataset&&) noexcept = default;
BertDataset& BertDataset::operator=(BertDataset&&) noexcept = default;
BertDataset::~BertDataset() = default;

BertDataset BertDataset::open(const std::string& spec, BertShardKind kind, int64_t vocab_size) {
  BertDataset d;
  d.impl_ = std::make_unique<Impl>(scan(spec, kind, vocab_size));
  return d;
}

BertDataset BertDataset::reopen() const {
  BertDataset d;
  d.impl_ = std::make_unique<Impl>(impl_->meta);
  return d;
}

int64_t BertDataset::size() const {
  return impl_->meta->total;
}
int64_t BertDataset::max_seq_length() const {
  return impl_->meta->L;
}
int64_t BertDataset::max_predictions() const {
  return impl_->meta->P;
}
int64_t BertDataset::num_classes() const {
  return impl_->meta->classes;
}
int64_t BertDataset::vocab_size() const {
  return impl_->meta->vocab_attr;
}
const std::vector<std::string>& BertDataset::files() const {
  return impl_->meta->files;
}

void BertDataset::read(int64_t i, BertExample& out) const {
  const Impl& m = *impl_;
  const SetMeta& set = *m.meta;
  WIN_CHECK(i >= 0 && i < set.total, ErrorKind::Internal, "BertDataset::read: index ", i,
            " out of range [0, ", set.total, ")");
  const auto si = static_cast<size_t>(std::upper_bound(set.starts.begin(), set.starts.end(), i) -
                                      set.starts.begin() - 1);
  const ShardMeta& s = set.shards[si];
  const int64_t j = i - set.starts[si];
  const bool pre = set.kind == BertShardKind::Pretraining;
  try {
    const OpenShard& o = m.shard(si);
    o.ids.read_rows(j, m.t_ids);
    o.mask.read_rows(j, m.t_mask);
    o.seg.read_rows(j, m.t_seg);
    if (pre) {
      o.pos.read_rows(j, m.t_pos);
      o.mids.read_rows(j, m.t_mids);
    }
  } catch (const Error& e) {
    WIN_FAIL(e.kind(), e.what(), " (reading sample ", j, ")");
  }
  const auto fail = [&](const auto&... what) {
    WIN_FAIL(ErrorKind::Data, "data file ", s.path, ": sample ", j, " (index ", i,
             " of the set): ", what...);
  };
  const auto L = static_cast<size_t>(set.L), P = static_cast<size_t>(set.P);
  out.input_ids.assign(m.t_ids.data<int32_t>(), m.t_ids.data<int32_t>() + L);
  out.input_mask.assign(m.t_mask.data<int8_t>(), m.t_mask.data<int8_t>() + L);
  out.segment_ids.assign(m.t_seg.data<int8_t>(), m.t_seg.data<int8_t>() + L);
  size_t len = 0;  // tokens under the mask (a prefix of ones)
  while (len < L && out.input_mask[len] == 1) ++len;
  for (size_t k = 0; k < L; ++k) {
    const int32_t id = out.input_ids[k];
    if (id < 0 || (s.vocab > 0 && id >= s.vocab))
      fail("input_ids[", k, "] = ", id, bad_id(id, s.vocab));
    if (k >= len && out.input_mask[k] != 0)
      fail("input_mask[", k, "] = ", int{out.input_mask[k]}, ": expected ones, then zeros");
    if (out.segment_ids[k] != 0 && out.segment_ids[k] != 1)
      fail("segment_ids[", k, "] = ", int{out.segment_ids[k]}, " is not 0 or 1");
  }
  out.label = 0;
  out.next_sentence_label = 0;
  if (!pre) {
    out.masked_lm_positions.clear();
    out.masked_lm_ids.clear();
    out.label = s.labels[static_cast<size_t>(j)];
    return;
  }
  out.next_sentence_label = s.labels[static_cast<size_t>(j)];
  out.masked_lm_positions.assign(m.t_pos.data<int32_t>(), m.t_pos.data<int32_t>() + P);
  out.masked_lm_ids.assign(m.t_mids.data<int32_t>(), m.t_mids.data<int32_t>() + P);
  // NVIDIA's loader takes the predictions up to the first zero position (0 is [CLS], never
  // masked); the padding after it must be zero too.
  bool padding = false;
  for (size_t k = 0; k < P; ++k) {
    const int32_t p = out.masked_lm_positions[k], id = out.masked_lm_ids[k];
    padding = padding || p == 0;
    if (padding && p != 0)
      fail("masked_lm_positions[", k, "] = ", p, " after the zero padding began");
    if (!padding && (p < 0 || static_cast<size_t>(p) >= len))
      fail("masked_lm_positions[", k, "] = ", p, " is outside the ", len,
           " tokens under input_mask (max_seq_length ", set.L, ")");
    if (id < 0 || (s.vocab > 0 && id >= s.vocab))
      fail("masked_lm_ids[", k, "] = ", id, bad_id(id, s.vocab));
  }
}

}  // namespace win::data
