// The loader's guarantees (DESIGN §7): the global sample order depends only on (seed, epoch) —
// the same ids whether one rank or several read slices of each global batch; a resume at any
// step continues exactly; prefetching never changes the data; an error while decoding in the
// prefetch thread reaches the training thread as the data error it is.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include "core/error.hpp"
#include "data/loader.hpp"

using namespace win;
using namespace win::data;

namespace {

// Writes each sample's id into labels; can be told to fail on one sample.
class IdSource final : public SampleSource {
 public:
  IdSource(int64_t n, int64_t fail_on = -1) : n_(n), fail_on_(fail_on) {}
  int64_t size() const override { return n_; }
  std::unique_ptr<SampleSource> clone() const override {
    return std::make_unique<IdSource>(n_, fail_on_);
  }
  void allocate(Batch& b, int64_t local) const override {
    b.labels = Tensor::empty({local}, DType::I32);
    b.x = Tensor::empty({local, 2}, DType::F32);
  }
  void fill(Batch& b, int64_t slot, int64_t sample, int64_t epoch) override {
    WIN_CHECK(sample != fail_on_, ErrorKind::Data, "shard x.h5: sample ", sample, " is corrupt");
    b.labels.data<int32_t>()[slot] = static_cast<int32_t>(sample);
    b.x.data<float>()[2 * slot] = static_cast<float>(sample);
    b.x.data<float>()[2 * slot + 1] = static_cast<float>(epoch);
  }

 private:
  int64_t n_, fail_on_;
};

// The global ids of `steps` steps as seen by `world` ranks reading their slices.
std::vector<int64_t> global_ids(int world, int steps, int prefetch, uint64_t seed = 7) {
  std::vector<std::unique_ptr<Loader>> ranks;
  for (int r = 0; r < world; ++r)
    ranks.push_back(std::make_unique<Loader>(std::make_unique<IdSource>(50),
                                             LoaderOptions{6, r, world, seed, true, prefetch}));
  std::vector<int64_t> ids;
  for (int s = 0; s < steps; ++s)
    for (auto& l : ranks) {
      const Batch& b = l->next();
      for (int64_t i = 0; i < b.labels.numel(); ++i) {
        EXPECT_EQ(b.labels.data<int32_t>()[i], b.ids[static_cast<size_t>(i)]);
        ids.push_back(b.ids[static_cast<size_t>(i)]);
      }
    }
  return ids;
}

}  // namespace

TEST(Loader, GlobalOrderDoesNotDependOnTheNumberOfRanks) {
  const auto one = global_ids(1, 20, 2);  // 20 steps of 6: two and a half epochs of 8 steps
  EXPECT_EQ(global_ids(2, 20, 2), one);
  EXPECT_EQ(global_ids(3, 20, 2), one);
  EXPECT_EQ(one.size(), 120u);
}

TEST(Loader, EachEpochIsAPermutationAndEpochsAndSeedsDiffer) {
  const auto ids = global_ids(1, 16, 0);
  std::vector<int64_t> e0(ids.begin(), ids.begin() + 48), e1(ids.begin() + 48, ids.end());
  EXPECT_NE(e0, e1);
  for (auto* e : {&e0, &e1}) {
    std::vector<int64_t> s = *e;
    std::sort(s.begin(), s.end());
    EXPECT_TRUE(std::adjacent_find(s.begin(), s.end()) == s.end()) << "a sample repeats";
  }
  EXPECT_NE(global_ids(1, 8, 0, 8), global_ids(1, 8, 0, 7));
  EXPECT_EQ(epoch_order(10, 3, 2), epoch_order(10, 3, 2));
  const auto plain = epoch_order(5, 3, 0, false);
  EXPECT_EQ(plain, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(Loader, PrefetchingNeverChangesTheData) {
  EXPECT_EQ(global_ids(1, 20, 0), global_ids(1, 20, 1));
  EXPECT_EQ(global_ids(2, 20, 0), global_ids(2, 20, 4));
}

TEST(Loader, ResumeAtAnArbitraryStepContinuesExactly) {
  for (int prefetch : {0, 2}) {
    Loader a(std::make_unique<IdSource>(50), {6, 0, 1, 7, true, prefetch});
    std::vector<int64_t> ref;
    int64_t epoch_at = 0, consumed_at = 0;
    for (int s = 0; s < 19; ++s) {
      if (s == 11) {  // the position a checkpoint after 11 steps records
        epoch_at = a.epoch();
        consumed_at = a.consumed();
      }
      const Batch& b = a.next();
      if (s >= 11) ref.insert(ref.end(), b.ids.begin(), b.ids.end());
    }
    EXPECT_EQ(epoch_at, 1);
    EXPECT_EQ(consumed_at, 18);
    Loader b(std::make_unique<IdSource>(50), {6, 0, 1, 7, true, prefetch});
    b.seek(epoch_at, consumed_at);
    std::vector<int64_t> got;
    for (int s = 11; s < 19; ++s) {
      const Batch& batch = b.next();
      got.insert(got.end(), batch.ids.begin(), batch.ids.end());
    }
    EXPECT_EQ(got, ref) << "prefetch " << prefetch;
  }
}

TEST(Loader, BadPositionsAndSizesAreRefused) {
  Loader l(std::make_unique<IdSource>(50), {6, 0, 1, 7, true, 1});
  EXPECT_THROW(l.seek(0, 5), Error);   // not a whole global batch
  EXPECT_THROW(l.seek(0, 60), Error);  // past the epoch
  try {
    Loader bad(std::make_unique<IdSource>(50), {7, 0, 2, 7, true, 1});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);  // a global batch that does not divide over the ranks
  }
  EXPECT_THROW(Loader(std::make_unique<IdSource>(4), {6, 0, 1, 7, true, 1}), Error);
}

TEST(Loader, AnErrorInThePrefetchThreadReachesTheTrainingThread) {
  // Sample 13 is corrupt: the batch containing it must throw its data error from next().
  Loader l(std::make_unique<IdSource>(50, 13), {6, 0, 1, 7, true, 2});
  bool thrown = false;
  for (int s = 0; s < 8 && !thrown; ++s) {
    try {
      l.next();
    } catch (const Error& e) {
      thrown = true;
      EXPECT_EQ(e.exit_code(), 3);
      EXPECT_NE(std::string(e.what()).find("sample 13"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(thrown);
}
