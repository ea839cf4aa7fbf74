// Tests of rank-aware logging and of the progress display, with output captured through the log
// sink, gtest's stdout capture, and a temporary file plus a fake clock for Progress.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"

namespace win {
namespace {

struct Captured {
  LogLevel level;
  std::string line;
};

// Captures log lines and restores level, sink and process identity afterwards.
class Log : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_level_ = log_level();
    set_log_sink([this](LogLevel l, const std::string& s) { lines_.push_back({l, s}); });
  }
  void TearDown() override {
    set_log_sink(nullptr);
    set_log_level(saved_level_);
    set_process_identity(0, 1);
  }
  std::vector<Captured> lines_;
  LogLevel saved_level_ = LogLevel::Info;
};

TEST_F(Log, PrefixesAndLevels) {
  set_log_level(LogLevel::Info);
  log_info("epoch ", 3, " loss ", 0.25);
  log_warn("slow shard ", "a.h5");
  log_error("boom");
  log_debug("hidden");
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_EQ(lines_[0].line, "win: epoch 3 loss 0.25");
  EXPECT_EQ(lines_[0].level, LogLevel::Info);
  EXPECT_EQ(lines_[1].line, "win: warning: slow shard a.h5");
  EXPECT_EQ(lines_[2].line, "win: error: boom");

  lines_.clear();
  set_log_level(LogLevel::Debug);
  log_debug("shown");
  set_log_level(LogLevel::Error);
  log_warn("hidden");
  log_info("hidden");
  log_error("shown");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0].line, "win: debug: shown");
  EXPECT_EQ(lines_[1].line, "win: error: shown");
}

TEST_F(Log, OnlyRankZeroPrintsInfoAndOthersTagWarnings) {
  set_log_level(LogLevel::Debug);
  set_process_identity(1, 4);
  log_info("not on rank 1");
  log_debug("not on rank 1");
  log_warn("w");
  log_error("e");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0].line, "[rank 1] win: warning: w");
  EXPECT_EQ(lines_[1].line, "[rank 1] win: error: e");

  lines_.clear();
  set_process_identity(0, 4);
  log_info("i");
  log_warn("w");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0].line, "win: i");
  EXPECT_EQ(lines_[1].line, "[rank 0] win: warning: w");
}

TEST_F(Log, ParseAndEnvironment) {
  EXPECT_EQ(parse_log_level("error"), LogLevel::Error);
  EXPECT_EQ(parse_log_level("warn"), LogLevel::Warn);
  EXPECT_EQ(parse_log_level("info"), LogLevel::Info);
  EXPECT_EQ(parse_log_level("debug"), LogLevel::Debug);
  EXPECT_EQ(parse_log_level("loud"), std::nullopt);

  ::setenv("WIN_LOG_LEVEL", "debug", 1);
  log_level_from_env();
  EXPECT_EQ(log_level(), LogLevel::Debug);
  EXPECT_TRUE(lines_.empty());

  ::setenv("WIN_LOG_LEVEL", "verbose", 1);
  log_level_from_env();
  EXPECT_EQ(log_level(), LogLevel::Info);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].level, LogLevel::Warn);
  EXPECT_NE(lines_[0].line.find("WIN_LOG_LEVEL='verbose'"), std::string::npos) << lines_[0].line;

  ::unsetenv("WIN_LOG_LEVEL");
  log_level_from_env();
  EXPECT_EQ(log_level(), LogLevel::Info);
}

TEST_F(Log, ConcurrentLinesStayWhole) {
  set_log_level(LogLevel::Info);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 500; ++i) log_info("thread ", t, " line ", i);
    });
  for (auto& th : threads) th.join();
  ASSERT_EQ(lines_.size(), 4000u);
  for (const auto& c : lines_) ASSERT_EQ(c.line.rfind("win: thread ", 0), 0u) << c.line;
}

TEST(LogDefault, InfoToStdoutWarningsToStderr) {
  set_log_level(LogLevel::Info);
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  log_info("to stdout");
  log_warn("to stderr");
  const std::string out = testing::internal::GetCapturedStdout();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out, "win: to stdout\n");
  EXPECT_EQ(err, "win: warning: to stderr\n");
}

// ---- Progress ----

// A temporary file as the output stream and a clock the test sets by hand.
class ProgressTest : public ::testing::Test {
 protected:
  void SetUp() override { file_ = std::tmpfile(); }
  void TearDown() override { std::fclose(file_); }
  std::string output() const {
    std::fflush(file_);
    std::string s;
    std::rewind(file_);
    for (int c; (c = std::fgetc(file_)) != EOF;) s += static_cast<char>(c);
    return s;  // the next write appends: the stream is read then positioned at the end
  }
  Progress::Clock clock() {
    return [this] { return now_; };
  }
  std::FILE* file_ = nullptr;
  double now_ = 100.0;
};

TEST_F(ProgressTest, PlainLinesEveryInterval) {
  Progress p("train", 1000, "it", file_, false, clock());
  now_ += 5;
  p.update(50);
  EXPECT_EQ(output(), "");  // interval (10 s) not yet passed
  now_ += 5;
  p.update(100, "loss 0.42");
  EXPECT_EQ(output(), "train 100/1000 (10%) 10.0 it/s ETA 01:30 loss 0.42\n");
  EXPECT_DOUBLE_EQ(p.rate(), 10.0);
  now_ += 5;
  p.update(1000, "loss 0.40");
  EXPECT_EQ(output(), "train 100/1000 (10%) 10.0 it/s ETA 01:30 loss 0.42\n");
  now_ += 1;
  p.finish();
  p.finish();
  p.update(1000);
  EXPECT_EQ(output(),
            "train 100/1000 (10%) 10.0 it/s ETA 01:30 loss 0.42\n"
            "train 1000/1000 (100%) 62.5 it/s in 00:16 loss 0.40\n");
}

TEST_F(ProgressTest, IntervalIsConfigurableAndTotalMayBeUnknown) {
  Progress p("convert", 0, "img", file_, false, clock());
  p.set_interval(2);
  for (int i = 1; i <= 5; ++i) {
    now_ += 1;
    p.update(i * 300);
  }
  EXPECT_EQ(output(), "convert 600 300 img/s\nconvert 1200 300 img/s\n");
}

TEST_F(ProgressTest, SmoothedRateFollowsSpeedChanges) {
  Progress p("x", 100000, "it", file_, false, clock());
  int64_t done = 0;
  for (int s = 0; s < 20; ++s) {
    now_ += 1;
    p.update(done += 10);
  }
  EXPECT_NEAR(p.rate(), 10.0, 1e-9);
  for (int s = 0; s < 5; ++s) {
    now_ += 1;
    p.update(done += 30);
  }
  EXPECT_GT(p.rate(), 20.0);  // mostly caught up after one time constant
  EXPECT_LT(p.rate(), 30.0);
  for (int s = 0; s < 60; ++s) {
    now_ += 1;
    p.update(done += 30);
  }
  EXPECT_NEAR(p.rate(), 30.0, 0.01);
}

// A slow first step (allocations, a pipeline filling) is start-up, not speed: the rate counts
// from the first update, so a loop at 300 it/s reads 300 it/s within a second or two, not the
// 1/10 it/s of its first step folded into the moving average. A resumed loop counts from where
// it resumed.
TEST_F(ProgressTest, ASlowFirstStepDoesNotSetTheRate) {
  Progress p("narrow", 100000, "step", file_, false, clock());
  p.set_start(5000);
  now_ += 10;
  p.update(5001);  // the first step took 10 s
  int64_t done = 5001;
  for (int s = 0; s < 6; ++s) {
    now_ += 0.5;
    p.update(done += 150);
  }
  EXPECT_NEAR(p.rate(), 300.0, 1e-9);
  now_ += 0.5;
  p.finish();
  // Average over the whole run: 901 steps in 13.5 s.
  EXPECT_NE(output().find("66.7 step/s in 00:14"), std::string::npos) << output();
}

TEST_F(ProgressTest, TerminalRedrawsInPlaceAndThrottles) {
  Progress p("epoch 1", 100, "it", file_, true, clock());
  p.update(1);  // first update draws at once
  now_ += 0.05;
  p.update(2);  // throttled
  now_ += 0.06;
  p.update(3);
  now_ += 0.01;
  p.update(4);  // throttled
  std::string out = output();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\r'), 2) << out;
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_EQ(out.substr(0, 10), "\repoch 1 [");
  EXPECT_NE(out.find(" 3/100 "), std::string::npos) << out;

  now_ += 10;
  p.update(50, "loss 1.5");
  out = output();
  EXPECT_NE(out.find("\repoch 1 [###############...............] 50/100 "), std::string::npos)
      << out;
  EXPECT_NE(out.find(" ETA "), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 9), " loss 1.5");

  now_ += 10;
  p.update(100);
  p.finish();
  p.finish();
  out = output();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
  EXPECT_EQ(out.back(), '\n');
  const std::string last = out.substr(out.rfind('\r'));
  EXPECT_EQ(last.rfind("\repoch 1 [##############################] 100/100 ", 0), 0u) << last;
  EXPECT_NE(last.find(" in 00:20"), std::string::npos) << last;
}

TEST_F(ProgressTest, UnfinishedTerminalLineIsEndedOnDestruction) {
  {
    Progress p("x", 10, "it", file_, true, clock());
    p.update(1);
  }
  const std::string out = output();
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find(" in "), std::string::npos);  // not reported as finished
}

TEST(Progress, OnlyRankZeroShows) {
  set_process_identity(1, 2);
  testing::internal::CaptureStdout();
  {
    Progress p("x", 10);
    p.update(5);
    p.finish();
  }
  const std::string out = testing::internal::GetCapturedStdout();
  set_process_identity(0, 1);
  EXPECT_EQ(out, "");
}

TEST(Progress, FormatDuration) {
  EXPECT_EQ(format_duration(0), "00:00");
  EXPECT_EQ(format_duration(72), "01:12");
  EXPECT_EQ(format_duration(3599.4), "59:59");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(-1), "--:--");
}

}  // namespace
}  // namespace win
