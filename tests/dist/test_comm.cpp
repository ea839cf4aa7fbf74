// The typed communicator under mpiexec at 1, 2 and 4 ranks (CTest runs this binary three times):
// allreduce, bcast, send/recv, split and collective decisions give the right values on every
// rank. The verdict is reduced over ranks, so one failing rank fails the whole run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <numeric>

#include "core/error.hpp"
#include "dist/comm.hpp"

using namespace win;
using namespace win::dist;

TEST(Comm, RankAndSizeMatchTheLauncher) {
  const Comm& w = world();
  EXPECT_GE(w.rank(), 0);
  EXPECT_LT(w.rank(), w.size());
  if (const char* n = std::getenv("OMPI_COMM_WORLD_SIZE")) {
    EXPECT_EQ(w.size(), std::atoi(n));
  }
  EXPECT_EQ(process_rank(), w.rank());
  EXPECT_EQ(process_world_size(), w.size());
}

TEST(Comm, AllreduceSumOfEveryType) {
  const Comm& w = world();
  const int r = w.rank(), n = w.size();
  // Element i on rank r is (r + 1) * (i + 1): the sum over ranks is (i + 1) * n(n+1)/2.
  const int64_t tri = static_cast<int64_t>(n) * (n + 1) / 2;
  std::vector<float> f(1000);
  std::vector<double> d(1000);
  std::vector<int32_t> i32(1000);
  std::vector<int64_t> i64(1000);
  for (size_t i = 0; i < f.size(); ++i) {
    f[i] = static_cast<float>((r + 1) * (i + 1));
    d[i] = 0.5 * (r + 1) * (i + 1);
    i32[i] = (r + 1) * static_cast<int32_t>(i + 1);
    i64[i] = (int64_t{1} << 40) * (r + 1) + static_cast<int64_t>(i);  // needs 64 bits
  }
  w.allreduce(std::span(f));
  w.allreduce(std::span(d));
  w.allreduce(std::span(i32));
  w.allreduce(std::span(i64));
  for (size_t i = 0; i < f.size(); ++i) {
    ASSERT_EQ(f[i], static_cast<float>(tri * static_cast<int64_t>(i + 1))) << i;
    ASSERT_EQ(d[i], 0.5 * static_cast<double>(tri * static_cast<int64_t>(i + 1))) << i;
    ASSERT_EQ(i32[i], static_cast<int32_t>(tri) * static_cast<int32_t>(i + 1)) << i;
    ASSERT_EQ(i64[i], (int64_t{1} << 40) * tri + static_cast<int64_t>(i) * n) << i;
  }
}

TEST(Comm, AllreduceMaxMinAndBytes) {
  const Comm& w = world();
  EXPECT_EQ(w.allreduce_value<int32_t>(w.rank(), ReduceOp::Max), w.size() - 1);
  EXPECT_EQ(w.allreduce_value<double>(w.rank() + 0.25, ReduceOp::Min), 0.25);
  std::vector<uint8_t> b = {static_cast<uint8_t>(w.rank()), 200};
  w.allreduce(std::span(b), ReduceOp::Max);
  EXPECT_EQ(b[0], w.size() - 1);
  EXPECT_EQ(b[1], 200);
  std::vector<int8_t> s = {static_cast<int8_t>(-w.rank())};
  w.allreduce(std::span(s), ReduceOp::Min);
  EXPECT_EQ(s[0], -(w.size() - 1));
}

TEST(Comm, BcastFromEveryRoot) {
  const Comm& w = world();
  for (int root = 0; root < w.size(); ++root) {
    std::vector<double> v(17, w.rank() == root ? root + 0.5 : -1.0);
    w.bcast(std::span(v), root);
    for (double x : v) ASSERT_EQ(x, root + 0.5);
    std::string s = w.rank() == root ? std::string("deck from rank ") + std::to_string(root) : "";
    w.bcast(s, root);
    EXPECT_EQ(s, "deck from rank " + std::to_string(root));
  }
}

TEST(Comm, SendRecvAroundARing) {
  const Comm& w = world();
  if (w.size() == 1) {
    std::vector<float> v(3);
    EXPECT_THROW(w.send(std::span<const float>(v), 0, 0), Error);  // no peer to talk to
    return;
  }
  const int next = (w.rank() + 1) % w.size(), prev = (w.rank() + w.size() - 1) % w.size();
  std::vector<int64_t> out(5, w.rank() * 100), in(5, -1);
  // Even ranks send first, odd ranks receive first: no deadlock with blocking calls.
  if (w.rank() % 2 == 0) {
    w.send(std::span<const int64_t>(out), next, 7);
    w.recv(std::span(in), prev, 7);
  } else {
    w.recv(std::span(in), prev, 7);
    w.send(std::span<const int64_t>(out), next, 7);
  }
  for (int64_t x : in) EXPECT_EQ(x, prev * 100);
}

TEST(Comm, SplitIntoEvenAndOddRanks) {
  const Comm& w = world();
  Comm sub = w.split(w.rank() % 2, w.rank());
  const int expected_size = (w.size() + (w.rank() % 2 == 0 ? 1 : 0)) / 2;
  EXPECT_EQ(sub.size(), expected_size);
  EXPECT_EQ(sub.rank(), w.rank() / 2);
  // A reduction inside the sub-communicator only sees its own ranks.
  const int sum = sub.allreduce_value<int32_t>(w.rank());
  int want = 0;
  for (int r = w.rank() % 2; r < w.size(); r += 2) want += r;
  EXPECT_EQ(sum, want);
}

TEST(Comm, CollectiveDecisions) {
  const Comm& w = world();
  const bool last = w.rank() == w.size() - 1;
  EXPECT_TRUE(w.any(last));
  EXPECT_EQ(w.all(last), w.size() == 1);
  EXPECT_TRUE(w.all(true));
  EXPECT_FALSE(w.any(false));
}

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  init(&argc, &argv);
  int rc = RUN_ALL_TESTS();
  rc = world().allreduce_value<int32_t>(rc, ReduceOp::Max);
  finalize();
  return rc;
}
