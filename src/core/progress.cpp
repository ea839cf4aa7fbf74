// Progress display (see progress.hpp). The rate is an exponential moving average weighted by time,
// so it follows the recent speed (which changes after warm-up or when evaluation interleaves)
// instead of the run average, and does not jitter with per-iteration noise.
#include "core/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "core/error.hpp"

namespace win {

namespace {

constexpr double kRedrawPeriod = 0.1;  // terminal redraws at most ~10 per second
constexpr double kMinSample = 0.25;    // shortest interval folded into the rate
constexpr double kRateTau = 5.0;       // the rate averages over about this many seconds
constexpr int kBarWidth = 30;

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string format_rate(double rate, const std::string& unit) {
  char buf[64];
  if (rate <= 0) return cat("- ", unit, "/s");
  if (rate < 1) {  // slow steps read better as seconds per unit
    std::snprintf(buf, sizeof buf, "%.2f s/%s", 1.0 / rate, unit.c_str());
  } else {
    std::snprintf(buf, sizeof buf, rate < 100 ? "%.1f %s/s" : "%.0f %s/s", rate, unit.c_str());
  }
  return buf;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto s = static_cast<long long>(std::llround(seconds));
  char buf[48];
  if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  }
  return buf;
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : Progress(std::move(label), total, std::move(unit), stdout, isatty(fileno(stdout)) != 0,
               steady_seconds) {
  enabled_ = process_rank() == 0;
  winsize ws{};
  if (is_tty_ && ioctl(fileno(stdout), TIOCGWINSZ, &ws) == 0) width_ = ws.ws_col;
}

Progress::Progress(std::string label, int64_t total, std::string unit, std::FILE* out, bool is_tty,
                   Clock clock)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      out_(out),
      is_tty_(is_tty),
      enabled_(true),
      clock_(std::move(clock)) {
  start_t_ = sample_t_ = last_out_ = clock_();
}

Progress::~Progress() {
  if (enabled_ && is_tty_ && drawn_ && !finished_) emit("\n");
}

void Progress::update(int64_t done, std::string_view extra) {
  if (finished_ || !enabled_) return;
  const double now = clock_();
  done_ = done;
  extra_ = extra;
  if (!updated_) {
    if (now - start_t_ < kMinSample) {
      // The first update came at once: count from it, so a loop resumed at done = 5000 does not
      // look like 5000 units done in no time.
      start_t_ = now;
      start_n_ = done;
    }
    // The rate counts from the first update whenever it comes: the time before it is start-up
    // (a first step's allocations, a pipeline filling), not the speed to come; folded into the
    // moving average it took many seconds to wear off (a pipelined stage at 300 steps/s read
    // 3.8 steps/s with an ETA of minutes).
    first_t_ = sample_t_ = now;
    first_n_ = sample_n_ = done;
    updated_ = true;
  }
  const double dt = now - sample_t_;
  if (dt >= kMinSample) {
    const double inst = static_cast<double>(done - sample_n_) / dt;
    if (rate_ < 0 ||
        now - first_t_ < kRateTau)  // short history: the average since the first update
      rate_ = static_cast<double>(done - first_n_) / (now - first_t_);
    else
      rate_ = rate_ + (1 - std::exp(-dt / kRateTau)) * (inst - rate_);
    sample_t_ = now;
    sample_n_ = done;
  }
  if (is_tty_) {
    if (drawn_ && now - last_out_ < kRedrawPeriod) return;
    std::string text = line(now, false);
    if (width_ > 1 && text.size() >= static_cast<size_t>(width_)) text.resize(width_ - 1);
    const size_t len = text.size();
    if (len < drawn_len_) text.append(drawn_len_ - len, ' ');  // blank the old tail
    emit("\r" + text);
    drawn_len_ = len;
    drawn_ = true;
    last_out_ = now;
  } else if (now - last_out_ >= interval_) {
    emit(line(now, false) + "\n");
    last_out_ = now;
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  std::string text = line(clock_(), true);
  if (is_tty_) {
    if (width_ > 1 && text.size() >= static_cast<size_t>(width_)) text.resize(width_ - 1);
    if (text.size() < drawn_len_) text.append(drawn_len_ - text.size(), ' ');
    text = "\r" + text;
  }
  emit(text + "\n");
}

// Terminal: "label [#####.....] 123/1000 12.3 it/s ETA 01:12 loss 0.42"
// Plain:    "label 123/1000 (12%) 12.3 it/s ETA 01:12 loss 0.42"
// Final lines show the average rate and the elapsed time ("in 01:21") instead of an ETA.
std::string Progress::line(double now, bool final) const {
  std::string s = label_;
  double rate = rate_;
  if (final || rate < 0) {  // run average, when no recent rate exists or at the end
    const double elapsed = now - start_t_;
    rate = elapsed > 0 ? static_cast<double>(done_ - start_n_) / elapsed : 0;
  }
  if (total_ > 0) {
    const double frac =
        std::clamp(static_cast<double>(done_) / static_cast<double>(total_), 0.0, 1.0);
    if (is_tty_) {
      const int filled = static_cast<int>(frac * kBarWidth);
      s += " [" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "]";
      s += cat(' ', done_, '/', total_);
    } else {
      s += cat(' ', done_, '/', total_, " (", static_cast<int>(frac * 100), "%)");
    }
  } else {
    s += cat(' ', done_);
  }
  s += ' ' + format_rate(rate, unit_);
  if (final) {
    s += " in " + format_duration(now - start_t_);
  } else if (total_ > 0) {
    const double left = static_cast<double>(std::max<int64_t>(total_ - done_, 0));
    s += " ETA " + (left == 0  ? format_duration(0)
                    : rate > 0 ? format_duration(left / rate)
                               : std::string("--:--"));
  }
  if (!extra_.empty()) s += ' ' + extra_;
  return s;
}

void Progress::emit(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

}  // namespace win
