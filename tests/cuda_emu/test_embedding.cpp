// kernels/embedding.cu on the CUDA stand-in: the gather against the CPU's embedding (a copy, so bit
// for bit) on its 4-wide and scalar paths; the atomic scatter-add against the CPU's
// embedding_backward to rounding (float atomics add in any order); the id sort (stable, invalid ids
// sent last as the sentinel vocab) against std::stable_sort; and the reproducible sorted
// scatter-add bit for bit: runs of up to 32 equal ids against the CPU's embedding_backward (a
// double sum per row in position order, which the kernel promises to equal), longer runs against a
// double sum in the kernel's documented order (8 interleaved row groups added in group order), and
// against the CPU to rounding. Ids outside [0, vocab) must never be read, must be reported as the
// smallest offending position through `bad`, and the launchers' refusals return
// cudaErrorInvalidValue.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <numeric>

#include "backend/ops.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;

namespace {

bool valid(int32_t id, int64_t vocab) {
  return id >= 0 && id < vocab;
}

// Ids drawn uniformly from [0, vocab), with the given positions replaced by invalid ids.
std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint64_t seed,
                                const std::vector<std::pair<int64_t, int32_t>>& invalid = {}) {
  std::mt19937_64 g(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = static_cast<int32_t>(g() % static_cast<uint64_t>(vocab));
  for (const auto& [at, id] : invalid) ids[static_cast<size_t>(at)] = id;
  return ids;
}

// The CPU backend's embedding_backward over the positions of valid ids only (the CPU refuses
// invalid ids; the GPU skips them): dweight0 + the scattered rows of dy.
std::vector<float> cpu_scatter(const std::vector<float>& dy, const std::vector<int32_t>& ids,
                               int64_t dim, const std::vector<float>& dweight0, int64_t vocab) {
  std::vector<float> kept_rows;
  std::vector<int32_t> kept_ids;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!valid(ids[i], vocab)) continue;
    kept_ids.push_back(ids[i]);
    kept_rows.insert(kept_rows.end(), dy.begin() + static_cast<int64_t>(i) * dim,
                     dy.begin() + static_cast<int64_t>(i + 1) * dim);
  }
  Tensor dweight = host(dweight0, {vocab, dim});
  const int64_t kept = static_cast<int64_t>(kept_ids.size());
  if (kept > 0)
    cpu_ops().embedding_backward(host(kept_rows, {kept, dim}), Tensor::from(kept_ids, {kept}),
                                 dweight);
  return std::vector<float>(dweight.data<float>(), dweight.data<float>() + vocab * dim);
}

// The first index where two float vectors differ in bits, or -1.
int64_t first_bit_difference(const std::vector<float>& got, const std::vector<float>& want) {
  for (size_t i = 0; i < want.size(); ++i)
    if (float_bits(got[i]) != float_bits(want[i])) return static_cast<int64_t>(i);
  return -1;
}

// Sorting exactly as launch_embedding_sort_ids promises, through the scratch layout CudaOps uses.
struct SortedIds {
  std::vector<int32_t> ids, pos;
  int32_t bad = INT32_MAX;
};

SortedIds sort_on_device(const std::vector<int32_t>& ids, int64_t vocab) {
  const int64_t n = static_cast<int64_t>(ids.size());
  size_t sort_bytes = 0;
  EXPECT_EQ(k::embedding_sort_scratch_bytes(n, vocab, &sort_bytes), cudaSuccess);
  Guarded<int32_t> in(n, ids), sorted_ids(n), sorted_pos(n),
      bad(1, std::vector<int32_t>{INT32_MAX});
  Guarded<unsigned char> scratch(static_cast<int64_t>(sort_bytes));
  EXPECT_EQ(k::launch_embedding_sort_ids(in.ptr(), n, vocab, sorted_ids.ptr(), sorted_pos.ptr(),
                                         scratch.ptr(), sort_bytes, bad.ptr(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(sorted_ids.guards_intact("sorted ids"));
  EXPECT_TRUE(sorted_pos.guards_intact("sorted positions"));
  EXPECT_TRUE(scratch.guards_intact("sort scratch"));
  EXPECT_TRUE(bad.guards_intact("bad"));
  return {sorted_ids.values(), sorted_pos.values(), bad[0]};
}

}  // namespace

// ---- gather ----------------------------------------------------------------------------------

struct GatherCase {
  int64_t vocab, dim, n, shift;  // shift: elements by which weight and y are misaligned
};
std::ostream& operator<<(std::ostream& os, const GatherCase& c) {
  return os << "vocab=" << c.vocab << " dim=" << c.dim << " n=" << c.n << " shift=" << c.shift;
}

class EmuEmbeddingGather : public ::testing::TestWithParam<GatherCase> {};

TEST_P(EmuEmbeddingGather, CopiesTheCpuRows) {
  const auto [vocab, dim, n, shift] = GetParam();
  const std::vector<float> weight = randn(vocab * dim, 1 + static_cast<uint64_t>(dim));
  const std::vector<int32_t> ids = random_ids(n, vocab, 2 + static_cast<uint64_t>(n));
  Guarded<float> w(vocab * dim, weight, shift), y(n * dim, shift);
  Guarded<int32_t> id(n, ids), bad(1, std::vector<int32_t>{INT32_MAX});
  ASSERT_EQ(k::launch_embedding_f32(w.ptr(), vocab, dim, id.ptr(), n, y.ptr(), bad.ptr(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(y.guards_intact("y"));
  EXPECT_TRUE(bad.guards_intact("bad"));
  EXPECT_EQ(bad[0], INT32_MAX) << "no id is out of range";

  Tensor want = Tensor::empty({n, dim}, DType::F32);
  cpu_ops().embedding(host(weight, {vocab, dim}), Tensor::from(ids, {n}), want);
  const std::vector<float> want_y(want.data<float>(), want.data<float>() + n * dim);
  EXPECT_EQ(first_bit_difference(y.values(), want_y), -1);
}

// dim % 4 == 0 and 16-byte aligned buffers take the 4-wide path; dim % 4 != 0, or a misaligned
// weight or y, the scalar one. The larger cases span several 256-thread blocks.
INSTANTIATE_TEST_SUITE_P(Paths, EmuEmbeddingGather,
                         ::testing::Values(GatherCase{10, 8, 5, 0}, GatherCase{10, 8, 5, 1},
                                           GatherCase{7, 6, 9, 0}, GatherCase{3, 1, 17, 0},
                                           GatherCase{50, 128, 40, 0}, GatherCase{50, 36, 60, 2},
                                           GatherCase{1, 4, 3, 0}));

TEST(EmuEmbeddingGather, ZeroesRowsOfInvalidIdsAndReportsTheFirstPosition) {
  const int64_t vocab = 13, n = 24;
  for (const int64_t dim : {int64_t{8}, int64_t{5}}) {  // the 4-wide and the scalar path
    SCOPED_TRACE(dim);
    const std::vector<float> weight = randn(vocab * dim, 3);
    const std::vector<int32_t> ids = random_ids(
        n, vocab, 4, {{9, -1}, {5, static_cast<int32_t>(vocab)}, {17, INT32_MIN}, {20, INT32_MAX}});
    Guarded<float> w(vocab * dim, weight), y(n * dim);
    Guarded<int32_t> id(n, ids), bad(1, std::vector<int32_t>{INT32_MAX});
    ASSERT_EQ(
        k::launch_embedding_f32(w.ptr(), vocab, dim, id.ptr(), n, y.ptr(), bad.ptr(), nullptr),
        cudaSuccess);
    EXPECT_TRUE(y.guards_intact("y"));
    EXPECT_TRUE(bad.guards_intact("bad"));
    EXPECT_EQ(bad[0], 5);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < dim; ++j) {
        const int32_t row = ids[static_cast<size_t>(i)];
        const float want = valid(row, vocab) ? weight[static_cast<size_t>(row * dim + j)] : 0.0f;
        ASSERT_EQ(float_bits(y[i * dim + j]), float_bits(want)) << "row " << i << " col " << j;
      }

    // Without a flag the invalid rows are still zeroed, silently.
    Guarded<float> y2(n * dim);
    ASSERT_EQ(k::launch_embedding_f32(w.ptr(), vocab, dim, id.ptr(), n, y2.ptr(), nullptr, nullptr),
              cudaSuccess);
    EXPECT_TRUE(y2.guards_intact("y without a flag"));
    EXPECT_EQ(first_bit_difference(y2.values(), y.values()), -1);
  }
}

// ---- atomic scatter-add ----------------------------------------------------------------------

TEST(EmuEmbeddingAtomicScatter, AddsIntoTheGradientAsTheCpuToRounding) {
  // Float atomics add the rows of one id in any order, in float: each sum differs from the CPU's
  // (summed in double, rounded once) by a few float roundings, about 1e-7 relative per add; with
  // at most ~20 rows per id that bounds the normalised error well under 1e-6. Invalid ids are
  // skipped (the reference leaves them out) and the smallest such position is reported.
  const int64_t vocab = 17;
  for (const int64_t dim : {int64_t{1}, int64_t{7}, int64_t{64}}) {
    const int64_t n = 150;
    SCOPED_TRACE(dim);
    const std::vector<int32_t> ids = random_ids(n, vocab, 5, {{33, -4}, {91, 17}});
    const std::vector<float> dy = randn(n * dim, 6), dweight0 = randn(vocab * dim, 7);
    Guarded<float> grad(n * dim, dy), dweight(vocab * dim, dweight0);
    Guarded<int32_t> id(n, ids), bad(1, std::vector<int32_t>{INT32_MAX});
    ASSERT_EQ(k::launch_embedding_backward_atomic_f32(grad.ptr(), id.ptr(), n, dim, dweight.ptr(),
                                                      vocab, bad.ptr(), nullptr),
              cudaSuccess);
    EXPECT_TRUE(dweight.guards_intact("dweight"));
    EXPECT_TRUE(bad.guards_intact("bad"));
    EXPECT_EQ(bad[0], 33);
    const std::vector<float> want = cpu_scatter(dy, ids, dim, dweight0, vocab);
    EXPECT_LE(normalised_error(dweight.values(), want), 1e-6);
  }
}

// ---- id sort ---------------------------------------------------------------------------------

TEST(EmuEmbeddingSort, SortsIdsStablyAndSendsInvalidOnesLast) {
  // Equal ids must stay in position order (the scatter sums in that order), invalid ids become
  // the sentinel vocab after every valid id, and the first invalid position is reported.
  const int64_t vocab = 21, n = 300;
  const std::vector<int32_t> ids =
      random_ids(n, vocab, 8, {{250, -1}, {41, 21}, {299, 1000}, {120, INT32_MIN}});
  const SortedIds got = sort_on_device(ids, vocab);
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](int32_t i) {
    const int32_t id = ids[static_cast<size_t>(i)];
    return valid(id, vocab) ? id : static_cast<int32_t>(vocab);
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return key(a) < key(b); });
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(got.pos[static_cast<size_t>(i)], order[static_cast<size_t>(i)]) << i;
    ASSERT_EQ(got.ids[static_cast<size_t>(i)], key(order[static_cast<size_t>(i)])) << i;
  }
  EXPECT_EQ(got.bad, 41);

  // A one-word vocabulary (token types of one kind): one key bit, every id 0.
  const SortedIds one = sort_on_device(std::vector<int32_t>(40, 0), 1);
  for (int64_t i = 0; i < 40; ++i) {
    ASSERT_EQ(one.ids[static_cast<size_t>(i)], 0);
    ASSERT_EQ(one.pos[static_cast<size_t>(i)], i);
  }
  EXPECT_EQ(one.bad, INT32_MAX);
}

// ---- sorted scatter-add ----------------------------------------------------------------------

namespace {

// Ids whose sorted runs have exactly the given lengths (id r repeated run_lengths[r] times),
// shuffled so that position order differs from sorted order, plus invalid ids.
std::vector<int32_t> ids_with_runs(const std::vector<int64_t>& run_lengths, int64_t invalid,
                                   uint64_t seed) {
  std::vector<int32_t> ids;
  for (size_t r = 0; r < run_lengths.size(); ++r)
    ids.insert(ids.end(), static_cast<size_t>(run_lengths[r]), static_cast<int32_t>(r));
  for (int64_t i = 0; i < invalid; ++i) ids.push_back(i % 2 ? -7 : 1 << 30);
  std::shuffle(ids.begin(), ids.end(), std::mt19937_64(seed));
  return ids;
}

// dweight0 + each id's rows summed in double in the kernel's documented order: runs of at most
// 32 in position order, longer ones as 8 interleaved row groups (group g takes the run's g-th,
// (g + 8)-th, ... rows in position order) whose sums are added in group order.
std::vector<float> documented_sorted_scatter(const std::vector<float>& dy,
                                             const std::vector<int32_t>& ids, int64_t dim,
                                             const std::vector<float>& dweight0, int64_t vocab) {
  std::vector<float> out = dweight0;
  for (int64_t id = 0; id < vocab; ++id) {
    std::vector<int64_t> rows;
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == id) rows.push_back(static_cast<int64_t>(i));
    if (rows.empty()) continue;
    const int64_t len = static_cast<int64_t>(rows.size());
    for (int64_t c = 0; c < dim; ++c) {
      double total = 0.0;
      if (len <= 32) {
        for (const int64_t r : rows)
          total += static_cast<double>(dy[static_cast<size_t>(r * dim + c)]);
      } else {
        for (int64_t g = 0; g < 8; ++g) {
          double group = 0.0;
          for (int64_t m = g; m < len; m += 8)
            group += static_cast<double>(
                dy[static_cast<size_t>(rows[static_cast<size_t>(m)] * dim + c)]);
          total += group;
        }
      }
      float& w = out[static_cast<size_t>(id * dim + c)];
      w = static_cast<float>(static_cast<double>(w) + total);
    }
  }
  return out;
}

struct ScatterResult {
  std::vector<float> dweight;
  int32_t bad;
};

// Sort, then the sorted scatter-add into dweight0, as CudaOps::embedding_backward calls them.
ScatterResult sorted_scatter_on_device(const std::vector<float>& dy,
                                       const std::vector<int32_t>& ids, int64_t dim,
                                       const std::vector<float>& dweight0, int64_t vocab) {
  const int64_t n = static_cast<int64_t>(ids.size());
  const SortedIds sorted = sort_on_device(ids, vocab);
  Guarded<float> grad(n * dim, dy), dweight(vocab * dim, dweight0);
  Guarded<int32_t> sorted_ids(n, sorted.ids), sorted_pos(n, sorted.pos);
  EXPECT_EQ(k::launch_embedding_backward_sorted_f32(grad.ptr(), sorted_ids.ptr(), sorted_pos.ptr(),
                                                    n, dim, dweight.ptr(), vocab, nullptr),
            cudaSuccess);
  EXPECT_TRUE(dweight.guards_intact("dweight"));
  return {dweight.values(), sorted.bad};
}

}  // namespace

TEST(EmuEmbeddingSortedScatter, ShortRunsEqualTheCpuPositionOrderSumBitForBit) {
  // Runs of 1 to 32 (32 is the longest the warp-per-run kernel takes), over column counts below,
  // at and above one warp's 32 lanes (the column loop and its tail). The CPU's
  // embedding_backward sums each id's rows in double in position order and rounds once, as the
  // kernel promises for these runs: bit-identical.
  const std::vector<int64_t> runs = {1, 2, 5, 32, 3, 0, 17, 31, 1, 8, 4, 32, 6};
  const int64_t vocab = static_cast<int64_t>(runs.size()) + 2;  // two ids never occur
  const std::vector<int32_t> ids = ids_with_runs(runs, 0, 9);
  const int64_t n = static_cast<int64_t>(ids.size());
  for (const int64_t dim : {int64_t{1}, int64_t{5}, int64_t{32}, int64_t{70}}) {
    SCOPED_TRACE(dim);
    const std::vector<float> dy = randn(n * dim, 10), dweight0 = randn(vocab * dim, 11);
    const ScatterResult got = sorted_scatter_on_device(dy, ids, dim, dweight0, vocab);
    EXPECT_EQ(got.bad, INT32_MAX);
    const std::vector<float> want = cpu_scatter(dy, ids, dim, dweight0, vocab);
    EXPECT_EQ(first_bit_difference(got.dweight, want), -1)
        << "normalised error " << normalised_error(got.dweight, want);
  }
}

TEST(EmuEmbeddingSortedScatter, LongRunsSumInEightRowGroupsAndSkipInvalidIds) {
  // Runs of 33 (the shortest long run), 100, 300 and 700 (past 256 + 33, so the run's end takes
  // several probes of the block; it also crosses the 256-index chunks the blocks scan), mixed
  // with short runs, over one and two column tiles (40 columns: a partial tile). 45 invalid ids
  // become a long run of the sentinel at the end of the sorted array, which must be skipped
  // (and reported). Bit for bit against the documented order; and to rounding against the CPU's
  // position-order sum (the orders differ in double, so at most a float rounding apart: 1e-7).
  const std::vector<int64_t> runs = {4, 33, 1, 300, 32, 700, 2, 100, 9};
  const int64_t vocab = static_cast<int64_t>(runs.size());
  const std::vector<int32_t> ids = ids_with_runs(runs, 45, 12);
  const int64_t n = static_cast<int64_t>(ids.size());
  const int64_t first_invalid =
      std::find_if(ids.begin(), ids.end(), [&](int32_t id) { return !valid(id, vocab); }) -
      ids.begin();
  for (const int64_t dim : {int64_t{3}, int64_t{40}}) {
    SCOPED_TRACE(dim);
    const std::vector<float> dy = randn(n * dim, 13), dweight0 = randn(vocab * dim, 14);
    const ScatterResult got = sorted_scatter_on_device(dy, ids, dim, dweight0, vocab);
    EXPECT_EQ(got.bad, first_invalid);
    const std::vector<float> documented = documented_sorted_scatter(dy, ids, dim, dweight0, vocab);
    EXPECT_EQ(first_bit_difference(got.dweight, documented), -1)
        << "normalised error " << normalised_error(got.dweight, documented);
    EXPECT_LE(normalised_error(got.dweight, cpu_scatter(dy, ids, dim, dweight0, vocab)), 1e-7);
  }
}

TEST(EmuEmbeddingSortedScatter, OneWordVocabularyIsOneLongRun) {
  // Token types of a single kind: every id 0, one run over the whole array, ending at n.
  const int64_t n = 290, dim = 33, vocab = 1;
  const std::vector<int32_t> ids(static_cast<size_t>(n), 0);
  const std::vector<float> dy = randn(n * dim, 15), dweight0 = randn(dim, 16);
  const ScatterResult got = sorted_scatter_on_device(dy, ids, dim, dweight0, vocab);
  EXPECT_EQ(got.bad, INT32_MAX);
  EXPECT_EQ(
      first_bit_difference(got.dweight, documented_sorted_scatter(dy, ids, dim, dweight0, vocab)),
      -1);
}

// ---- refusals and empty inputs ---------------------------------------------------------------

TEST(EmuEmbedding, RefusesOversizedCountsAndVocabulariesAndSkipsEmptyInputs) {
  const int64_t too_many = int64_t{INT32_MAX} + 1, huge_vocab = INT32_MAX;
  Guarded<float> out(8);
  Guarded<int32_t> id(2, std::vector<int32_t>{0, 1}), sorted(2), pos(2),
      bad(1, std::vector<int32_t>{INT32_MAX});
  Guarded<unsigned char> scratch(4096);
  size_t bytes = 0;
  EXPECT_EQ(
      k::launch_embedding_f32(out.ptr(), 4, 4, id.ptr(), too_many, out.ptr(), bad.ptr(), nullptr),
      cudaErrorInvalidValue);
  EXPECT_EQ(
      k::launch_embedding_f32(out.ptr(), huge_vocab, 4, id.ptr(), 2, out.ptr(), bad.ptr(), nullptr),
      cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_embedding_backward_atomic_f32(out.ptr(), id.ptr(), too_many, 4, out.ptr(), 4,
                                                    bad.ptr(), nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_embedding_backward_atomic_f32(out.ptr(), id.ptr(), 2, 4, out.ptr(),
                                                    huge_vocab, bad.ptr(), nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::embedding_sort_scratch_bytes(too_many, 4, &bytes), cudaErrorInvalidValue);
  EXPECT_EQ(k::embedding_sort_scratch_bytes(2, huge_vocab, &bytes), cudaErrorInvalidValue);
  EXPECT_EQ(k::embedding_sort_scratch_bytes(2, -1, &bytes), cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_embedding_sort_ids(id.ptr(), too_many, 4, sorted.ptr(), pos.ptr(),
                                         scratch.ptr(), 4096, bad.ptr(), nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_embedding_sort_ids(id.ptr(), 2, -1, sorted.ptr(), pos.ptr(), scratch.ptr(),
                                         4096, bad.ptr(), nullptr),
            cudaErrorInvalidValue);
  // Scratch missing, or too small for the two key/position arrays (256 bytes each here).
  EXPECT_EQ(k::launch_embedding_sort_ids(id.ptr(), 2, 4, sorted.ptr(), pos.ptr(), nullptr, 4096,
                                         bad.ptr(), nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_embedding_sort_ids(id.ptr(), 2, 4, sorted.ptr(), pos.ptr(), scratch.ptr(),
                                         511, bad.ptr(), nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_embedding_backward_sorted_f32(out.ptr(), sorted.ptr(), pos.ptr(), too_many, 4,
                                                    out.ptr(), 4, nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_embedding_backward_sorted_f32(out.ptr(), sorted.ptr(), pos.ptr(), 2, 4,
                                                    out.ptr(), huge_vocab, nullptr),
            cudaErrorInvalidValue);
  // More than 65535 column tiles of 32 would overflow gridDim.y.
  EXPECT_EQ(k::launch_embedding_backward_sorted_f32(out.ptr(), sorted.ptr(), pos.ptr(), 2,
                                                    int64_t{65536} * 32, out.ptr(), 4, nullptr),
            cudaErrorInvalidValue);

  // Empty inputs succeed without touching anything.
  EXPECT_EQ(k::launch_embedding_f32(out.ptr(), 4, 2, id.ptr(), 0, out.ptr(), bad.ptr(), nullptr),
            cudaSuccess);
  EXPECT_EQ(k::launch_embedding_f32(out.ptr(), 4, 0, id.ptr(), 2, out.ptr(), bad.ptr(), nullptr),
            cudaSuccess);
  EXPECT_EQ(k::launch_embedding_backward_atomic_f32(out.ptr(), id.ptr(), 0, 2, out.ptr(), 4,
                                                    bad.ptr(), nullptr),
            cudaSuccess);
  EXPECT_EQ(k::launch_embedding_sort_ids(id.ptr(), 0, 4, sorted.ptr(), pos.ptr(), scratch.ptr(),
                                         4096, bad.ptr(), nullptr),
            cudaSuccess);
  EXPECT_EQ(k::launch_embedding_backward_sorted_f32(out.ptr(), sorted.ptr(), pos.ptr(), 0, 2,
                                                    out.ptr(), 4, nullptr),
            cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  for (int64_t i = 0; i < 8; ++i) ASSERT_EQ(float_bits(out[i]), 0xFFFFFFFFu) << i;
  for (int64_t i = 0; i < 2; ++i) {
    ASSERT_EQ(sorted[i], -1) << i;
    ASSERT_EQ(pos[i], -1) << i;
  }
  EXPECT_EQ(bad[0], INT32_MAX);
  EXPECT_TRUE(out.guards_intact("out"));
  EXPECT_TRUE(sorted.guards_intact("sorted"));
  EXPECT_TRUE(pos.guards_intact("pos"));
  EXPECT_TRUE(scratch.guards_intact("scratch"));
}
