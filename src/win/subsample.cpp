// teacher_subsample (see subsample.hpp). Parameters are addressed by their dotted names in both
// models; the indexing helpers copy sampled rows / columns of dimension 0 or 1.
#include "win/subsample.hpp"

#include <algorithm>
#include <map>
#include <numeric>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace win::method {

namespace {

constexpr uint64_t kSampleStream = 0x5A3B;

struct Tensors {
  std::map<std::string, Tensor> t;
  explicit Tensors(nn::Module& m) {
    m.for_each_param([&](const std::string& n, nn::Param& p) { t[n] = p.value; });
    m.for_each_buffer([&](const std::string& n, Tensor& b) { t[n] = b; });
  }
  Tensor& at(const std::string& n) {
    auto it = t.find(n);
    WIN_ASSERT(it != t.end(), "teacher_subsample: no tensor ", n);
    return it->second;
  }
  bool has(const std::string& n) const { return t.count(n) != 0; }
};

// dst = src with dimension dim restricted to idx (others whole), times scale.
void take(Tensor& dst, const Tensor& src, int dim, const std::vector<int64_t>& idx,
          double scale = 1.0) {
  WIN_ASSERT(dst.size(dim) == static_cast<int64_t>(idx.size()), "take: ", idx.size(),
             " indices for dimension ", dim, " of ", dst.shape());
  for (size_t k = 0; k < idx.size(); ++k) {
    Tensor d = dst.select(dim, static_cast<int64_t>(k));
    d.copy_from(src.select(dim, idx[k]));
    if (scale != 1.0) backend::ops_for(d).scale(scale, d);
  }
}

// dst = src[rows][:, cols] * scale (rows, cols: dims 0 and 1).
void take2(Tensor& dst, const Tensor& src, const std::vector<int64_t>& rows,
           const std::vector<int64_t>& cols, double scale) {
  for (size_t r = 0; r < rows.size(); ++r) {
    Tensor d = dst.select(0, static_cast<int64_t>(r));
    take(d, src.select(0, rows[r]), 0, cols, scale);
  }
}

void identity(Tensor& m) {
  m.zero();
  for (int64_t i = 0; i < std::min(m.size(0), m.size(1)); ++i)
    m.select(0, i).select(0, i).fill(1.0);
}

// M1 (D, d): column r is the unit vector at idx[r]. M2 = M1^T.
void selection(Bridge& b, const std::vector<int64_t>& idx) {
  Tensor& m1 = b.m1().value;
  m1.zero();
  for (size_t r = 0; r < idx.size(); ++r)
    m1.select(0, idx[r]).select(0, static_cast<int64_t>(r)).fill(1.0);
  if (b.m2()) b.m2()->value.copy_from(m1.transpose(0, 1));
}

void copy_same(Tensors& s, Tensors& t, const std::string& name) {
  WIN_CHECK(s.at(name).shape() == t.at(name).shape(), ErrorKind::Config,
            "narrow.bridge_init = teacher_subsample: ", name, " has shape ", s.at(name).shape(),
            " in the student and ", t.at(name).shape(), " in the teacher");
  s.at(name).copy_from(t.at(name));
}

}  // namespace

std::vector<int64_t> sample_indices(int64_t big, int64_t m, uint64_t seed, uint64_t key) {
  WIN_CHECK(m >= 1 && m <= big, ErrorKind::Config, "teacher_subsample: cannot sample ", m, " of ",
            big, " units");
  std::vector<int64_t> all(static_cast<size_t>(big));
  std::iota(all.begin(), all.end(), 0);
  const Philox rng(seed, kSampleStream);
  for (int64_t i = 0; i < m; ++i) {  // partial Fisher-Yates
    const int64_t j = i + static_cast<int64_t>(rng.uniform_int(key, static_cast<uint64_t>(i),
                                                               static_cast<uint64_t>(big - i)));
    std::swap(all[static_cast<size_t>(i)], all[static_cast<size_t>(j)]);
  }
  std::vector<int64_t> out(all.begin(), all.begin() + m);
  std::sort(out.begin(), out.end());
  return out;
}

Samples subsample_from_teacher(BridgedModel& sbar, models::Model& teacher,
                               const config::ModelConfig& c, uint64_t seed) {
  WIN_CHECK(
      c.family != "bert", ErrorKind::Config,
      "narrow.bridge_init = teacher_subsample is not available for BERT (the teacher's hidden "
      "size differs from the student's); use orthogonal or random");
  Tensors s(sbar.student()), t(teacher);
  const int n = sbar.num_blocks();
  Samples samples;
  if (c.family == "mlp" && c.mlp.block == "plain") {
    std::vector<int64_t> prev;  // sampled inputs of the current block (empty: the raw input)
    for (int i = 0; i < n; ++i) {
      const std::string p = cat("blocks.", i, ".fc.");
      const int64_t big = t.at(p + "weight").size(0), m = s.at(p + "weight").size(0);
      const auto idx = sample_indices(big, m, seed, static_cast<uint64_t>(i));
      if (prev.empty()) {
        take(s.at(p + "weight"), t.at(p + "weight"), 0, idx);
      } else {
        const double scale =
            static_cast<double>(t.at(p + "weight").size(1)) / static_cast<double>(prev.size());
        take2(s.at(p + "weight"), t.at(p + "weight"), idx, prev, scale);
      }
      take(s.at(p + "bias"), t.at(p + "bias"), 0, idx);
      selection(sbar.bridge(i), idx);
      samples[cat("blocks.", i)] = idx;
      prev = idx;
    }
    const double scale =
        static_cast<double>(t.at("head.weight").size(1)) / static_cast<double>(prev.size());
    take(s.at("head.weight"), t.at("head.weight"), 1, prev, scale);
    copy_same(s, t, "head.bias");
    return samples;
  }
  // `inner` MLPs and ResNets: everything but the inner units has the same shape.
  for (auto& [name, value] : s.t)
    if (value.shape() == t.at(name).shape()) value.copy_from(t.at(name));
  for (int i = 0; i < n; ++i) {
    WIN_CHECK(sbar.bridge(i).thin() == sbar.bridge(i).wide_width(), ErrorKind::Config,
              "narrow.bridge_init = teacher_subsample needs teacher and student blocks of equal "
              "output width (set teacher.widen_outputs = false)");
    identity(sbar.bridge(i).m1().value);
    if (sbar.bridge(i).m2()) identity(sbar.bridge(i).m2()->value);
  }
  // The sub-blocks whose inner width differs: (prefix, first layer, middle layers, last layer).
  std::vector<std::string> blocks;
  for (auto& [name, value] : s.t) {
    if (value.shape() == t.at(name).shape()) continue;
    for (const std::string suffix : {".fc1.weight", ".conv1.weight"})
      if (name.size() > suffix.size() && name.ends_with(suffix))
        blocks.push_back(name.substr(0, name.size() - suffix.size()));
  }
  uint64_t key = 0;  // the map's name order: deterministic
  for (const auto& b : blocks) {
    const bool mlp = s.has(b + ".fc1.weight");
    const std::string w1 = b + (mlp ? ".fc1.weight" : ".conv1.weight");
    const int64_t big = t.at(w1).size(0), m = s.at(w1).size(0);
    const auto idx = sample_indices(big, m, seed, 1000 + key++);
    const double scale = static_cast<double>(big) / static_cast<double>(m);
    samples[b] = idx;
    take(s.at(w1), t.at(w1), 0, idx);
    if (mlp) {
      take(s.at(b + ".fc1.bias"), t.at(b + ".fc1.bias"), 0, idx);
      take(s.at(b + ".fc2.weight"), t.at(b + ".fc2.weight"), 1, idx, scale);
      continue;
    }
    for (const char* v : {".bn1.weight", ".bn1.bias", ".bn1.running_mean", ".bn1.running_var"})
      take(s.at(b + v), t.at(b + v), 0, idx);
    if (s.has(b + ".conv3.weight")) {  // bottleneck: conv2 is inner -> inner, conv3 reads inner
      take2(s.at(b + ".conv2.weight"), t.at(b + ".conv2.weight"), idx, idx, scale);
      for (const char* v : {".bn2.weight", ".bn2.bias", ".bn2.running_mean", ".bn2.running_var"})
        take(s.at(b + v), t.at(b + v), 0, idx);
      take(s.at(b + ".conv3.weight"), t.at(b + ".conv3.weight"), 1, idx, scale);
    } else {  // basic block: conv2 reads inner
      take(s.at(b + ".conv2.weight"), t.at(b + ".conv2.weight"), 1, idx, scale);
    }
  }
  return samples;
}

}  // namespace win::method
